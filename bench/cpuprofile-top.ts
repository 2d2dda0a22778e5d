// Top self-time functions of a V8 CPU profile (node --cpu-prof; bench/run.ts --cpu-prof DIR).
//
//   sh scripts/node24.sh bench/cpuprofile-top.ts FILE.cpuprofile [--top 30] [--from S] [--to S] [--total]
//
// Self time is summed per function (name + file + line), as Chrome DevTools' "Bottom-Up" view
// does; "(idle)" is the event loop waiting and is left out of the percentages.
// --from/--to keep only the samples taken S seconds after the profile started (the proxy's start-up —
// module loading, TypeScript stripping, the policy compile — is otherwise a large share of a short run).
// --total adds a table of inclusive time per function (self time plus that of everything it called,
// each sample counted once per function even when it recurses), as the "Top-Down" view sums it.
import { readFileSync } from 'node:fs';
import { toolArgs, usageError } from '../test/support/tool-args.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime?: number;
}

export interface Row {
  readonly name: string;
  readonly where: string;
  readonly selfUs: number;
}
export interface Window {
  readonly fromUs?: number;
  readonly toUs?: number;
}

function keyOf(n: ProfileNode): { key: string; name: string; where: string } {
  const f = n.callFrame;
  const file = f.url.replace(/^file:\/\/.*?\/(node_modules|proxy|policy|bin|audit|distribution)\//, '$1/');
  const where = file === '' ? '' : `${file}:${f.lineNumber + 1}`;
  return { key: `${f.functionName}\0${where}`, name: f.functionName || '(anonymous)', where };
}

/** Each sample's node id and duration (µs), restricted to the window (µs since the first sample). */
function* samplesIn(p: Profile, w: Window): Generator<[number, number]> {
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const dt = p.timeDeltas[i + 1] ?? 0; // a sample's time runs until the next sample
    if (w.fromUs !== undefined && t < w.fromUs) continue;
    if (w.toUs !== undefined && t >= w.toUs) continue;
    yield [p.samples[i]!, dt];
  }
}

/** Self time per function, descending, and the total non-idle time (µs). */
export function selfTimes(p: Profile, w: Window = {}): { rows: Row[]; busyUs: number; idleUs: number } {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<string, Row>();
  let busyUs = 0;
  let idleUs = 0;
  for (const [id, dt] of samplesIn(p, w)) {
    const n = byId.get(id);
    if (n === undefined) continue;
    if (n.callFrame.functionName === '(idle)') {
      idleUs += dt;
      continue;
    }
    busyUs += dt;
    const { key, name, where } = keyOf(n);
    const row = self.get(key);
    self.set(key, { name, where, selfUs: (row?.selfUs ?? 0) + dt });
  }
  return { rows: [...self.values()].sort((a, b) => b.selfUs - a.selfUs), busyUs, idleUs };
}

/** Inclusive time per function (µs; `selfUs` holds it), descending. */
export function totalTimes(p: Profile, w: Window = {}): Row[] {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const total = new Map<string, Row>();
  for (const [id, dt] of samplesIn(p, w)) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at)!;
      if (n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(root)') break;
      const { key, name, where } = keyOf(n);
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, { name, where, selfUs: (total.get(key)?.selfUs ?? 0) + dt });
    }
  }
  return [...total.values()].sort((a, b) => b.selfUs - a.selfUs);
}

const USAGE = `usage: sh scripts/node24.sh bench/cpuprofile-top.ts FILE.cpuprofile [options]

Top self-time functions of a V8 CPU profile (node --cpu-prof; bench/run.ts --cpu-prof DIR).

  --top N      rows to print (default 30)
  --from S     only samples taken S seconds or more after the profile started
  --to S       only samples taken before S seconds
  --total      also a table of inclusive time per function
  -h, --help   this text
`;

if (import.meta.main) {
  const { values, positionals } = toolArgs(USAGE, {
    options: {
      top: { type: 'string', default: '30' },
      from: { type: 'string' },
      to: { type: 'string' },
      total: { type: 'boolean' },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) usageError(USAGE, 'one profile file is needed');
  const w: Window = {
    ...(values.from === undefined ? {} : { fromUs: Number(values.from) * 1e6 }),
    ...(values.to === undefined ? {} : { toUs: Number(values.to) * 1e6 }),
  };
  const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile;
  const { rows, busyUs, idleUs } = selfTimes(profile, w);
  const span =
    values.from === undefined && values.to === undefined ? '' : ` in ${values.from ?? 0}..${values.to ?? 'end'} s`;
  console.log(`busy ${(busyUs / 1e6).toFixed(2)} s, idle ${(idleUs / 1e6).toFixed(2)} s${span}`);
  console.log('self %  self ms  function  (where)');
  for (const r of rows.slice(0, Number(values.top))) {
    console.log(
      `${((100 * r.selfUs) / busyUs).toFixed(1).padStart(6)}  ${(r.selfUs / 1000).toFixed(0).padStart(7)}  ${r.name}  ${r.where}`,
    );
  }
  if (values.total === true) {
    console.log('\ntotal %  total ms  function  (where)');
    for (const r of totalTimes(profile, w).slice(0, Number(values.top))) {
      console.log(
        `${((100 * r.selfUs) / busyUs).toFixed(1).padStart(7)}  ${(r.selfUs / 1000).toFixed(0).padStart(8)}  ${r.name}  ${r.where}`,
      );
    }
  }
}
