// The extended query protocol: pipelined batches with a denial in the middle, errors mid-pipeline, named
// statements, and masking of text and binary results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { bind, describe, execute, parse, SYNC, close, query } from '../../proxy/wire/messages.ts';
import { startHarness, failure } from './harness.ts';
import type { Harness } from './harness.ts';
import { RawClient } from './raw-client.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

const types = (ms: { type: string }[]) => ms.map((m) => m.type).join('');

test('three pipelined batches, the middle one denied: each gets its own answer, in order', async () => {
  const c = await RawClient.connect(h.port);
  const before = await h.writes();
  c.send(
    parse('', 'SELECT id FROM public.orders WHERE id = $1'),
    bind({ params: [Buffer.from('3')] }),
    execute(),
    SYNC,
    parse('', 'DELETE FROM public.customers WHERE id = 1'),
    bind({}),
    execute(),
    SYNC,
    parse('', 'SELECT 2 AS two'),
    bind({}),
    execute(),
    SYNC,
  );
  const ms = await c.readies(3);
  assert.equal(types(ms), '12DCZ' + 'EZ' + '12DCZ');
  assert.deepEqual(ms[2]!.values, ['3']);
  const err = ms.find((m) => m.type === 'E')!;
  assert.equal(err.code, '42501');
  assert.match(err.message!, /rule "no-deletes"/);
  assert.deepEqual(ms.at(-3)!.values, ['2']);
  assert.equal(await h.writes(), before);
  c.close();
});

test('a denial inside one batch: earlier results arrive, the rest of the batch is skipped until Sync', async () => {
  const c = await RawClient.connect(h.port);
  c.send(
    parse('', 'SELECT 1 AS a'),
    bind({}),
    execute(),
    parse('', 'TRUNCATE public.orders'),
    bind({}),
    execute(),
    parse('', 'SELECT 3 AS c'),
    bind({}),
    execute(),
    SYNC,
    query('SELECT 4 AS d'),
  );
  const ms = await c.readies(2);
  assert.equal(types(ms), '12DC' + 'EZ' + 'TDCZ');
  assert.equal(ms[4]!.code, '42501');
  c.close();
});

test('a server error mid-pipeline, then a denial in the next batch, then success', async () => {
  const c = await RawClient.connect(h.port);
  c.send(
    parse('', 'SELECT 1/0'),
    bind({}),
    execute(),
    SYNC,
    parse('', 'DROP TABLE public.orders'),
    bind({}),
    execute(),
    SYNC,
    parse('', 'SELECT 5 AS e'),
    bind({}),
    describe('P'),
    execute(),
    SYNC,
  );
  const ms = await c.readies(3);
  assert.equal(types(ms), '1EZ' + 'EZ' + '12TDCZ');
  assert.equal(ms[1]!.code, '22012');
  assert.equal(ms[3]!.code, '42501');
  c.close();
});

test('named statements: reused, closed, and a Bind to a closed one fails cleanly', async () => {
  const c = await RawClient.connect(h.port);
  c.send(parse('q1', 'SELECT status FROM public.orders WHERE id = $1'), SYNC);
  assert.equal(types(await c.readies(1)), '1Z');
  for (const id of ['1', '2']) {
    c.send(bind({ statement: 'q1', params: [Buffer.from(id)] }), execute(), SYNC);
    const ms = await c.readies(1);
    assert.equal(types(ms), '2DCZ');
  }
  c.send(close('S', 'q1'), SYNC);
  assert.equal(types(await c.readies(1)), '3Z');
  c.send(bind({ statement: 'q1' }), execute(), SYNC);
  const ms = await c.readies(1);
  assert.equal(types(ms), 'EZ');
  assert.equal(ms[0]!.code, '26000');
  c.close();
});

test('a named denied statement does not exist afterwards; EXECUTE of it is denied too', async () => {
  const c = await RawClient.connect(h.port);
  c.send(parse('bad', 'DELETE FROM public.customers WHERE id = $1'), SYNC);
  const ms = await c.readies(1);
  assert.equal(types(ms), 'EZ');
  c.send(query('EXECUTE bad(1)'));
  const ms2 = await c.readies(1);
  assert.equal(types(ms2), 'EZ');
  assert.equal(ms2[0]!.code, '42501');
  c.close();
});

test('SQL PREPARE / EXECUTE of an allowed statement runs with the prepared facts', async () => {
  const c = await h.client();
  await c.query('PREPARE getc(int) AS SELECT id, email FROM public.customers WHERE id = $1');
  const r = await c.query('EXECUTE getc(1)');
  assert.equal(r.rows[0].id, 1);
  assert.notEqual(r.rows[0].email, 'ava.costa@example.org', 'EXECUTE returns masked values');
  await c.query('DEALLOCATE getc');
});

test('masking through pg with parameters: text results', async () => {
  const c = await h.client();
  const r = await c.query('SELECT id, email, ssn FROM public.customers WHERE id = $1', [2]);
  assert.equal(r.rows[0].id, 2);
  assert.notEqual(r.rows[0].email, 'liam.johansson@example.net');
  assert.notEqual(r.rows[0].ssn, '915-16-7669');
});

test('masking through pg with binary results', async () => {
  const c = await h.client();
  const config = {
    text: 'SELECT id, email, ssn FROM public.customers WHERE id = $1',
    values: [3],
    binary: true,
  } as unknown as pg.QueryConfig;
  const r = await c.query(config);
  const row = r.rows[0] as Record<string, unknown>;
  const text = JSON.stringify(row, (_k, v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
  assert.doesNotMatch(text, /sofia\.haddad@example\.com|915-13-4325/);
});

test('masking when the client never asks for a description (proxy injects Describe)', async () => {
  const c = await RawClient.connect(h.port);
  c.send(parse('', 'SELECT email FROM public.customers WHERE id = 1'), bind({}), execute(), SYNC);
  const ms = await c.readies(1);
  assert.equal(types(ms), '12DCZ');
  assert.notEqual(ms[2]!.values![0], 'ava.costa@example.org');
  c.close();
});

test('masking with Describe S before Bind and binary result formats', async () => {
  const c = await RawClient.connect(h.port);
  c.send(parse('ds', 'SELECT ssn FROM public.customers WHERE id = 1'), describe('S', 'ds'), SYNC);
  assert.equal(types(await c.readies(1)), '1tTZ');
  c.send(bind({ statement: 'ds', resultFormats: [1] }), execute(), SYNC);
  const ms = await c.readies(1);
  assert.equal(types(ms), '2DCZ');
  assert.notEqual(ms[1]!.values![0], '919-56-7042');
  c.close();
});

test('pg parameterized queries still work after a denial on the same connection', async () => {
  const c = await h.client();
  const e = await failure(c.query('DELETE FROM public.customers WHERE id = $1', [1]));
  assert.equal(e.code, '42501');
  const r = await c.query('SELECT $1::int + 1 AS n', [41]);
  assert.equal(r.rows[0].n, 42);
});

test('FunctionCall is denied with 42501 and the session continues', async () => {
  const { functionCall } = await import('../../proxy/wire/messages.ts');
  const c = await RawClient.connect(h.port);
  c.send(functionCall(1299 /* now() */, [], [], 0));
  const ms = await c.readies(1);
  assert.equal(types(ms), 'EZ');
  assert.equal(ms[0]!.code, '42501');
  assert.match(ms[0]!.message!, /function call protocol/);
  c.send(query('SELECT 1'));
  assert.equal(types(await c.readies(1)), 'TDCZ');
  c.close();
});
