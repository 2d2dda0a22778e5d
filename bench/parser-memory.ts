// What one large statement costs the proxy's memory for good: libpg-query's WebAssembly memory grows with the
// statement it parses and never shrinks, until proxy/enforce/parser-instance.ts replaces the instance
// (docs/performance.md, "Memory of the sidecar"). Each size runs in a fresh process (the proxy's analyzer, with
// its Liftoff-only flags: proxy/enforce/analyzer.ts), analyses one statement of that many bytes, and reports RSS
// and the WASM memory (process external) after garbage collection twice: while the grown instance is still the
// one in use (as it stayed for good before), and after its replacement.
//   sh scripts/node24.sh bench/parser-memory.ts [--sizes 1000,35000,400000,850000]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { toolArgs } from '../test/support/tool-args.ts';

const USAGE = `usage: sh scripts/node24.sh bench/parser-memory.ts [--sizes 1000,35000,400000,850000]

What one large statement costs the proxy's memory: each size (bytes of a statement) is analysed in a fresh
process; RSS and WASM memory are printed while the grown parser instance is in use and after its replacement.

  --sizes LIST   statement sizes in bytes (default 1000,35000,400000,850000)
  -h, --help     this text
`;
const { values } = toolArgs(USAGE, {
  options: { sizes: { type: 'string', default: '1000,35000,400000,850000' }, child: { type: 'string' } },
});

/** A SELECT of about `bytes` bytes: a long target list and a long IN list, the shapes ORMs and batch jobs send. */
function statement(bytes: number): string {
  const n = Math.max(1, Math.floor(bytes / 21));
  return `SELECT ${Array.from({ length: n }, (_, k) => `c${k} + ${k}`).join(', ')} FROM t WHERE a IN (${Array.from({ length: n }, (_, k) => k).join(',')})`;
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
function rss(): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
}

if (values.child !== undefined) {
  const { loadAnalyzer } = await import('../proxy/enforce/analyzer.ts');
  const { replacementSettled, recycleCount, lastReplacementTimes } = await import(
    '../proxy/enforce/parser-instance.ts'
  );
  const analyzer = await loadAnalyzer();
  analyzer.analyze('SELECT 1');
  const sql = statement(Number(values.child));
  const gc = (globalThis as { gc?: () => void }).gc!;
  const before = { rss: rss(), ext: process.memoryUsage().external };
  try {
    analyzer.analyze(sql);
  } catch {
    /* a refusal still parsed it */
  }
  // As it was before parser-instance.ts: the grown instance still in use (its replacement waits QUIET_MS).
  gc();
  await new Promise((r) => setTimeout(r, 300));
  const kept = { rss: rss(), ext: process.memoryUsage().external };
  await replacementSettled();
  gc();
  await new Promise((r) => setTimeout(r, 300));
  process.stdout.write(
    JSON.stringify({
      bytes: sql.length,
      rssBefore: before.rss,
      extBefore: before.ext,
      rssKept: kept.rss,
      extKept: kept.ext,
      rssAfter: rss(),
      extAfter: process.memoryUsage().external,
      replaced: recycleCount(),
      times: lastReplacementTimes() ?? null,
    }) + '\n',
  );
} else {
  process.stdout.write(
    'statement bytes | RSS before → with the grown instance → after its replacement (MiB) | WASM memory + external, same (MiB) | replacement: until swapped / GC (ms)\n',
  );
  for (const size of values.sizes.split(',').map(Number)) {
    const out = execFileSync(process.execPath, ['--expose-gc', import.meta.filename, '--child', String(size)], {
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      bytes: number;
      rssBefore: number;
      extBefore: number;
      rssKept: number;
      extKept: number;
      rssAfter: number;
      extAfter: number;
      replaced: number;
      times: { ms: number; gcMs: number } | null;
    };
    const times = r.times === null ? 'not replaced' : `${r.times.ms.toFixed(0)} / ${r.times.gcMs.toFixed(0)}`;
    process.stdout.write(
      `${String(r.bytes).padStart(15)} | ${mib(r.rssBefore)} → ${mib(r.rssKept)} → ${mib(r.rssAfter)} | ${mib(r.extBefore)} → ${mib(r.extKept)} → ${mib(r.extAfter)} | ${times}\n`,
    );
  }
}
