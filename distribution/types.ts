// What a sidecar receives from the operator, decoded from PolicyUpdate (proto/airlock/v1/distribution.proto).
import type { CompiledPolicySet, CompiledRule, DatabaseBindingSpec } from '../policy/types.ts';

export interface BindingRef { readonly namespace: string; readonly name: string }

export interface DistributedPolicy {
  /** The operator's snapshot number (not comparable across operator restarts). */
  readonly version: number;
  /** Its `generation` is renumbered by the client: strictly increasing per client, new for new content. */
  readonly policySet: CompiledPolicySet;
  readonly binding: { readonly namespace: string; readonly name: string; readonly generation: number; readonly spec: DatabaseBindingSpec };
  readonly endpoint: { readonly host: string; readonly port: number; readonly database: string; readonly tlsMode: string; readonly caPem: string | null };
  readonly credentials: { readonly username: string; readonly password: string } | null;
  readonly grants: readonly { readonly request: string; readonly subject: string; readonly rules: readonly CompiledRule[] | null; readonly statement: string | null; readonly expiresAtMs: number }[];
  readonly revoked: readonly { readonly request: string; readonly subject: string; readonly reason: string }[];
  /** Non-null: stop serving (binding gone, pod no longer selected, or a pre-1.29 Job pod's app has exited). */
  readonly shutdown: string | null;
}

/** The wire shape proto-loader produces (camelCase, longs as strings, defaults filled in). */
export interface PolicyUpdateMessage {
  version: string;
  policySetJson: string;
  bindingNamespace: string;
  bindingName: string;
  bindingGeneration: string;
  bindingSpecJson: string;
  endpoint: { host: string; port: number; database: string; tlsMode: string; caPem: string } | null;
  credentials: { username: string; password: string } | null;
  grants: { request: string; subject: string; rulesJson: string; statement: string; expiresAtMs: string }[];
  revoked: { request: string; subject: string; reason: string }[];
  shutdown: string;
}

/** A snapshot as the operator publishes it, before numbering. */
export type Snapshot = Omit<DistributedPolicy, 'version'>;

export function toMessage(s: Snapshot, version: number): PolicyUpdateMessage {
  return {
    version: String(version),
    policySetJson: JSON.stringify(s.policySet),
    bindingNamespace: s.binding.namespace,
    bindingName: s.binding.name,
    bindingGeneration: String(s.binding.generation),
    bindingSpecJson: JSON.stringify(s.binding.spec),
    endpoint: { ...s.endpoint, caPem: s.endpoint.caPem ?? '' },
    credentials: s.credentials,
    grants: s.grants.map((g) => ({ request: g.request, subject: g.subject, rulesJson: g.rules === null ? '' : JSON.stringify(g.rules), statement: g.statement ?? '', expiresAtMs: String(g.expiresAtMs) })),
    revoked: s.revoked.map((r) => ({ ...r })),
    shutdown: s.shutdown ?? '',
  };
}

function isPolicySet(v: unknown): v is CompiledPolicySet {
  return typeof v === 'object' && v !== null && Number.isSafeInteger((v as { generation?: unknown }).generation)
    && Array.isArray((v as { policies?: unknown }).policies);
}

/** Decodes a message; throws with a reason when it is not understood (the client then keeps the last good one). */
export function fromMessage(m: PolicyUpdateMessage): DistributedPolicy {
  const set: unknown = JSON.parse(m.policySetJson);
  if (!isPolicySet(set)) throw new Error('policy_set_json is not a CompiledPolicySet');
  const spec: unknown = JSON.parse(m.bindingSpecJson);
  if (typeof spec !== 'object' || spec === null) throw new Error('binding_spec_json is not an object');
  if (m.endpoint === null) throw new Error('endpoint missing');
  return {
    version: Number(m.version),
    policySet: set,
    binding: { namespace: m.bindingNamespace, name: m.bindingName, generation: Number(m.bindingGeneration), spec: spec as DatabaseBindingSpec },
    endpoint: { host: m.endpoint.host, port: m.endpoint.port, database: m.endpoint.database, tlsMode: m.endpoint.tlsMode, caPem: m.endpoint.caPem === '' ? null : m.endpoint.caPem },
    credentials: m.credentials === null || m.credentials.username === '' ? null : { username: m.credentials.username, password: m.credentials.password },
    grants: m.grants.map((g) => ({ request: g.request, subject: g.subject, rules: g.rulesJson === '' ? null : JSON.parse(g.rulesJson) as CompiledRule[], statement: g.statement === '' ? null : g.statement, expiresAtMs: Number(g.expiresAtMs) })),
    revoked: m.revoked.map((r) => ({ request: r.request, subject: r.subject, reason: r.reason })),
    shutdown: m.shutdown === '' ? null : m.shutdown,
  };
}
