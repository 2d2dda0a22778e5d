// Leader election on a coordination.k8s.io/v1 Lease, with client-go's tools/leaderelection semantics:
//   - Expiry is judged by OUR clock from when WE observed the record change (observe()), never by the
//     renewTime written in it: replicas' wall clocks may disagree, their rates do not (much).
//   - Every write is an update carrying the resourceVersion we read (or a create when there is none):
//     a 409 means another replica wrote first, and we are not leader this round. Never a blind write.
//   - The leader renews every retryPeriod; when no renewal has succeeded for renewDeadline it steps down.
//     renewDeadline < leaseDuration is what keeps two leaders apart: the old one has stopped before any
//     other replica may consider the lease expired (both measured from the same renewal).
//   - ReleaseOnCancel: stop() writes holderIdentity "" and leaseDurationSeconds 1, so another replica
//     takes over on its next retry instead of waiting for the lease to expire.
// Differences from client-go, each safer: a leader that reads another holder in the Lease, or loses a
// write to a 409, steps down at once (client-go keeps believing until renewDeadline); and after stepping down the elector competes again
// rather than exiting the process (controller-runtime exits): our leader-only work is level-based status
// writes, which a new leader redoes from its caches, so nothing is lost by a replica coming back.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeClient } from './kube.ts';
import type { Logger } from './log.ts';

/** client-go defaults (and controller-runtime's). */
export const LEASE_DURATION_MS = 15_000;
export const RENEW_DEADLINE_MS = 10_000;
export const RETRY_PERIOD_MS = 2_000;
/** client-go's JitterFactor for the acquire loop: a waiting candidate retries every retryPeriod × [1, 2.2). */
export const JITTER_FACTOR = 1.2;

/** The Lease spec fields leader election uses (k8s.io/api/coordination/v1 LeaseSpec). */
export interface LeaseRecord {
  /** "" when the lease is free (released). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  /** MicroTime strings as the apiserver stores them, or null. */
  readonly acquireTime: string | null;
  readonly renewTime: string | null;
  readonly leaseTransitions: number;
}

/** A record and the local (monotonic) time at which we first saw it in this form. */
export interface Observation {
  readonly record: LeaseRecord;
  readonly atMs: number;
}

export type Step =
  /** Write `record` (update with the observed resourceVersion); `acquiring` when we are not its holder yet. */
  | { readonly kind: 'write'; readonly record: LeaseRecord; readonly acquiring: boolean }
  /** Another replica holds an unexpired lease. */
  | { readonly kind: 'wait'; readonly holder: string; readonly expiresInMs: number };

/** A Lease's spec as a record; absent fields read as a free lease (client-go does the same). */
export function recordOf(spec: unknown): LeaseRecord {
  const s = (typeof spec === 'object' && spec !== null ? spec : {}) as Record<string, unknown>;
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    holderIdentity: str(s['holderIdentity']) ?? '',
    leaseDurationSeconds: num(s['leaseDurationSeconds']),
    acquireTime: str(s['acquireTime']),
    renewTime: str(s['renewTime']),
    leaseTransitions: num(s['leaseTransitions']),
  };
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity
    && a.leaseDurationSeconds === b.leaseDurationSeconds
    && a.acquireTime === b.acquireTime
    && a.renewTime === b.renewTime
    && a.leaseTransitions === b.leaseTransitions
  );
}

/**
 * Folds a fresh read into what we knew. The clock restarts only when the record changed: a holder that
 * stopped renewing leaves the same record, so its lease runs out leaseDurationSeconds after we first saw it.
 */
export function observe(prev: Observation | null, record: LeaseRecord, nowMs: number): Observation {
  return prev !== null && sameRecord(prev.record, record) ? prev : { record, atMs: nowMs };
}

/** MicroTime ("2006-01-02T15:04:05.000000Z07:00"): the apiserver refuses the 3 fraction digits of toISOString. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** What to do with the observed Lease (client-go tryAcquireOrRenew, after its Get). Pure. */
export function decide(obs: Observation, id: string, nowMs: number, leaseDurationSeconds: number, wallNow: Date): Step {
  const held = obs.record.holderIdentity;
  const mine = held === id;
  const expiresInMs = obs.atMs + obs.record.leaseDurationSeconds * 1000 - nowMs;
  if (held !== '' && !mine && expiresInMs > 0) return { kind: 'wait', holder: held, expiresInMs };
  const now = microTime(wallNow);
  return {
    kind: 'write',
    acquiring: !mine,
    record: {
      holderIdentity: id,
      leaseDurationSeconds,
      renewTime: now,
      acquireTime: mine ? obs.record.acquireTime : now,
      leaseTransitions: mine ? obs.record.leaseTransitions : obs.record.leaseTransitions + 1,
    },
  };
}

/** The record a new Lease is created with. */
export function firstRecord(id: string, leaseDurationSeconds: number, wallNow: Date): LeaseRecord {
  const now = microTime(wallNow);
  return { holderIdentity: id, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
}

/** The release written on stop (client-go release()): free at once for whoever reads it next. */
export function releaseRecord(current: LeaseRecord, wallNow: Date): LeaseRecord {
  const now = microTime(wallNow);
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: now,
    renewTime: now,
    leaseTransitions: current.leaseTransitions,
  };
}

/** Checks the timing options as client-go's NewLeaderElector does; returns the problems, each a sentence. */
export function timingProblems(leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number): string[] {
  const out: string[] = [];
  if (!Number.isInteger(leaseDurationMs / 1000) || leaseDurationMs < 1000)
    out.push(`leaseDuration must be a whole number of seconds (the Lease stores seconds), got ${leaseDurationMs} ms`);
  if (!(renewDeadlineMs < leaseDurationMs))
    out.push(
      `renewDeadline (${renewDeadlineMs} ms) must be less than leaseDuration (${leaseDurationMs} ms), or two replicas could both lead`,
    );
  if (!(retryPeriodMs > 0)) out.push(`retryPeriod must be positive, got ${retryPeriodMs} ms`);
  else if (!(renewDeadlineMs > JITTER_FACTOR * retryPeriodMs))
    out.push(`renewDeadline (${renewDeadlineMs} ms) must exceed ${JITTER_FACTOR} × retryPeriod (${retryPeriodMs} ms)`);
  return out;
}

/** POD_NAME (the chart sets it from the downward API) or the hostname, plus a random suffix as client-go's callers add. */
export function defaultIdentity(): string {
  return `${process.env['POD_NAME'] || hostname()}_${randomBytes(6).toString('hex')}`;
}

export interface LeaderElectorOptions {
  readonly kube: KubeClient;
  readonly namespace: string;
  /** The Lease's name (`--leader-election-id`). */
  readonly name: string;
  readonly identity?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Release the lease on stop() (default true). false leaves it to expire, as a crashed process would. */
  readonly releaseOnCancel?: boolean;
  readonly log: Logger;
  /** Monotonic milliseconds (tests); default performance.now(). */
  readonly nowMs?: () => number;
}

const LEASES = 'coordination.k8s.io/v1';

export class LeaderElector {
  readonly identity: string;
  readonly leaseName: string;
  readonly namespace: string;
  readonly #o: LeaderElectorOptions;
  readonly #leaseMs: number;
  readonly #deadlineMs: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #listeners: ((leader: boolean) => void)[] = [];
  #leading = false;
  /** Local time at which the last successful write was sent: the renewal the deadline counts from. */
  #renewedAtMs = 0;
  #observed: Observation | null = null;
  /** The Lease as last read or written by us: its resourceVersion guards the next write. */
  #lease: Record<string, any> | null = null;
  #deadline: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  #wake: (() => void) | null = null;
  #lastError = '';

  constructor(o: LeaderElectorOptions) {
    this.#o = o;
    this.#leaseMs = o.leaseDurationMs ?? LEASE_DURATION_MS;
    this.#deadlineMs = o.renewDeadlineMs ?? RENEW_DEADLINE_MS;
    this.#retryMs = o.retryPeriodMs ?? RETRY_PERIOD_MS;
    const problems = timingProblems(this.#leaseMs, this.#deadlineMs, this.#retryMs);
    if (problems.length > 0) throw new Error(`leader election: ${problems.join('; ')}`);
    this.identity = o.identity ?? defaultIdentity();
    this.leaseName = o.name;
    this.namespace = o.namespace;
    this.#now = o.nowMs ?? (() => performance.now());
  }

  /**
   * True while we hold the lease and the last renewal is younger than renewDeadline. Checked against the
   * clock here too, so a late step-down timer (a busy event loop) cannot leave a stale true.
   */
  isLeader(): boolean {
    return this.#leading && this.#now() - this.#renewedAtMs < this.#deadlineMs;
  }

  /** Called with true on acquiring and false on stepping down or stopping; synchronously, in order. */
  onChange(cb: (leader: boolean) => void): void {
    this.#listeners.push(cb);
  }

  start(): void {
    if (this.#running !== null || this.#stopped) return;
    this.#running = this.#loop();
  }

  /**
   * Stops renewing; steps down first, then releases the lease unless releaseOnCancel is false or
   * `release: false` is passed (which leaves the lease to expire, as a crash would).
   */
  async stop(opts: { readonly release?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wake?.();
    if (this.#deadline !== null) clearTimeout(this.#deadline);
    await this.#running; // an in-flight write finishes first: release must carry its resourceVersion
    const held = this.#observed?.record.holderIdentity === this.identity;
    this.#setLeading(false, 'Stopped leader election');
    if (held && (opts.release ?? this.#o.releaseOnCancel ?? true)) await this.#release();
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      await this.#tryAcquireOrRenew();
      if (this.#stopped) break;
      // A leader renews on the beat; a candidate jitters so replicas started together do not collide every time.
      await this.#sleep(this.#leading ? this.#retryMs : this.#retryMs * (1 + Math.random() * JITTER_FACTOR));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        this.#wake = null;
        resolve();
      };
    });
  }

  #path(): string {
    return `/apis/${LEASES}/namespaces/${this.namespace}/leases/${this.leaseName}`;
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const sentAt = this.#now();
    const wall = new Date();
    const timeout = this.#deadlineMs;
    try {
      const got = await this.#o.kube.call('GET', this.#path(), undefined, undefined, timeout);
      if (got.status === 404) {
        const record = firstRecord(this.identity, this.#leaseMs / 1000, wall);
        const body = {
          apiVersion: LEASES,
          kind: 'Lease',
          metadata: { name: this.leaseName, namespace: this.namespace },
          spec: record,
        };
        const r = await this.#o.kube.call(
          'POST',
          `/apis/${LEASES}/namespaces/${this.namespace}/leases`,
          body,
          undefined,
          timeout,
        );
        if (r.status === 409) return this.#lost('Lost lease: another replica created it first');
        if (r.status !== 201 && r.status !== 200)
          return this.#failed(`creating Lease ${this.namespace}/${this.leaseName}`, r);
        this.#wrote(r.body, record, sentAt, true);
        return;
      }
      if (got.status !== 200) return this.#failed(`reading Lease ${this.namespace}/${this.leaseName}`, got);
      this.#lease = got.body;
      this.#observed = observe(this.#observed, recordOf(got.body?.spec), sentAt);
      const step = decide(this.#observed, this.identity, sentAt, this.#leaseMs / 1000, wall);
      if (step.kind === 'wait') {
        // Someone else holds it (a write we lost, or an outside edit): stop leading now, not at the deadline.
        if (this.#leading) this.#setLeading(false, 'Lost lease to another holder', { holder: step.holder });
        return;
      }
      const r = await this.#o.kube.call(
        'PUT',
        this.#path(),
        { ...got.body, spec: { ...got.body.spec, ...step.record } },
        undefined,
        timeout,
      );
      if (r.status === 409) return this.#lost('Lost lease: it was written since it was read'); // decide again next round
      if (r.status !== 200) return this.#failed(`updating Lease ${this.namespace}/${this.leaseName}`, r);
      this.#wrote(r.body, step.record, sentAt, step.acquiring);
    } catch (e) {
      this.#failed(`Lease ${this.namespace}/${this.leaseName}`, { status: 0, body: { message: (e as Error).message } });
    }
  }

  #wrote(lease: Record<string, any>, record: LeaseRecord, sentAt: number, acquiring: boolean): void {
    this.#lease = lease;
    this.#observed = { record, atMs: sentAt };
    this.#renewedAtMs = sentAt;
    this.#lastError = '';
    if (this.#stopped) return;
    if (this.#deadline !== null) clearTimeout(this.#deadline);
    const left = this.#deadlineMs - (this.#now() - sentAt);
    this.#deadline = setTimeout(
      () =>
        this.#setLeading(false, 'Failed to renew lease within the renew deadline', {
          renewDeadlineMs: this.#deadlineMs,
        }),
      Math.max(0, left),
    );
    this.#deadline.unref();
    if (!this.#leading)
      this.#setLeading(true, acquiring ? 'Acquired lease' : 'Renewed lease after stepping down', {
        transitions: record.leaseTransitions,
      });
  }

  /**
   * A write of ours lost to another (409). client-go keeps leading until its deadline; we stop at once, so
   * a lost race can never leave two leaders, at the price of a spurious step-down when someone merely
   * edited the Lease's metadata (the next round takes it back).
   */
  #lost(msg: string): void {
    if (this.#leading) this.#setLeading(false, msg);
  }

  #failed(what: string, r: { status: number; body: any }): void {
    const msg = `${what}: ${r.status === 0 ? '' : `HTTP ${r.status}: `}${r.body?.message ?? ''}`;
    if (msg === this.#lastError) return; // once per distinct error, not every retryPeriod
    this.#lastError = msg;
    this.#o.log.error('Failed to acquire or renew lease', {
      error: msg,
      ...(r.status === 403
        ? {
            hint: `grant get/update on leases "${this.leaseName}" and create on leases in namespace ${this.namespace} (operator/rbac.yaml)`,
          }
        : {}),
    });
  }

  #setLeading(leading: boolean, msg: string, kv: Record<string, unknown> = {}): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    if (!leading && this.#deadline !== null) {
      clearTimeout(this.#deadline);
      this.#deadline = null;
    }
    this.#o.log.info(msg, {
      kind: 'Lease',
      lease: `${this.namespace}/${this.leaseName}`,
      identity: this.identity,
      ...kv,
    });
    for (const cb of this.#listeners) {
      try {
        cb(leading);
      } catch (e) {
        this.#o.log.error('Failed to handle leadership change', { error: (e as Error).message });
      }
    }
  }

  async #release(): Promise<void> {
    const lease = this.#lease;
    const obs = this.#observed;
    if (lease === null || obs === null) return;
    try {
      const r = await this.#o.kube.call(
        'PUT',
        this.#path(),
        { ...lease, spec: { ...lease['spec'], ...releaseRecord(obs.record, new Date()) } },
        undefined,
        this.#deadlineMs,
      );
      if (r.status === 200)
        this.#o.log.info('Released lease', {
          kind: 'Lease',
          lease: `${this.namespace}/${this.leaseName}`,
          identity: this.identity,
        });
      else
        this.#o.log.warn('Failed to release lease; it expires on its own', {
          lease: `${this.namespace}/${this.leaseName}`,
          status: r.status,
          error: r.body?.message ?? '',
        });
    } catch (e) {
      this.#o.log.warn('Failed to release lease; it expires on its own', {
        lease: `${this.namespace}/${this.leaseName}`,
        error: (e as Error).message,
      });
    }
  }
}
