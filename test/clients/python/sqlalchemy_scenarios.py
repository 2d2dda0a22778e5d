"""SQLAlchemy 2 scenarios of the differential harness, Core and ORM; target from PG* variables.

    sqlalchemy_scenarios.py sync     create_engine("postgresql+psycopg://…")          (psycopg 3 underneath)
    sqlalchemy_scenarios.py asyncio  create_async_engine("postgresql+asyncpg://…")    (asyncpg underneath)

The scenario bodies are written once, against a synchronous Connection / Session; the asyncio run
drives them through AsyncConnection.run_sync / AsyncSession.run_sync (SQLAlchemy's own bridge), so
every statement still goes through the asyncio engine, its pool and asyncpg.
"""
import asyncio
import datetime
import decimal
import os
import sys
import time

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from common import MASK_ROWS_SQL, canon, main

MODE = sys.argv[1] if len(sys.argv) > 1 else "sync"
ASYNC = MODE == "asyncio"


def url(driver):
    e = os.environ
    return sa.URL.create(driver, username=e["PGUSER"], password=e["PGPASSWORD"], host=e["PGHOST"],
                         port=int(e["PGPORT"]), database=e["PGDATABASE"])


def err(e):
    orig = getattr(e, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    text = str(orig if orig is not None else e).strip().splitlines()
    return {"error": type(e).__name__, "sqlstate": sqlstate, "message": text[0] if text else ""}


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = {"schema": "public"}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str]


class Item(Base):
    __tablename__ = "items"
    __table_args__ = {"schema": "public"}
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str]
    qty: Mapped[int]
    note: Mapped[str | None]


mood = pg.ENUM("sad", "ok", "happy", name="mood", schema="public", create_type=False)
typed = sa.Table("typed", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Numeric),
                 sa.Column("ts", sa.DateTime(timezone=True)), sa.Column("j", sa.JSON), sa.Column("jb", pg.JSONB),
                 sa.Column("ia", pg.ARRAY(sa.Integer)), sa.Column("ta", pg.ARRAY(sa.Text)), sa.Column("b", sa.LargeBinary),
                 sa.Column("m", mood), sa.Column("d", sa.Date), sa.Column("u", sa.Uuid), sa.Column("f8", sa.Float),
                 sa.Column("i8", sa.BigInteger), sa.Column("bo", sa.Boolean), sa.Column("iv", sa.Interval),
                 sa.Column("t", sa.Text), schema="public")


# --- scenario bodies, on a synchronous Connection or Session -------------------------------------

def s_startup(conn):
    d = conn.dialect
    return {"server_version_info": list(d.server_version_info[:2]), "default_schema": d.default_schema_name,
            "session": canon(conn.execute(sa.text("SELECT current_user = session_user, current_setting('search_path')")).one())}


def s_types(conn):
    rows = conn.execute(sa.select(typed).order_by(typed.c.id)).all()
    params = conn.execute(sa.select(sa.literal(decimal.Decimal("1.25"), sa.Numeric) + 1,
                                    sa.cast(sa.literal([1, None, 3], pg.ARRAY(sa.Integer)), pg.ARRAY(sa.Integer)),
                                    sa.literal(b"\x00\x01\xff", sa.LargeBinary),
                                    sa.literal(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc), sa.DateTime(timezone=True)),
                                    sa.cast(sa.literal("happy"), mood))).one()
    return {"typed": canon(rows), "params": canon(params)}


def s_prepared(conn):
    q = sa.text("SELECT id, label, qty FROM public.items WHERE id = :id")
    out = {"repeated": [canon(conn.execute(q, {"id": i}).one()) for i in (1, 2, 1, 3, 2)]}
    stmt = sa.select(Item.label).where(Item.qty > sa.bindparam("q")).order_by(Item.id)
    out["compiled_cache"] = [conn.execute(stmt, {"q": q}).scalars().all() for q in (5, 15, 5)]
    return out


def s_pipeline(conn):
    # executemany through insertmanyvalues (one INSERT … VALUES (…), (…) … RETURNING per batch)
    res = conn.execute(sa.insert(Item).returning(Item.id, Item.label), [{"label": "m%d" % i, "qty": i} for i in range(20)])
    out = {"returned": canon(res.all())}
    conn.commit()
    try:
        conn.execute(sa.text("INSERT INTO public.items (label, qty) VALUES (:l, 10 / :q)"),
                     [{"l": "x1", "q": 1}, {"l": "x2", "q": 0}])
        out["failed"] = "no error"
    except exc.DBAPIError as e:
        out["failed"] = err(e)
    conn.rollback()
    out["after"] = canon(conn.execute(sa.text("SELECT label FROM public.items WHERE label ~ '^[mx]' ORDER BY id")).all())
    return out


def s_transactions(session):
    out = {}
    session.add(Item(label="t1", qty=1))
    nested = session.begin_nested()
    session.add(Item(label="t2", qty=2))
    session.flush()
    nested.rollback()
    try:
        with session.begin_nested():
            session.add(Item(label="t3", qty=3))
            session.flush()
            session.execute(sa.text("SELECT 1 / 0"))
    except exc.DBAPIError as e:
        out["nested"] = err(e)
    session.add(Item(label="t4", qty=4))
    session.commit()
    try:
        session.execute(sa.text("SELECT 1 / 0"))
    except exc.DBAPIError as e:
        out["div0"] = err(e)
    session.rollback()
    out["isolation"] = session.connection(execution_options={"isolation_level": "SERIALIZABLE"}).execute(
        sa.text("SHOW transaction_isolation")).scalar()
    session.commit()
    out["rows"] = session.scalars(sa.select(Item.label).where(Item.label.like("t%")).order_by(Item.id)).all()
    return out


ERROR_STATEMENTS = [
    "SELECT 1 / 0",
    "SELECT nope FROM public.items",
    "INSERT INTO public.items (label, qty) VALUES ('bolt', 1)",
    "INSERT INTO public.items (label, qty) VALUES ('neg', -1)",
    "SELECT public.fail_with('P0001')",
    "SELECT 'abc'::int",
    "SELECT * FROM public.missing_table",
]


def s_errors(conn):
    out = []
    for s in ERROR_STATEMENTS:
        try:
            r = {"ok": canon(conn.execute(sa.text(s)).all())}
        except exc.DBAPIError as e:
            r = err(e)
        conn.rollback()
        out.append({"sql": s, "result": r})
    out.append({"usable": conn.execute(sa.text("SELECT 1")).scalar()})
    return out


def s_timeout(conn):
    out = {}
    conn.execute(sa.text("SET statement_timeout = '200ms'"))
    try:
        conn.execute(sa.text("SELECT pg_sleep(3)"))
        out["timeout"] = "no error"
    except exc.DBAPIError as e:
        out["timeout"] = err(e)
    conn.rollback()
    conn.execute(sa.text("RESET statement_timeout"))
    out["reset"] = conn.execute(sa.text("SHOW statement_timeout")).scalar()
    conn.commit()
    return out


def s_large(session):
    out = {}
    n = 0
    total = 0
    for row in session.execute(sa.text("SELECT id, v FROM public.big ORDER BY id"),
                               execution_options={"yield_per": 1000, "stream_results": True}):
        n += 1
        total += row[0]
    out["streamed"] = {"rows": n, "sum": total}
    out["all"] = len(session.execute(sa.text("SELECT id, v, half FROM public.big")).all())
    session.commit()
    return out


def s_masking(session):
    out = {"core": canon(session.execute(sa.text(MASK_ROWS_SQL)).all())}
    out["orm"] = [[c.id, c.name, c.email] for c in session.scalars(sa.select(Customer).order_by(Customer.id))]
    out["orm_get"] = session.get(Customer, 2).email
    out["filter"] = session.scalars(sa.select(Customer.id).where(Customer.email.like("%example.org"))).all()
    session.commit()
    return out


def s_masked_errors(conn):
    try:
        conn.execute(sa.insert(Customer.__table__).values(id=9, name="Dup", email="ava.costa@example.org"))
        r = "no error"
    except exc.DBAPIError as e:
        r = err(e)
    conn.rollback()
    return {"unique_violation": r}


CONN_SCENARIOS = {"startup": s_startup, "types_text": s_types, "prepared": s_prepared, "pipeline": s_pipeline,
                  "errors_notices": s_errors, "cancel_timeout": s_timeout, "masked_errors": s_masked_errors}
SESSION_SCENARIOS = {"transactions": s_transactions, "large_cursor": s_large, "masking": s_masking}


# --- drivers: sync engine, or asyncio engine through run_sync -------------------------------------

def sync_scenarios():
    engine = sa.create_engine(url("postgresql+psycopg"), pool_size=2, pool_pre_ping=True)
    out = {}
    for name, fn in CONN_SCENARIOS.items():
        def run(fn=fn):
            with engine.connect() as conn:
                return fn(conn)
        out[name] = run
    for name, fn in SESSION_SCENARIOS.items():
        def run(fn=fn):
            with Session(engine) as s:
                return fn(s)
        out[name] = run

    def pool_reconnect():
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            conn.execute(sa.text("SET idle_session_timeout = '300ms'"))
            conn.commit()
        time.sleep(1.0)  # the server ends the pooled session; pool_pre_ping must notice and reconnect
        with engine.connect() as conn:
            second = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            n = conn.execute(sa.text("SELECT count(*) FROM public.items")).scalar()
        return {"new_backend": first != second, "query_after_reconnect": n}
    out["pool_reconnect"] = pool_reconnect
    return out


def async_scenarios():
    def engine():
        return create_async_engine(url("postgresql+asyncpg"), pool_size=2, pool_pre_ping=True)
    out = {}
    for name, fn in CONN_SCENARIOS.items():
        async def run(fn=fn):
            e = engine()
            try:
                async with e.connect() as conn:
                    return await conn.run_sync(fn)
            finally:
                await e.dispose()
        out[name] = run
    for name, fn in SESSION_SCENARIOS.items():
        async def run(fn=fn):
            e = engine()
            try:
                async with AsyncSession(e) as s:
                    return await s.run_sync(fn)
            finally:
                await e.dispose()
        out[name] = run

    async def pool_reconnect():
        e = engine()
        try:
            async with e.connect() as conn:
                first = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
                await conn.execute(sa.text("SET idle_session_timeout = '300ms'"))
                await conn.commit()
            await asyncio.sleep(1.0)
            async with e.connect() as conn:
                second = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
                n = await conn.scalar(sa.text("SELECT count(*) FROM public.items"))
            return {"new_backend": first != second, "query_after_reconnect": n}
        finally:
            await e.dispose()
    out["pool_reconnect"] = pool_reconnect
    return out


if __name__ == "__main__":
    scenarios = async_scenarios() if ASYNC else sync_scenarios()
    main("sqlalchemy-asyncio" if ASYNC else "sqlalchemy", sa.__version__, scenarios)
