// Turning benchmark measurements into the results table and the design.md target checks.
// Pure: no I/O, so the arithmetic is unit-tested (report.test.ts).
import type { PgbenchRun } from './pgbench.ts';

// `node-relay`: bench/node-relay.ts, a Node.js relay that only frames messages: the floor of Node's socket path,
// measured in the same run.
// `airlock-audit-off`: the same proxy, enforcement and masking with audit off, to price the audit export.
// `airlock-baseline-audit-off` / `airlock-baseline`: another build of the proxy (`--baseline-bin`), audit off /
// on, measured in the same run for a before/after comparison; never run by default.
export const TARGETS = [
  'direct',
  'pgbouncer',
  'node-relay',
  'airlock',
  'airlock-audit-off',
  'airlock-baseline',
  'airlock-baseline-audit-off',
] as const;
export type Target = (typeof TARGETS)[number];
export const DEFAULT_TARGETS: readonly Target[] = ['direct', 'pgbouncer', 'node-relay', 'airlock', 'airlock-audit-off'];
export type QueryMode = 'simple' | 'prepared';

export interface Cell {
  readonly mode: QueryMode;
  readonly clients: number;
  readonly target: Target;
  readonly run: PgbenchRun | null;
  /** Why there is no run: the target is not available, or pgbench failed. */
  readonly error: string | null;
  /** CPU the proxy process spent during the run (null for direct). */
  readonly proxyCpuSeconds: number | null;
  /** The user-space part of it (utime), where the proxy's own code runs; absent in older results. */
  readonly proxyUserSeconds?: number | null;
  /** 0-based round of a `--rounds N` run; absent in older results (one round). */
  readonly round?: number;
}

export interface BulkRead {
  readonly kind: 'select' | 'copy';
  readonly target: 'direct' | 'airlock';
  readonly rows: number;
  readonly seconds: number | null;
  readonly error: string | null;
}

export interface Startup {
  readonly readyMs: number;
  readonly rssIdleBytes: number;
  /** CPU time per second of wall time while idle (no connection), ms: timers that fire for nothing show here. */
  readonly idleCpuMsPerS?: number;
  /** RSS 1.5 s after the first statements: the audit pipeline (its encoder worker) has started by then. */
  readonly rssAfterFirstBytes?: number;
}

export interface TargetCheck {
  readonly name: string;
  readonly want: string;
  readonly got: string;
  readonly verdict: 'PASS' | 'MISS' | 'N/A';
  /** The measured figure `got` shows (null: no data); roundMedians orders rounds by it. */
  readonly value?: number | null;
}

/**
 * One check list per round (checkTargets/issueTargets on that round's cells) → one list: for each check, the
 * round whose figure is the median (the lower middle for an even count), name, figure and verdict as measured in
 * that round. A single noisy cell then decides nothing alone; a ratio stays one round's pair, never a mix.
 */
export function roundMedians(perRound: readonly (readonly TargetCheck[])[]): TargetCheck[] {
  const first = perRound[0] ?? [];
  return first.map((_, i) => {
    const measured = perRound
      .map((checks) => checks[i]!)
      .filter((c) => c.value !== null && c.value !== undefined && Number.isFinite(c.value));
    if (measured.length === 0) return first[i]!;
    measured.sort((a, b) => a.value! - b.value!);
    return measured[(measured.length - 1) >> 1]!;
  });
}

/** CPU microseconds per transaction of the proxy in a cell, or null. */
export function cpuUsPerTx(c: Cell): number | null {
  if (c.run === null || c.proxyCpuSeconds === null || c.run.transactions === 0) return null;
  return (c.proxyCpuSeconds * 1e6) / c.run.transactions;
}

/** User-space CPU microseconds per transaction of the proxy in a cell, or null. */
export function userUsPerTx(c: Cell): number | null {
  if (c.run === null || c.proxyUserSeconds == null || c.run.transactions === 0) return null;
  return (c.proxyUserSeconds * 1e6) / c.run.transactions;
}

/** The cell of (mode, clients, target); with `round`, of that round (checks get one round's cells already). */
function find(
  cells: readonly Cell[],
  mode: QueryMode,
  clients: number,
  target: Target,
  round?: number,
): Cell | undefined {
  return cells.find(
    (c) =>
      c.mode === mode
      && c.clients === clients
      && c.target === target
      && (round === undefined || (c.round ?? 0) === round),
  );
}

const fmt = (n: number | null | undefined, digits = 0): string =>
  n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;

/**
 * Appends one target's verdict to `checks`: `got` against `limit` (at most, or at least), shown with `unit`
 * (none: a ratio, two decimals).
 */
function checker(checks: TargetCheck[]) {
  return (name: string, want: string, got: number | null, limit: number, atMost: boolean, unit = ''): void => {
    const verdict =
      got === null || !Number.isFinite(got) ? 'N/A' : (atMost ? got <= limit : got >= limit) ? 'PASS' : 'MISS';
    checks.push({
      name,
      want,
      got: got === null ? 'no data' : `${fmt(got, unit === '' ? 2 : 1)}${unit}`,
      verdict,
      value: got,
    });
  };
}

/** The pgbench table: one line per (mode, clients, target). */
export function pgbenchTable(cells: readonly Cell[]): string {
  const head = [
    'mode',
    'clients',
    'target',
    'TPS',
    'x direct',
    'x bouncer',
    'p50 us',
    'p99 us',
    '+p50 us',
    'CPU us/tx',
    'CPU x bouncer',
    'user us/tx',
  ];
  const rows: string[][] = [];
  for (const c of cells) {
    // The references of the same round: a ratio is one round's pair, never a mix.
    const direct = find(cells, c.mode, c.clients, 'direct', c.round ?? 0)?.run ?? null;
    const bouncerCell = find(cells, c.mode, c.clients, 'pgbouncer', c.round ?? 0);
    const bouncer = bouncerCell?.run ?? null;
    // Against PgBouncer: every middle process but PgBouncer itself.
    const middle = c.target !== 'direct' && c.target !== 'pgbouncer';
    if (c.run === null) {
      rows.push([c.mode, String(c.clients), c.target, `not run: ${firstLine(c.error)}`]);
      continue;
    }
    rows.push([
      c.mode,
      String(c.clients),
      c.target,
      fmt(c.run.tps),
      c.target === 'direct' ? '' : fmt(ratio(c.run.tps, direct?.tps), 2),
      middle ? fmt(ratio(c.run.tps, bouncer?.tps), 2) : '',
      fmt(c.run.p50Us),
      fmt(c.run.p99Us),
      c.target === 'direct' || direct === null ? '' : fmt(c.run.p50Us - direct.p50Us),
      c.target === 'direct' ? '' : fmt(cpuUsPerTx(c), 1),
      middle && bouncerCell !== undefined ? fmt(ratio(cpuUsPerTx(c), cpuUsPerTx(bouncerCell)), 2) : '',
      c.target === 'direct' ? '' : fmt(userUsPerTx(c), 1),
    ]);
  }
  return table(head, rows);
}

export function bulkTable(bulk: readonly BulkRead[]): string {
  const rows = bulk.map((b) => {
    const direct = bulk.find((d) => d.kind === b.kind && d.target === 'direct');
    const rps = rowsPerSecond(b);
    return b.seconds === null
      ? [b.kind, b.target, `not run: ${firstLine(b.error)}`]
      : [
          b.kind,
          b.target,
          String(b.rows),
          fmt(b.seconds, 2),
          fmt(rps),
          b.target === 'direct' ? '' : fmt(ratio(rps, direct === undefined ? null : rowsPerSecond(direct)), 2),
        ];
  });
  return table(['read', 'target', 'rows', 'seconds', 'rows/s', 'x direct'], rows);
}

export function rowsPerSecond(b: BulkRead): number | null {
  return b.seconds === null || b.seconds <= 0 ? null : b.rows / b.seconds;
}

/**
 * design.md "Targets". The latency and CPU targets compare with PgBouncer in simple query mode:
 * PgBouncer's transaction mode has no protocol-level prepared statements before 1.21.
 */
export function checkTargets(
  cells: readonly Cell[],
  bulk: readonly BulkRead[],
  startup: Startup | null,
  clients: readonly number[],
): TargetCheck[] {
  const high = clients.includes(8) ? 8 : Math.max(...clients);
  const low = clients.includes(1) ? 1 : Math.min(...clients);
  const n = (c: number) => `${c} client${c === 1 ? '' : 's'}`;
  const checks: TargetCheck[] = [];
  const check = checker(checks);
  for (const mode of ['simple', 'prepared'] as const) {
    const a = find(cells, mode, high, 'airlock')?.run;
    check(
      `TPS ${mode}, ${n(high)}, vs direct`,
      '>= 0.60x',
      ratio(a?.tps, find(cells, mode, high, 'direct')?.run?.tps),
      0.6,
      false,
    );
  }
  const a8 = find(cells, 'simple', high, 'airlock');
  const b8 = find(cells, 'simple', high, 'pgbouncer');
  check(`TPS simple, ${n(high)}, vs PgBouncer`, '>= 0.90x', ratio(a8?.run?.tps, b8?.run?.tps), 0.9, false);
  const d1 = find(cells, 'simple', low, 'direct')?.run;
  const a1 = find(cells, 'simple', low, 'airlock')?.run;
  const b1 = find(cells, 'simple', low, 'pgbouncer')?.run;
  const added = (r: PgbenchRun | undefined | null) => (r == null || d1 == null ? null : r.p50Us - d1.p50Us);
  const aAdded = added(a1);
  const bAdded = added(b1);
  check(
    `added p50 latency, ${n(low)}, vs PgBouncer's (${fmt(aAdded)} us vs ${fmt(bAdded)} us)`,
    '<= 1.50x',
    bAdded !== null && bAdded > 0 ? ratio(aAdded, bAdded) : null,
    1.5,
    true,
  );
  // design.md's audit budget: spans spooled and exported cost at most 10 % of the TPS.
  const off8 = find(cells, 'simple', high, 'airlock-audit-off');
  check(
    `audit cost: TPS simple, ${n(high)}, audit on / audit off`,
    '>= 0.90x',
    ratio(a8?.run?.tps, off8?.run?.tps),
    0.9,
    false,
  );
  const aCpu = a8 === undefined ? null : cpuUsPerTx(a8);
  const bCpu = b8 === undefined ? null : cpuUsPerTx(b8);
  check(
    `CPU per transaction, ${n(high)}, vs PgBouncer's (${fmt(aCpu, 1)} us vs ${fmt(bCpu, 1)} us)`,
    '<= 1.50x',
    ratio(aCpu, bCpu),
    1.5,
    true,
  );
  for (const kind of ['select', 'copy'] as const) {
    const d = bulk.find((b) => b.kind === kind && b.target === 'direct');
    const x = bulk.find((b) => b.kind === kind && b.target === 'airlock');
    check(
      `masked bulk read (${kind}) vs direct`,
      '>= 0.50x',
      ratio(x === undefined ? null : rowsPerSecond(x), d === undefined ? null : rowsPerSecond(d)),
      0.5,
      false,
    );
  }
  check('sidecar RSS idle', '<= 80 MiB', startup === null ? null : startup.rssIdleBytes / 2 ** 20, 80, true, ' MiB');
  check('start to ready', '<= 1000 ms', startup === null ? null : startup.readyMs, 1000, true, ' ms');
  // "Idle CPU ~0": 1 % of a core, the /proc tick resolution over the bench's 2 s idle window.
  check('idle CPU, ms per s', '<= 10 ms', startup?.idleCpuMsPerS ?? null, 10, true, ' ms');
  return checks;
}

/** Airlock's peak RSS (VmHWM) after the pgbench cells (8 clients, audit on) and after the masked bulk read. */
export interface Peaks {
  readonly afterLoadBytes: number | null;
  readonly afterBulkBytes: number | null;
}

/**
 * Issue 16's targets beyond design.md's (checkTargets): prepared mode against PgBouncer, the audit's CPU per
 * span, and peak memory. Audit CPU per span = Airlock's CPU per transaction minus the audit-off proxy's, simple
 * mode, most clients (one span per pgbench -S transaction). Peak RSS is the process's high-water mark, so the
 * figure after the bulk read covers the whole run.
 */
export function issueTargets(cells: readonly Cell[], peaks: Peaks, clients: readonly number[]): TargetCheck[] {
  const high = clients.includes(8) ? 8 : Math.max(...clients);
  const n = `${high} client${high === 1 ? '' : 's'}`;
  const checks: TargetCheck[] = [];
  const check = checker(checks);
  check(
    `TPS prepared, ${n}, vs PgBouncer`,
    '>= 0.90x',
    ratio(find(cells, 'prepared', high, 'airlock')?.run?.tps, find(cells, 'prepared', high, 'pgbouncer')?.run?.tps),
    0.9,
    false,
  );
  const on = find(cells, 'simple', high, 'airlock');
  const off = find(cells, 'simple', high, 'airlock-audit-off');
  const onCpu = on === undefined ? null : cpuUsPerTx(on);
  const offCpu = off === undefined ? null : cpuUsPerTx(off);
  check(
    `audit CPU per span, simple, ${n} (on - off)`,
    '<= 3.0 us',
    onCpu === null || offCpu === null ? null : onCpu - offCpu,
    3,
    true,
    ' us',
  );
  const mib = (b: number | null) => (b === null ? null : b / 2 ** 20);
  check(`peak RSS after pgbench, ${n}, audit on`, '<= 150 MiB', mib(peaks.afterLoadBytes), 150, true, ' MiB');
  check('peak RSS after the masked bulk read', '<= 150 MiB', mib(peaks.afterBulkBytes), 150, true, ' MiB');
  return checks;
}

export function targetsTable(checks: readonly TargetCheck[]): string {
  return table(
    ['target', 'want', 'got', ''],
    checks.map((c) => [c.name, c.want, c.got, c.verdict]),
  );
}

function firstLine(s: string | null): string {
  return (s ?? 'unknown').split('\n')[0]!.slice(0, 100);
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r.length === head.length ? (r[i] ?? '').length : 0))),
  );
  const line = (r: readonly string[]) =>
    r.length === head.length
      ? r.map((v, i) => (i >= 3 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ')
      : [...r.slice(0, -1).map((v, i) => v.padEnd(widths[i]!)), r[r.length - 1] ?? ''].join('  '); // a "not run" line
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
