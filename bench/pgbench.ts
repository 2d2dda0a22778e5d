// Running pgbench and reading what it reports. Latency percentiles come from pgbench's
// per-transaction log (-l, sampled with --sampling-rate): column 3 is the transaction's elapsed time
// in microseconds (PostgreSQL docs, pgbench "Per-Transaction Logging").
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PgbenchSummary {
  readonly tps: number;
  readonly transactions: number;
  readonly failed: number;
  readonly latencyAvgMs: number | null;
}

/** The summary lines pgbench prints at the end of a run. */
export function parsePgbenchOutput(out: string): PgbenchSummary {
  const num = (re: RegExp): number | null => {
    const m = re.exec(out);
    return m === null ? null : Number(m[1]);
  };
  const tps = num(/^tps = ([\d.]+) \(without initial connection time\)$/m) ?? num(/^tps = ([\d.]+)/m);
  const transactions = num(/^number of transactions actually processed: (\d+)/m);
  if (tps === null || transactions === null) throw new Error('pgbench printed no tps / transaction count');
  return {
    tps,
    transactions,
    failed: num(/^number of failed transactions: (\d+)/m) ?? 0,
    latencyAvgMs: num(/^latency average = ([\d.]+) ms$/m),
  };
}

/** Append the latencies (µs, column 3) of a pgbench per-transaction log to `into`. */
export function parseLatencyLog(text: string, into: number[]): void {
  let at = 0;
  while (at < text.length) {
    let nl = text.indexOf('\n', at);
    if (nl === -1) nl = text.length;
    const s1 = text.indexOf(' ', at);
    const s2 = s1 === -1 ? -1 : text.indexOf(' ', s1 + 1);
    const s3 = s2 === -1 ? -1 : text.indexOf(' ', s2 + 1);
    if (s3 !== -1 && s3 < nl) {
      const us = Number(text.slice(s2 + 1, s3));
      if (Number.isFinite(us)) into.push(us);
    }
    at = nl + 1;
  }
}

/** Nearest-rank percentile (q in 0..1) of ascending-sorted values. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface PgbenchRun extends PgbenchSummary {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly samples: number;
}

export interface PgbenchOptions {
  readonly pgbench: string; // path to the binary
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly mode: 'simple' | 'prepared';
  readonly clients: number;
  readonly threads: number;
  readonly durationS: number;
  readonly samplingRate: number;
}

/** pgbench -S for a fixed time; throws with pgbench's output when it fails or a client aborts. */
export async function runPgbench(o: PgbenchOptions): Promise<PgbenchRun> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pgbench-'));
  try {
    const args = [
      '-h',
      o.host,
      '-p',
      String(o.port),
      '-U',
      o.user,
      '-S', // builtin select-only: SELECT abalance FROM pgbench_accounts WHERE aid = :aid
      '-n', // no VACUUM before the run (a SELECT-only policy would deny it)
      '-M',
      o.mode,
      '-c',
      String(o.clients),
      '-j',
      String(o.threads),
      '-T',
      String(o.durationS),
      '-l',
      `--sampling-rate=${o.samplingRate}`,
      `--log-prefix=${join(dir, 'tx')}`,
      o.database,
    ];
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        o.pgbench,
        args,
        {
          env: { ...process.env, PGPASSWORD: o.password, PGSSLMODE: 'disable', PGAPPNAME: 'airlock-bench' },
          timeout: (o.durationS + 60) * 1000,
          maxBuffer: 16 * 1024 * 1024,
          encoding: 'utf8',
        },
        (err, so, se) =>
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout: so, stderr: se }),
      );
    });
    if (code !== 0) throw new Error(`pgbench exited ${code}: ${tail(`${stdout}\n${stderr}`)}`);
    const summary = parsePgbenchOutput(stdout);
    if (summary.failed > 0) throw new Error(`pgbench: ${summary.failed} failed transactions: ${tail(stderr)}`);
    const latencies: number[] = [];
    for (const f of readdirSync(dir)) parseLatencyLog(readFileSync(join(dir, f), 'utf8'), latencies);
    const sorted = Float64Array.from(latencies).sort();
    return { ...summary, p50Us: percentile(sorted, 0.5), p99Us: percentile(sorted, 0.99), samples: sorted.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function tail(text: string, lines = 12): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
