// Random bytes from a client never crash the proxy and never produce a statement upstream
// (style.md §9; brianc/node-postgres#3691): probe.writes stays unchanged and the proxy keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startupMessage } from '../../proxy/wire/startup.ts';
import * as msg from '../../proxy/wire/messages.ts';
import { analyze } from '../../policy/analyze/analyze.ts';
import { initAnalyzer } from '../../policy/analyze/testing-parser.ts';
import type { Analysis } from '../../policy/types.ts';
import { statement } from '../oracle/grammar.ts';
import { RawClient } from './raw-client.ts';
import type { Msg } from './raw-client.ts';
import { startHarness } from './harness.ts';
import type { Harness } from './harness.ts';

// AIRLOCK_FUZZ_RUNS multiplies every budget below (scripts/fuzz.ts); AIRLOCK_FUZZ_SEED repeats a run.
const SCALE = Math.max(1, Number(process.env.AIRLOCK_FUZZ_RUNS ?? '1') || 1);
if (process.env.AIRLOCK_FUZZ_SEED !== undefined) fc.configureGlobal({ seed: Number(process.env.AIRLOCK_FUZZ_SEED) });

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

/** Connect, optionally log in, send the bytes, and wait until the proxy answers or closes. */
function throwBytes(bytes: Uint8Array, login: boolean): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: h.port });
    let ready = !login;
    const done = () => {
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 300);
    s.on('error', done);
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.on('connect', () => {
      if (login) s.write(startupMessage({ user: 'fuzz', database: 'shop' }));
      else s.write(bytes);
    });
    s.on('data', (d) => {
      if (!ready && d.includes(0x5a)) {
        ready = true;
        s.write(bytes);
      }
    });
  });
}

// Typed messages with random bodies look like real traffic to the framer; raw bytes test the startup path.
const typedMessage = fc
  .tuple(
    fc.constantFrom(0x51, 0x50, 0x42, 0x44, 0x45, 0x53, 0x48, 0x43, 0x64, 0x63, 0x66, 0x46, 0x70, 0x00, 0xff),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([type, body]) => {
    const b = Buffer.alloc(5 + body.length);
    b[0] = type;
    b.writeInt32BE(4 + body.length, 1);
    Buffer.from(body).copy(b, 5);
    return b;
  });

test('random bytes as the first packet never crash the proxy', async () => {
  const before = await h.writes();
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => {
      await throwBytes(bytes, false);
    }),
    { numRuns: Math.round(60 * SCALE) },
  );
  assert.equal(await h.writes(), before);
  const c = await h.client();
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('random messages after login never crash the proxy nor write anything', async () => {
  const before = await h.writes();
  await fc.assert(
    fc.asyncProperty(
      fc.array(typedMessage, { minLength: 1, maxLength: 8 }),
      fc.uint8Array({ maxLength: 40 }),
      async (msgs, tail) => {
        await throwBytes(Buffer.concat([...msgs, Buffer.from(tail)]), true);
      },
    ),
    { numRuns: Math.round(150 * SCALE) },
  );
  assert.equal(await h.writes(), before);
  const c = await h.client();
  assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
});

// ---------------------------------------------------------------------------------------------
// Issue 11: structured protocol traffic with generated SQL, and hostile sizes and counts.
const READ_ONLY = `
apiVersion: airlock.dev/v1alpha1
kind: AccessPolicy
metadata: { name: trainer, namespace: team }
spec:
  subjects: [{ kind: ServiceAccount, name: trainer, namespace: team }]
  databases: [shop]
  rules:
    - { name: read, effect: allow, operations: [SELECT], tables: ["public.customers", "public.orders"] }
  masking:
    - { columns: ["public.customers.ssn"], strategy: redact }
`;

let ro: Harness;
let analyzeSql: (sql: string) => Analysis;
before(async () => {
  ro = await startHarness({ policy: READ_ONLY });
  await initAnalyzer();
  analyzeSql = analyze;
});
after(async () => {
  await ro?.stop();
});

/** Not fully understood by the analyzer: must never reach the database. */
function undecided(sql: string): boolean {
  const a = analyzeSql(sql);
  return a.error !== null || a.statements.some((s) => s.unsupported.length > 0);
}

const SQL_TOKENS = [
  'SELECT',
  'FROM',
  'WHERE',
  'WITH',
  'AS',
  'INSERT',
  'INTO',
  'VALUES',
  'UPDATE',
  'SET',
  'DELETE',
  'COPY',
  'TO',
  'STDOUT',
  'EXPLAIN',
  'PREPARE',
  'EXECUTE',
  'DO',
  'LOAD',
  'ALTER',
  'SYSTEM',
  'NOTIFY',
  'customers',
  'orders',
  'secrets',
  'ssn',
  'id',
  '(',
  ')',
  ',',
  ';',
  '*',
  '=',
  '$1',
  '$2',
  "'x'",
  "'secrets'::regclass",
  '$$',
  "E'\\\\'",
  '/*',
  '*/',
  '--',
  '\n',
  '"',
  'U&"\\0073"',
  'pg_read_file',
  "('/etc/passwd')",
  'query_to_xml',
  'LIMIT',
  '1',
  '::text',
  'UNION',
  'ALL',
  'RETURNING',
  'TABLE',
  'LATERAL',
];
const sqlish = fc.oneof(
  fc.array(fc.constantFrom(...SQL_TOKENS), { minLength: 1, maxLength: 24 }).map((t) => t.join(' ')),
  statement({
    restrictedCalls: ['pg_catalog.pg_read_file(NULL::text)'],
    restrictedRelations: ['pg_catalog.pg_authid'],
    superuserSettings: ['log_statement'],
    hiddenSettings: ['data_directory'],
  }),
);

/** One protocol exchange: simple Query, or Parse/Bind/Describe/Execute with random parameters, then Sync. */
const exchange = fc
  .tuple(
    sqlish,
    fc.constantFrom('query', 'extended', 'parse-only', 'describe'),
    fc.array(fc.option(fc.uint8Array({ maxLength: 8 })), { maxLength: 4 }),
    fc.constantFrom('', 'fz', 'S_1'),
  )
  .map(([sql, kind, params, name]) => ({
    sql,
    kind,
    params: params.map((p) => (p === null ? null : Buffer.from(p))),
    name,
  }));

let marker = 0;
test('generated SQL over both protocols: nothing undecided and no write reaches the database', async () => {
  const writesBefore = await ro.writes();
  const undecidedMarkers: string[] = [];
  const sqlOf = new Map<string, string>();
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(exchange, { minLength: 1, maxLength: 6 }), async (xs) => {
      const c = await RawClient.connect(ro.port, { user: 'fuzz', database: 'shop' });
      try {
        for (const x of xs) {
          const m = `fzmark${process.pid}x${marker++}q`; // q: no marker is a prefix of another
          const sql = `${x.sql} /*${m}*/`;
          if (undecided(sql)) {
            undecidedMarkers.push(m);
            sqlOf.set(m, `${x.kind}: ${sql}`);
          }
          sent++;
          if (x.kind === 'query') c.send(msg.query(sql));
          else if (x.kind === 'parse-only') c.send(msg.parse(x.name, sql, []), msg.SYNC);
          else if (x.kind === 'describe') c.send(msg.parse(x.name, sql, []), msg.describe('S', x.name), msg.SYNC);
          else
            c.send(
              msg.parse(x.name, sql, []),
              msg.bind({ statement: x.name, params: x.params }),
              msg.describe('P'),
              msg.execute('', 0),
              msg.SYNC,
            );
          await c.until((r) => r.type === 'Z', 15_000);
          if (c.closed) break;
          // Leave the session as it was: a failed transaction block or an open one would hide later statements.
          c.send(msg.query('ROLLBACK'));
          await c.until((r) => r.type === 'Z', 15_000);
          if (x.name !== '') {
            c.send(msg.close('S', x.name), msg.SYNC);
            await c.until((r) => r.type === 'Z', 15_000);
          }
        }
      } finally {
        c.close();
      }
    }),
    { numRuns: Math.round(60 * SCALE) },
  );
  assert.equal(await ro.writes(), writesBefore, 'a write reached the database');
  const log = readFileSync(join(ro.db.server.dir, 'postgres.log'), 'utf8');
  const leaked = undecidedMarkers
    .filter((m) => log.includes(m))
    .map(
      (m) =>
        `${sqlOf.get(m)} — logged: ${log
          .split('\n')
          .filter((l) => l.includes(m))
          .join(' | ')}`,
    );
  assert.deepEqual(leaked, [], 'statements the analyzer did not understand reached PostgreSQL');
  assert.ok(
    sent > 60 && undecidedMarkers.length > 10,
    `the budget exercised undecided statements (${undecidedMarkers.length} of ${sent})`,
  );
  const cl = await ro.client();
  assert.equal((await cl.query('SELECT 3 AS three')).rows[0].three, 3);
});

/** Send, and wait for ReadyForQuery or the connection closing; the messages received. */
async function exchangeRaw(c: RawClient, ...bufs: Buffer[]): Promise<Msg[]> {
  c.send(...bufs);
  return c.until((r) => r.type === 'Z', 60_000);
}

test('hostile counts: 65535 parameters, 65535 parameter types, 2000 pipelined statements', async () => {
  const writesBefore = await ro.writes();
  const c = await RawClient.connect(ro.port, { user: 'fuzz', database: 'shop' });
  try {
    const many = `SELECT ${Array.from({ length: 65535 }, (_, i) => `$${i + 1}::text`).join(',')}`;
    let got = await exchangeRaw(
      c,
      msg.parse('', many, []),
      msg.bind({ params: Array.from({ length: 65535 }, () => null) }),
      msg.execute(),
      msg.SYNC,
    );
    assert.ok(!c.closed && got.at(-1)?.type === 'Z', 'answered, session open');
    got = await exchangeRaw(
      c,
      msg.parse(
        '',
        'SELECT 1',
        Array.from({ length: 65535 }, () => 23),
      ),
      msg.SYNC,
    );
    assert.ok(!c.closed && got.at(-1)?.type === 'Z');
    const pipelined: Buffer[] = [];
    for (let i = 0; i < 2000; i++)
      pipelined.push(
        msg.parse('', `SELECT ${i} FROM orders WHERE id = $1`, []),
        msg.bind({ params: [Buffer.from(String(i))] }),
        msg.execute(),
      );
    pipelined.push(msg.SYNC);
    got = await exchangeRaw(c, ...pipelined);
    assert.equal(got.filter((m) => m.type === 'C').length, 2000);
    // A Bind that claims more parameters than it carries is a protocol violation: 08P01, and the connection ends.
    const lying = Buffer.from(msg.bind({ params: [Buffer.from('1')] }));
    lying.writeUInt16BE(65535, 5 + 1 + 1 + 2);
    got = await exchangeRaw(c, msg.parse('', 'SELECT $1::int', []), lying, msg.SYNC);
    assert.ok(got.some((m) => m.type === 'E'));
  } finally {
    c.close();
  }
  assert.equal(await ro.writes(), writesBefore);
  const cl = await ro.client();
  assert.equal((await cl.query('SELECT 4 AS four')).rows[0].four, 4);
});

test('hostile sizes: claimed message lengths cost nothing until sent, and the proxy keeps serving', async () => {
  // 24 connections each announce a 60 MiB Query and send 1 KiB of it: a reader that allocated (and touched)
  // what is announced would hold 1.4 GiB.
  const rss0 = process.memoryUsage().rss;
  const socks: net.Socket[] = [];
  for (let i = 0; i < 24; i++) {
    const c = await RawClient.connect(ro.port, { user: 'fuzz', database: 'shop' });
    const head = Buffer.alloc(5 + 1024, 0x20);
    head[0] = 0x51;
    head.writeInt32BE(60 * 1024 * 1024, 1);
    c.send(head);
    socks.push(c.sock);
  }
  await new Promise((r) => setTimeout(r, 300));
  const grown = (process.memoryUsage().rss - rss0) / (1024 * 1024);
  assert.ok(grown < 200, `RSS grew ${grown.toFixed(0)} MiB for 24 × 1 KiB sent`);
  // A length beyond the bound is refused at once (08P01), without buffering.
  const over = await RawClient.connect(ro.port, { user: 'fuzz', database: 'shop' });
  const h2 = Buffer.alloc(5);
  h2[0] = 0x51;
  h2.writeInt32BE(0x7fffffff, 1);
  over.send(h2);
  const got = await over.until((m) => m.type === 'E', 5000);
  assert.equal(got.at(-1)?.code, '08P01');
  for (const s of socks) s.destroy();
  const cl = await ro.client();
  assert.equal((await cl.query('SELECT 5 AS five')).rows[0].five, 5);
});
