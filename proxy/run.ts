// What both ways of running the proxy share: local mode (local.ts, policy from a file) and sidecar mode
// (sidecar.ts, policy from the operator). Both end in startProxy() and swap policy with Proxy.reload().
import type { DatabaseBinding } from '../policy/types.ts';
import { NULL_AUDIT } from '../audit/types.ts';
import type { AuditSink } from '../audit/types.ts';
import type { Limits } from './session/shared.ts';

export function parseListen(listen: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  if (m === null) throw new Error(`${flag} ${JSON.stringify(listen)}: expected HOST:PORT, e.g. 127.0.0.1:6432`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`${flag}: port ${port} is out of range`);
  return { host: m[1] ?? (m[2] === '' ? '127.0.0.1' : m[2]!), port };
}

export interface AuditOptions {
  /** Overrides the binding's spec.audit.otlpEndpoint. */
  readonly auditEndpoint?: string;
  readonly auditSpool?: string;
}

/** The binding's part the audit sink needs (a sidecar has only the spec and its name from the operator). */
export type AuditBinding = Pick<DatabaseBinding, 'spec'> & {
  readonly metadata: { readonly name: string; readonly namespace?: string };
};

/** Where and how audit records go for this binding: --audit-endpoint overrides spec.audit.otlpEndpoint. */
export function auditSettings(
  opts: AuditOptions,
  binding: AuditBinding,
): { endpoint: string | null; protocol: 'grpc' | 'http/protobuf'; onFailure: 'block' | 'drop-oldest' } {
  const endpoint = opts.auditEndpoint ?? binding.spec.audit?.otlpEndpoint ?? null;
  return {
    endpoint,
    protocol: endpoint !== null && /^https?:\/\/[^/]+\/v1\/traces/.test(endpoint) ? 'http/protobuf' : 'grpc',
    onFailure: binding.spec.audit?.onFailure ?? 'block',
  };
}

export async function openAudit(
  opts: AuditOptions,
  binding: AuditBinding,
  log: (m: string) => void,
): Promise<AuditSink> {
  // The binding's audit.otlpEndpoint turns audit on, as it does for a sidecar; --audit-endpoint overrides it.
  // With neither an endpoint nor --audit-spool there is nowhere to send records: audit is off (local
  // experiments), rather than filling a spool that onFailure=block would then stop the proxy on.
  const { endpoint, protocol, onFailure } = auditSettings(opts, binding);
  if (endpoint === null && opts.auditSpool === undefined) return NULL_AUDIT;
  const { createAuditSink } = await import('../audit/index.ts');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  return createAuditSink({
    endpoint,
    protocol,
    spoolDir:
      opts.auditSpool
      ?? join(tmpdir(), `airlock-audit-${binding.metadata.namespace ?? 'default'}-${binding.metadata.name}`),
    onFailure,
    log,
  });
}

/** A SIGTERM's drain (server.ts close()): fits Kubernetes' default terminationGracePeriodSeconds of 30 with 5 s to spare. */
export const DRAIN_TIMEOUT_MS_DEFAULT = 25_000;

/** Connection limits and timeouts both modes take as flags (README "Operations"); absent = the defaults in session/shared.ts. */
export interface ConnectionLimits {
  readonly upstreamConnectTimeoutMs?: number;
  readonly authenticationTimeoutMs?: number;
  readonly maxClientConnections?: number;
  /** Default DRAIN_TIMEOUT_MS_DEFAULT. */
  readonly drainTimeoutMs?: number;
}

export const LIMIT_FLAGS = {
  'upstream-connect-timeout': { type: 'string' },
  'authentication-timeout': { type: 'string' },
  'max-client-connections': { type: 'string' },
  'drain-timeout': { type: 'string' },
} as const;

export const LIMIT_HELP = `  --upstream-connect-timeout SECONDS
                            connect + TLS + login to the database, together (default 15); past it the client
                            gets FATAL 08006 saying so
  --authentication-timeout SECONDS
                            close a client connection that has not sent its whole startup packet by then
                            (default 60, as PostgreSQL's authentication_timeout)
  --max-client-connections N
                            client connections logging in or logged in (default 100); one more gets FATAL 53300
                            "sorry, too many clients already"
  --drain-timeout SECONDS   on SIGTERM/SIGINT: stop accepting, let statements and transactions in flight finish
                            for up to this long, then cancel them upstream and close (default 25; 0: at once)
`;

function seconds(flag: string, v: string, min: number): number {
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < min)
    throw new Error(
      `--${flag} must be a number of seconds${min > 0 ? ' greater than 0' : ''}, got ${JSON.stringify(v)}`,
    );
  return Math.round(Number(v) * 1000);
}

/** The LIMIT_FLAGS values parseArgs returned, checked; throws with the flag's name on a bad value. */
export function parseLimitFlags(values: { readonly [k in keyof typeof LIMIT_FLAGS]?: string }): ConnectionLimits {
  const out: { -readonly [k in keyof ConnectionLimits]: ConnectionLimits[k] } = {};
  if (values['upstream-connect-timeout'] !== undefined)
    out.upstreamConnectTimeoutMs = seconds('upstream-connect-timeout', values['upstream-connect-timeout'], 0.001);
  if (values['authentication-timeout'] !== undefined)
    out.authenticationTimeoutMs = seconds('authentication-timeout', values['authentication-timeout'], 0.001);
  if (values['drain-timeout'] !== undefined) out.drainTimeoutMs = seconds('drain-timeout', values['drain-timeout'], 0);
  const max = values['max-client-connections'];
  if (max !== undefined) {
    if (!/^[1-9]\d{0,6}$/.test(max))
      throw new Error(`--max-client-connections must be a positive integer, got ${JSON.stringify(max)}`);
    out.maxClientConnections = Number(max);
  }
  return out;
}

/** The part of ConnectionLimits startProxy takes (Limits), without the absent ones. */
export function proxyLimits(l: ConnectionLimits, maxStatementBytes?: number): Partial<Limits> {
  return {
    ...(maxStatementBytes === undefined ? {} : { maxStatementBytes }),
    ...(l.upstreamConnectTimeoutMs === undefined ? {} : { upstreamConnectTimeoutMs: l.upstreamConnectTimeoutMs }),
    ...(l.authenticationTimeoutMs === undefined ? {} : { authenticationTimeoutMs: l.authenticationTimeoutMs }),
    ...(l.maxClientConnections === undefined ? {} : { maxClientConnections: l.maxClientConnections }),
  };
}

/**
 * One full, compacting collection once the proxy listens (issue 16). Start-up leaves garbage in the old
 * generation — the config or policy parsed and compiled, modules evaluated, the parser's WebAssembly
 * instantiated — that an idle sidecar never allocates enough to collect, so its pages stay resident: ~2.5 MiB
 * of the idle RSS (docs/performance.md, "Memory of the sidecar", change 9). Needs `--expose-gc`, which the
 * webhook's NODE_OPTIONS carry (operator/pod.ts SIDECAR_NODE_OPTIONS); without it this does nothing. On the
 * next turn of the event loop, so the "listening" line is out first; ~10 ms, once.
 */
export function collectStartupGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') setImmediate(() => gc());
}
