// Staging counters (design.md: "In warn and observe modes the policy's status counts what enforcement
// would have denied (per rule, with the last example's normalised text)"). Sidecar mode only: the session
// adds each statement whose decision carries `wouldDeny`; a reporter sends the deltas to the operator with
// ReportViolations every second, and the operator adds them into AccessPolicy status.violations
// (operator/controllers/violations.ts). Local mode has no status to write and creates no counter.
//
// Hot path: only statements with a non-empty wouldDeny reach add(); it costs two map lookups and an
// increment (a new (policy, rule) pair allocates once). Texts are truncated at report time, not here.
import type { Decision } from '../policy/types.ts';

type WouldDeny = Extract<Decision, { verdict: 'allow' | 'warn' }>['wouldDeny'][number];

/** The rule name reported when no rule allowed a pair (policy/decide.ts DEFAULT_DENY_RULE). */
export const DEFAULT_DENY_RULE = '(default deny)';
/** Distinct (policy, rule) pairs held between reports; a compiled set rarely has more than a few dozen. */
export const MAX_VIOLATION_KEYS = 1000;
/** lastStatement is cut to this many characters: it ends up in an object's status (etcd, kubectl). */
export const MAX_STATEMENT_CHARS = 1024;

export interface ViolationDelta {
  readonly policy: string;
  readonly rule: string;
  readonly count: number;
  /** libpg-query's normalized text (literals as $n), control characters replaced, at most MAX_STATEMENT_CHARS. */
  readonly lastStatement: string;
  readonly lastSeenMs: number;
}

interface Entry {
  count: number;
  lastStatement: string;
  lastSeenMs: number;
}

export class ViolationCounter {
  #byPolicy = new Map<string, Map<string, Entry>>();
  #keys = 0;
  readonly #maxKeys: number;
  /**
   * Counts dropped because MAX_VIOLATION_KEYS distinct pairs were already pending (possible only while the
   * operator is unreachable with a very large policy set). Dropped rather than folded into a made-up
   * rule: the operator keeps only rules the policy has, so an "(other)" entry would be dropped there.
   */
  dropped = 0;
  /** Called when a pair is counted and none was pending (after take(), or at first): the reporter's timer starts. */
  onPending: (() => void) | null = null;

  constructor(maxKeys = MAX_VIOLATION_KEYS) {
    this.#maxKeys = maxKeys;
  }

  /** One statement that enforcement would have denied. `normalized` must be normalized text, never raw SQL. */
  add(wouldDeny: readonly WouldDeny[], normalized: string, atMs: number): void {
    for (const w of wouldDeny) this.#merge(w.policy, w.rule ?? DEFAULT_DENY_RULE, 1, normalized, atMs);
  }

  #merge(policy: string, rule: string, count: number, statement: string, atMs: number): void {
    let rules = this.#byPolicy.get(policy);
    if (rules === undefined) {
      if (this.#keys >= this.#maxKeys) {
        this.dropped += count;
        return;
      }
      this.#byPolicy.set(policy, (rules = new Map()));
    }
    const e = rules.get(rule);
    if (e !== undefined) {
      e.count += count;
      if (atMs >= e.lastSeenMs) {
        e.lastSeenMs = atMs;
        e.lastStatement = statement;
      }
      return;
    }
    if (this.#keys >= this.#maxKeys) {
      this.dropped += count;
      return;
    }
    rules.set(rule, { count, lastStatement: statement, lastSeenMs: atMs });
    if (this.#keys++ === 0) this.onPending?.();
  }

  get size(): number {
    return this.#keys;
  }

  /** Everything counted since the last take(), and start again from zero. */
  take(): ViolationDelta[] {
    if (this.#keys === 0) return [];
    const out: ViolationDelta[] = [];
    for (const [policy, rules] of this.#byPolicy) {
      for (const [rule, e] of rules)
        out.push({
          policy,
          rule,
          count: e.count,
          lastStatement: boundedText(e.lastStatement),
          lastSeenMs: e.lastSeenMs,
        });
    }
    this.#byPolicy = new Map();
    this.#keys = 0;
    return out;
  }

  /** A report that could not be sent: its counts go back in, merged with what came since. */
  restore(deltas: readonly ViolationDelta[]): void {
    for (const d of deltas) this.#merge(d.policy, d.rule, d.count, d.lastStatement, d.lastSeenMs);
  }
}

/** Control characters become spaces (a status is read in terminals); long texts are cut with an ellipsis. */
export function boundedText(s: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length <= MAX_STATEMENT_CHARS ? clean : `${clean.slice(0, MAX_STATEMENT_CHARS - 1)}…`;
}

export interface ViolationReporter {
  /** Sends what is pending now (the tests and stop() use it); resolves when that attempt has ended. */
  flush(): Promise<void>;
  /** Stops the timer after one last attempt (bounded by the send's own timeout). */
  stop(): Promise<void>;
  /** Whether the timer runs: only while counts are pending or a report is in flight. */
  readonly ticking: boolean;
}

/**
 * Every `intervalMs` (default 1 s), when anything is pending: take the deltas and `send` them. A failed
 * send puts them back (merged into the next report) — counts are deltas, so nothing is counted twice as
 * long as a failure means "not applied". One send at a time. Failures are logged when they start and when
 * they end, not every second. The timer runs only while there is something to report: a tick that finds
 * nothing stops it, and the counter's first pending pair starts it again (an idle sidecar sleeps).
 */
export function startViolationReporter(
  counter: ViolationCounter,
  send: (deltas: readonly ViolationDelta[]) => Promise<void>,
  log: (m: string) => void,
  intervalMs = 1000,
): ViolationReporter {
  let inFlight: Promise<void> | null = null;
  let failing = false;
  let droppedLogged = 0;
  const flush = (): Promise<void> => {
    if (inFlight !== null) return inFlight;
    if (counter.dropped > droppedLogged) {
      log(
        `airlock: dropped ${counter.dropped - droppedLogged} violation counts: more than ${MAX_VIOLATION_KEYS} policy rules were waiting to be reported`,
      );
      droppedLogged = counter.dropped;
    }
    const deltas = counter.take();
    if (deltas.length === 0) return Promise.resolve();
    inFlight = send(deltas)
      .then(
        () => {
          if (failing) log('airlock: violation reports reach the operator again');
          failing = false;
        },
        (e: unknown) => {
          counter.restore(deltas);
          if (!failing)
            log(
              `airlock: could not report violation counts to the operator, keeping them for the next report: ${(e as Error).message}`,
            );
          failing = true;
        },
      )
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const tick = () => {
    if (counter.size === 0 && inFlight === null && counter.dropped === droppedLogged) {
      clearInterval(timer!);
      timer = null;
      return;
    }
    void flush();
  };
  const arm = () => {
    if (timer !== null || stopped) return;
    timer = setInterval(tick, intervalMs);
    timer.unref();
  };
  counter.onPending = arm;
  if (counter.size > 0) arm();
  return {
    flush,
    get ticking() {
      return timer !== null;
    },
    async stop() {
      stopped = true;
      counter.onPending = null;
      if (timer !== null) clearInterval(timer);
      timer = null;
      await inFlight;
      await flush();
    },
  };
}
