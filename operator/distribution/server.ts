// PolicyDistribution gRPC server (proto/airlock/v1/distribution.proto). The controllers publish one
// full Snapshot per DatabaseBinding; every stream watching that binding gets it. Push follows istio's
// pilot/pkg/xds/pushqueue.go: at most one message in flight per stream and ONE pending slot — a newer
// snapshot replaces the pending one (snapshots are complete, so merging is "keep the newest"), so a slow
// sidecar costs one buffered message, never a queue, and catches up with the latest state.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { ReviewedToken, TokenReviewer } from './auth.ts';
import type { Verdict } from './authorize.ts';
import { PolicyDistributionService } from '../../distribution/proto.ts';
import { toMessage } from '../../distribution/types.ts';
import type { BindingRef, PolicyUpdateMessage, Snapshot } from '../../distribution/types.ts';

export interface DistributionServerOptions {
  readonly reviewer: TokenReviewer;
  /** Decides from the informer caches (authorize.ts), synchronously: no API call per stream open. */
  readonly authorize: (who: ReviewedToken, ref: BindingRef) => Verdict;
  readonly log?: Logger;
  /** ReportViolations: deltas from an authenticated, authorized sidecar. Absent = UNIMPLEMENTED. */
  readonly onViolations?: (who: ReviewedToken, ref: BindingRef, report: ViolationReportMessage) => Promise<void>;
  /** RequestAccess: create or find the AccessRequest for an authenticated, authorized sidecar. Absent = UNIMPLEMENTED. */
  readonly onRequestAccess?: (
    who: ReviewedToken,
    ref: BindingRef,
    intent: AccessIntentMessage,
  ) => Promise<AccessRequestRefMessage>;
}

/** Wire shapes of the unary calls (distribution/codec.ts: camelCase, longs as strings). */
export interface ViolationReportMessage {
  namespace: string;
  binding: string;
  violations: { policy: string; rule: string; count: string; lastStatement: string; lastSeenMs: string }[];
}
export interface AccessIntentMessage {
  namespace: string;
  binding: string;
  statement: string;
  policy: string;
  rule: string;
}
export interface AccessRequestRefMessage {
  namespace: string;
  name: string;
  phase: string;
}

/** A unary handler's failure with a gRPC status. */
export class RpcError extends Error {
  readonly code: grpc.status;
  constructor(code: grpc.status, message: string) {
    super(message);
    this.code = code;
  }
}

interface Stream {
  readonly call: grpc.ServerWritableStream<{ namespace: string; binding: string }, PolicyUpdateMessage>;
  readonly ref: BindingRef;
  readonly who: ReviewedToken;
  inFlight: boolean;
  pending: PolicyUpdateMessage | null;
  closed: boolean;
  /** Stats for tests and metrics: messages written, and snapshots replaced while pending. */
  sent: number;
  merged: number;
}

const key = (r: BindingRef): string => `${r.namespace}/${r.name}`;

/** A binding with nothing to serve: an empty policy set (default deny) and no credentials. */
export function denyAll(ref: BindingRef, reason: string, previous: Snapshot | undefined): Snapshot {
  return {
    policySet: { generation: 0, policies: [] },
    binding: previous?.binding ?? {
      namespace: ref.namespace,
      name: ref.name,
      generation: 0,
      spec: { engine: 'postgres', endpoint: { host: '', database: '' }, credentialsSecretRef: { name: '' } },
    },
    endpoint: previous?.endpoint ?? { host: '', port: 0, database: '', tlsMode: 'require', caPem: null },
    credentials: null,
    grants: [],
    revoked: previous?.revoked ?? [],
    shutdown: reason,
  };
}

export class DistributionServer {
  readonly #opts: DistributionServerOptions;
  readonly #log: Logger;
  readonly #server = new grpc.Server({
    // Find dead sidecars (a node gone without FIN) within a minute; allow their client pings.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  });
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #streams = new Map<string, Set<Stream>>();
  // Seeded from the clock so a restarted operator numbers above its previous life in the usual case;
  // clients do not rely on it (client.ts renumbers generations).
  #version = Date.now();

  constructor(opts: DistributionServerOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? silentLogger;
    this.#server.addService(PolicyDistributionService, {
      watch: (call: Stream['call']) => {
        void this.#watch(call);
      },
      reportViolations: this.#unary(
        'ReportViolations',
        opts.onViolations === undefined
          ? undefined
          : async (who, ref, r: ViolationReportMessage) => {
              await opts.onViolations!(who, ref, r);
              return {};
            },
      ),
      requestAccess: this.#unary('RequestAccess', opts.onRequestAccess),
    });
  }

  /** Binds and starts; returns the port (0 picks a free one). */
  listen(
    address: string,
    credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  async close(): Promise<void> {
    for (const set of this.#streams.values())
      for (const s of set) this.#end(s, grpc.status.UNAVAILABLE, 'operator shutting down');
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
  }

  /** Number of open streams (readiness, metrics, tests). */
  get connections(): number {
    let n = 0;
    for (const s of this.#streams.values()) n += s.size;
    return n;
  }

  /** Sum of per-stream counters, for tests and metrics. */
  stats(): { sent: number; merged: number } {
    let sent = 0;
    let merged = 0;
    for (const set of this.#streams.values())
      for (const s of set) {
        sent += s.sent;
        merged += s.merged;
      }
    return { sent, merged };
  }

  /**
   * The newest snapshot of a binding; every stream of it gets it (re-authorized first). Returns the version
   * it went out as and how many streams it was sent on (the PolicyPushed Event says both).
   */
  publish(ref: BindingRef, snapshot: Snapshot): { version: number; streams: number } {
    this.#snapshots.set(key(ref), snapshot);
    const msg = toMessage(snapshot, ++this.#version);
    let streams = 0;
    for (const s of this.#streams.get(key(ref)) ?? []) {
      // Selector or pod changes can take a sidecar's right away: check again on every push.
      const v = this.#opts.authorize(s.who, s.ref);
      if (!v.ok) {
        this.#revoke(s, v.message);
        continue;
      }
      this.#send(s, msg);
      streams++;
    }
    return { version: this.#version, streams };
  }

  /** The binding is gone: every sidecar of it gets a deny-all snapshot and its stream ends. */
  remove(ref: BindingRef, reason: string): void {
    const prev = this.#snapshots.get(key(ref));
    this.#snapshots.delete(key(ref));
    const msg = toMessage(denyAll(ref, reason, prev), ++this.#version);
    for (const s of this.#streams.get(key(ref)) ?? []) {
      this.#send(s, msg);
      this.#end(s, grpc.status.NOT_FOUND, reason, true);
    }
  }

  /**
   * Tells the sidecars of one pod to exit (regular-container sidecars on Kubernetes < 1.29, once the
   * application containers have terminated: operator/DESIGN.md). Returns how many streams were told.
   */
  shutdownPod(namespace: string, podName: string, reason: string): number {
    let n = 0;
    for (const set of this.#streams.values()) {
      for (const s of set) {
        if (s.ref.namespace !== namespace || s.who.podName !== podName) continue;
        const snap = this.#snapshots.get(key(s.ref));
        if (snap === undefined) continue;
        this.#send(s, toMessage({ ...snap, shutdown: reason }, ++this.#version));
        n++;
      }
    }
    return n;
  }

  /**
   * Who is calling and for which binding, checked exactly as for Watch (TokenReview, then authorize from
   * the caches); throws RpcError with the status to answer.
   */
  async #authenticate(
    metadata: grpc.Metadata,
    request: { namespace?: unknown; binding?: unknown } | undefined,
    what: string,
  ): Promise<{ who: ReviewedToken; ref: BindingRef }> {
    const auth = metadata.get('authorization')[0];
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
    if (token === '')
      throw new RpcError(grpc.status.UNAUTHENTICATED, 'missing authorization: Bearer <ServiceAccount token> metadata');
    let who: ReviewedToken | null;
    try {
      who = await this.#opts.reviewer.review(token);
    } catch (e) {
      this.#log.error('Failed to review sidecar token', { error: (e as Error).message });
      throw new RpcError(grpc.status.UNAVAILABLE, 'could not verify the token now; retry');
    }
    if (who === null)
      throw new RpcError(
        grpc.status.UNAUTHENTICATED,
        'token rejected by TokenReview (expired, revoked, or not for audience airlock)',
      );
    if (
      typeof request?.namespace !== 'string'
      || request.namespace === ''
      || typeof request.binding !== 'string'
      || request.binding === ''
    ) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `${what} needs namespace and binding`);
    }
    const ref: BindingRef = { namespace: request.namespace, name: request.binding };
    const v = this.#opts.authorize(who, ref);
    if (!v.ok) {
      this.#log.warn(`Refused ${what}`, { binding: key(ref), user: who.user, pod: who.podName, reason: v.message });
      throw new RpcError(v.code === 'NOT_FOUND' ? grpc.status.NOT_FOUND : grpc.status.PERMISSION_DENIED, v.message);
    }
    return { who, ref };
  }

  /** A unary method: authenticate, then the handler; UNIMPLEMENTED when there is none. */
  #unary<Req extends { namespace?: unknown; binding?: unknown }, Res>(
    name: string,
    handler: ((who: ReviewedToken, ref: BindingRef, r: Req) => Promise<Res>) | undefined,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      if (handler === undefined) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: `${name} is not served by this operator` });
        return;
      }
      this.#authenticate(call.metadata, call.request, name)
        .then(({ who, ref }) => handler(who, ref, call.request))
        .then(
          (res) => callback(null, res),
          (e: unknown) => {
            if (e instanceof RpcError) {
              callback({ code: e.code, details: e.message });
              return;
            }
            this.#log.error(`Failed ${name}`, { error: (e as Error).message });
            callback({ code: grpc.status.INTERNAL, details: `${name} failed: ${(e as Error).message}` });
          },
        );
    };
  }

  async #watch(call: Stream['call']): Promise<void> {
    const fail = (code: grpc.status, details: string): void => {
      call.emit('error', { code, details, metadata: new grpc.Metadata() });
    };
    let who: ReviewedToken;
    let ref: BindingRef;
    try {
      ({ who, ref } = await this.#authenticate(call.metadata, call.request, 'WatchRequest'));
    } catch (e) {
      if (e instanceof RpcError) return fail(e.code, e.message);
      throw e;
    }
    if (call.cancelled) return;
    const s: Stream = { call, ref, who, inFlight: false, pending: null, closed: false, sent: 0, merged: 0 };
    let set = this.#streams.get(key(ref));
    if (set === undefined) this.#streams.set(key(ref), (set = new Set()));
    set.add(s);
    const drop = (): void => {
      s.closed = true;
      set.delete(s);
      if (set.size === 0 && this.#streams.get(key(ref)) === set) this.#streams.delete(key(ref));
    };
    call.on('cancelled', drop);
    call.on('close', drop);
    call.on('error', drop);
    this.#log.info('Opened policy watch', { binding: key(ref), user: who.user, pod: who.podName });
    const snap = this.#snapshots.get(key(ref));
    if (snap !== undefined) this.#send(s, toMessage(snap, this.#version));
  }

  #send(s: Stream, msg: PolicyUpdateMessage): void {
    if (s.closed) return;
    if (s.inFlight) {
      if (s.pending !== null) s.merged++;
      s.pending = msg;
      return;
    }
    s.inFlight = true;
    s.sent++;
    s.call.write(msg, () => {
      s.inFlight = false;
      const next = s.pending;
      s.pending = null;
      if (next !== null) this.#send(s, next);
    });
  }

  #revoke(s: Stream, reason: string): void {
    this.#log.warn('Revoked policy watch', { binding: key(s.ref), user: s.who.user, pod: s.who.podName, reason });
    this.#send(s, toMessage(denyAll(s.ref, reason, this.#snapshots.get(key(s.ref))), ++this.#version));
    this.#end(s, grpc.status.PERMISSION_DENIED, reason, true);
  }

  /** Ends a stream with a status; `afterFlush` waits for queued messages so the last word arrives first. */
  #end(s: Stream, code: grpc.status, details: string, afterFlush = false): void {
    if (s.closed) return;
    const finish = (): void => {
      if (!s.closed) {
        s.closed = true;
        s.call.emit('error', { code, details, metadata: new grpc.Metadata() });
      }
    };
    if (!afterFlush || (!s.inFlight && s.pending === null)) {
      finish();
      return;
    }
    // A sidecar that stopped reading never flushes: give it 5 s, then end regardless.
    const deadline = Date.now() + 5_000;
    const poll = (): void => {
      if ((!s.inFlight && s.pending === null) || Date.now() > deadline) finish();
      else setTimeout(poll, 5).unref();
    };
    poll();
  }
}
