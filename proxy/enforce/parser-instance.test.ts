// The replacement of libpg-query's instance (parser-instance.ts) on the analyzer the proxy uses, in this test's
// own process (node --test runs each file in one): statements of ordinary size never replace it; a long one
// does, once things are quiet; and every statement is analysed the same on the new instance as on the old.
// The real-process check (RSS of `airlock proxy` back down) is test/proxy/parser-memory.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadAnalyzer } from './analyzer.ts';
import {
  QUIET_MS,
  RECYCLE_STATEMENT_LENGTH,
  lastReplacementTimes,
  recyclable,
  recycleCount,
  replacementSettled,
  wasmMemoryBytes,
} from './parser-instance.ts';

const CORPUS = [
  'SELECT 1',
  'SELECT id, email FROM public.customers WHERE id = 2',
  "SELECT o.id, o.amount, c.email FROM public.orders o JOIN public.customers c ON c.id = o.customer_id WHERE o.amount > 10 AND c.name LIKE 'A%' ORDER BY o.id LIMIT 5",
  'WITH recent AS (SELECT * FROM public.orders WHERE id > 3) SELECT status, count(*) FROM recent GROUP BY status',
  "INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 9.5, 'new') RETURNING id",
  'UPDATE public.orders SET status = $1 WHERE id = $2',
  'DELETE FROM public.customers WHERE id = 3',
  'DROP TABLE public.orders',
  'BEGIN; SELECT 1; COMMIT',
  'COPY public.orders TO STDOUT',
  'SET search_path = app, public',
  'SELEC 1 FROM nowhere',
  "SELECT 'unterminated",
  `SELECT id FROM public.orders WHERE id IN (${Array.from({ length: 4000 }, (_, k) => k).join(', ')})`, // ~24 KB
];

function hwmMiB(): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
}

test('issue 16: ordinary statements never replace the parser instance; a long one does, and analyses stay identical', async (t) => {
  const analyzer = await loadAnalyzer();
  assert.ok(
    recyclable(),
    'parser-instance.ts must be evaluated before libpg-query loads (a static import of it elsewhere?)',
  );
  const initial = wasmMemoryBytes();
  assert.ok(initial > 0);
  const run = (): string[] => CORPUS.map((sql) => JSON.stringify([analyzer.normalize!(sql), analyzer.analyze(sql)]));

  const before = run();
  for (let i = 0; i < 50; i++) run();
  assert.ok(CORPUS.every((sql) => sql.length < RECYCLE_STATEMENT_LENGTH));
  await new Promise((r) => setTimeout(r, QUIET_MS + 300));
  await replacementSettled();
  assert.equal(recycleCount(), 0, 'a statement of ordinary size replaced the instance');

  // ~100 KB: past RECYCLE_STATEMENT_LENGTH. Analysed (and decided) by the old instance; replaced after QUIET_MS.
  const long = `SELECT ${Array.from({ length: 5000 }, (_, k) => `c${k} + ${k}`).join(', ')} FROM t WHERE a IN (${Array.from({ length: 5000 }, (_, k) => k).join(',')})`;
  assert.ok(long.length >= RECYCLE_STATEMENT_LENGTH);
  const longAnalysis = JSON.stringify(analyzer.analyze(long, analyzer.normalize!(long) ?? undefined));
  assert.deepEqual(run(), before, 'statements between the long one and the swap are served by the old instance');
  await replacementSettled();
  assert.equal(recycleCount(), 1);
  assert.equal(wasmMemoryBytes(), initial);
  const times = lastReplacementTimes()!;
  t.diagnostic(
    `replacement: ${times.ms.toFixed(1)} ms until swapped (mostly off the main thread), then a collection of ${times.gcMs.toFixed(1)} ms`,
  );

  assert.deepEqual(run(), before, 'a statement is analysed differently on the new instance');
  assert.equal(JSON.stringify(analyzer.analyze(long, analyzer.normalize!(long) ?? undefined)), longAnalysis);

  // The new instance runs on Liftoff only too (docs/adr/0004: V8's optimizing compile of the grammar function
  // would take ~600 MB): many varied parses do not raise the process's peak.
  await replacementSettled();
  const hwm = hwmMiB();
  for (let i = 0; i < 3000; i++)
    analyzer.analyze(
      `SELECT a${i % 97}, b FROM t${i % 13} WHERE c = ${i} AND d IN (${i}, ${i + 1}) ORDER BY ${1 + (i % 2)}`,
    );
  await new Promise((r) => setTimeout(r, 1500)); // a tier-up compile runs in the background
  t.diagnostic(`VmHWM ${hwm.toFixed(0)} → ${hwmMiB().toFixed(0)} MiB over 3,000 parses on the new instance`);
  assert.ok(
    hwmMiB() < hwm + 100,
    `VmHWM rose from ${hwm.toFixed(0)} to ${hwmMiB().toFixed(0)} MiB: is the new instance tiering up?`,
  );
});
