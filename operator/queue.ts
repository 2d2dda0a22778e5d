// The reconcile work queue, with client-go's workqueue semantics (k8s.io/client-go/util/workqueue/queue.go)
// as controller-runtime runs it (MaxConcurrentReconciles workers):
//   queued      keys waiting for a worker, in the order they were added, each at most once;
//   dirty       keys that need a reconcile: the queued ones, and those added again while running;
//   processing  keys a worker is reconciling now.
// So a key is reconciled by one worker at a time, a key added while it runs runs once more afterwards
// (once, however many adds came in), and up to `concurrency` different keys run at the same time.
// A failed reconcile is added again after a per-key exponential backoff (controller-runtime's
// ItemExponentialFailureRateLimiter), forgotten after the key's next success.
import { backoffMs, type BackoffPolicy } from '../lib/backoff.ts';
import type { Logger } from './log.ts';

/** Reconciles of different keys run at once by default (controller-runtime's default is 1; the reconcilers
 *  here mostly wait on the apiserver, so a few in flight keep one slow write from holding up the rest). */
export const DEFAULT_CONCURRENCY = 4;
/** A failed key is retried after 200 ms, doubling per consecutive failure up to 30 s. */
export const RETRY_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 30_000 };

export interface WorkQueueOptions {
  readonly log: Logger;
  /** At most this many different keys reconciled at once (default DEFAULT_CONCURRENCY). */
  readonly concurrency?: number;
  readonly retry?: BackoffPolicy;
  /** Called after each reconcile with its outcome and duration (metrics). */
  readonly observe?: (key: string, ok: boolean, seconds: number) => void;
}

export class WorkQueue {
  readonly #work: (key: string) => Promise<void>;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #retry: BackoffPolicy;
  readonly #observe: ((key: string, ok: boolean, seconds: number) => void) | undefined;
  /** A Set keeps insertion order and holds a key once: the FIFO. */
  readonly #queued = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  #pumpScheduled = false;
  #stopped = false;

  constructor(work: (key: string) => Promise<void>, opts: WorkQueueOptions) {
    const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new RangeError(`work queue: concurrency must be an integer ≥ 1, got ${concurrency}`);
    this.#work = work;
    this.#log = opts.log;
    this.#concurrency = concurrency;
    this.#retry = opts.retry ?? RETRY_BACKOFF;
    this.#observe = opts.observe;
  }

  /** Keys waiting for a reconcile (queued, or added again while running). */
  get depth(): number {
    return this.#dirty.size;
  }
  /** Keys being reconciled now. */
  get running(): number {
    return this.#processing.size;
  }

  add(key: string): void {
    if (this.#stopped || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // its worker queues it again when done
    this.#queued.add(key);
    // Start workers on the next turn, not inside the caller: a burst of adds (an informer's initial list)
    // is all queued before the first reconcile starts, as before this queue ran keys concurrently.
    if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      setImmediate(() => {
        this.#pumpScheduled = false;
        this.#pump();
      });
    }
  }

  /** Drop everything waiting; reconciles running now finish, and start nothing after. */
  stop(): void {
    this.#stopped = true;
    this.#queued.clear();
    this.#dirty.clear();
    for (const t of this.#retryTimers) clearTimeout(t);
    this.#retryTimers.clear();
  }

  #pump(): void {
    while (!this.#stopped && this.#processing.size < this.#concurrency && this.#queued.size > 0) {
      const key = this.#queued.values().next().value as string;
      this.#queued.delete(key);
      this.#dirty.delete(key);
      this.#processing.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    const t0 = performance.now();
    try {
      await this.#work(key);
      this.#observe?.(key, true, (performance.now() - t0) / 1000);
      this.#failures.delete(key);
    } catch (e) {
      this.#observe?.(key, false, (performance.now() - t0) / 1000);
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const delay = backoffMs(this.#retry, n);
      this.#log.warn('Failed to reconcile', { key, error: (e as Error).message, retryInMs: delay });
      if (!this.#stopped) {
        const t = setTimeout(() => {
          this.#retryTimers.delete(t);
          this.add(key);
        }, delay);
        t.unref();
        this.#retryTimers.add(t);
      }
    } finally {
      this.#processing.delete(key);
      if (!this.#stopped && this.#dirty.has(key)) this.#queued.add(key);
      this.#pump();
    }
  }
}
