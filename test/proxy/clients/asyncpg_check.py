# asyncpg as a real client through Airlock (issue 12): run by test/proxy/asyncpg.test.ts with a DSN as argv[1];
# prints one JSON object of observations for the test to assert on (assertions stay in the test). Each step
# runs under a timeout so a hang is reported as one, not as a stuck test.
import asyncio
import json
import sys

import asyncpg

STEP_TIMEOUT = 10


async def step(out, name, coro):
    try:
        out[name] = await asyncio.wait_for(coro, STEP_TIMEOUT)
    except asyncio.TimeoutError:
        out[name] = {"error": "timeout"}
    except asyncpg.PostgresError as e:
        out[name] = {"error": type(e).__name__, "sqlstate": e.sqlstate, "message": str(e)}
    except Exception as e:  # noqa: BLE001 - any failure is an observation
        out[name] = {"error": type(e).__name__, "message": str(e)}


async def main():
    out = {"version": asyncpg.__version__}
    conn = await asyncio.wait_for(asyncpg.connect(sys.argv[1]), STEP_TIMEOUT)

    # Type introspection (an enum and a composite are not among asyncpg's built-in codecs): asyncpg turns
    # jit off with set_config('jit', 'off', false) first and restores it with set_config('jit', $1, false).
    async def introspect():
        row = await conn.fetchrow("SELECT 'b'::public.mood AS m, ROW(1, 'x')::public.pair AS p")
        return [row["m"], list(row["p"])]
    await step(out, "introspect", introspect())
    await step(out, "jit_after", conn.fetchval("SELECT current_setting('jit')"))

    # copy_records_to_table: binary COPY FROM STDIN after a prepared introspection of the table.
    async def copy_in():
        n = await conn.copy_records_to_table(
            "orders", schema_name="public", columns=["customer_id", "amount", "status"],
            records=[(1, 11.5, "asyncpg-copy"), (2, 12.25, "asyncpg-copy"), (3, 13, "asyncpg-copy")])
        return [n, await conn.fetchval("SELECT count(*) FROM public.orders WHERE status = 'asyncpg-copy'")]
    await step(out, "copy_in", copy_in())
    await step(out, "after_copy_in", conn.fetchval("SELECT 1"))

    # copy_from_query: COPY (query) TO STDOUT with a masked column, text and binary.
    async def copy_out(fmt):
        chunks = []
        async def sink(b):
            chunks.append(bytes(b))
        await conn.copy_from_query("SELECT * FROM public.customers ORDER BY id", output=sink, format=fmt)
        return b"".join(chunks).decode("latin1")
    await step(out, "copy_out_text", copy_out("text"))
    await step(out, "copy_out_csv", copy_out("csv"))
    await step(out, "copy_out_binary", copy_out("binary"))
    await step(out, "after_copy_out", conn.fetchval("SELECT 1"))

    await conn.close()
    print(json.dumps(out))


asyncio.run(main())
