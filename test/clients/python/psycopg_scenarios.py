"""psycopg 3 (libpq, psycopg[binary]) scenarios of the differential harness; target from PG* variables."""
import threading
import time

import psycopg
import psycopg_pool
from psycopg import errors, sql
from psycopg.types.composite import CompositeInfo, register_composite
from psycopg.types.enum import EnumInfo, register_enum

from common import LITERALS_SQL, MASK_ROWS_SQL, TYPED_SQL, canon, main

DIAG_FIELDS = ("severity_nonlocalized", "sqlstate", "message_primary", "message_detail", "message_hint",
               "statement_position", "context", "schema_name", "table_name", "column_name", "datatype_name",
               "constraint_name", "internal_query")


def diag(d):
    return {f: getattr(d, f) for f in DIAG_FIELDS if getattr(d, f) is not None}


def err(e):
    return {"error": type(e).__name__, **diag(e.diag)}


def connect(**kw):
    return psycopg.connect("", **kw)


def attempt(fn):
    try:
        return {"ok": canon(fn())}
    except psycopg.Error as e:
        return err(e)


def desc(cur):
    return [[d.name, d.type_code] for d in cur.description]


def startup():
    with connect(autocommit=True) as c:
        names = ("server_version", "server_encoding", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
                 "integer_datetimes", "standard_conforming_strings", "application_name", "is_superuser")
        return {
            "parameters": {n: c.info.parameter_status(n) for n in names},
            "server_version": c.info.server_version,
            "session": canon(c.execute("SELECT current_user = session_user, current_database() <> '', "
                                       "current_setting('search_path'), pg_backend_pid() > 0").fetchone()),
            "status": c.info.transaction_status.name,
        }


def types_text():
    with connect(autocommit=True) as c:
        cur = c.execute(TYPED_SQL)
        rows = canon(cur.fetchall())
        d1 = desc(cur)
        cur = c.execute(LITERALS_SQL)
        lits = canon(cur.fetchone())
        params = canon(c.execute(
            "SELECT %s::numeric + 1, %s::jsonb, %s::int[], %s::bytea, %s::timestamptz, %s::text, %s::date",
            (psycopg.types.numeric.Decimal("1.25"), psycopg.types.json.Jsonb({"x": [1, "y"]}), [1, None, 3],
             b"\x00\x01\xff", "2020-01-01T00:00:00+05:00", "quote ' and \\ backslash", "2024-02-29")).fetchone())
        return {"typed": rows, "typed_desc": d1, "literals": lits, "literal_desc": desc(cur), "params": params}


def types_binary():
    with connect(autocommit=True) as c:
        register_enum(EnumInfo.fetch(c, "public.mood"), c)
        register_composite(CompositeInfo.fetch(c, "public.pair"), c)
        cur = c.cursor(binary=True)
        rows = canon(cur.execute(TYPED_SQL).fetchall())
        d1 = desc(cur)
        lits = canon(cur.execute(LITERALS_SQL).fetchone())
        params = canon(cur.execute(
            "SELECT %b::numeric * 2, %b::jsonb, %b::int8[], %b::bytea, %b::text",
            (psycopg.types.numeric.Decimal("-3.5"), psycopg.types.json.Jsonb([True, None]), [2 ** 40, -1],
             b"\x00" * 3, "bin ✓")).fetchone())
        return {"typed": rows, "typed_desc": d1, "literals": lits, "params": params}


def prepared():
    out = {}
    with connect(autocommit=True, prepare_threshold=0) as c:
        out["repeated"] = [canon(c.execute("SELECT id, label, qty FROM public.items WHERE id = %s", (i,)).fetchone())
                           for i in (1, 2, 1, 3, 2)]
        out["server_statements"] = canon(c.execute(
            "SELECT name, statement, parameter_types::text FROM pg_prepared_statements ORDER BY name").fetchall())
        c.execute("PREPARE byqty(int) AS SELECT label FROM public.items WHERE qty > $1 ORDER BY id")
        out["sql_execute"] = [canon(c.execute("EXECUTE byqty(%s)" % q).fetchall()) for q in (5, 15)]
        c.execute("DEALLOCATE byqty")
        # A cached plan whose result type changes under it (statement caches must cope: 0A000).
        q = "SELECT * FROM public.copied WHERE id = %s"
        out["before_alter"] = [attempt(lambda: [d.name for d in c.execute(q, (1,)).description]) for _ in range(2)]
        c.execute("ALTER TABLE public.copied ADD COLUMN extra int")
        out["after_alter"] = attempt(lambda: [d.name for d in c.execute(q, (1,)).description])
        out["after_alter_again"] = attempt(lambda: [d.name for d in c.execute(q, (1,)).description])
        c.execute("ALTER TABLE public.copied DROP COLUMN extra")
    with connect(autocommit=True, prepare_threshold=2) as c:
        # The default style: prepared on the 3rd run; results must not change when it switches.
        out["threshold"] = [canon(c.execute("SELECT count(*) FROM public.items WHERE qty >= %s", (n,)).fetchone())
                            for n in range(5)]
    return out


def pipeline():
    out = {}
    with connect(autocommit=True) as c:
        with c.pipeline():
            c1 = c.execute("INSERT INTO public.items (label, qty) VALUES (%s, %s) RETURNING id", ("p1", 1))
            c2 = c.execute("SELECT count(*) FROM public.items")
            c3 = c.execute("UPDATE public.items SET qty = qty + 1 WHERE label = %s", ("p1",))
        out["results"] = [canon(c1.fetchone()), canon(c2.fetchone()), c3.rowcount]
        try:
            with c.pipeline():
                c.execute("INSERT INTO public.items (label, qty) VALUES (%s, %s)", ("p2", 2))
                c.execute("SELECT 1 / 0")
                c.execute("INSERT INTO public.items (label, qty) VALUES (%s, %s)", ("p3", 3))
            out["failed_pipeline"] = "no error"
        except psycopg.Error as e:
            out["failed_pipeline"] = err(e)
        with c.cursor() as cur:
            cur.executemany("INSERT INTO public.items (label, qty) VALUES (%s, %s)", [("m%d" % i, i) for i in range(20)])
        out["after"] = canon(c.execute("SELECT label, qty FROM public.items WHERE label ~ '^[pm]' ORDER BY id").fetchall())
    return out


def transactions():
    out = {}
    with connect() as c:
        c.execute("INSERT INTO public.items (label, qty) VALUES ('t1', 1)")
        c.execute("SAVEPOINT s1")
        c.execute("INSERT INTO public.items (label, qty) VALUES ('t2', 2)")
        c.execute("ROLLBACK TO SAVEPOINT s1")
        c.execute("INSERT INTO public.items (label, qty) VALUES ('t3', 3)")
        c.execute("RELEASE SAVEPOINT s1")
        out["in_tx"] = c.info.transaction_status.name
        c.commit()
        with c.transaction():
            c.execute("INSERT INTO public.items (label, qty) VALUES ('t4', 4)")
            try:
                with c.transaction():
                    c.execute("INSERT INTO public.items (label, qty) VALUES ('t5', 5)")
                    c.execute("SELECT 1 / 0")
            except psycopg.Error as e:
                out["nested"] = err(e)
        c.execute("INSERT INTO public.items (label, qty) VALUES ('t6', 6)")
        out["div0"] = attempt(lambda: c.execute("SELECT 1 / 0").fetchone())
        out["status_failed"] = c.info.transaction_status.name
        out["after_error"] = attempt(lambda: c.execute("SELECT 1").fetchone())
        c.rollback()
        c.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        out["isolation"] = canon(c.execute("SHOW transaction_isolation").fetchone())
        c.commit()
        c.isolation_level = None
        c.read_only = True
        out["read_only"] = attempt(lambda: c.execute("INSERT INTO public.items (label, qty) VALUES ('t7', 7)"))
        c.rollback()
        c.read_only = None
        out["rows"] = canon(c.execute("SELECT label FROM public.items WHERE label LIKE 't%' ORDER BY id").fetchall())
        c.commit()
        out["idle"] = c.info.transaction_status.name
    return out


ERROR_STATEMENTS = [
    "SELECT 1 / 0",
    "SELECT nope FROM public.items",
    "SELEC 1",
    "INSERT INTO public.items (label, qty) VALUES ('bolt', 1)",
    "INSERT INTO public.items (label, qty) VALUES ('neg', -1)",
    "SELECT public.fail_with('P0001')",
    "SELECT public.fail_with('22023')",
    "SELECT 'abc'::int",
    "SELECT * FROM public.missing_table",
    "SELECT public.noisy(21)",
    "DROP TABLE IF EXISTS public.not_there",
]


def errors_notices():
    with connect(autocommit=True) as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(diag(d)))
        out = []
        for s in ERROR_STATEMENTS:
            notices.clear()
            try:
                cur = c.execute(s)
                r = {"ok": canon(cur.fetchall()) if cur.description is not None else cur.statusmessage}
            except psycopg.Error as e:
                r = err(e)
            out.append({"sql": s, "result": r, "notices": list(notices)})
        try:
            with c.cursor().copy("COPY public.copied (id, label) FROM STDIN") as cp:
                cp.write("7\tok\nnot-a-number\tbad\n")
            r = "no error"
        except psycopg.Error as e:
            r = err(e)
        out.append({"sql": "COPY FROM STDIN with a bad row", "result": r})
        out.append({"usable": canon(c.execute("SELECT count(*) FROM public.copied").fetchone())})
        return out


def listen_notify():
    with connect(autocommit=True) as a, connect(autocommit=True) as b:
        a_pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        b_pid = b.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.execute("LISTEN chan_a")
        a.execute('LISTEN "Chan B"')
        b.execute("NOTIFY chan_a, 'from b'")
        b.execute("SELECT pg_notify('Chan B', 'via pg_notify')")
        a.execute("NOTIFY chan_a, 'from myself'")
        b.execute("NOTIFY chan_nobody, 'unheard'")
        b.execute("NOTIFY chan_a")
        got = []
        for n in a.notifies(timeout=2.0, stop_after=4):
            got.append({"channel": n.channel, "payload": n.payload, "from_a": n.pid == a_pid, "from_b": n.pid == b_pid})
        a.execute("UNLISTEN *")
        b.execute("NOTIFY chan_a, 'after unlisten'")
        late = [n.payload for n in a.notifies(timeout=0.3)]
        return {"received": got, "after_unlisten": late}


def backend_key():
    # The pid of BackendKeyData (what the driver reports as the connection's backend pid) against the
    # server's pg_backend_pid() and the pid a NotificationResponse carries (apps skip their own
    # notifications by comparing the two).
    with connect(autocommit=True) as a:
        pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.execute("LISTEN self")
        a.execute("NOTIFY self")
        n = next(a.notifies(timeout=2.0, stop_after=1))
        return {"key_pid_is_backend_pid": a.info.backend_pid == pid, "notify_pid_is_key_pid": n.pid == a.info.backend_pid}


def cancel_timeout():
    out = {}
    with connect(autocommit=True) as c:
        t = threading.Timer(2.5, c.cancel_safe)  # a cancel before the Query reaches the server is ignored (slow CI: 2.5 s)
        t.start()
        t0 = time.monotonic()
        out["cancelled"] = attempt(lambda: c.execute("SELECT pg_sleep(10)").fetchone())
        out["cancel_fast"] = time.monotonic() - t0 < 5
        out["usable_after_cancel"] = canon(c.execute("SELECT 1").fetchone())
        c.execute("SET statement_timeout = '200ms'")
        out["timeout"] = attempt(lambda: c.execute("SELECT pg_sleep(3)").fetchone())
        c.execute("RESET statement_timeout")
        out["reset"] = canon(c.execute("SHOW statement_timeout").fetchone())
    with connect() as c:
        c.execute("SET LOCAL statement_timeout = '100ms'")
        out["local_timeout"] = attempt(lambda: c.execute("SELECT pg_sleep(2)").fetchone())
        c.rollback()
        out["after_rollback"] = canon(c.execute("SHOW statement_timeout").fetchone())
    return out


def copy():
    out = {}
    with connect(autocommit=True) as c:
        cur = c.cursor()
        with cur.copy("COPY public.copied (id, label, qty, note) FROM STDIN") as cp:
            cp.write_row((1, "a", 1, None))
            cp.write_row((2, "tab\there\nnewline \\ back", 2, "x"))
        with cur.copy("COPY public.copied FROM STDIN (FORMAT csv)") as cp:
            cp.write('3,"quoted, comma",3,\n4,plain,4,"a ""q"""\n')
        with cur.copy("COPY public.copied (id, label, qty, note) FROM STDIN (FORMAT binary)") as cp:
            cp.set_types(["int4", "text", "int4", "text"])
            cp.write_row((5, "binary ✓", 5, None))
            cp.write_row((6, "", 0, "n"))
        out["loaded"] = canon(c.execute("SELECT * FROM public.copied ORDER BY id").fetchall())

        def take(stmt):
            data = b""
            with cur.copy(stmt) as cp:
                for chunk in cp:
                    data += bytes(chunk)
            return data

        out["text"] = take("COPY public.items TO STDOUT").decode()
        out["csv"] = take("COPY (SELECT id, label, note FROM public.items ORDER BY id) TO STDOUT (FORMAT csv, HEADER)").decode()
        out["binary"] = take("COPY public.items TO STDOUT (FORMAT binary)").hex()
        with cur.copy("COPY public.typed (id, n, jb, ia, b) TO STDOUT (FORMAT binary)") as cp:
            cp.set_types(["int4", "numeric", "jsonb", "int4[]", "bytea"])
            out["binary_rows"] = canon(list(cp.rows()))
    return out


def large_cursor():
    out = {}
    with connect() as c:
        rows = c.execute("SELECT id, v, half FROM public.big ORDER BY id").fetchall()
        out["all"] = {"count": len(rows), "first": canon(rows[0]), "last": canon(rows[-1]),
                      "sum": sum(r[0] for r in rows), "chars": sum(len(r[1]) for r in rows)}
        with c.cursor(name="bigcur") as sc:
            sc.itersize = 1000
            sc.execute("SELECT id, v FROM public.big WHERE id % 7 = 0 ORDER BY id")
            first = sc.fetchmany(5)
            rest = sc.fetchall()
            out["named_cursor"] = {"first": canon(first), "rest": len(rest), "last": canon(rest[-1])}
        c.execute("DECLARE sqlcur SCROLL CURSOR FOR SELECT id FROM public.big ORDER BY id")
        out["fetch"] = canon(c.execute("FETCH 3 FROM sqlcur").fetchall())
        c.execute("MOVE FORWARD 1000 IN sqlcur")
        out["after_move"] = canon(c.execute("FETCH 2 FROM sqlcur").fetchall())
        out["backward"] = canon(c.execute("FETCH BACKWARD 1 FROM sqlcur").fetchall())
        c.execute("CLOSE sqlcur")
        n = 0
        length = 0
        for r in c.cursor().stream("SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g"):
            n += 1
            length += len(r[1])
        out["stream"] = {"rows": n, "chars": length}
        c.commit()
    return out


def pool_reconnect():
    out = {}
    with psycopg_pool.ConnectionPool("", min_size=1, max_size=2, check=psycopg_pool.ConnectionPool.check_connection,
                                     kwargs={"autocommit": True}, open=True) as pool:
        with pool.connection() as c:
            first = c.execute("SELECT pg_backend_pid()").fetchone()[0]
            c.execute("SET idle_session_timeout = '300ms'")
        time.sleep(1.0)  # the server ends the idle session (FATAL 57P05)
        with pool.connection() as c:
            second = c.execute("SELECT pg_backend_pid()").fetchone()[0]
            out["query_after_reconnect"] = canon(c.execute("SELECT count(*) FROM public.items").fetchone())
        out["new_backend"] = first != second
        out["stats_errors"] = pool.get_stats().get("connections_errors", 0)
    # Without the check the application sees the server's FATAL (what a pool must then handle).
    with connect(autocommit=True) as c:
        c.execute("SET idle_session_timeout = '300ms'")
        time.sleep(1.0)
        out["dead_connection"] = attempt(lambda: c.execute("SELECT 1").fetchone())
        out["closed"] = c.closed
    return out


def masking():
    out = {}
    with connect(autocommit=True, prepare_threshold=0) as c:
        out["text"] = canon(c.execute(MASK_ROWS_SQL).fetchall())
        out["binary"] = canon(c.cursor(binary=True).execute(MASK_ROWS_SQL).fetchall())
        out["prepared"] = [canon(c.execute("SELECT email FROM public.customers WHERE id = %s", (i,)).fetchone())
                           for i in (1, 2, 1)]
        out["star"] = canon(c.execute("SELECT * FROM public.customers ORDER BY id").fetchall())
        out["expression"] = canon(c.execute("SELECT email || '' AS e FROM public.customers ORDER BY id").fetchall())
        out["where_on_masked"] = canon(c.execute(
            "SELECT id FROM public.customers WHERE email LIKE %s ORDER BY id", ("%example.org",)).fetchall())
        cur = c.cursor()
        for name, stmt in (("copy_text", "COPY public.customers TO STDOUT"),
                           ("copy_csv", "COPY public.customers (id, email) TO STDOUT (FORMAT csv)")):
            data = b""
            with cur.copy(stmt) as cp:
                for chunk in cp:
                    data += bytes(chunk)
            out[name] = data.decode()
        out["usable"] = canon(c.execute("SELECT count(*) FROM public.customers").fetchone())
    return out


def masked_copy_query():
    with connect(autocommit=True) as c:
        cur = c.cursor()
        out = {}
        for name, q in (("columns", "SELECT id, email FROM public.customers ORDER BY id"),
                        ("star", "SELECT * FROM public.customers ORDER BY id")):
            try:
                data = b""
                with cur.copy("COPY (%s) TO STDOUT" % q) as cp:
                    for chunk in cp:
                        data += bytes(chunk)
                out[name] = {"ok": data.decode()}
            except psycopg.Error as e:
                out[name] = err(e)
            out[name + "_usable"] = attempt(lambda: c.execute("SELECT count(*) FROM public.customers").fetchone())
        return out


def masked_errors():
    out = []
    with connect(autocommit=True) as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(diag(d)))
        for s in ("INSERT INTO public.customers VALUES (9, 'Dup', 'ava.costa@example.org')",
                  "SELECT email::int FROM public.customers WHERE id = 1",
                  "SELECT nope FROM public.customers",
                  "SELECT count(*) FROM public.customers WHERE public.noisy(id) > 2"):
            notices.clear()
            try:
                cur = c.execute(s)
                r = {"ok": canon(cur.fetchall()) if cur.description is not None else cur.statusmessage}
            except psycopg.Error as e:
                r = err(e)
            out.append({"result": r, "notices": list(notices)})  # not the SQL: it holds a raw value
    return out


SCENARIOS = {
    "startup": startup, "types_text": types_text, "types_binary": types_binary, "prepared": prepared,
    "pipeline": pipeline, "transactions": transactions, "errors_notices": errors_notices,
    "listen_notify": listen_notify, "backend_key": backend_key, "cancel_timeout": cancel_timeout, "copy": copy, "large_cursor": large_cursor,
    "pool_reconnect": pool_reconnect, "masking": masking, "masked_copy_query": masked_copy_query,
    "masked_errors": masked_errors,
}

if __name__ == "__main__":
    main("psycopg", psycopg.__version__, SCENARIOS)
