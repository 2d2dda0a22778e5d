"""asyncpg scenarios of the differential harness (binary protocol throughout); target from PG* variables."""
import asyncio
import io
import time

import asyncpg

from common import LITERALS_SQL, MASK_ROWS_SQL, TYPED_SQL, canon, main

FIELDS = ("severity", "sqlstate", "message", "detail", "hint", "position", "context", "schema_name", "table_name",
          "column_name", "data_type_name", "constraint_name", "internal_query")


def diag(e):
    return {f: getattr(e, f, None) for f in FIELDS if getattr(e, f, None) is not None}


def err(e):
    if isinstance(e, asyncpg.PostgresError):
        return {"error": type(e).__name__, **diag(e)}
    return {"error": type(e).__name__, "message": str(e).splitlines()[0] if str(e) else ""}


async def attempt(coro, timeout=10.0):
    try:
        return {"ok": canon(await asyncio.wait_for(coro, timeout))}
    except asyncio.TimeoutError:
        return {"timeout": timeout}
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        return err(e)


def rows(records):
    return [canon(list(r)) for r in records]


async def connect(**kw):
    return await asyncpg.connect(**kw)


async def startup():
    c = await connect()
    try:
        names = ("server_version", "server_encoding", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
                 "integer_datetimes", "standard_conforming_strings", "application_name", "is_superuser")
        settings = c.get_settings()
        return {"parameters": {n: getattr(settings, n, None) for n in names},
                "server_version": list(c.get_server_version())[:3],
                "session": canon(list(await c.fetchrow("SELECT current_user = session_user, current_database() <> '', "
                                                       "current_setting('search_path'), pg_backend_pid() > 0")))}
    finally:
        await c.close()


async def types_text():
    # asyncpg reads every type it knows in binary; text format is what set_type_codec(format='text') gives.
    c = await connect()
    try:
        for t in ("numeric", "json", "jsonb", "timestamptz", "interval"):
            c_fmt = dict(encoder=str, decoder=str, schema="pg_catalog", format="text")
            await c.set_type_codec(t, **c_fmt)
        typed = rows(await c.fetch("SELECT id, n, ts, j, jb, ia, ta, b, m::text, p::text, d, u, f8, i8, bo, iv, t "
                                   "FROM public.typed ORDER BY id"))
        params = canon(list(await c.fetchrow("SELECT $1::numeric + 1, $2::jsonb, $3::timestamptz",
                                             "1.25", '{"x": [1, "y"]}', "2020-01-01 00:00:00+05")))
        return {"typed": typed, "params": params}
    finally:
        await c.close()


async def types_binary():
    c = await connect()
    try:
        out = {"typed": await attempt(c.fetch(TYPED_SQL)), "literals": await attempt(c.fetchrow(LITERALS_SQL))}
        out["params"] = await attempt(c.fetchrow(
            "SELECT $1::numeric * 2, $2::int8[], $3::bytea, $4::text, $5::public.mood",
            __import__("decimal").Decimal("-3.5"), [2 ** 40, -1], b"\x00" * 3, "bin ✓", "sad"))
        return out
    finally:
        await c.close()


async def prepared():
    out = {}
    c = await connect()
    try:
        out["repeated"] = [canon(list(await c.fetchrow("SELECT id, label, qty FROM public.items WHERE id = $1", i)))
                           for i in (1, 2, 1, 3, 2)]
        out["server_statements"] = len(await c.fetch("SELECT name FROM pg_prepared_statements"))
        ps = await c.prepare("SELECT label FROM public.items WHERE qty > $1 ORDER BY id")
        out["explicit"] = [[r[0] for r in await ps.fetch(q)] for q in (5, 15)]
        out["explicit_attrs"] = [[a.name, a.type.name] for a in ps.get_attributes()]
        out["explicit_params"] = [t.name for t in ps.get_parameters()]
        await c.execute("PREPARE byqty(int) AS SELECT label FROM public.items WHERE qty > $1 ORDER BY id")
        out["sql_execute"] = rows(await c.fetch("EXECUTE byqty(5)"))
        await c.execute("DEALLOCATE byqty")
        q = "SELECT * FROM public.copied WHERE id = $1"
        out["before_alter"] = [len((await c.prepare(q)).get_attributes()) for _ in range(2)]
        await c.fetch(q, 1)
        await c.execute("ALTER TABLE public.copied ADD COLUMN extra int")
        out["after_alter"] = await attempt(c.fetch(q, 1))
        out["after_alter_again"] = await attempt(c.fetch(q, 1))
        await c.execute("ALTER TABLE public.copied DROP COLUMN extra")
    finally:
        await c.close()
    c = await connect(statement_cache_size=0)
    try:
        out["no_cache"] = [canon(list(await c.fetchrow("SELECT count(*) FROM public.items WHERE qty >= $1", n)))
                           for n in range(3)]
    finally:
        await c.close()
    return out


async def pipeline():
    out = {}
    c = await connect()
    try:
        await c.executemany("INSERT INTO public.items (label, qty) VALUES ($1, $2)", [("m%d" % i, i) for i in range(20)])
        out["failed_executemany"] = await attempt(c.executemany(
            "INSERT INTO public.items (label, qty) VALUES ($1, 10 / $2)", [("x1", 1), ("x2", 0), ("x3", 3)]))
        out["after"] = rows(await c.fetch("SELECT label, qty FROM public.items WHERE label ~ '^[mx]' ORDER BY id"))
        out["fetchmany"] = rows(await c.fetchmany("SELECT $1::int * 2, $2::text", [(1, "a"), (2, "b"), (3, "c")]))
    finally:
        await c.close()
    return out


async def transactions():
    out = {}
    c = await connect()
    try:
        async with c.transaction():
            await c.execute("INSERT INTO public.items (label, qty) VALUES ('t1', 1)")
            try:
                async with c.transaction():
                    await c.execute("INSERT INTO public.items (label, qty) VALUES ('t2', 2)")
                    await c.execute("SELECT 1 / 0")
            except asyncpg.PostgresError as e:
                out["nested"] = err(e)
            await c.execute("INSERT INTO public.items (label, qty) VALUES ('t3', 3)")
            out["in_tx"] = c.is_in_transaction()
        tr = c.transaction()
        await tr.start()
        await c.execute("INSERT INTO public.items (label, qty) VALUES ('t4', 4)")
        out["div0"] = await attempt(c.fetchval("SELECT 1 / 0"))
        out["after_error"] = await attempt(c.fetchval("SELECT 1"))
        await tr.rollback()
        async with c.transaction(isolation="serializable"):
            out["isolation"] = await c.fetchval("SHOW transaction_isolation")
        try:
            async with c.transaction(readonly=True):
                await c.execute("INSERT INTO public.items (label, qty) VALUES ('t7', 7)")
        except asyncpg.PostgresError as e:
            out["read_only"] = err(e)
        out["rows"] = rows(await c.fetch("SELECT label FROM public.items WHERE label LIKE 't%' ORDER BY id"))
        out["idle"] = c.is_in_transaction()
    finally:
        await c.close()
    return out


ERROR_STATEMENTS = [
    "SELECT 1 / 0",
    "SELECT nope FROM public.items",
    "INSERT INTO public.items (label, qty) VALUES ('bolt', 1)",
    "INSERT INTO public.items (label, qty) VALUES ('neg', -1)",
    "SELECT public.fail_with('P0001')",
    "SELECT public.fail_with('22023')",
    "SELECT 'abc'::int",
    "SELECT * FROM public.missing_table",
    "SELECT public.noisy(21)",
    "DROP TABLE IF EXISTS public.not_there",
]


async def run_logged(c, statements, echo=True):
    notices = []
    c.add_log_listener(lambda _c, m: notices.append(diag(m)))
    out = []
    for s in statements:
        notices.clear()
        r = await attempt(c.fetch(s))
        await asyncio.sleep(0.05)  # log messages are delivered by the event loop
        out.append({"sql": s, "result": r, "notices": list(notices)} if echo else {"result": r, "notices": list(notices)})
    return out


async def errors_notices():
    c = await connect()
    try:
        # (A bad row in COPY FROM is in copy_in: asyncpg's COPY FROM meets issue 12 item 2.)
        out = await run_logged(c, ERROR_STATEMENTS)
        out.append({"usable": await c.fetchval("SELECT 1")})
        return out
    finally:
        await c.close()


async def listen_notify():
    a = await connect()
    b = await connect()
    try:
        a_pid = await a.fetchval("SELECT pg_backend_pid()")
        b_pid = await b.fetchval("SELECT pg_backend_pid()")
        got = []

        def on(_c, pid, channel, payload):
            got.append({"channel": channel, "payload": payload, "from_a": pid == a_pid, "from_b": pid == b_pid})
        await a.add_listener("chan_a", on)
        await a.add_listener("Chan B", on)
        await b.execute("NOTIFY chan_a, 'from b'")
        await b.execute("SELECT pg_notify('Chan B', 'via pg_notify')")
        await a.execute("NOTIFY chan_a, 'from myself'")
        await b.execute("NOTIFY chan_nobody, 'unheard'")
        await b.execute("NOTIFY chan_a")
        for _ in range(40):
            if len(got) >= 4:
                break
            await asyncio.sleep(0.05)
        await a.remove_listener("chan_a", on)
        await b.execute("NOTIFY chan_a, 'after unlisten'")
        await asyncio.sleep(0.3)
        return {"received": got[:4], "late": got[4:]}
    finally:
        await a.close()
        await b.close()


async def backend_key():
    a = await connect()
    try:
        pid = await a.fetchval("SELECT pg_backend_pid()")
        got = []
        await a.add_listener("self", lambda _c, p, _ch, _pl: got.append(p))
        await a.execute("NOTIFY self")
        for _ in range(40):
            if got:
                break
            await asyncio.sleep(0.05)
        return {"key_pid_is_backend_pid": a.get_server_pid() == pid, "notify_pid_is_key_pid": got[:1] == [a.get_server_pid()]}
    finally:
        await a.close()


async def cancel_timeout():
    out = {}
    c = await connect()
    try:
        t0 = time.monotonic()
        try:
            await c.fetch("SELECT pg_sleep(10)", timeout=1.0)  # asyncpg sends a CancelRequest on timeout
            out["cancelled"] = "no timeout"
        except asyncio.TimeoutError:
            out["cancelled"] = "TimeoutError"
        out["cancel_fast"] = time.monotonic() - t0 < 5
        out["usable_after_cancel"] = await c.fetchval("SELECT 1")
        await c.execute("SET statement_timeout = '200ms'")
        out["timeout"] = await attempt(c.fetch("SELECT pg_sleep(3)"))
        await c.execute("RESET statement_timeout")
        out["reset"] = await c.fetchval("SHOW statement_timeout")
        async with c.transaction():
            await c.execute("SET LOCAL statement_timeout = '100ms'")
            out["local_timeout"] = await attempt(c.fetch("SELECT pg_sleep(2)"))
            out["local_after"] = await attempt(c.fetch("SELECT 1"))
        out["after_tx"] = await c.fetchval("SHOW statement_timeout")
    except asyncpg.PostgresError as e:
        out["tx_end"] = err(e)
    finally:
        await c.close()
    return out


async def copy():
    out = {}
    c = await connect()
    try:

        async def take(**kw):
            buf = io.BytesIO()
            await c.copy_from_table(output=buf, **kw)
            return buf.getvalue()
        out["text"] = (await take(table_name="items")).decode()
        out["csv"] = (await take(table_name="items", columns=["id", "label", "note"], format="csv", header=True)).decode()
        out["binary"] = (await take(table_name="items", format="binary")).hex()
        buf = io.BytesIO()
        await c.copy_from_query("SELECT id, label FROM public.items WHERE id < $1 ORDER BY id", 3, output=buf, format="csv")
        out["query_csv"] = buf.getvalue().decode()
    finally:
        await c.close()
    return out


async def copy_in():
    # asyncpg sends Query('COPY … FROM STDIN') and its CopyData at once, without waiting for
    # CopyInResponse (asyncpg/protocol/protocol.pyx copy_in): text, CSV and binary (copy_records_to_table).
    out = {}
    for name, call in (
            ("text", lambda c: c.copy_to_table("copied", columns=["id", "label", "qty", "note"], source=io.BytesIO(
                b"1\ta\t1\t\\N\n2\ttab\\there\\nnewline \\\\ back\t2\tx\n"))),
            ("csv", lambda c: c.copy_to_table("copied", source=io.BytesIO(b'3,"quoted, comma",3,\n4,plain,4,"a ""q"""\n'),
                                              format="csv")),
            ("records", lambda c: c.copy_records_to_table("copied", records=[(5, "binary ✓", 5, None), (6, "", 0, "n")],
                                                          columns=["id", "label", "qty", "note"])),
            ("bad_row", lambda c: c.copy_to_table("copied", columns=["id", "label"],
                                                  source=io.BytesIO(b"7\tok\nnot-a-number\tbad\n")))):
        c = await connect()
        try:
            out[name] = await attempt(call(c), timeout=3.0)
        finally:
            c.terminate()
    c = await connect()
    try:
        out["loaded"] = rows(await c.fetch("SELECT * FROM public.copied ORDER BY id"))
    finally:
        await c.close()
    return out


async def large_cursor():
    out = {}
    c = await connect()
    try:
        big = await c.fetch("SELECT id, v, half FROM public.big ORDER BY id")
        out["all"] = {"count": len(big), "first": canon(list(big[0])), "last": canon(list(big[-1])),
                      "sum": sum(r[0] for r in big), "chars": sum(len(r[1]) for r in big)}
        async with c.transaction():
            n = 0
            last = None
            async for r in c.cursor("SELECT id, v FROM public.big WHERE id % 7 = 0 ORDER BY id", prefetch=500):
                n += 1
                last = r
            out["iter_cursor"] = {"rows": n, "last": canon(list(last))}
            cur = await c.cursor("SELECT id FROM public.big ORDER BY id")
            out["fetch"] = rows(await cur.fetch(3))
            await cur.forward(1000)
            out["after_forward"] = rows(await cur.fetch(2))
            out["fetchrow"] = canon(list(await cur.fetchrow()))
        out["stream_count"] = await c.fetchval("SELECT count(*) FROM (SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g) s")
    finally:
        await c.close()
    return out


async def pool_reconnect():
    out = {}
    # reset: the default runs RESET ALL on release (scenario pool_reset); this one keeps the session's
    # idle_session_timeout so the server ends it and the pool has to reconnect.
    async def keep_settings(con):
        await con.execute("SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *")
    pool = await asyncpg.create_pool(min_size=1, max_size=2, reset=keep_settings)
    try:
        async with pool.acquire() as c:
            first = await c.fetchval("SELECT pg_backend_pid()")
            await c.execute("SET idle_session_timeout = '300ms'")
        await asyncio.sleep(1.0)  # the server ends the idle session (FATAL 57P05)
        out["first_use"] = None
        for attempt_no in range(3):
            try:
                async with pool.acquire() as c:
                    second = await c.fetchval("SELECT pg_backend_pid()")
                    out["query_after_reconnect"] = await c.fetchval("SELECT count(*) FROM public.items")
                break
            except (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError) as e:
                out["first_use"] = err(e) if not isinstance(e, ConnectionError) else {"error": type(e).__name__}
        out["new_backend"] = first != second
    finally:
        await pool.close()
    return out


async def pool_reset():
    # asyncpg's default Pool reset on release: pg_advisory_unlock_all(), CLOSE ALL, UNLISTEN *, RESET ALL.
    pool = await asyncpg.create_pool(min_size=1, max_size=1)
    try:
        out = {}
        async with pool.acquire() as c:
            out["reset_query"] = c.get_reset_query()
            await c.execute("SET application_name = 'changed'")
        out["released"] = True
        async with pool.acquire() as c:
            out["after_release"] = await c.fetchval("SHOW application_name")
        return out
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        return {"release": err(e)}
    finally:
        pool.terminate()


async def masking():
    out = {}
    c = await connect()
    try:
        out["rows"] = rows(await c.fetch(MASK_ROWS_SQL))
        out["prepared"] = [await c.fetchval("SELECT email FROM public.customers WHERE id = $1", i) for i in (1, 2, 1)]
        out["star"] = rows(await c.fetch("SELECT * FROM public.customers ORDER BY id"))
        out["expression"] = rows(await c.fetch("SELECT email || '' AS e FROM public.customers ORDER BY id"))
        out["where_on_masked"] = rows(await c.fetch("SELECT id FROM public.customers WHERE email LIKE $1 ORDER BY id",
                                                    "%example.org"))
        for name, kw in (("copy_text", {}), ("copy_csv", {"columns": ["id", "email"], "format": "csv"})):
            buf = io.BytesIO()
            await c.copy_from_table("customers", output=buf, **kw)
            out[name] = buf.getvalue().decode()
        out["usable"] = await c.fetchval("SELECT count(*) FROM public.customers")
    finally:
        await c.close()
    return out


async def masked_copy_query():
    out = {}
    for name, q in (("columns", "SELECT id, email FROM public.customers ORDER BY id"),
                    ("star", "SELECT * FROM public.customers ORDER BY id")):
        c = await connect()
        try:
            buf = io.BytesIO()
            r = await attempt(c.copy_from_query(q, output=buf))
            out[name] = {"ok": buf.getvalue().decode()} if "ok" in r else r
            out[name + "_usable"] = await attempt(c.fetchval("SELECT count(*) FROM public.customers"))
        finally:
            c.terminate()
    return out


async def masked_errors():
    c = await connect()
    try:
        return await run_logged(c, ("INSERT INTO public.customers VALUES (9, 'Dup', 'ava.costa@example.org')",
                                    "SELECT email::int FROM public.customers WHERE id = 1",
                                    "SELECT nope FROM public.customers",
                                    "SELECT count(*) FROM public.customers WHERE public.noisy(id) > 2"), echo=False)
    finally:
        await c.close()


SCENARIOS = {
    "startup": startup, "types_text": types_text, "types_binary": types_binary, "prepared": prepared,
    "pipeline": pipeline, "transactions": transactions, "errors_notices": errors_notices,
    "listen_notify": listen_notify, "backend_key": backend_key, "cancel_timeout": cancel_timeout, "copy": copy,
    "copy_in": copy_in, "large_cursor": large_cursor, "pool_reconnect": pool_reconnect, "pool_reset": pool_reset,
    "masking": masking, "masked_copy_query": masked_copy_query, "masked_errors": masked_errors,
}

if __name__ == "__main__":
    main("asyncpg", asyncpg.__version__, SCENARIOS)
