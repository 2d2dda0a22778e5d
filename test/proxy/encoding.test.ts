// Issue 11, class 5: bytes that are not valid UTF-8 in a Query or Parse. PostgreSQL answers 22021
// ("invalid byte sequence for encoding") and the session goes on; so does the proxy, without forwarding a
// byte of the message, and in the extended protocol the error fails the batch up to Sync, as it does in
// PostgreSQL (nothing queued before it in the batch commits).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { bind, execute, parse, SYNC, query } from '../../proxy/wire/messages.ts';
import { startHarness } from './harness.ts';
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
const INVALID = Buffer.from([0xc3, 0x28, 0xff]); // a lead byte without its continuation, then 0xff

function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstr = (s: string | Buffer) => Buffer.concat([typeof s === 'string' ? Buffer.from(s) : s, Buffer.from([0])]);
const rawQuery = (sql: Buffer) => message('Q', cstr(sql));
const rawParse = (name: string | Buffer, sql: Buffer) => message('P', cstr(name), cstr(sql), Buffer.from([0, 0]));

test('a Query with invalid UTF-8 gets 22021, is not forwarded, and the session goes on', async () => {
  const marker = `enc_${process.pid}_q`;
  const c = await RawClient.connect(h.port);
  c.send(
    rawQuery(
      Buffer.concat([
        Buffer.from(`INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 1, '${marker}`),
        INVALID,
        Buffer.from("')"),
      ]),
    ),
  );
  const ms = await c.until((m) => m.type === 'Z');
  assert.equal(types(ms), 'EZ');
  assert.equal(ms[0]!.code, '22021');
  assert.match(ms[0]!.message!, /invalid byte sequence for encoding "UTF8"/);
  assert.equal(ms[1]!.status, 'I');
  assert.equal(c.closed, false);
  c.send(query('SELECT 1 AS one'));
  const next = await c.until((m) => m.type === 'Z');
  assert.equal(types(next), 'TDCZ');
  assert.deepEqual(next[1]!.values, ['1']);
  assert.deepEqual(h.logged(marker), []);
  assert.equal(
    (await h.admin(`SELECT count(*)::int AS n FROM public.orders WHERE status LIKE '${marker}%'`)).rows[0].n,
    0,
  );
  // The audit says what happened, with no byte of the statement.
  const rec = h.audit.records.at(-2)!;
  assert.equal(rec.decision, 'deny');
  assert.equal(rec.statusCode, '22021');
  assert.equal(rec.queryText, '');
  assert.equal(rec.reason, 'invalid byte sequence for encoding "UTF8"');
  c.close();
});

test('inside a transaction block the Query fails the transaction, as PostgreSQL does', async () => {
  const c = await RawClient.connect(h.port);
  c.send(
    query('BEGIN'),
    rawQuery(Buffer.concat([Buffer.from('SELECT '), INVALID])),
    query('SELECT 1'),
    query('ROLLBACK'),
    query('SELECT 2 AS two'),
  );
  const ms = await c.readies(5);
  assert.equal(types(ms), 'CZ' + 'EZ' + 'EZ' + 'CZ' + 'TDCZ');
  assert.equal(ms[2]!.code, '22021');
  assert.equal(ms[3]!.status, 'E');
  assert.equal(ms[4]!.code, '25P02');
  assert.deepEqual(ms.at(-3)!.values, ['2']);
  c.close();
});

test('a Parse with invalid UTF-8 fails its batch up to Sync; the next batch runs', async () => {
  const marker = `enc_${process.pid}_p`;
  const c = await RawClient.connect(h.port);
  // The INSERT is a guarded write (maxAffectedRows): its Execute holds the client until its result; the
  // failed batch must release that hold (it hung before: the Sync stayed unread).
  const before = await h.writes();
  c.send(
    // Allowed and executed first: rolled back with the batch, since the batch fails before Sync.
    parse('', `INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 1, '${marker}')`),
    bind({}),
    execute(),
    rawParse('s1', Buffer.concat([Buffer.from(`SELECT 'bad_${marker}`), INVALID, Buffer.from("'")])),
    bind({ statement: 's1' }),
    execute(),
    SYNC,
    parse('', 'SELECT 2 AS two'),
    bind({}),
    execute(),
    SYNC,
  );
  const ms = await c.readies(2);
  assert.equal(types(ms), '12C' + 'EZ' + '12DCZ');
  const err = ms.find((m) => m.type === 'E')!;
  assert.equal(err.code, '22021');
  assert.deepEqual(ms.at(-3)!.values, ['2']);
  assert.equal(await h.writes(), before);
  assert.equal((await h.admin(`SELECT count(*)::int AS n FROM public.orders WHERE status = '${marker}'`)).rows[0].n, 0);
  assert.deepEqual(h.logged(`bad_${marker}`), [], 'the invalid Parse reached the server');
  // s1 was never prepared: binding it fails as an unknown statement (26000) and the session still goes on.
  c.send(bind({ statement: 's1' }), execute(), SYNC);
  const again = await c.readies(1);
  assert.equal(types(again), 'EZ');
  assert.equal(again[0]!.code, '26000');
  c.close();
});

test('a statement or portal name with invalid UTF-8 is refused the same way', async () => {
  const c = await RawClient.connect(h.port);
  c.send(rawParse(INVALID, Buffer.from('SELECT 1')), SYNC, query('SELECT 3 AS three'));
  const ms = await c.readies(2);
  assert.equal(types(ms), 'EZ' + 'TDCZ');
  assert.equal(ms[0]!.code, '22021');
  assert.deepEqual(ms.at(-3)!.values, ['3']);
  c.close();
});

test('a guarded Execute the server skips (its Parse failed) does not hang the session', async () => {
  const c = await RawClient.connect(h.port);
  c.send(
    parse('', "INSERT INTO public.orders (customer_id, amount, status) VALUES ('not a number', 1, 'x')"),
    bind({}),
    execute(),
    SYNC,
    query('SELECT 4 AS four'),
  );
  const ms = await c.readies(2);
  assert.equal(types(ms), 'EZ' + 'TDCZ');
  assert.equal(ms[0]!.code, '22P02');
  assert.deepEqual(ms.at(-3)!.values, ['4']);
  c.close();
});
