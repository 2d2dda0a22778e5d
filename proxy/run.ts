// What both ways of running the proxy share: local mode (local.ts, policy from a file) and sidecar mode
// (sidecar.ts, policy from the operator). Both end in startProxy() and swap policy with Proxy.reload().
import type { DatabaseBinding } from '../policy/types.ts';
import { NULL_AUDIT } from './audit/types.ts';
import type { AuditSink } from './audit/types.ts';

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
export type AuditBinding = Pick<DatabaseBinding, 'spec'> & { readonly metadata: { readonly name: string; readonly namespace?: string } };

/** Where and how audit records go for this binding: --audit-endpoint overrides spec.audit.otlpEndpoint. */
export function auditSettings(opts: AuditOptions, binding: AuditBinding): { endpoint: string | null; protocol: 'grpc' | 'http/protobuf'; onFailure: 'block' | 'drop-oldest' } {
  const endpoint = opts.auditEndpoint ?? binding.spec.audit?.otlpEndpoint ?? null;
  return {
    endpoint,
    protocol: endpoint !== null && /^https?:\/\/[^/]+\/v1\/traces/.test(endpoint) ? 'http/protobuf' : 'grpc',
    onFailure: binding.spec.audit?.onFailure ?? 'block',
  };
}

export async function openAudit(opts: AuditOptions, binding: AuditBinding, log: (m: string) => void): Promise<AuditSink> {
  // The binding's audit.otlpEndpoint turns audit on, as it does for a sidecar; --audit-endpoint overrides it.
  // With neither an endpoint nor --audit-spool there is nowhere to send records: audit is off (local
  // experiments), rather than filling a spool that onFailure=block would then stop the proxy on.
  const { endpoint, protocol, onFailure } = auditSettings(opts, binding);
  if (endpoint === null && opts.auditSpool === undefined) return NULL_AUDIT;
  const { createAuditSink } = await import('./audit/index.ts');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  return createAuditSink({
    endpoint, protocol,
    spoolDir: opts.auditSpool ?? join(tmpdir(), `airlock-audit-${binding.metadata.namespace ?? 'default'}-${binding.metadata.name}`),
    onFailure,
    log,
  });
}
