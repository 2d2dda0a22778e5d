// Retry delays, one way for every layer: exponential growth from a first delay up to a cap, then jitter.
// The operator's work queue, its informer restarts and certificate bootstrap, the violation writer, the
// sidecar's policy watch and the audit exporter each retry something; before this file each computed its own.
//
// Jitter multiplies the capped step by a uniform draw from [low, high): [0.8, 1.2) is gRPC's ±20%
// (grpc/doc/connection-backoff.md), [0.5, 1) AWS's "equal jitter" — either way many clients that failed
// together do not come back together. The random source is an argument so tests can pin it.
// lib/ imports nothing: every folder may use it (scripts/check-layers.ts).

export interface BackoffPolicy {
  /** The delay before the first retry, before jitter. */
  readonly initialMs: number;
  /** No step grows past this (jitter applies after the cap, so a high bound above 1 can exceed it). */
  readonly maxMs: number;
  /** Growth per failure (default 2). */
  readonly factor?: number;
  /** The step is multiplied by a uniform draw from [low, high) (default [1, 1]: no jitter). */
  readonly jitter?: readonly [low: number, high: number];
}

/** The delay before retry number `attempt` (1 is the first retry), rounded to whole milliseconds. */
export function backoffMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const { initialMs, maxMs, factor = 2, jitter = [1, 1] } = policy;
  if (!(initialMs >= 0) || !(maxMs >= 0) || !(factor >= 1)) {
    throw new RangeError(
      `backoff: initialMs and maxMs must be ≥ 0 and factor ≥ 1 (got ${initialMs}, ${maxMs}, ${factor})`,
    );
  }
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new RangeError(`backoff: attempt must be an integer ≥ 1 (got ${attempt})`);
  // The exponent stops growing long after any cap is reached, so the product never overflows to Infinity
  // (0 × Infinity would be NaN for a zero first delay).
  const step = Math.min(maxMs, initialMs * factor ** Math.min(attempt - 1, 64));
  const [low, high] = jitter;
  return Math.round(step * (low + random() * (high - low)));
}

/** One retrying thing's attempts: next() after each failure, reset() after a success. */
export class Backoff {
  readonly #policy: BackoffPolicy;
  readonly #random: () => number;
  #failures = 0;

  constructor(policy: BackoffPolicy, random: () => number = Math.random) {
    backoffMs(policy, 1, () => 0); // a bad policy fails here, not at the first failure
    this.#policy = policy;
    this.#random = random;
  }

  /** Failures counted since the last reset (0 before the first next()). */
  get failures(): number {
    return this.#failures;
  }

  /** Count one more failure and return how long to wait before trying again. */
  next(): number {
    this.#failures++;
    return backoffMs(this.#policy, this.#failures, this.#random);
  }

  reset(): void {
    this.#failures = 0;
  }
}
