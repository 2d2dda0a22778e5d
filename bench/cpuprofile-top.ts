// Top self-time functions of a V8 CPU profile (node --cpu-prof; bench/run.ts --cpu-prof DIR).
//
//   sh scripts/node24.sh bench/cpuprofile-top.ts FILE.cpuprofile [--top 30]
//
// Self time is summed per function (name + file + line), as Chrome DevTools' "Bottom-Up" view
// does; "(idle)" is the event loop waiting and is left out of the percentages.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile { readonly nodes: readonly ProfileNode[]; readonly samples: readonly number[]; readonly timeDeltas: readonly number[] }

export interface Row { readonly name: string; readonly where: string; readonly selfUs: number }

/** Self time per function, descending, and the total non-idle time (µs). */
export function selfTimes(p: Profile): { rows: Row[]; busyUs: number; idleUs: number } {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<string, Row>();
  let busyUs = 0;
  let idleUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!);
    const dt = p.timeDeltas[i + 1] ?? 0;   // a sample's time runs until the next sample
    if (n === undefined) continue;
    const f = n.callFrame;
    if (f.functionName === '(idle)') { idleUs += dt; continue; }
    busyUs += dt;
    const file = f.url.replace(/^file:\/\/.*?\/(node_modules|proxy|policy|bin|audit|distribution)\//, '$1/');
    const where = file === '' ? '' : `${file}:${f.lineNumber + 1}`;
    const key = `${f.functionName}\0${where}`;
    const row = self.get(key);
    self.set(key, { name: f.functionName || '(anonymous)', where, selfUs: (row?.selfUs ?? 0) + dt });
  }
  return { rows: [...self.values()].sort((a, b) => b.selfUs - a.selfUs), busyUs, idleUs };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true });
  if (positionals.length !== 1) {
    process.stderr.write('usage: sh scripts/node24.sh bench/cpuprofile-top.ts FILE.cpuprofile [--top 30]\n');
    process.exit(2);
  }
  const { rows, busyUs, idleUs } = selfTimes(JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile);
  console.log(`busy ${(busyUs / 1e6).toFixed(2)} s, idle ${(idleUs / 1e6).toFixed(2)} s (main thread)`);
  console.log('self %  self ms  function  (where)');
  for (const r of rows.slice(0, Number(values.top))) {
    console.log(`${((100 * r.selfUs) / busyUs).toFixed(1).padStart(6)}  ${(r.selfUs / 1000).toFixed(0).padStart(7)}  ${r.name}  ${r.where}`);
  }
}
