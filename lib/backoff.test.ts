import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, backoffMs } from './backoff.ts';

describe('backoffMs', () => {
  it('doubles from the first delay up to the cap', () => {
    const p = { initialMs: 100, maxMs: 1000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((a) => backoffMs(p, a)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it('grows by the factor given', () => {
    const p = { initialMs: 250, maxMs: 15_000, factor: 4 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((a) => backoffMs(p, a)),
      [250, 1000, 4000, 15_000, 15_000],
    );
  });

  it('applies jitter to the capped step, across [low, high)', () => {
    const p = { initialMs: 200, maxMs: 10_000, jitter: [0.8, 1.2] as const };
    assert.equal(
      backoffMs(p, 1, () => 0),
      160,
    );
    assert.equal(
      backoffMs(p, 1, () => 0.5),
      200,
    );
    assert.equal(
      backoffMs(p, 1, () => 0.999),
      240,
    );
    assert.equal(
      backoffMs(p, 30, () => 0),
      8000,
    ); // capped at 10 s, then 0.8×
    assert.equal(
      backoffMs(p, 30, () => 0.999),
      11_996,
    ); // jitter above 1 may pass the cap
  });

  it('stays finite for any attempt, and for a zero first delay', () => {
    assert.equal(backoffMs({ initialMs: 250, maxMs: 30_000 }, 1_000_000), 30_000);
    assert.equal(backoffMs({ initialMs: 0, maxMs: 30_000, factor: 1000 }, 1_000_000), 0);
  });

  it('refuses a policy or attempt that has no meaning', () => {
    assert.throws(() => backoffMs({ initialMs: -1, maxMs: 10 }, 1), RangeError);
    assert.throws(() => backoffMs({ initialMs: 1, maxMs: Number.NaN }, 1), RangeError);
    assert.throws(() => backoffMs({ initialMs: 1, maxMs: 10, factor: 0.5 }, 1), RangeError);
    assert.throws(() => backoffMs({ initialMs: 1, maxMs: 10 }, 0), RangeError);
    assert.throws(() => backoffMs({ initialMs: 1, maxMs: 10 }, 1.5), RangeError);
  });
});

describe('Backoff', () => {
  it('counts failures, and starts over after reset', () => {
    const draws = [0, 0.5, 0.25];
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: [0.5, 1] }, () => draws.shift() ?? 0);
    assert.equal(b.failures, 0);
    assert.equal(b.next(), 50); // 100 × 0.5
    assert.equal(b.next(), 150); // 200 × 0.75
    assert.equal(b.next(), 250); // 400 × 0.625
    assert.equal(b.failures, 3);
    b.reset();
    assert.equal(b.failures, 0);
    assert.equal(b.next(), 50); // draws exhausted: 0
  });

  it('refuses a bad policy when made, not at the first failure', () => {
    assert.throws(() => new Backoff({ initialMs: 10, maxMs: 100, factor: 0 }), RangeError);
  });
});
