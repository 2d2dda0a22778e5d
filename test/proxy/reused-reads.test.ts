// Issue 16: the session reads a plain-TCP upstream into one reused buffer (proxy/wire/reused-reads.ts), so
// every read overwrites the last. Server bytes that outlive their read must be copies: a pass-through write
// the client socket has not flushed yet (a slow client), a guarded write's held RETURNING rows (written after
// the count query's answer has been read into the same buffer), a catalog refresh's result read between the
// rows of the statements around it. Each test checks every value the client receives, so an overwritten byte
// shows as a wrong row, a wrong count or a broken frame.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startHarness, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';
import { RawClient } from './raw-client.ts';
import type { Msg } from './raw-client.ts';
import { query } from '../../proxy/wire/messages.ts';

const N = 2000; // rows of public.big; each value is unique, so a row from another read cannot pass for it
const K = 40; // × K: an 80,000-row pass-through result (~14 MB on the wire), more than the socket buffers hold
const value = (id: number): string => createHash('md5').update(String(id)).digest('hex').repeat(4);

// The test policy, with public.big.w masked: rows that name it are rebuilt, the rest pass through as views.
const policy = POLICY.replace(
  '    - { columns: ["public.customers.ssn"], strategy: redact }',
  '    - { columns: ["public.customers.ssn"], strategy: redact }\n    - { columns: ["public.big.w"], strategy: redact }',
);

let h: Harness;
before(async () => {
  assert.notEqual(policy, POLICY, 'the masking rule was added');
  h = await startHarness({ policy });
  await h.admin('ALTER TABLE public.big ADD COLUMN w text');
  await h.admin(
    `INSERT INTO public.big SELECT g, repeat(md5(g::text), 4), 'secret-' || g FROM generate_series(1, ${N}) g`,
  );
});
after(async () => {
  await h?.stop();
});

/** A status value per order and run, long enough to span much of a read if it were overwritten. */
const status = (run: number, id: number): string =>
  `run-${run}-order-${id}-`.padEnd(200, String.fromCharCode(97 + (id % 26)));

/** The statements of one pipelined round; `check` asserts on the messages up to its last ReadyForQuery. */
function round(run: number): { sql: string[]; check(msgs: Msg[]): void } {
  const sql = [
    `SELECT b.id, b.v, k FROM public.big b, generate_series(1, ${K}) k`,
    // Resets search_path: the session refreshes its catalog with a query of its own, queued behind this.
    'RESET ALL',
    'SELECT id, v, w FROM public.big',
    // Guarded (maxAffectedRows 5): its RETURNING rows are held until the count query has been answered.
    `UPDATE public.orders SET status = CASE id ${[1, 2, 3].map((i) => `WHEN ${i} THEN '${status(run, i)}'`).join(' ')} END WHERE id <= 3 RETURNING id, status`,
    'SELECT id, v FROM public.big WHERE id <= 500',
  ];
  return {
    sql,
    check(msgs) {
      const results: Msg[][] = [[]];
      for (const m of msgs) {
        if (m.type === 'E') assert.fail(`error ${m.code}: ${m.message}`);
        if (m.type === 'Z') results.push([]);
        else results.at(-1)!.push(m);
      }
      assert.equal(results.length - 1, sql.length, 'one ReadyForQuery per statement');
      const rows = (i: number) => results[i]!.filter((m) => m.type === 'D').map((m) => m.values!);

      const seen = new Uint8Array(N * K);
      for (const [id, v, k] of rows(0)) {
        assert.equal(v, value(Number(id)), `row ${id}×${k}`);
        const i = (Number(id) - 1) * K + Number(k) - 1;
        assert.ok(i >= 0 && i < seen.length, `row ${id}×${k} is one of the result's`);
        seen[i]!++;
      }
      assert.equal(rows(0).length, N * K);
      assert.ok(
        seen.every((n) => n === 1),
        'every (id, k) exactly once',
      );

      assert.deepEqual(
        results[1]!.map((m) => m.tag ?? m.type),
        ['RESET'],
      );

      const masked = rows(2);
      assert.equal(masked.length, N);
      for (const [id, v, w] of masked) {
        assert.equal(v, value(Number(id)));
        assert.ok(typeof w === 'string' && !w.includes('secret'), `w of ${id} is masked: ${w}`);
      }
      assert.equal(new Set(masked.map((r) => r[2])).size, 1, 'redacted alike');

      assert.deepEqual(
        rows(3)
          .map(([id, st]) => [Number(id), st])
          .sort((a, b) => Number(a[0]) - Number(b[0])),
        [1, 2, 3].map((i) => [i, status(run, i)]),
      );
      assert.equal(results[3]!.at(-1)!.tag, 'UPDATE 3');

      const tail = rows(4);
      assert.equal(tail.length, 500);
      for (const [id, v] of tail) assert.equal(v, value(Number(id)));
    },
  };
}

/**
 * The session's own search_path query (catalog.ts) as the server logged it for this test's one upstream
 * backend (the log is shared by every test database of the run): one per setup or refresh.
 */
async function refreshes(): Promise<number> {
  const pids = (await h.admin('SELECT pid FROM pg_stat_activity WHERE usename = $1', [h.role.user])).rows.map(
    (r) => r.pid as number,
  );
  assert.equal(pids.length, 1, 'one upstream session');
  return h.logged('pg_catalog.current_schemas(false)').filter((l) => l.includes(` [${pids[0]}] `)).length;
}

async function run(c: RawClient, r: ReturnType<typeof round>): Promise<void> {
  const before = await refreshes();
  c.send(...r.sql.map((s) => query(s)));
  r.check(await c.readies(r.sql.length));
  assert.equal(await refreshes(), before + 1, 'the catalog was refreshed mid-round');
}

test('a client that reads in bursts gets every row intact: queued writes are not overwritten by later reads', async () => {
  const c = await RawClient.connect(h.port, { user: 'raw', database: 'shop' });
  // Reading and not reading in turns of 4 ms: the proxy's writes queue in the client socket and the upstream is paused
  // and resumed many times, with reads going into the reused buffer between the pauses.
  let reading = true;
  const t = setInterval(() => {
    reading = !reading;
    if (reading) c.sock.resume();
    else c.sock.pause();
  }, 4);
  try {
    for (let i = 1; i <= 2; i++) await run(c, round(i));
  } finally {
    clearInterval(t);
    c.sock.resume();
    c.close();
  }
});

test('a client that reads at once: held guard rows and the catalog refresh outlive the reads they came in', async () => {
  const c = await RawClient.connect(h.port, { user: 'raw', database: 'shop' });
  try {
    for (let i = 3; i <= 5; i++) await run(c, round(i));
  } finally {
    c.close();
  }
});
