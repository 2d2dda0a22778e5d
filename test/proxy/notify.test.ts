// Issue 11, class 2: sending a notification (NOTIFY, pg_notify) is a write to a channel other sessions
// read. It needs a rule naming the channel; a value derived from a masked column may not flow into a
// payload; and a session subject to masking never receives a payload it could not have read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startHarness, failure, eventually, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';

const WITH_CHANNELS = POLICY.replace(
  '    - { name: no-destructive,',
  '    - { name: invalidate, effect: allow, operations: [NOTIFY], channels: ["cache_*"] }\n    - { name: no-destructive,',
);

let h: Harness;
/** A listener connected to PostgreSQL directly: what other services' listeners would receive. */
let direct: pg.Client;
const heard: { channel: string; payload: string | undefined }[] = [];

before(async () => {
  h = await startHarness({ policy: WITH_CHANNELS });
  direct = new pg.Client({ connectionString: h.db.url });
  await direct.connect();
  direct.on('notification', (m) => heard.push({ channel: m.channel, payload: m.payload }));
  await direct.query('LISTEN jobs; LISTEN cache_orders; LISTEN cache_x');
});
after(async () => {
  await direct?.end().catch(() => {});
  await h?.stop();
});

/** Sends a notification directly and waits until the direct listener has it: everything sent before has arrived. */
async function settle(): Promise<void> {
  const n = heard.length;
  await h.admin("NOTIFY jobs, 'settle'");
  await eventually(
    () => heard.length > n && heard[heard.length - 1]!.payload === 'settle',
    5000,
    'the settle notification',
  );
  heard.length = 0;
}

test('NOTIFY on a channel no rule names: 42501, nothing sent, session usable', async () => {
  await settle();
  const c = await h.client();
  for (const sql of [
    "NOTIFY jobs, 'forged-marker-1'",
    "SELECT pg_notify('jobs', 'forged-marker-2')",
    "SELECT pg_notify('jobs', status) FROM public.orders",
    "SELECT * FROM pg_catalog.pg_notify('jobs', 'forged-marker-3')",
  ]) {
    const e = await failure(c.query(sql));
    assert.equal(e.code, '42501', sql);
    assert.match(e.message, /no rule allows NOTIFY on channel "jobs"/);
  }
  const e = await failure(c.query('SELECT pg_notify($1, $2)', ['jobs', 'forged-marker-4']));
  assert.equal(e.code, '42501');
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  await settle(); // nothing but the settle message arrived
  for (const m of ['forged-marker-1', 'forged-marker-2', 'forged-marker-3', 'forged-marker-4'])
    assert.deepEqual(h.logged(m), [], m);
});

test('NOTIFY on a channel a rule names reaches listeners', async () => {
  const c = await h.client();
  await c.query("NOTIFY cache_orders, 'order 7'");
  await c.query("SELECT pg_notify('cache_orders', id::text) FROM public.orders WHERE id = 3");
  await eventually(() => heard.filter((m) => m.channel === 'cache_orders').length === 2, 5000, 'two notifications');
  assert.deepEqual(
    heard.filter((m) => m.channel === 'cache_orders').map((m) => m.payload),
    ['order 7', '3'],
  );
  heard.length = 0;
});

test('a value derived from a masked column may not flow into a payload', async () => {
  await settle();
  const c = await h.client();
  await c.query('LISTEN cache_x');
  const got: string[] = [];
  c.on('notification', (m) => got.push(m.payload ?? ''));
  for (const sql of [
    "SELECT pg_notify('cache_x', ssn) FROM public.customers",
    "SELECT pg_notify('cache_x', lower(email) || '') FROM public.customers",
    "SELECT id FROM public.customers WHERE pg_notify('cache_x', ssn) IS NULL",
    "SELECT pg_notify('cache_x', c::text) FROM public.customers c",
  ]) {
    const e = await failure(c.query(sql));
    assert.equal(e.code, '42501', sql);
    assert.match(e.message, /notification payload/, sql);
  }
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  await settle();
  assert.deepEqual(got, []);
  assert.ok(!heard.some((m) => /\d{3}-\d{2}-\d{4}|@example/.test(m.payload ?? '')));
});

test('a payload someone else sent reaches a masked session without its text', async () => {
  const c = await h.client();
  await c.query('LISTEN cache_orders');
  const got: { channel: string; payload: string | undefined; pid: number }[] = [];
  c.on('notification', (m) => got.push({ channel: m.channel, payload: m.payload, pid: m.processId }));
  // a trigger or another service sending a raw masked value on a channel this session listens to
  await h.admin("SELECT pg_notify('cache_orders', ssn) FROM public.customers WHERE id = 1");
  await eventually(() => got.length === 1, 5000, 'the notification');
  assert.equal(got[0]!.channel, 'cache_orders');
  assert.equal(got[0]!.payload, '');
  assert.ok(got[0]!.pid > 0);
  assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
});

test('an identity with nothing masked receives payloads as sent', async () => {
  h.reload(WITH_CHANNELS.replace(/  masking:\n(    - .*\n)+/, ''));
  try {
    const c = await h.client();
    await c.query('LISTEN cache_orders');
    const got: string[] = [];
    c.on('notification', (m) => got.push(m.payload ?? ''));
    await h.admin("NOTIFY cache_orders, 'plain text'");
    await eventually(() => got.length === 1, 5000, 'the notification');
    assert.deepEqual(got, ['plain text']);
  } finally {
    h.reload(WITH_CHANNELS);
  }
});

test('a masked value passed to a prepared pg_notify through EXECUTE is refused', async () => {
  await settle();
  const c = await h.client();
  await c.query("PREPARE send_it(text) AS SELECT pg_notify('cache_x', $1)");
  const e = await failure(c.query('EXECUTE send_it((SELECT ssn FROM public.customers WHERE id = 1))'));
  assert.equal(e.code, '42501');
  await c.query("EXECUTE send_it('harmless')");
  await eventually(() => heard.some((m) => m.payload === 'harmless'), 5000, 'the harmless notification');
  assert.ok(!heard.some((m) => /\d{3}-\d{2}-\d{4}/.test(m.payload ?? '')));
});
