// Per-round figures of a bench/run.ts --rounds N result: CPU and user µs per transaction and TPS for each
// target, mode and client count, with the median over rounds and, against a reference target, the median of
// the per-round ratios (a loaded machine moves all targets of one round together; ratios in a round move less).
//
//   sh scripts/node24.sh bench/rounds.ts bench/results/<time>.json [--against airlock-baseline-audit-off]
import { readFileSync } from 'node:fs';
import { toolArgs, usageError } from '../test/support/tool-args.ts';
import { cpuUsPerTx, userUsPerTx, type Cell } from './report.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const USAGE = `usage: sh scripts/node24.sh bench/rounds.ts RESULTS.json [--against TARGET]

Per-round CPU and user µs per transaction and TPS of a bench/run.ts --rounds N result, with the median over
rounds and the median of the per-round ratios to TARGET.

  --against TARGET   the reference target (default airlock-baseline-audit-off)
  -h, --help         this text
`;
const { values, positionals } = toolArgs(USAGE, {
  options: { against: { type: 'string', default: 'airlock-baseline-audit-off' } },
  allowPositionals: true,
});
if (positionals.length !== 1) usageError(USAGE, 'one results file is needed');
const cells = (JSON.parse(readFileSync(positionals[0]!, 'utf8')) as { cells: Cell[] }).cells.filter(
  (c) => c.run !== null,
);
const groups = new Map<string, Cell[]>();
for (const c of cells) {
  const k = `${c.mode}\t${c.clients}\t${c.target}`;
  groups.set(k, [...(groups.get(k) ?? []), c]);
}
const fmt = (n: number | null, d = 1) => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(d));
console.log(
  [
    'mode',
    'clients',
    'target',
    'rounds',
    'TPS (median)',
    'CPU us/tx per round',
    'median',
    'user us/tx median',
    `CPU / ${values.against} (median of rounds)`,
  ].join('\t'),
);
for (const [k, cs] of groups) {
  const [mode, clients] = k.split('\t');
  const ref = groups.get(`${mode}\t${clients}\t${values.against}`) ?? [];
  const cpu = cs.map((c) => cpuUsPerTx(c) ?? NaN);
  const user = cs.map((c) => userUsPerTx(c) ?? NaN).filter(Number.isFinite);
  const ratios = cs
    .map((c, i) => (ref[i] === undefined ? NaN : (cpuUsPerTx(c) ?? NaN) / (cpuUsPerTx(ref[i]!) ?? NaN)))
    .filter(Number.isFinite);
  console.log(
    [
      k,
      cs.length,
      fmt(median(cs.map((c) => c.run!.tps)), 0),
      cpu.map((x) => fmt(x)).join(' '),
      fmt(median(cpu.filter(Number.isFinite))),
      user.length === 0 ? '-' : fmt(median(user)),
      ratios.length === 0 ? '-' : fmt(median(ratios), 3),
    ].join('\t'),
  );
}
