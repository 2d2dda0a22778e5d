import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLatencyLog, parsePgbenchOutput, percentile } from './pgbench.ts';

// Output of pgbench 15.18 (Debian), as run by runPgbench.
const OUTPUT = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: prepared
number of clients: 2
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 183619
number of failed transactions: 0 (0.000%)
latency average = 0.022 ms
initial connection time = 3.515 ms
tps = 91812.942985 (without initial connection time)
`;

test('parsePgbenchOutput reads tps, transactions, failures and average latency', () => {
  assert.deepEqual(parsePgbenchOutput(OUTPUT), {
    tps: 91812.942985,
    transactions: 183619,
    failed: 0,
    latencyAvgMs: 0.022,
  });
  assert.equal(
    parsePgbenchOutput(OUTPUT.replace('failed transactions: 0 (0.000%)', 'failed transactions: 7 (0.004%)')).failed,
    7,
  );
});

test('parsePgbenchOutput refuses output without a result', () => {
  assert.throws(() => parsePgbenchOutput('pgbench: error: connection to server failed\n'), /no tps/);
});

test('parseLatencyLog takes column 3 (µs) of every complete line', () => {
  const into: number[] = [];
  parseLatencyLog('0 1 661 0 1795597740 844209\n0 2 58 0 1795597740 844276\n1 5 35 0 1795597740 844367', into);
  parseLatencyLog('', into);
  parseLatencyLog('garbage\n', into);
  assert.deepEqual(into, [661, 58, 35]);
});

test('percentile is nearest-rank', () => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(sorted, 0.5), 50);
  assert.equal(percentile(sorted, 0.99), 99);
  assert.equal(percentile(sorted, 1), 100);
  assert.equal(percentile([7], 0.99), 7);
  assert.ok(Number.isNaN(percentile([], 0.5)));
});
