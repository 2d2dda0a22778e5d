// The watch liveness decision (informers.ts): pure, so checked here at its edges; the behaviour it drives
// (a black-holed watch aborted and relisted) is exercised on a real apiserver in
// test/operator/watch-liveness.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WATCH_CHECK_MS, WATCH_QUIET_MS, WATCH_TIMEOUT_SECONDS, watchIsDead } from './informers.ts';

test('a watch is dead once nothing arrived for quietMs, not a millisecond before', () => {
  assert.equal(watchIsDead(10_000, 10_000, 4000), false);
  assert.equal(watchIsDead(13_999, 10_000, 4000), false);
  assert.equal(watchIsDead(14_000, 10_000, 4000), true);
  assert.equal(watchIsDead(60_000, 10_000, 4000), true);
});

test('a clock step backwards never declares a watch dead', () => {
  assert.equal(watchIsDead(5_000, 10_000, 4000), false);
});

test('defaults: a healthy watch is renewed twice within the quiet threshold, and checked often enough to matter', () => {
  // The server ends each watch after WATCH_TIMEOUT_SECONDS and the next request answers at once: two
  // renewals and 30 s of margin fit in WATCH_QUIET_MS, so a quiet but healthy watch is never relisted.
  assert.ok(WATCH_QUIET_MS >= 2 * WATCH_TIMEOUT_SECONDS * 1000 + 30_000);
  assert.ok(WATCH_CHECK_MS <= WATCH_QUIET_MS / 4);
});
