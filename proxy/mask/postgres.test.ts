// proxy/mask against the bytes a real PostgreSQL 15 sends: DataRows in text and binary format with
// the RowDescription provenance resolveRowMask relies on, COPY … TO STDOUT output masked and loaded
// back with COPY … FROM STDIN (the server's own parser is the judge of our re-escaping), and real
// ErrorResponses scrubbed. Starts a throwaway server of its own (test/support/pg.ts), tears it down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startPostgres, type PgServer } from '../../test/support/pg.ts';
import type { MaskPlan, MaskStrategy } from '../../policy/types.ts';
import type { MaskCatalog } from './types.ts';
import type { FieldInfo } from '../wire/read.ts';
import { maskDataRow } from './datarow.ts';
import { resolveRowMask } from './resolve.ts';
import { maskCopyData, type CopyOptions } from './copy.ts';
import { span } from './slab.ts';
import { scrubErrorFields } from './errors.ts';
import { partialText } from './strategies.ts';

const settings = { hashKey: Buffer.alloc(32, 9) };

// ---- a throwaway server ----------------------------------------------------------------------
// Its own server, not the run's shared one: the minimal client below logs in as `postgres` with no
// password (trust over TCP) and works in database `postgres`.
let server: PgServer | null = null;
let port = 0;

before(async () => {
  server = await startPostgres({ hostAuth: 'trust', settings: { lc_messages: 'C' } });
  port = server.port;
});

after(async () => {
  await server?.stop();
});

// ---- a minimal protocol client that keeps every message's exact bytes ------------------------
class Wire {
  #buf = Buffer.alloc(0);
  #queue: Buffer[] = [];
  #wake: (() => void) | null = null;
  #failure: Error | null = null;
  readonly #sock: Socket;
  private constructor(sock: Socket) {
    this.#sock = sock;
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 5) {
        const end = 1 + this.#buf.readInt32BE(1);
        if (this.#buf.length < end) break;
        this.#queue.push(Buffer.from(this.#buf.subarray(0, end)));
        this.#buf = this.#buf.subarray(end);
      }
      this.#wake?.();
    });
    sock.on('error', (e) => {
      this.#failure = e;
      this.#wake?.();
    });
    sock.on('close', () => {
      this.#failure ??= new Error('connection closed');
      this.#wake?.();
    });
  }
  static async open(p: number): Promise<Wire> {
    const sock = connect({ host: '127.0.0.1', port: p });
    await new Promise<void>((res, rej) => {
      sock.once('connect', res);
      sock.once('error', rej);
    });
    const w = new Wire(sock);
    const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length);
    startup.writeInt32BE(196608, 4);
    sock.write(Buffer.concat([startup, params]));
    const msgs = await w.until('Z');
    const err = msgs.find((m) => m[0] === 0x45);
    if (err) throw new Error('startup failed');
    return w;
  }
  async #next(): Promise<Buffer> {
    for (;;) {
      const m = this.#queue.shift();
      if (m !== undefined) return m;
      if (this.#failure) throw this.#failure;
      await new Promise<void>((r) => {
        this.#wake = r;
      });
      this.#wake = null;
    }
  }
  async until(type: string): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (;;) {
      const m = await this.#next();
      out.push(m);
      if (m[0] === type.charCodeAt(0)) return out;
    }
  }
  send(type: string, ...parts: Buffer[]): void {
    const body = Buffer.concat(parts);
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeInt32BE(4 + body.length, 1);
    this.#sock.write(Buffer.concat([head, body]));
  }
  /** Simple Query: every message up to ReadyForQuery. */
  query(sql: string): Promise<Buffer[]> {
    this.send('Q', cstr(sql));
    return this.until('Z');
  }
  /** Extended Query with all results in binary format. */
  queryBinary(sql: string): Promise<Buffer[]> {
    this.send('P', cstr(''), cstr(sql), int16(0));
    this.send('B', cstr(''), cstr(''), int16(0), int16(0), int16(1), int16(1));
    this.send('D', Buffer.from('P'), cstr(''));
    this.send('E', cstr(''), Buffer.alloc(4));
    this.send('S');
    return this.until('Z');
  }
  close(): void {
    this.#sock.end();
  }
}
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
const int16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const ofType = (msgs: Buffer[], t: string): Buffer[] => msgs.filter((m) => m[0] === t.charCodeAt(0));

// Independent decoders for what the server sends and what we produce.
function rowDescription(msg: Buffer): FieldInfo[] {
  const n = msg.readInt16BE(5);
  const out: FieldInfo[] = [];
  let p = 7;
  for (let i = 0; i < n; i++) {
    const z = msg.indexOf(0, p);
    const name = msg.toString('utf8', p, z);
    p = z + 1;
    out.push({
      name,
      tableOid: msg.readUInt32BE(p),
      attnum: msg.readInt16BE(p + 4),
      typeOid: msg.readUInt32BE(p + 6),
      typeLen: msg.readInt16BE(p + 10),
      typeMod: msg.readInt32BE(p + 12),
      format: msg.readInt16BE(p + 16) as 0 | 1,
    });
    p += 18;
  }
  return out;
}
function dataRow(msg: Buffer): (Buffer | null)[] {
  assert.equal(msg.readInt32BE(1), msg.length - 1);
  const out: (Buffer | null)[] = [];
  let p = 7;
  for (let i = msg.readInt16BE(5); i > 0; i--) {
    const n = msg.readInt32BE(p);
    p += 4;
    out.push(n < 0 ? null : msg.subarray(p, p + n));
    p += Math.max(n, 0);
  }
  assert.equal(p, msg.length);
  return out;
}
const errorFields = (msg: Buffer): Map<string, string> => {
  const out = new Map<string, string>();
  let p = 5;
  while (msg[p] !== 0) {
    const z = msg.indexOf(0, p + 1);
    out.set(String.fromCharCode(msg[p]!), msg.toString('utf8', p + 1, z));
    p = z + 1;
  }
  return out;
};

// ---- fixtures ---------------------------------------------------------------------------------
const TRICKY = [
  'alice@example.com',
  'tab\there',
  'new\nline',
  'back\\slash',
  'quote"d',
  'comma,separated',
  '\\N',
  '',
  'cr\rhere',
  'semi;colon',
  'pipe|bar',
  '日本語のテキスト',
  '😀 emoji 😀',
  'ends with backslash\\',
  '"',
  ',',
  '\\.',
  ' padded ',
];

async function setup(w: Wire): Promise<MaskCatalog> {
  const values = TRICKY.map(
    (v, i) => `(${i + 1}, ${lit(v)}, ${lit(`${i}-secret-${v}`)}, ${i * 10}, ${i % 3 === 0 ? 'NULL' : lit(v)})`,
  ).join(',\n');
  const r = await w.query(`
    DROP TABLE IF EXISTS customers, sink;
    CREATE TABLE customers (id int PRIMARY KEY, email text UNIQUE, note varchar(200), score int, maybe text,
                            CONSTRAINT score_small CHECK (score < 1000));
    INSERT INTO customers VALUES ${values};
    CREATE TABLE sink (id int, email text, note varchar(200), score text, maybe text);`);
  assert.equal(ofType(r, 'E').length, 0, 'fixture SQL failed');
  const oid = await scalar(w, "SELECT 'public.customers'::regclass::oid");
  return {
    byOid: new Map([
      [
        Number(oid),
        new Map([
          [2, 'public.customers.email'],
          [3, 'public.customers.note'],
          [4, 'public.customers.score'],
        ]),
      ],
    ]),
    columnsOf: new Map([['public.customers', ['id', 'email', 'note', 'score', 'maybe']]]),
  };
}
const lit = (s: string): string =>
  `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}'`;
async function scalar(w: Wire, sql: string): Promise<string | null> {
  const [row] = ofType(await w.query(sql), 'D');
  const v = dataRow(row!)[0];
  return v == null ? null : v.toString('utf8');
}

const plan = (outputs: (MaskStrategy | null)[], needsRowDescription = false): MaskPlan => ({
  columns: { 'public.customers.email': 'partial', 'public.customers.note': 'hash', 'public.customers.score': 'redact' },
  outputs,
  needsRowDescription,
  refuse: null,
});

// ---- tests ------------------------------------------------------------------------------------
test('real DataRows, text and binary: provenance through aliases and subqueries, masked per type', async () => {
  const w = await Wire.open(port);
  try {
    const catalog = await setup(w);
    // SELECT * through a subquery and an alias: the analyzer would set needsRowDescription.
    const sql =
      'SELECT s.*, upper(s.mail) AS shout FROM (SELECT id, email AS mail, note, score, maybe FROM customers) s ORDER BY id';
    for (const binary of [false, true]) {
      const msgs = binary ? await w.queryBinary(sql) : await w.query(sql);
      const fields = rowDescription(ofType(msgs, 'T')[0]!);
      assert.equal(fields[1]!.attnum, 2, 'the server reports the source column of an alias');
      const mask = resolveRowMask(plan([null, null], true), fields, catalog);
      assert.deepEqual(
        mask,
        [null, 'partial', 'hash', 'redact', null, 'redact'],
        'the expression gets the strictest strategy in the plan',
      );
      const rows = ofType(msgs, 'D');
      assert.equal(rows.length, TRICKY.length);
      rows.forEach((row, i) => {
        const before = dataRow(row);
        const m = maskDataRow(row, 0, row.length, mask!, fields, settings, span());
        const out = dataRow(m.buf.subarray(m.start, m.end));
        const email = before[1]!.toString('utf8');
        assert.deepEqual(out[0], before[0], 'id unchanged');
        assert.equal(out[1]!.toString('utf8'), partialText(email));
        assert.match(out[2]!.toString('utf8'), /^[0-9a-f]{16}$/);
        assert.equal(out[3], null, 'int column masked as NULL in both formats');
        assert.deepEqual(out[4], before[4], 'maybe unchanged, NULLs included');
        assert.equal(out[5]!.toString('utf8'), '***');
        if (email.length >= 5 && !email.includes('*')) assert.ok(!out[1]!.toString('utf8').includes(email));
        void i;
      });
    }
  } finally {
    w.close();
  }
});

async function copyOut(w: Wire, sql: string): Promise<Buffer[]> {
  const msgs = await w.query(sql);
  assert.equal(
    ofType(msgs, 'E').length,
    0,
    `COPY failed: ${ofType(msgs, 'E')
      .map((e) => errorFields(e).get('M'))
      .join()}`,
  );
  assert.equal(ofType(msgs, 'H').length, 1, 'CopyOutResponse');
  return ofType(msgs, 'd');
}
async function copyIn(w: Wire, sql: string, data: Buffer[]): Promise<void> {
  w.send('Q', cstr(sql));
  const g = await w.until('G');
  assert.equal(ofType(g, 'E').length, 0);
  for (const d of data) w.send('d', d.subarray(5));
  w.send('c');
  const done = await w.until('Z');
  const err = ofType(done, 'E')[0];
  assert.equal(err, undefined, err && `COPY FROM rejected our output: ${errorFields(err).get('M')}`);
}

const copyCases: [string, string, CopyOptions][] = [
  ['text', '', { format: 'text' }],
  ['text, pipe delimiter, NULL null', "DELIMITER '|', NULL 'NULL'", { format: 'text', delimiter: '|', null: 'NULL' }],
  ['csv', 'FORMAT csv', { format: 'csv' }],
  [
    'csv, force quote, custom escape and null',
    "FORMAT csv, DELIMITER ';', QUOTE '''', ESCAPE '\\', NULL 'NUL', FORCE_QUOTE *",
    { format: 'csv', delimiter: ';', quote: "'", escape: '\\', null: 'NUL' },
  ],
];
for (const [name, options, opts] of copyCases) {
  test(`COPY TO STDOUT ${name}: masked output loads back through the server's own COPY parser`, async () => {
    const w = await Wire.open(port);
    try {
      await setup(w);
      const withOpts = options === '' ? '' : ` WITH (${options})`;
      const data = await copyOut(
        w,
        `COPY (SELECT id, email, note, score::text, maybe FROM customers ORDER BY id) TO STDOUT${withOpts}`,
      );
      assert.equal(data.length, TRICKY.length, 'one row per CopyData');
      const mask: (MaskStrategy | null)[] = [null, 'partial', 'hash', 'null', null];
      const out = data.map((d) => {
        const m = maskCopyData(d, 0, d.length, mask, opts, settings, span());
        return m.buf.subarray(m.start, m.end);
      });
      await w.query('TRUNCATE sink');
      await copyIn(w, `COPY sink FROM STDIN${withOpts.replace(/, FORCE_QUOTE \*/, '')}`, out);
      const check = await w.query(`SELECT c.id, s.email, c.email, s.note, s.score, s.maybe IS NOT DISTINCT FROM c.maybe
                                   FROM customers c JOIN sink s USING (id) ORDER BY id`);
      const rows = ofType(check, 'D').map(dataRow);
      assert.equal(rows.length, TRICKY.length);
      for (const r of rows) {
        const original = r[2]!.toString('utf8');
        assert.equal(r[1]!.toString('utf8'), partialText(original), `email of id ${r[0]}`);
        assert.match(r[3]!.toString('utf8'), /^[0-9a-f]{16}$/);
        assert.equal(r[4], null, 'null strategy wrote the null string');
        assert.equal(r[5]!.toString(), 't', 'unmasked column identical, NULL versus empty preserved');
      }
      // The same value always hashes the same, in COPY as in rows: keyed HMAC of the decoded bytes.
      const again = data.map((d) => {
        const m = maskCopyData(d, 0, d.length, mask, opts, settings, span());
        return m.buf.subarray(m.start, m.end);
      });
      assert.deepEqual(again, out);
    } finally {
      w.close();
    }
  });
}

test('real ErrorResponses: values PostgreSQL echoes are scrubbed, SQLSTATE and names kept', async () => {
  const w = await Wire.open(port);
  try {
    await setup(w);
    const cases: [string, string, string][] = [
      ["INSERT INTO customers VALUES (999, 'alice@example.com', 'n', 1, NULL)", '23505', 'alice@example.com'],
      ["UPDATE customers SET score = 5000 WHERE email = 'alice@example.com'", '23514', 'alice@example.com'],
      ['SELECT email::int FROM customers WHERE id = 1', '22P02', 'alice@example.com'],
      ['SELECT email::jsonb FROM customers WHERE id = 1', '22P02', 'alice'],
      // reg* inputs print the name list unquoted (issue 11 oracle): improper relation name, cross-database, operator
      ["SELECT (email || '.x.y')::regclass FROM customers WHERE id = 1", '42601', 'alice@example'],
      ["SELECT (email || '.x')::regproc FROM customers WHERE id = 1", '0A000', 'alice@example'],
      ["SELECT replace(email, '.', '_')::regoper FROM customers WHERE id = 1", '42883', 'alice@example'],
      ["SELECT (note || '99999999999')::bigint FROM customers WHERE id = 1", '22P02', 'secret'],
      [
        "SELECT length(email)::text || '00000000000' FROM customers WHERE id = 1 AND (length(email)::text || '00000000000')::int > 0",
        '22003',
        '1700000000000',
      ],
    ];
    const r = await w.query(`CREATE OR REPLACE FUNCTION leak(i int) RETURNS int LANGUAGE plpgsql AS $$
      DECLARE e text; BEGIN
        SELECT email INTO e FROM customers WHERE id = i;
        RAISE NOTICE 'email is %', e USING HINT = e;
        IF i = 1 THEN RAISE EXCEPTION 'bad %', e; END IF;
        RETURN 1;
      END $$`);
    assert.equal(ofType(r, 'E').length, 0);
    cases.push(['SELECT leak(1)', 'P0001', 'alice@example.com']);
    let notices = 0;
    for (const [sql, code, value] of cases) {
      const msgs = await w.query(sql);
      for (const n of ofType(msgs, 'N')) {
        notices++;
        assert.ok(errorFields(n).get('M')!.includes(value), 'the notice echoes the value');
        const out = scrubErrorFields(n, 0, n.length, ['public.customers.email']);
        for (const v of errorFields(out!).values())
          assert.ok(!v.includes(value), `notice leaked in ${JSON.stringify(v)}`);
      }
      const err = ofType(msgs, 'E')[0];
      assert.ok(err, sql);
      const before = errorFields(err);
      assert.equal(before.get('C'), code, `${sql}: ${before.get('M')}`);
      assert.ok(
        [...before.values()].some((v) => v.includes(value)),
        `PostgreSQL echoes the value for: ${sql}`,
      );
      const out = scrubErrorFields(err, 0, err.length, [
        'public.customers.email',
        'public.customers.note',
        'public.customers.score',
      ]);
      assert.ok(out !== null, sql);
      const after = errorFields(out);
      assert.equal(after.get('C'), code);
      assert.equal(after.get('S'), 'ERROR');
      for (const v of after.values()) assert.ok(!v.includes(value), `${sql}: leaked in ${JSON.stringify(v)}`);
      for (const k of ['t', 'n', 'c', 's']) assert.equal(after.get(k), before.get(k), `${k} kept`);
      // A detail is kept only with the values hidden (`Key (email)=(***) already exists.`), a context only as
      // lines naming code (`PL/pgSQL function leak(integer) line 5 at RAISE`); the loop above found no value in either.
      if (after.has('D')) assert.match(after.get('D')!, /\*\*\*/);
    }
    assert.equal(notices, 1, 'the RAISE NOTICE arrived');
  } finally {
    w.close();
  }
});
