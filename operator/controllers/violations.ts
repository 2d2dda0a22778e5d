// AccessPolicy status.violations (design.md: warn/observe policies count what enforcement would have
// denied, per rule, with the last example's normalised text). Sidecars send deltas with ReportViolations
// (proxy/violations.ts); this module adds them in.
//
// - Batched per policy: at most one status write per policy per WRITE_INTERVAL_MS; reports arriving
//   meanwhile merge in memory. The RPC is acknowledged once the deltas are in memory, so an operator
//   that dies before its next write loses at most that interval's counts (staging figures, not audit:
//   the audit spans are the record).
// - Read-modify-write of the status subresource with the resourceVersion read; a 409 re-reads and
//   re-applies. Counts are additive deltas, so any replica may write them: this is not leader work.
// - Reset: counts stage *this* version of the policy. The reconciler's status write that observes a new
//   metadata.generation removes status.violations (reconcile.ts); until that has happened
//   (generation != status.observedGeneration) deltas are held here, not added to the old version's counts.
import type { AccessPolicy } from '../../policy/types.ts';
import { DEFAULT_DENY_RULE, UNFILTERED_WRITE_RULE } from '../../policy/decide.ts';
import type { BindingRef } from '../../distribution/types.ts';
import type { ViolationReportMessage } from '../distribution/server.ts';
import { backoffMs } from '../../lib/backoff.ts';
import type { KubeClient } from '../kube.ts';
import type { Logger } from '../log.ts';

/** At most one status write per policy per this interval (documented: ~2 s). */
export const WRITE_INTERVAL_MS = 2000;
/** Pending policies and rules per policy held in memory (while the apiserver is unreachable). */
export const MAX_PENDING_POLICIES = 1000;
export const MAX_PENDING_RULES = 1000;
/** lastStatement is stored at most this long (sidecars bound it too; a status lives in etcd). */
export const MAX_STATEMENT_CHARS = 1024;
/** A 409 is retried this many times at once before the write waits for the next interval. */
const CONFLICT_RETRIES = 5;
/** A lastSeen further than this in the future (skewed sidecar clock) is replaced by the operator's now. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface StatusViolation {
  readonly rule: string;
  readonly count: number;
  readonly lastStatement?: string;
  readonly lastSeen?: string;
}

export interface PendingDelta {
  count: number;
  lastStatement: string;
  lastSeenMs: number;
}

/** Rule names a report may count for this policy: its rules, the default deny, and its guardrail. */
export function acceptedRules(p: Pick<AccessPolicy, 'spec'>): Set<string> {
  const s = new Set<string>([DEFAULT_DENY_RULE]);
  for (const r of p.spec.rules ?? []) s.add(r.name);
  if (p.spec.guardrails?.blockUnfilteredWrites === true) s.add(UNFILTERED_WRITE_RULE);
  return s;
}

/**
 * Pure: `existing` (the status as read) plus `deltas` (rule → delta). Deltas for rules not in `accepted`
 * are left out and named in `ignored`. Entries come out sorted by rule, so equal inputs give equal status.
 */
export function mergeViolations(
  existing: readonly StatusViolation[] | undefined,
  deltas: ReadonlyMap<string, PendingDelta>,
  accepted: ReadonlySet<string>,
): { violations: StatusViolation[]; ignored: string[]; changed: boolean } {
  const byRule = new Map<string, StatusViolation>();
  for (const v of existing ?? []) byRule.set(v.rule, v);
  const ignored: string[] = [];
  let changed = false;
  for (const [rule, d] of deltas) {
    if (!accepted.has(rule)) {
      ignored.push(rule);
      continue;
    }
    if (d.count <= 0) continue;
    changed = true;
    const old = byRule.get(rule);
    const oldSeen = old?.lastSeen === undefined ? -Infinity : Date.parse(old.lastSeen);
    const newer = !(oldSeen > d.lastSeenMs);
    byRule.set(rule, {
      rule,
      count: Math.min(Number.MAX_SAFE_INTEGER, (old?.count ?? 0) + d.count),
      ...(newer
        ? { lastStatement: d.lastStatement, lastSeen: new Date(d.lastSeenMs).toISOString() }
        : {
            ...(old?.lastStatement === undefined ? {} : { lastStatement: old.lastStatement }),
            ...(old?.lastSeen === undefined ? {} : { lastSeen: old.lastSeen }),
          }),
    });
  }
  const violations = [...byRule.values()].sort((a, b) => (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0));
  return { violations, ignored, changed };
}

/** Control characters become spaces; long texts are cut (a sidecar is trusted with counts, not with sizes). */
export function boundedStatement(s: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length <= MAX_STATEMENT_CHARS ? clean : `${clean.slice(0, MAX_STATEMENT_CHARS - 1)}…`;
}

/**
 * Pure: a report's entries as (policy name → rule → delta), keeping only policies of the binding's own
 * namespace (a sidecar counts for the policies it was sent, which all live there). The rest is returned
 * as `refused` for the log.
 */
export function parseReport(
  ref: BindingRef,
  msg: ViolationReportMessage,
  nowMs: number,
): { byPolicy: Map<string, Map<string, PendingDelta>>; refused: string[] } {
  const byPolicy = new Map<string, Map<string, PendingDelta>>();
  const refused: string[] = [];
  for (const v of msg.violations ?? []) {
    const slash = v.policy.indexOf('/');
    const ns = slash < 0 ? '' : v.policy.slice(0, slash);
    const name = slash < 0 ? '' : v.policy.slice(slash + 1);
    if (ns !== ref.namespace || name === '' || name.includes('/')) {
      refused.push(v.policy);
      continue;
    }
    const count = Number(v.count);
    if (!Number.isSafeInteger(count) || count <= 0 || v.rule === '') continue;
    let seen = Number(v.lastSeenMs);
    if (!Number.isFinite(seen) || seen <= 0 || seen > nowMs + MAX_CLOCK_SKEW_MS) seen = nowMs;
    let rules = byPolicy.get(name);
    if (rules === undefined) byPolicy.set(name, (rules = new Map()));
    addDelta(rules, v.rule, { count, lastStatement: boundedStatement(v.lastStatement ?? ''), lastSeenMs: seen });
  }
  return { byPolicy, refused };
}

function addDelta(rules: Map<string, PendingDelta>, rule: string, d: PendingDelta): boolean {
  const e = rules.get(rule);
  if (e === undefined) {
    if (rules.size >= MAX_PENDING_RULES) return false;
    rules.set(rule, { ...d });
    return true;
  }
  e.count = Math.min(Number.MAX_SAFE_INTEGER, e.count + d.count);
  if (d.lastSeenMs >= e.lastSeenMs) {
    e.lastSeenMs = d.lastSeenMs;
    e.lastStatement = d.lastStatement;
  }
  return true;
}

export interface ViolationDeps {
  readonly kube: KubeClient;
  readonly log: Logger;
  readonly nowMs?: () => number;
  readonly writeIntervalMs?: number;
}

type PolicyObject = AccessPolicy & {
  metadata: { resourceVersion?: string; generation?: number };
  status?: { observedGeneration?: number; violations?: StatusViolation[] };
};

const GROUP_PATH = '/apis/airlock.dev/v1alpha1';

/** Receives reports (any replica) and writes the sums into each policy's status, batched per policy. */
export class ViolationRecorder {
  readonly #deps: ViolationDeps;
  readonly #pending = new Map<string, Map<string, PendingDelta>>(); // "ns/name" → rule → delta
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #lastWrite = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  readonly #writing = new Set<Promise<void>>();
  #stopped = false;

  constructor(deps: ViolationDeps) {
    this.#deps = deps;
  }

  #now(): number {
    return this.#deps.nowMs?.() ?? Date.now();
  }
  get #interval(): number {
    return this.#deps.writeIntervalMs ?? WRITE_INTERVAL_MS;
  }

  /** The ReportViolations handler's work: validate, merge into memory, schedule the write. */
  report(ref: BindingRef, msg: ViolationReportMessage): void {
    if (this.#stopped) return;
    const { byPolicy, refused } = parseReport(ref, msg, this.#now());
    if (refused.length > 0) {
      this.#deps.log.warn("Ignored violation counts for AccessPolicies outside the binding's namespace", {
        binding: `${ref.namespace}/${ref.name}`,
        policies: refused.slice(0, 10),
      });
    }
    let dropped = 0;
    for (const [name, rules] of byPolicy) {
      const key = `${ref.namespace}/${name}`;
      let into = this.#pending.get(key);
      if (into === undefined) {
        if (this.#pending.size >= MAX_PENDING_POLICIES) {
          dropped += rules.size;
          continue;
        }
        this.#pending.set(key, (into = new Map()));
      }
      for (const [rule, d] of rules) if (!addDelta(into, rule, d)) dropped++;
      this.#schedule(key);
    }
    if (dropped > 0)
      this.#deps.log.warn('Dropped violation counts', {
        binding: `${ref.namespace}/${ref.name}`,
        entries: dropped,
        reason: 'too many pending AccessPolicy rules',
      });
  }

  #schedule(key: string, delayMs?: number): void {
    if (this.#stopped || this.#timers.has(key)) return;
    const wait = delayMs ?? Math.max(0, (this.#lastWrite.get(key) ?? -Infinity) + this.#interval - this.#now());
    const t = setTimeout(() => {
      const p = this.#write(key).finally(() => {
        this.#writing.delete(p);
        this.#timers.delete(key);
        if (this.#pending.has(key)) this.#schedule(key, this.#retryDelay(key));
      });
      this.#writing.add(p);
    }, wait);
    t.unref();
    this.#timers.set(key, t);
  }

  #retryDelay(key: string): number | undefined {
    const n = this.#failures.get(key) ?? 0;
    return n === 0 ? undefined : backoffMs({ initialMs: this.#interval, maxMs: 30_000 }, n);
  }

  /** Take the policy's pending deltas and write them; what cannot be written now goes back in. */
  async #write(key: string): Promise<void> {
    const deltas = this.#pending.get(key);
    if (deltas === undefined) return;
    this.#pending.delete(key);
    const [ns, name] = key.split('/') as [string, string];
    const path = `${GROUP_PATH}/namespaces/${ns}/accesspolicies/${name}/status`;
    const putBack = (): void => {
      const into = this.#pending.get(key);
      if (into === undefined) {
        this.#pending.set(key, deltas);
        return;
      }
      for (const [rule, d] of deltas) addDelta(into, rule, d);
    };
    try {
      for (let attempt = 0; ; attempt++) {
        const r = await this.#deps.kube.call('GET', path);
        if (r.status === 404) {
          this.#failures.delete(key);
          return;
        } // deleted: nothing to count for
        if (r.status !== 200)
          throw new Error(`GET AccessPolicy ${key} status: HTTP ${r.status}: ${r.body?.message ?? ''}`);
        const p = r.body as PolicyObject;
        if (p.metadata.generation !== p.status?.observedGeneration) {
          // The new version is not observed yet: its write will reset the counts (see the header).
          putBack();
          this.#lastWrite.set(key, this.#now());
          return;
        }
        const { violations, ignored, changed } = mergeViolations(p.status?.violations, deltas, acceptedRules(p));
        if (ignored.length > 0)
          this.#deps.log.warn('Ignored violation counts for rules the AccessPolicy does not have', {
            policy: key,
            rules: ignored.slice(0, 10),
          });
        if (!changed) {
          this.#failures.delete(key);
          return;
        }
        const put = await this.#deps.kube.call('PUT', path, { ...p, status: { ...p.status, violations } });
        if (put.status === 409 && attempt < CONFLICT_RETRIES) continue; // written meanwhile: re-read, re-add
        if (put.status === 404) {
          this.#failures.delete(key);
          return;
        }
        if (put.status < 200 || put.status >= 300)
          throw new Error(`PUT AccessPolicy ${key} status: HTTP ${put.status}: ${put.body?.message ?? ''}`);
        this.#failures.delete(key);
        this.#lastWrite.set(key, this.#now());
        return;
      }
    } catch (e) {
      putBack();
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      this.#lastWrite.set(key, this.#now());
      this.#deps.log.warn('Failed to write AccessPolicy violation counts', {
        policy: key,
        error: (e as Error).message,
        attempt: n,
      });
    }
  }

  /** Writes started keep running to their end; nothing new starts. Pending counts are dropped. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled([...this.#writing]);
  }
}
