// What one large statement costs the proxy's memory for good: libpg-query's WebAssembly memory grows with the
// statement it parses and never shrinks (docs/performance.md, "Memory of the sidecar"). Each size runs in a
// fresh process (the proxy's analyzer, with its Liftoff-only flags: proxy/enforce/analyzer.ts), analyses one
// statement of that many bytes, collects garbage and reports RSS and the WASM memory (process external).
//   sh scripts/node24.sh bench/parser-memory.ts [--sizes 1000,35000,400000,850000]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000,35000,400000,850000' }, child: { type: 'string' } } });

/** A SELECT of about `bytes` bytes: a long target list and a long IN list, the shapes ORMs and batch jobs send. */
function statement(bytes: number): string {
  const n = Math.max(1, Math.floor(bytes / 21));
  return `SELECT ${Array.from({ length: n }, (_, k) => `c${k} + ${k}`).join(', ')} FROM t WHERE a IN (${Array.from({ length: n }, (_, k) => k).join(',')})`;
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
function rss(): number { return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024; }

if (values.child !== undefined) {
  const { loadAnalyzer } = await import('../proxy/enforce/analyzer.ts');
  const analyzer = await loadAnalyzer();
  analyzer.analyze('SELECT 1');
  const sql = statement(Number(values.child));
  const before = { rss: rss(), ext: process.memoryUsage().external };
  try { analyzer.analyze(sql); } catch { /* a refusal still parsed it */ }
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 300));
  process.stdout.write(JSON.stringify({ bytes: sql.length, rssBefore: before.rss, extBefore: before.ext, rssAfter: rss(), extAfter: process.memoryUsage().external }) + '\n');
} else {
  process.stdout.write('statement bytes | RSS before → after GC (MiB) | WASM memory + external before → after (MiB)\n');
  for (const size of values.sizes.split(',').map(Number)) {
    const out = execFileSync(process.execPath, ['--expose-gc', import.meta.filename, '--child', String(size)], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { bytes: number; rssBefore: number; extBefore: number; rssAfter: number; extAfter: number };
    process.stdout.write(`${String(r.bytes).padStart(15)} | ${mib(r.rssBefore)} → ${mib(r.rssAfter)} | ${mib(r.extBefore)} → ${mib(r.extAfter)}\n`);
  }
}
