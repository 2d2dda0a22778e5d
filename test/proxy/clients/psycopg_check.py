# psycopg 3 as a real client through Airlock: run by test/proxy/psycopg.test.ts with a conninfo as argv[1];
# prints one JSON object of observations for the test to assert on (assertions stay in the test).
import json
import sys

import psycopg
from psycopg import errors

out = {"version": psycopg.__version__}
# prepare_threshold=0: every parameterized statement is prepared server-side (Parse with a name, then Bind/Execute
# of that name), instead of after 5 runs (psycopg docs "Prepared statements").
with psycopg.connect(sys.argv[1], prepare_threshold=0, autocommit=True) as conn:
    out["ssl_in_use"] = conn.pgconn.ssl_in_use
    with conn.cursor() as cur:
        cur.execute("SELECT id, name, email, ssn FROM public.customers ORDER BY id")
        out["masked"] = [list(r) for r in cur.fetchall()]

        prepared = []
        for cid in (1, 2, 3, 1):
            cur.execute("SELECT name, ssn FROM public.customers WHERE id = %s /* psycopg-prepared */", (cid,))
            prepared.append(list(cur.fetchone()))
        out["prepared"] = prepared

        try:
            cur.execute("DELETE FROM public.customers WHERE id = %s", (1,))
            out["denied"] = None
        except errors.InsufficientPrivilege as e:
            out["denied"] = {"type": type(e).__name__, "sqlstate": e.sqlstate, "message": str(e)}
        cur.execute("SELECT count(*) FROM public.customers")
        out["after_denial"] = cur.fetchone()[0]

    # A denial inside a transaction fails it (25P02 for what follows) until ROLLBACK.
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 1, 'psycopg-tx')")
        try:
            cur.execute("DELETE FROM public.customers WHERE id = 2")
            out["tx_denied"] = None
        except errors.InsufficientPrivilege as e:
            out["tx_denied"] = e.sqlstate
        try:
            cur.execute("SELECT 1")
            out["tx_after_denial"] = "ok"
        except errors.InFailedSqlTransaction as e:
            out["tx_after_denial"] = e.sqlstate
    conn.rollback()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.orders WHERE status = 'psycopg-tx'")
        out["tx_rows_after_rollback"] = cur.fetchone()[0]

        with cur.copy("COPY (SELECT id, email, ssn FROM public.customers ORDER BY id) TO STDOUT") as copy:
            out["copy_customers"] = [list(r) for r in copy.rows()]
        data = b""
        with cur.copy("COPY public.orders (id, amount) TO STDOUT") as copy:
            for chunk in copy:
                data += bytes(chunk)
        out["copy_orders_lines"] = len(data.decode().splitlines())

print(json.dumps(out))
