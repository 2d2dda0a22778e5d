// The sidecar's side of PolicyDistribution: one Watch stream, reconnected with capped exponential backoff
// and jitter, the ServiceAccount token re-read from its file at every connect (the kubelet rotates it).
// The last good update is kept through disconnects and bad messages (style.md §5: a bad update leaves
// the last good one); the proxy denies everything until the first one arrives (design.md).
//
// Generations: the proxy's decision cache keys on CompiledPolicySet.generation, so a generation must
// never name two different policy sets. Operator versions restart with the operator and differ between
// replicas, so the client numbers generations itself: +1 whenever the policy set's content changes.
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { Backoff } from '../lib/backoff.ts';
import { PolicyDistributionClient } from './proto.ts';
import { fromMessage } from './types.ts';
import type { BindingRef, DistributedPolicy, PolicyUpdateMessage } from './types.ts';

export type WatchState =
  | { readonly state: 'connecting'; readonly attempt: number }
  | { readonly state: 'connected' }
  | { readonly state: 'backoff'; readonly delayMs: number; readonly code: number | null; readonly message: string }
  | { readonly state: 'invalid-update'; readonly message: string }
  | { readonly state: 'closed' };

export interface WatchOptions {
  /** PEM of the CA that signed the operator's gRPC certificate; absent = plaintext (tests, local). */
  readonly caPem?: string;
  /** Backoff: first delay, cap (documented defaults 200 ms and 10 s; ±20% jitter). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /**
   * HTTP/2 keepalive: a ping after this much silence, and the transport is declared dead when the ping is not
   * answered within keepaliveTimeoutMs — how a network cut that sends no FIN or RST (a node gone, a firewall
   * dropping packets) ends the stream. Defaults 30 s and 10 s, within the operator's ping policy.
   */
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
}

export interface PolicyWatch {
  /** The last good update, or null before the first. */
  last(): DistributedPolicy | null;
  /**
   * One unary call on the same channel and token (ReportViolations, RequestAccess). Rejects with the
   * grpc ServiceError (its `code` says why) or after `timeoutMs`.
   */
  call<Res>(method: 'reportViolations' | 'requestAccess', request: object, timeoutMs: number): Promise<Res>;
  close(): void;
}

export const DEFAULT_INITIAL_BACKOFF_MS = 200;
export const DEFAULT_MAX_BACKOFF_MS = 10_000;

export function watchPolicy(
  address: string,
  binding: BindingRef,
  tokenPath: string,
  onUpdate: (p: DistributedPolicy) => void,
  onState: (s: WatchState) => void = () => {},
  opts: WatchOptions = {},
): PolicyWatch {
  const creds =
    opts.caPem === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(opts.caPem));
  const client = new PolicyDistributionClient(address, creds, {
    'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? 30_000,
    'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? 10_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const backoff = new Backoff({
    initialMs: opts.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS,
    maxMs: opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
    jitter: [0.8, 1.2],
  });
  let closed = false;
  let last: DistributedPolicy | null = null;
  let lastSetJson: string | null = null;
  let generation = 0;
  let call: grpc.ClientReadableStream<PolicyUpdateMessage> | null = null;
  let timer: NodeJS.Timeout | null = null;

  const retry = (code: number | null, message: string): void => {
    if (closed) return;
    const delayMs = backoff.next();
    onState({ state: 'backoff', delayMs, code, message });
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, delayMs);
  };

  const connect = async (): Promise<void> => {
    if (closed) return;
    onState({ state: 'connecting', attempt: backoff.failures });
    let token: string;
    try {
      token = (await readFile(tokenPath, 'utf8')).trim();
    } catch (e) {
      return retry(null, `cannot read token ${tokenPath}: ${(e as Error).message}`);
    }
    if (closed) return;
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const c = (client as unknown as { watch: (r: object, m: grpc.Metadata) => unknown }).watch(
      { namespace: binding.namespace, binding: binding.name },
      md,
    ) as grpc.ClientReadableStream<PolicyUpdateMessage>;
    call = c;
    let ended = false;
    c.on('metadata', () => {
      backoff.reset();
      onState({ state: 'connected' });
    });
    c.on('data', (m: PolicyUpdateMessage) => {
      backoff.reset();
      let p: DistributedPolicy;
      try {
        p = fromMessage(m);
      } catch (e) {
        onState({ state: 'invalid-update', message: (e as Error).message });
        return; // keep the last good one
      }
      if (m.policySetJson !== lastSetJson) {
        generation++;
        lastSetJson = m.policySetJson;
      }
      last = { ...p, policySet: { ...p.policySet, generation } };
      onUpdate(last);
    });
    const onEnd = (code: number | null, message: string): void => {
      if (ended) return;
      ended = true;
      if (call === c) call = null;
      retry(code, message);
    };
    c.on('error', (e: grpc.ServiceError) => onEnd(e.code ?? null, e.details || e.message));
    c.on('end', () => onEnd(null, 'stream ended by the operator'));
  };

  void connect();
  return {
    last: () => last,
    call: async <Res>(
      method: 'reportViolations' | 'requestAccess',
      request: object,
      timeoutMs: number,
    ): Promise<Res> => {
      if (closed) throw new Error('policy watch is closed');
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${(await readFile(tokenPath, 'utf8')).trim()}`);
      return await new Promise<Res>((resolve, reject) => {
        const fn = (
          client as unknown as Record<
            string,
            (
              r: object,
              m: grpc.Metadata,
              o: grpc.CallOptions,
              cb: (e: grpc.ServiceError | null, v: Res) => void,
            ) => void
          >
        )[method]!;
        fn.call(client, request, md, { deadline: Date.now() + timeoutMs }, (e, v) =>
          e === null ? resolve(v) : reject(e),
        );
      });
    },
    close: () => {
      if (closed) return;
      closed = true;
      if (timer !== null) clearTimeout(timer);
      call?.cancel();
      client.close();
      onState({ state: 'closed' });
    },
  };
}
