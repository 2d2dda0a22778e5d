import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkTargets,
  cpuUsPerTx,
  issueTargets,
  pgbenchTable,
  roundMedians,
  type BulkRead,
  type Cell,
  type Target,
} from './report.ts';

function cell(
  mode: 'simple' | 'prepared',
  clients: number,
  target: Target,
  tps: number,
  p50Us: number,
  cpuS: number | null,
): Cell {
  const transactions = tps * 10;
  return {
    mode,
    clients,
    target,
    error: null,
    proxyCpuSeconds: cpuS,
    run: { tps, transactions, failed: 0, latencyAvgMs: null, p50Us, p99Us: p50Us * 4, samples: 1000 },
  };
}

const cells: Cell[] = [
  cell('simple', 1, 'direct', 20000, 40, null),
  cell('simple', 1, 'pgbouncer', 12000, 70, 1), // +30 µs
  cell('simple', 1, 'airlock', 11000, 80, 1.2), // +40 µs → 1.33×
  cell('simple', 8, 'direct', 50000, 100, null),
  cell('simple', 8, 'pgbouncer', 30000, 150, 10), // 10 s / 300k tx = 33.3 µs/tx
  cell('simple', 8, 'airlock', 26000, 170, 16), // 16 s / 260k tx = 61.5 µs/tx → 1.85×
  cell('simple', 8, 'airlock-audit-off', 28000, 160, 15), // audit on / off = 0.93
  cell('prepared', 8, 'direct', 60000, 90, null),
  {
    mode: 'prepared',
    clients: 8,
    target: 'airlock',
    run: null,
    error: 'pgbench exited 2: boom',
    proxyCpuSeconds: null,
  },
];
const bulk: BulkRead[] = [
  { kind: 'select', target: 'direct', rows: 1_000_000, seconds: 1, error: null },
  { kind: 'select', target: 'airlock', rows: 1_000_000, seconds: 1.6, error: null }, // 0.625×
  { kind: 'copy', target: 'direct', rows: 1_000_000, seconds: 0.5, error: null },
  { kind: 'copy', target: 'airlock', rows: 1_000_000, seconds: 1.25, error: null }, // 0.4×
];

test('cpuUsPerTx divides the proxy CPU by the transactions', () => {
  assert.equal(cpuUsPerTx(cells[4]!)?.toFixed(1), '33.3');
  assert.equal(cpuUsPerTx(cells[0]!), null);
});

test('checkTargets computes each design.md ratio and its verdict', () => {
  const got = checkTargets(cells, bulk, { readyMs: 450, rssIdleBytes: 90 * 2 ** 20, idleCpuMsPerS: 5 }, [1, 8]);
  assert.deepEqual(
    got.map((c) => c.name),
    [
      'TPS simple, 8 clients, vs direct',
      'TPS prepared, 8 clients, vs direct',
      'TPS simple, 8 clients, vs PgBouncer',
      "added p50 latency, 1 client, vs PgBouncer's (40 us vs 30 us)",
      'audit cost: TPS simple, 8 clients, audit on / audit off',
      "CPU per transaction, 8 clients, vs PgBouncer's (61.5 us vs 33.3 us)",
      'masked bulk read (select) vs direct',
      'masked bulk read (copy) vs direct',
      'sidecar RSS idle',
      'start to ready',
      'idle CPU, ms per s',
    ],
  );
  assert.deepEqual(
    got.map((c) => c.verdict),
    ['MISS', 'N/A', 'MISS', 'PASS', 'PASS', 'MISS', 'PASS', 'MISS', 'MISS', 'PASS', 'PASS'],
  );
  assert.deepEqual(
    got.map((c) => c.got),
    ['0.52', 'no data', '0.87', '1.33', '0.93', '1.85', '0.63', '0.40', '90.0 MiB', '450.0 ms', '5.0 ms'],
  );
  const busy = checkTargets(cells, bulk, { readyMs: 450, rssIdleBytes: 90 * 2 ** 20, idleCpuMsPerS: 25 }, [1, 8]);
  assert.equal(busy.at(-1)?.verdict, 'MISS');
});

test('checkTargets says N/A, not PASS, when Airlock did not run', () => {
  const withoutAirlock = cells.filter((c) => !c.target.startsWith('airlock'));
  const got = checkTargets(
    withoutAirlock,
    bulk.filter((b) => b.target === 'direct'),
    null,
    [1, 8],
  );
  assert.ok(
    got.every((c) => c.verdict === 'N/A'),
    JSON.stringify(got),
  );
});

test('pgbenchTable shows ratios and the reason a cell did not run', () => {
  const text = pgbenchTable(cells);
  // 61.5 µs/tx against PgBouncer's 33.3: 1.85× in the CPU column
  assert.match(text, /simple\s+8\s+airlock\s+26000\s+0\.52\s+0\.87\s+170\s+680\s+70\s+61\.5\s+1\.85/);
  assert.match(text, /prepared\s+8\s+airlock\s+not run: pgbench exited 2: boom/);
});

test('pgbenchTable: the Node.js relay is compared with PgBouncer too, and each round with its own references', () => {
  const withRounds: Cell[] = [
    { ...cell('simple', 8, 'direct', 50000, 100, null), round: 0 },
    { ...cell('simple', 8, 'pgbouncer', 30000, 150, 10), round: 0 }, // 33.3 µs/tx
    { ...cell('simple', 8, 'node-relay', 27000, 160, 11.7), round: 0 }, // 43.3 µs/tx → 1.30×
    { ...cell('simple', 8, 'direct', 40000, 100, null), round: 1 },
    { ...cell('simple', 8, 'pgbouncer', 20000, 150, 8), round: 1 }, // 40 µs/tx
    { ...cell('simple', 8, 'node-relay', 18000, 160, 10.8), round: 1 }, // 60 µs/tx → 1.50×
  ];
  const lines = pgbenchTable(withRounds).split('\n');
  const relay = lines.filter((l) => /node-relay/.test(l));
  assert.equal(relay.length, 2);
  assert.match(relay[0]!, /node-relay\s+27000\s+0\.54\s+0\.90\s+.*43\.3\s+1\.30/);
  assert.match(relay[1]!, /node-relay\s+18000\s+0\.45\s+0\.90\s+.*60\.0\s+1\.50/);
});

test('issueTargets: prepared vs PgBouncer, audit CPU per span, peak RSS', () => {
  const got = issueTargets(cells, { afterLoadBytes: 120 * 2 ** 20, afterBulkBytes: 200 * 2 ** 20 }, [1, 8]);
  assert.deepEqual(
    got.map((c) => c.verdict),
    ['N/A', 'MISS', 'PASS', 'MISS'],
  );
  // 61.5 µs/tx with audit, 15 s / 280k tx = 53.6 µs/tx without: 8.0 µs per span
  assert.deepEqual(
    got.map((c) => c.got),
    ['no data', '8.0 us', '120.0 MiB', '200.0 MiB'],
  );
  const none = issueTargets([], { afterLoadBytes: null, afterBulkBytes: null }, [1, 8]);
  assert.ok(none.every((c) => c.verdict === 'N/A'));
});

test('roundMedians: each target reports its median round, as measured in that round', () => {
  const check = (name: string, value: number | null, verdict: 'PASS' | 'MISS' | 'N/A') => ({
    name,
    want: '<= 1.50x',
    got: value === null ? 'no data' : value.toFixed(2),
    verdict,
    value,
  });
  const rounds = [
    [check('cpu (40 vs 20)', 2.0, 'MISS'), check('p50', 1.2, 'PASS'), check('bulk', null, 'N/A')],
    [check('cpu (28 vs 20)', 1.4, 'PASS'), check('p50', 3.0, 'MISS'), check('bulk', null, 'N/A')],
    [check('cpu (30 vs 20)', 1.5, 'PASS'), check('p50', 1.3, 'PASS'), check('bulk', null, 'N/A')],
  ];
  const m = roundMedians(rounds);
  assert.deepEqual(
    m.map((c) => [c.name, c.value, c.verdict]),
    [
      ['cpu (30 vs 20)', 1.5, 'PASS'], // the median round's own name and verdict: one noisy round decides nothing
      ['p50', 1.3, 'PASS'],
      ['bulk', null, 'N/A'], // no round measured it
    ],
  );
  // Even count: the lower middle. One round: itself.
  assert.equal(roundMedians(rounds.slice(0, 2))[0]!.value, 1.4);
  assert.deepEqual(roundMedians([rounds[1]!]), rounds[1]);
});
