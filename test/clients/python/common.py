"""Shared by the Python client programs of the differential harness (test/clients/harness.ts).

canon() turns what a driver returned into plain JSON that is the same for the same value: numbers
JSON cannot carry exactly become tagged strings, bytes become hex, dates ISO text. main() runs each
scenario on its own, prints one JSON transcript; a scenario that raises unexpectedly is recorded as
{"crash": "..."} (the test reports it), never silently dropped.
"""
import asyncio
import datetime
import decimal
import enum
import ipaddress
import json
import os
import sys
import time
import traceback
import uuid

SAFE_INT = 2 ** 53

# The scenarios' SQL, the same text in every Python program so their transcripts line up.
TYPED_SQL = "SELECT * FROM public.typed ORDER BY id"
LITERALS_SQL = (
    "SELECT 1.50::numeric AS n, '-0.000001'::numeric(12,6) AS small, '2024-02-29 12:34:56.789+02'::timestamptz AS ts,"
    " '2024-02-29 12:34:56'::timestamp AS tsn, '[1, {\"a\": null}, \"é\"]'::jsonb AS jb, '{\"k\": 1}'::json AS j,"
    " ARRAY[[1,2],[3,4]] AS m, ARRAY['x', NULL, 'a,b']::text[] AS ta, '\\xdeadbeef'::bytea AS b,"
    " 'ok'::public.mood AS mood, ROW('a b', 1)::public.pair AS pair,"
    " 12.5::float4 AS f4, 32767::int2 AS i2, '12:00:01'::time AS tm, NULL::int AS nul"
)
MASK_ROWS_SQL = "SELECT id, name, email FROM public.customers ORDER BY id"


def canon(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, enum.Enum):
        return "enum:" + str(v.value)
    if isinstance(v, int):
        return v if -SAFE_INT < v < SAFE_INT else "int:%d" % v
    if isinstance(v, float):
        return "float:" + repr(v)
    if isinstance(v, decimal.Decimal):
        return "numeric:" + str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "hex:" + bytes(v).hex()
    if isinstance(v, datetime.datetime):
        return "timestamp:" + v.isoformat()
    if isinstance(v, datetime.date):
        return "date:" + v.isoformat()
    if isinstance(v, datetime.time):
        return "time:" + v.isoformat()
    if isinstance(v, datetime.timedelta):
        return "interval:%dd%ds%dus" % (v.days, v.seconds, v.microseconds)
    if isinstance(v, uuid.UUID):
        return "uuid:" + str(v)
    if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network,
                      ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return "inet:" + str(v)
    if isinstance(v, dict):
        return {str(k): canon(x) for k, x in v.items()}
    if type(v).__name__ == "Record":  # asyncpg.Record: a tuple with names
        return [canon(x) for x in v]
    if hasattr(v, "_asdict"):
        return {"row": canon(v._asdict())}
    if isinstance(v, (list, tuple)):
        return [canon(x) for x in v]
    return "%s:%s" % (type(v).__name__, str(v))


def run_async(name, fn, timeout):
    """Run one async scenario on a loop of its own. A scenario still running after `timeout` is
    recorded as hung (its stack on stderr) and abandoned with its loop: a hung driver must not take
    the rest of the transcript with it, and cancelling it could hang as well."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(fn())
    done, _ = loop.run_until_complete(asyncio.wait([task], timeout=timeout))
    if not done:
        sys.stderr.write("scenario %s hung for %.0f s; its stack:\n" % (name, timeout))
        task.print_stack(file=sys.stderr)
        return {"crash": "hung for %.0f s" % timeout}
    try:
        return task.result()
    finally:
        loop.close()


def main(client, version, scenarios, timeout=20.0):
    """Run each scenario (a function, or an async function run with a timeout) and print the transcript."""
    out = {}
    only = os.environ.get("CLIENT_SCENARIOS")  # by hand: a comma-separated subset
    for name, fn in scenarios.items():
        if only and name not in only.split(","):
            continue
        t0 = time.monotonic()
        try:
            if asyncio.iscoroutinefunction(fn):
                out[name] = run_async(name, fn, timeout)
            else:
                out[name] = fn()
            json.dumps(out[name])
        except BaseException as e:  # noqa: BLE001 — recorded for the test, with the trace on stderr
            if isinstance(e, KeyboardInterrupt):
                raise
            traceback.print_exc(file=sys.stderr)
            out[name] = {"crash": "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")}
        if os.environ.get("CLIENT_TIMING"):
            sys.stderr.write("%s: %.2fs\n" % (name, time.monotonic() - t0))
    sys.stdout.write(json.dumps({"client": client, "version": version, "scenarios": out}, sort_keys=True, ensure_ascii=False))
    sys.stdout.write("\n")
    sys.stdout.flush()
    os._exit(0)  # do not wait on a driver thread stuck in a broken connection
