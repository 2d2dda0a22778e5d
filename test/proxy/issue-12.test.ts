// Issue 12 (transparent to every client), items 1–6, through the real proxy and a real PostgreSQL:
//   1 set_config(name, …) decided as SET name; 2 COPY FROM STDIN input sent ahead of CopyInResponse and in the
//   extended protocol; 3 COPY (query) TO masked in text, CSV and binary; 4 errors and notices keep names and hide
//   values; 5 a NOTICE from an allowed function passes when nothing masked is read; 6 denials name the pair.
// asyncpg itself runs the same paths in asyncpg.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import {
  bind,
  COPY_DONE,
  copyData,
  copyFail,
  describe,
  execute,
  parse,
  query,
  SYNC,
} from '../../proxy/wire/messages.ts';
import { startHarness, failure } from './harness.ts';
import type { Harness } from './harness.ts';
import { OPEN_POLICY } from './open-policy.ts';
import { RawClient } from './raw-client.ts';
import type { Msg } from './raw-client.ts';

let h: Harness;
let c: pg.Client;
before(async () => {
  h = await startHarness({ policy: OPEN_POLICY });
  await h.admin(`
    CREATE FUNCTION public.noisy() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'refreshed % rows', 3; RETURN 1; END $$;
    CREATE FUNCTION public.tell(e text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'value is %', e; RETURN 1; END $$;
    GRANT EXECUTE ON FUNCTION public.noisy(), public.tell(text) TO PUBLIC;`);
  c = await h.client();
});
after(async () => {
  await h?.stop();
});

const RAW_EMAILS = /ava\.costa@|liam\.johansson@|sofia\.haddad@/;
const types = (ms: Msg[]): string => ms.map((m) => m.type).join('');

// ---- 1: set_config ------------------------------------------------------------------------------

test("1: asyncpg's jit statement runs; set_config of a harmless setting needs no rule", async () => {
  const r = await c.query("SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new");
  assert.equal(r.rows[0].new, 'off');
  assert.equal((await c.query('SHOW jit')).rows[0].jit, 'off');
  await c.query("SELECT set_config('jit', $1, false)", [r.rows[0].cur]);
});

test('1: set_config of search_path is denied as SET search_path is, naming the change; nothing reaches the database', async () => {
  const e = await failure(c.query("SELECT set_config('search_path', 'pg_temp, public', false) /* sc-denied-1 */"));
  assert.equal(e.code, '42501');
  assert.match(
    e.message,
    /^permission denied for SET search_path: no AccessPolicy allows it \(changing search_path is not allowed/,
  );
  assert.equal(h.logged('sc-denied-1').length, 0);
  assert.equal((await c.query('SHOW search_path')).rows[0].search_path, '"$user", public');
  // a name that is not a string constant cannot be checked
  const n = await failure(c.query("SELECT set_config(v, 'x', false) FROM (VALUES ('search_path')) t(v)"));
  assert.equal(n.code, '42501');
  assert.match(n.message, /not a string constant/);
});

test('1: the decision cache keys set_config on its exact text: a harmless one never lends its verdict to search_path', async () => {
  for (const order of [
    ['statement_timeout', 'search_path'],
    ['search_path', 'statement_timeout'],
  ]) {
    const s = await h.client();
    const verdicts: string[] = [];
    for (const name of order) {
      try {
        await s.query(`SELECT set_config('${name}', '0', false)`);
        verdicts.push(`${name} allowed`);
      } catch (e) {
        verdicts.push(`${name} ${(e as { code: string }).code}`);
      }
    }
    assert.deepEqual(verdicts.sort(), ['search_path 42501', 'statement_timeout allowed']);
    await s.end();
  }
});

// ---- 2: COPY FROM STDIN -------------------------------------------------------------------------

test('2: COPY FROM STDIN with its data sent right behind the statement (no wait for CopyInResponse) completes', async () => {
  const r = await RawClient.connect(h.port);
  r.send(
    query('COPY public.orders (customer_id, amount, status) FROM STDIN'),
    copyData(Buffer.from('1\t5\tahead\n2\t6\tahead\n')),
    COPY_DONE,
  );
  const ms = await r.until((m) => m.type === 'Z');
  assert.equal(types(ms), 'GCZ');
  assert.equal(ms[1]!.tag, 'COPY 2');
  r.send(query("SELECT count(*) FROM public.orders WHERE status = 'ahead'"));
  assert.deepEqual((await r.until((m) => m.type === 'Z')).find((m) => m.type === 'D')!.values, ['2']);
  r.close();
});

/** A binary COPY stream (sql-copy "Binary Format") of (customer_id int4, amount numeric as text? no: int4, status text). */
function binaryRows(rows: [number, string][]): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)];
  for (const [id, status] of rows) {
    const head = Buffer.alloc(2 + 4 + 4);
    head.writeInt16BE(2, 0);
    head.writeInt32BE(4, 2);
    head.writeInt32BE(id, 6);
    const s = Buffer.from(status);
    const len = Buffer.alloc(4);
    len.writeInt32BE(s.length, 0);
    parts.push(head, len, s);
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1, 0);
  parts.push(trailer);
  return Buffer.concat(parts);
}

test('2: binary COPY FROM STDIN through the extended protocol (Parse/Bind/Describe/Execute/Sync, then data, CopyDone, Sync)', async () => {
  await h.admin(
    'CREATE TABLE public.scratch_in (customer_id int, status text); GRANT ALL ON public.scratch_in TO PUBLIC',
  );
  const r = await RawClient.connect(h.port);
  r.send(
    parse('', 'COPY public.scratch_in (customer_id, status) FROM STDIN (FORMAT binary)'),
    bind({}),
    describe('P'),
    execute(),
    SYNC,
  );
  assert.equal(types(await r.until((m) => m.type === 'G')), '12nG');
  // libpq's order: the Sync above is ignored by the server in copy-in mode; CopyDone is followed by another.
  r.send(
    copyData(
      binaryRows([
        [1, 'ext-a'],
        [2, 'ext-b'],
      ]),
    ),
    COPY_DONE,
    SYNC,
  );
  const done = await r.until((m) => m.type === 'Z');
  assert.equal(types(done), 'CZ');
  assert.equal(done[0]!.tag, 'COPY 2');
  // the queue is in step: the next statements get their own answers
  r.send(query('SELECT count(*) FROM public.scratch_in'), parse('', 'SELECT 7'), bind({}), execute(), SYNC);
  const next = await r.readies(2);
  assert.equal(types(next), 'TDCZ12DCZ');
  assert.deepEqual(next[1]!.values, ['2']);
  // and the data may also follow the batch at once, before CopyInResponse
  r.send(
    parse('', 'COPY public.scratch_in (customer_id, status) FROM STDIN (FORMAT binary)'),
    bind({}),
    execute(),
    SYNC,
    copyData(binaryRows([[3, 'ext-c']])),
    COPY_DONE,
    SYNC,
  );
  assert.equal(types(await r.until((m) => m.type === 'Z')), '12GCZ');
  r.send(query('SELECT 1'));
  assert.equal(types(await r.until((m) => m.type === 'Z')), 'TDCZ');
  // the client gives up with CopyFail: the error, then its Sync's ReadyForQuery, and nothing was copied
  r.send(
    parse('', 'COPY public.scratch_in (customer_id, status) FROM STDIN (FORMAT binary)'),
    bind({}),
    execute(),
    SYNC,
  );
  await r.until((m) => m.type === 'G');
  r.send(copyFail('client gave up'), SYNC, query('SELECT count(*) FROM public.scratch_in'));
  const failed = await r.readies(2);
  assert.equal(types(failed), 'EZTDCZ');
  assert.equal(failed[0]!.code, '57014');
  assert.deepEqual(failed[3]!.values, ['3']);
  r.close();
});

test('2: a COPY FROM that fails before copy-in: the data sent behind it is ignored, the session goes on', async () => {
  const r = await RawClient.connect(h.port);
  r.send(query('COPY public.nothere FROM STDIN'), copyData(Buffer.from('x\n')), COPY_DONE, query('SELECT 1'));
  const ms = await r.readies(2);
  assert.equal(types(ms), 'EZTDCZ');
  assert.equal(ms[0]!.code, '42P01');
  r.close();
});

// ---- 3: COPY (query) TO -------------------------------------------------------------------------

async function copyOut(sql: string): Promise<{ ms: Msg[]; data: Buffer }> {
  const r = await RawClient.connect(h.port);
  r.send(query(sql));
  const ms = await r.until((m) => m.type === 'Z');
  r.send(query('SELECT 1'));
  assert.equal(types(await r.until((m) => m.type === 'Z')), 'TDCZ', 'the session is usable after the COPY');
  r.close();
  return { ms, data: Buffer.concat(ms.filter((m) => m.type === 'd').map((m) => m.data!)) };
}

test('3: COPY (SELECT * …) TO STDOUT of a table with a masked column, text and CSV: masked, session kept', async () => {
  const text = await copyOut('COPY (SELECT * FROM public.customers ORDER BY id) TO STDOUT');
  assert.equal(types(text.ms.slice(0, 1)), 'H');
  assert.equal(
    text.data.toString(),
    '1\tAva Costa\ta***@example.org\t919-56-7042\n2\tLiam Johansson\tl***@example.net\t915-16-7669\n3\tSofia Haddad\ts***@example.com\t915-13-4325\n',
  );
  const csv = await copyOut('COPY (SELECT c.* FROM public.customers c WHERE id = 1) TO STDOUT (FORMAT csv)');
  assert.equal(csv.data.toString(), '1,Ava Costa,a***@example.org,919-56-7042\n');
  // a computed value of a masked column is at least redacted, as in a SELECT
  const computed = await copyOut('COPY (SELECT id, upper(email) FROM public.customers WHERE id = 2) TO STDOUT');
  assert.equal(computed.data.toString(), '2\t***\n');
  // CTEs, subqueries and a * over a join keep their sources
  const joined = await copyOut(
    'COPY (WITH x AS (SELECT * FROM public.customers) SELECT o.id, x.* FROM public.orders o JOIN x ON x.id = o.customer_id WHERE o.id = 1) TO STDOUT',
  );
  assert.doesNotMatch(joined.data.toString(), RAW_EMAILS);
  assert.match(joined.data.toString(), /l\*\*\*@example\.net/);
});

test('3: HEADER, DELIMITER, NULL and FORCE_QUOTE, as ML loaders write them: the header passes, rows are masked', async () => {
  const csv = await copyOut(
    'COPY (SELECT * FROM public.customers WHERE id <= 2 ORDER BY id) TO STDOUT WITH CSV HEADER',
  );
  assert.equal(
    csv.data.toString(),
    'id,name,email,ssn\n1,Ava Costa,a***@example.org,919-56-7042\n2,Liam Johansson,l***@example.net,915-16-7669\n',
  );
  const opts = await copyOut(
    "COPY (SELECT id, email, NULL::text AS n FROM public.customers WHERE id = 3) TO STDOUT (FORMAT csv, HEADER true, DELIMITER ';', NULL 'NA', FORCE_QUOTE (email))",
  );
  assert.equal(opts.data.toString(), 'id;email;n\n3;"s***@example.com";NA\n');
  const table = await copyOut('COPY public.customers (id, email) TO STDOUT (FORMAT text, HEADER on)');
  assert.equal(table.data.toString().split('\n')[0], 'id\temail');
  assert.doesNotMatch(table.data.toString(), RAW_EMAILS);
  // an option the masker cannot follow is refused before anything runs
  const r = await RawClient.connect(h.port);
  r.send(
    query('COPY (SELECT email FROM public.customers) TO STDOUT (FORMAT csv, FORCE_NOT_NULL (email))'),
    query('SELECT 1'),
  );
  const ms = await r.readies(2);
  assert.equal(types(ms), 'EZTDCZ');
  assert.equal(ms[0]!.code, '42501');
  r.close();
});

test('3: COPY (query) TO STDOUT (FORMAT binary): masked values in binary, the stream still loads', async () => {
  const bin = await copyOut('COPY (SELECT * FROM public.customers ORDER BY id) TO STDOUT (FORMAT binary)');
  assert.ok(bin.data.subarray(0, 11).equals(Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')));
  assert.doesNotMatch(bin.data.toString('latin1'), RAW_EMAILS);
  assert.match(bin.data.toString('latin1'), /a\*\*\*@example\.org/);
  // what the proxy wrote is valid binary COPY: PostgreSQL loads it back
  await h.admin('CREATE TABLE public.scratch_back (LIKE public.customers)');
  const r = await RawClient.connect(h.port);
  await h.admin('GRANT ALL ON public.scratch_back TO PUBLIC');
  r.send(query('COPY public.scratch_back FROM STDIN (FORMAT binary)'), copyData(bin.data), COPY_DONE);
  const ms = await r.until((m) => m.type === 'Z');
  assert.equal(types(ms), 'GCZ', JSON.stringify(ms));
  r.close();
  const back = await h.admin('SELECT email FROM public.scratch_back ORDER BY id');
  assert.deepEqual(
    back.rows.map((x) => x.email),
    ['a***@example.org', 'l***@example.net', 's***@example.com'],
  );
});

test('3: pipelined behind other statements, a described COPY (query) keeps its place in the stream', async () => {
  const r = await RawClient.connect(h.port);
  r.send(
    query('SELECT 1'),
    query('COPY (SELECT id, email FROM public.customers WHERE id = 1) TO STDOUT'),
    query('SELECT 2'),
    parse('', 'SELECT 3'),
    bind({}),
    execute(),
    SYNC,
  );
  const ms = await r.readies(4);
  assert.equal(types(ms), 'TDCZ' + 'HdcCZ' + 'TDCZ' + '12DCZ');
  assert.equal(ms.find((m) => m.type === 'd')!.data!.toString(), '1\ta***@example.org\n');
  assert.deepEqual(
    ms.filter((m) => m.type === 'D').map((m) => m.values),
    [['1'], ['2'], ['3']],
  );
  r.close();
});

test('3: COPY (query) through the extended protocol is described and masked too', async () => {
  const r = await RawClient.connect(h.port);
  r.send(
    parse('s1', 'COPY (SELECT id, email FROM public.customers WHERE id = 3) TO STDOUT'),
    bind({ statement: 's1' }),
    execute(),
    SYNC,
  );
  const ms = await r.until((m) => m.type === 'Z');
  assert.equal(types(ms), '12Hdc' + 'CZ');
  assert.equal(ms.find((m) => m.type === 'd')!.data!.toString(), '3\ts***@example.com\n');
  r.close();
});

test('3: a COPY (query) that fails: the client gets the real error, in a transaction too, and the session goes on', async () => {
  const r = await RawClient.connect(h.port);
  r.send(
    query('BEGIN'),
    query('COPY (SELECT nope FROM public.customers) TO STDOUT'),
    query('ROLLBACK'),
    query('SELECT 1'),
  );
  const ms = await r.readies(4);
  assert.equal(types(ms), 'CZ' + 'EZ' + 'CZ' + 'TDCZ');
  assert.equal(ms[2]!.code, '42703');
  assert.equal(ms[2]!.message, 'column "nope" does not exist');
  assert.equal(ms[3]!.status, 'E');
  r.close();
});

test('3: what cannot be masked is refused with a clean error: binary COPY of the table, COPY (query) among other statements', async () => {
  const r = await RawClient.connect(h.port);
  r.send(
    query('COPY public.customers TO STDOUT (FORMAT binary)'),
    query('SELECT 1; COPY (SELECT * FROM public.customers) TO STDOUT'),
    query('SELECT 1'),
  );
  const ms = await r.readies(3);
  assert.equal(types(ms), 'EZ' + 'EZ' + 'TDCZ');
  assert.equal(ms[0]!.code, '42501');
  assert.match(
    ms[0]!.message!,
    /binary format cannot be masked.*COPY \(SELECT … FROM public\.customers\) TO STDOUT \(FORMAT binary\)/,
  );
  assert.equal(ms[2]!.code, '42501');
  assert.match(ms[2]!.message!, /must be sent as a statement on its own/);
  r.close();
});

test('3: COPY (query) of unmasked tables is not described (one round trip, as direct)', async () => {
  const before = h.logged('scratch-copy-marker').length;
  const out = await copyOut('COPY (SELECT id /* scratch-copy-marker */ FROM public.orders WHERE id = 1) TO STDOUT');
  assert.equal(out.data.toString(), '1\n');
  assert.equal(h.logged('scratch-copy-marker').length - before, 1);
});

// ---- 4, 5: errors and notices -------------------------------------------------------------------

function notices(client: pg.Client): { messages: string[]; stop(): void } {
  const messages: string[] = [];
  const on = (n: { message?: string }) => {
    messages.push(n.message ?? '');
  };
  client.on('notice', on);
  return { messages, stop: () => client.off('notice', on) };
}

test('4: names are not values: an undefined column, its hint, and a DROP … IF EXISTS notice keep their names', async () => {
  const e = (await failure(c.query('SELECT emial FROM public.customers'))) as {
    code: string;
    message: string;
    hint?: string;
  };
  assert.equal(e.code, '42703');
  assert.equal(e.message, 'column "emial" does not exist');
  assert.match(e.hint ?? '', /"customers\.email"/);
  const n = notices(c);
  await c.query('DROP TABLE IF EXISTS public.scratch_nothere');
  n.stop();
  assert.deepEqual(n.messages, ['table "scratch_nothere" does not exist, skipping']);
});

test('4: values of masked columns stay hidden: unique-violation DETAIL, a cast, a regclass lookup', async () => {
  const dup = (await failure(
    c.query("INSERT INTO public.customers VALUES (9, 'X', 'ava.costa@example.org', '0')"),
  )) as { code: string; message: string; detail?: string; constraint?: string; table?: string };
  assert.equal(dup.code, '23505');
  assert.equal(dup.message, 'duplicate key value violates unique constraint "customers_email_key"');
  assert.equal(dup.detail, 'Key (email)=(***) already exists.');
  assert.equal(dup.constraint, 'customers_email_key');
  assert.equal(dup.table, 'customers');
  // an unmasked key keeps its value
  const pk = (await failure(c.query("INSERT INTO public.customers VALUES (1, 'X', 'new@example.org', '0')"))) as {
    detail?: string;
  };
  assert.equal(pk.detail, 'Key (id)=(1) already exists.');
  const cast = await failure(c.query('SELECT email::int FROM public.customers'));
  assert.equal(cast.message, 'invalid input syntax for type integer: "***"');
  const rel = await failure(c.query('SELECT email::regclass FROM public.customers'));
  assert.match(rel.message, /"\*\*\*"$/);
  assert.doesNotMatch(rel.message, RAW_EMAILS);
  // a statement that reads no relation with masked columns keeps its values in the same kind of error
  const plain = await failure(c.query('SELECT status::int FROM public.orders'));
  assert.equal(plain.message, 'invalid input syntax for type integer: "pending"');
});

test('5: a NOTICE from an allowed function passes unchanged when the statement reads nothing masked, and is hidden when it does', async () => {
  const n = notices(c);
  await c.query('SELECT public.noisy()');
  await c.query('SELECT public.tell(name) FROM public.customers WHERE id = 1');
  await c.query('SELECT public.tell(email) FROM public.customers WHERE id = 1');
  n.stop();
  assert.equal(n.messages[0], 'refreshed 3 rows');
  assert.equal(n.messages[2], 'message hidden by Airlock: it may contain values of masked columns');
  assert.doesNotMatch(n.messages.join('\n'), RAW_EMAILS);
});

// ---- 6: denial headlines ------------------------------------------------------------------------

test('6: a denial names the pair that was denied, with the relation qualified', async () => {
  const ddl = await failure(c.query('CREATE TABLE public.audit_copy AS SELECT * FROM customers'));
  assert.equal(ddl.code, '42501');
  assert.match(
    ddl.message,
    /^permission denied for DDL on public\.audit_copy: no AccessPolicy allows it \(no rule allows DDL on public\.audit_copy\)$/,
  );
  const read = await failure(c.query('SELECT * FROM customers, probe.writes'));
  assert.match(read.message, /^permission denied for SELECT on probe\.writes: /);
  const fn = await failure(c.query("SELECT current_setting('jit'), pg_read_file('/etc/hostname')"));
  assert.match(fn.message, /^permission denied for CALL of function pg_catalog\.pg_read_file: /);
  const unqualified = await failure(c.query('TRUNCATE customers'));
  assert.match(unqualified.message, /^permission denied for TRUNCATE on public\.customers: /);
  // the session is usable after each
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test("2: under maxAffectedRows (the client held after a guarded Execute), libpq's extended COPY FROM still flows", async () => {
  const g = await startHarness(); // the default test policy: maxAffectedRows 5 on writes
  try {
    const r = await RawClient.connect(g.port);
    r.send(parse('', 'COPY public.orders (customer_id, amount, status) FROM STDIN'), bind({}), execute(), SYNC);
    assert.equal(types(await r.until((m) => m.type === 'G')), '12G');
    r.send(copyData(Buffer.from('1\t5\tguarded\n')), COPY_DONE, SYNC);
    const done = await r.until((m) => m.type === 'Z');
    assert.equal(types(done), 'CZ');
    assert.equal(done[0]!.tag, 'COPY 1');
    // over the limit: rolled back, denied, the session goes on
    r.send(parse('', 'COPY public.orders (customer_id, amount, status) FROM STDIN'), bind({}), execute(), SYNC);
    await r.until((m) => m.type === 'G');
    r.send(copyData(Buffer.from('1\t5\tover\n'.repeat(6))), COPY_DONE, SYNC);
    const over = await r.until((m) => m.type === 'Z');
    assert.equal(types(over), 'EZ');
    assert.equal(over[0]!.code, '42501');
    r.send(query("SELECT count(*) FROM public.orders WHERE status IN ('guarded', 'over')"));
    assert.deepEqual((await r.until((m) => m.type === 'Z')).find((m) => m.type === 'D')!.values, ['1']);
    r.close();
  } finally {
    await g.stop();
  }
});

test('4: a deferred constraint failing at the end of a multi-statement Query hides the key value, whichever statement it lands on', async () => {
  const g = await startHarness({
    policy: OPEN_POLICY.replace(
      '  masking:\n',
      '  masking:\n    - { columns: ["public.scratch_dk.secret"], strategy: redact }\n',
    ),
  });
  try {
    await g.admin(`CREATE TABLE public.scratch_dk (k int, secret text, CONSTRAINT scratch_dk_secret UNIQUE (secret) DEFERRABLE INITIALLY DEFERRED);
      INSERT INTO public.scratch_dk VALUES (1, 'hunter2'); GRANT ALL ON public.scratch_dk TO PUBLIC`);
    const r = await RawClient.connect(g.port);
    r.send(query("INSERT INTO public.scratch_dk VALUES (2, 'hunter2'); SELECT 1"));
    const ms = await r.until((m) => m.type === 'Z');
    const err = ms.find((m) => m.type === 'E')!;
    assert.equal(err.code, '23505');
    r.close();
    const k = await g.client();
    const e = (await failure(k.query("INSERT INTO public.scratch_dk VALUES (3, 'hunter2'); SELECT 1"))) as {
      code: string;
      detail?: string;
    };
    assert.equal(e.code, '23505');
    assert.equal(e.detail, 'Key (secret)=(***) already exists.');
  } finally {
    await g.stop();
  }
});
