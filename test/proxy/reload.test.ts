// Policy changes reach live sessions: a new generation applies at the next statement, and a session whose
// identity lost access is closed even when idle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure, eventually, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';
import { RawClient } from './raw-client.ts';
import { parse, bind, execute, SYNC } from '../../proxy/wire/messages.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

const NO_ORDERS = POLICY.replace(
  'tables: ["public.customers", "public.orders", "public.big"]',
  'tables: ["public.customers", "public.big"]',
);

test('allow → deny on a live session at its next statement; deny → allow back', async () => {
  const c = await h.client();
  assert.equal((await c.query('SELECT count(*)::int AS n FROM public.orders')).rows[0].n, 20);
  h.reload(NO_ORDERS);
  const e = await failure(c.query('SELECT count(*)::int AS n FROM public.orders'));
  assert.equal(e.code, '42501');
  h.reload(POLICY);
  assert.equal((await c.query('SELECT count(*)::int AS n FROM public.orders')).rows[0].n, 20);
});

test('a named prepared statement is re-decided at its next Bind after a policy change', async () => {
  const c = await RawClient.connect(h.port);
  c.send(parse('p', 'SELECT id FROM public.orders WHERE id = 1'), SYNC);
  await c.readies(1);
  c.send(bind({ statement: 'p' }), execute(), SYNC);
  assert.deepEqual((await c.readies(1)).map((m) => m.type).join(''), '2DCZ');
  h.reload(NO_ORDERS);
  c.send(bind({ statement: 'p' }), execute(), SYNC);
  const ms = await c.readies(1);
  assert.equal(ms.map((m) => m.type).join(''), 'EZ');
  assert.equal(ms[0]!.code, '42501');
  h.reload(POLICY);
  c.close();
});

test('masking added by a reload applies to the next result', async () => {
  const c = await h.client();
  assert.equal((await c.query('SELECT name FROM public.customers WHERE id = 1')).rows[0].name, 'Ava Costa');
  h.reload(
    POLICY.replace(
      '- { columns: ["public.customers.ssn"], strategy: redact }',
      '- { columns: ["public.customers.ssn", "public.customers.name"], strategy: redact }',
    ),
  );
  assert.notEqual((await c.query('SELECT name FROM public.customers WHERE id = 1')).rows[0].name, 'Ava Costa');
  h.reload(POLICY);
});

test('revocation closes an idle session with FATAL 42501 "access revoked"', async () => {
  const c = await RawClient.connect(h.port);
  h.reload(POLICY.replace('name: trainer, namespace: team }]', 'name: someone-else, namespace: team }]'));
  const ms = await c.until((m) => m.type === 'E');
  const err = ms.find((m) => m.type === 'E')!;
  assert.equal(err.code, '42501');
  assert.match(err.message!, /access revoked/);
  await eventually(() => c.closed, 2000, 'the connection to close');
  h.reload(POLICY);
});
