import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, firstRecord, microTime, observe, recordOf, releaseRecord, timingProblems } from './leader.ts';
import type { LeaseRecord, Observation } from './leader.ts';

const ME = 'operator-a_1a2b';
const WALL = new Date('2026-01-02T03:04:05.678Z');
const held = (holderIdentity: string, over: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity,
  leaseDurationSeconds: 15,
  acquireTime: '2026-01-02T03:00:00.000000Z',
  renewTime: '2026-01-02T03:04:00.000000Z',
  leaseTransitions: 3,
  ...over,
});
const at = (record: LeaseRecord, atMs: number): Observation => ({ record, atMs });

// [case, observation, local now (ms), expected kind, expected holder-change]
const cases: [string, Observation, number, 'write' | 'wait', boolean | null][] = [
  ['held by another, seen 1 s ago', at(held('operator-b_9z'), 10_000), 11_000, 'wait', null],
  ['held by another, 1 ms before expiry', at(held('operator-b_9z'), 10_000), 24_999, 'wait', null],
  ['held by another, expired by our clock', at(held('operator-b_9z'), 10_000), 25_000, 'write', true],
  ['released (holder "")', at(held('', { leaseDurationSeconds: 1 }), 10_000), 10_001, 'write', true],
  [
    'a released lease with its holder still set expires after 1 s',
    at(held('operator-b_9z', { leaseDurationSeconds: 1 }), 10_000),
    11_000,
    'write',
    true,
  ],
  ['ours: renew even when "expired"', at(held(ME), 10_000), 99_000, 'write', false],
  ['ours: renew', at(held(ME), 10_000), 11_000, 'write', false],
  [
    'no duration recorded: expired',
    at(held('operator-b_9z', { leaseDurationSeconds: 0 }), 10_000),
    10_000,
    'write',
    true,
  ],
];
for (const [name, obs, now, kind, acquiring] of cases) {
  test(`decide: ${name}`, () => {
    const step = decide(obs, ME, now, 15, WALL);
    assert.equal(step.kind, kind);
    if (step.kind === 'write') assert.equal(step.acquiring, acquiring);
  });
}

test('decide: expiry is judged from when we observed the record, not from its renewTime', () => {
  // A renewTime an hour in the past (a skewed clock on the holder) does not make the lease expired…
  const skewed = held('operator-b_9z', { renewTime: '2026-01-02T02:04:00.000000Z' });
  assert.equal(decide(at(skewed, 10_000), ME, 10_500, 15, WALL).kind, 'wait');
  // …and a renewTime in the future does not extend it.
  const future = held('operator-b_9z', { renewTime: '2027-01-01T00:00:00.000000Z' });
  assert.equal(decide(at(future, 10_000), ME, 25_000, 15, WALL).kind, 'write');
});

test('decide: taking over increments leaseTransitions and stamps acquireTime; renewing keeps both', () => {
  const take = decide(at(held('operator-b_9z'), 0), ME, 20_000, 15, WALL);
  assert.deepEqual(take, {
    kind: 'write',
    acquiring: true,
    record: {
      holderIdentity: ME,
      leaseDurationSeconds: 15,
      acquireTime: '2026-01-02T03:04:05.678000Z',
      renewTime: '2026-01-02T03:04:05.678000Z',
      leaseTransitions: 4,
    },
  });
  const renew = decide(at(held(ME), 0), ME, 1000, 15, WALL);
  assert.deepEqual(renew, {
    kind: 'write',
    acquiring: false,
    record: {
      holderIdentity: ME,
      leaseDurationSeconds: 15,
      acquireTime: '2026-01-02T03:00:00.000000Z',
      renewTime: '2026-01-02T03:04:05.678000Z',
      leaseTransitions: 3,
    },
  });
});

test('observe: the clock restarts only when the record changes', () => {
  const first = observe(null, held('operator-b_9z'), 1000);
  assert.equal(first.atMs, 1000);
  assert.equal(observe(first, held('operator-b_9z'), 9000), first, 'same record: a holder that stopped renewing');
  assert.equal(
    observe(first, held('operator-b_9z', { renewTime: '2026-01-02T03:04:02.000000Z' }), 9000).atMs,
    9000,
    'renewed',
  );
  assert.equal(observe(first, held('operator-c_1'), 9000).atMs, 9000, 'new holder');
});

test('a stopped holder (no renewals) loses the lease leaseDuration after we last saw it change', () => {
  let obs = observe(null, held('operator-b_9z'), 0);
  for (let t = 0; t < 15_000; t += 2000) {
    obs = observe(obs, held('operator-b_9z'), t);
    assert.equal(decide(obs, ME, t, 15, WALL).kind, 'wait', `at ${t} ms`);
  }
  assert.equal(decide(observe(obs, held('operator-b_9z'), 15_000), ME, 15_000, 15, WALL).kind, 'write');
});

test('release clears the holder and shortens the lease; a new Lease starts at 0 transitions', () => {
  assert.deepEqual(releaseRecord(held(ME), WALL), {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: '2026-01-02T03:04:05.678000Z',
    renewTime: '2026-01-02T03:04:05.678000Z',
    leaseTransitions: 3,
  });
  assert.deepEqual(firstRecord(ME, 15, WALL), {
    holderIdentity: ME,
    leaseDurationSeconds: 15,
    acquireTime: '2026-01-02T03:04:05.678000Z',
    renewTime: '2026-01-02T03:04:05.678000Z',
    leaseTransitions: 0,
  });
});

test('recordOf reads a Lease spec, missing fields as a free lease', () => {
  assert.deepEqual(recordOf(undefined), {
    holderIdentity: '',
    leaseDurationSeconds: 0,
    acquireTime: null,
    renewTime: null,
    leaseTransitions: 0,
  });
  assert.deepEqual(recordOf({ holderIdentity: 'x', leaseDurationSeconds: 15, renewTime: 'r', leaseTransitions: 2 }), {
    holderIdentity: 'x',
    leaseDurationSeconds: 15,
    acquireTime: null,
    renewTime: 'r',
    leaseTransitions: 2,
  });
});

test('microTime has the six fraction digits the apiserver requires', () => {
  assert.equal(microTime(new Date('2026-01-02T03:04:05.000Z')), '2026-01-02T03:04:05.000000Z');
});

test('timing options are checked as client-go does', () => {
  assert.deepEqual(timingProblems(15_000, 10_000, 2_000), []);
  assert.deepEqual(timingProblems(2_000, 1_500, 250), []);
  assert.match(
    timingProblems(10_000, 10_000, 2_000).join(),
    /renewDeadline \(10000 ms\) must be less than leaseDuration/,
  );
  assert.match(timingProblems(15_000, 2_000, 2_000).join(), /must exceed 1\.2 × retryPeriod/);
  assert.match(timingProblems(1_500, 1_000, 100).join(), /whole number of seconds/);
});
