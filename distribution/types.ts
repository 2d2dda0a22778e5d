// What a sidecar receives from the operator, decoded from PolicyUpdate (proto/airlock/v1/distribution.proto).
import { EFFECTS, MASK_STRATEGIES, MODES, OPERATIONS, SUBJECT_KINDS } from '../policy/types.ts';
import type { CompiledPolicySet, CompiledRule, DatabaseBindingSpec } from '../policy/types.ts';

export interface BindingRef {
  readonly namespace: string;
  readonly name: string;
}

export interface DistributedPolicy {
  /** The operator's snapshot number (not comparable across operator restarts). */
  readonly version: number;
  /** Its `generation` is renumbered by the client: strictly increasing per client, new for new content. */
  readonly policySet: CompiledPolicySet;
  readonly binding: {
    readonly namespace: string;
    readonly name: string;
    readonly generation: number;
    readonly spec: DatabaseBindingSpec;
  };
  readonly endpoint: {
    readonly host: string;
    readonly port: number;
    readonly database: string;
    readonly tlsMode: string;
    readonly caPem: string | null;
  };
  readonly credentials: { readonly username: string; readonly password: string } | null;
  readonly grants: readonly {
    readonly request: string;
    readonly subject: string;
    readonly rules: readonly CompiledRule[] | null;
    readonly statement: string | null;
    readonly expiresAtMs: number;
  }[];
  readonly revoked: readonly { readonly request: string; readonly subject: string; readonly reason: string }[];
  /** Non-null: stop serving (binding gone, pod no longer selected, or a pre-1.29 Job pod's app has exited). */
  readonly shutdown: string | null;
}

/** The wire shape codec.ts produces, as proto-loader did (camelCase, longs as strings, defaults filled in). */
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
    grants: s.grants.map((g) => ({
      request: g.request,
      subject: g.subject,
      rulesJson: g.rules === null ? '' : JSON.stringify(g.rules),
      statement: g.statement ?? '',
      expiresAtMs: String(g.expiresAtMs),
    })),
    revoked: s.revoked.map((r) => ({ ...r })),
    shutdown: s.shutdown ?? '',
  };
}

// A snapshot is checked field by field before it replaces the last good one: the evaluator trusts the
// shapes it is given, and an operator of another version (or a corrupted message) must not make it throw
// mid-statement or, worse, read a missing deny list as "no deny rules".
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrArr = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const OPS: ReadonlySet<string> = new Set(OPERATIONS.filter((o) => o !== 'ALL'));

function ruleProblem(r: unknown, at: string): string | null {
  if (!isObj(r) || typeof r.name !== 'string') return `${at}: not a rule`;
  if (!(EFFECTS as readonly string[]).includes(r.effect as string))
    return `${at}.effect: ${JSON.stringify(r.effect)} is not one of ${EFFECTS.join(', ')}`;
  if (!isStrArr(r.operations) || !r.operations.every((o) => OPS.has(o)))
    return `${at}.operations: not a list of operations`;
  if (r.tables !== null && !isStrArr(r.tables)) return `${at}.tables: not null or a list of globs`;
  if (r.functions !== null && !isStrArr(r.functions)) return `${at}.functions: not null or a list of globs`;
  if (r.channels !== undefined && r.channels !== null && !isStrArr(r.channels))
    return `${at}.channels: not null or a list of globs`;
  return null;
}

function subjectsProblem(v: unknown, at: string): string | null {
  if (!Array.isArray(v)) return `${at}: not a list`;
  for (const [i, x] of v.entries()) {
    if (!isObj(x) || typeof x.name !== 'string' || !(SUBJECT_KINDS as readonly string[]).includes(x.kind as string))
      return `${at}[${i}]: not a subject`;
  }
  return null;
}

/** Why `v` is not a CompiledPolicySet the evaluator can use, or null. */
export function policySetProblem(v: unknown): string | null {
  if (!isObj(v) || !Number.isSafeInteger(v.generation) || !Array.isArray(v.policies))
    return 'not a CompiledPolicySet (generation, policies)';
  for (const [i, p] of v.policies.entries()) {
    const at = `policies[${i}]`;
    if (!isObj(p) || typeof p.name !== 'string') return `${at}: not a policy`;
    if (!(MODES as readonly string[]).includes(p.mode as string))
      return `${at}.mode: ${JSON.stringify(p.mode)} is not one of ${MODES.join(', ')}`;
    const sp = subjectsProblem(p.subjects, `${at}.subjects`);
    if (sp !== null) return sp;
    if (!isStrArr(p.databases)) return `${at}.databases: not a list of names`;
    if (!Array.isArray(p.rules)) return `${at}.rules: not a list`;
    for (const [j, r] of p.rules.entries()) {
      const rp = ruleProblem(r, `${at}.rules[${j}]`);
      if (rp !== null) return rp;
    }
    if (
      !isObj(p.masking)
      || !Object.values(p.masking).every((m) => (MASK_STRATEGIES as readonly string[]).includes(m as string))
    )
      return `${at}.masking: not a map of column → strategy`;
    if (typeof p.blockUnfilteredWrites !== 'boolean') return `${at}.blockUnfilteredWrites: not a boolean`;
    if (p.maxAffectedRows !== null && !Number.isSafeInteger(p.maxAffectedRows))
      return `${at}.maxAffectedRows: not null or an integer`;
    if (p.approval !== null) {
      const a = p.approval;
      if (!isObj(a)) return `${at}.approval: not null or an object`;
      const ap = subjectsProblem(a.approvers, `${at}.approval.approvers`);
      if (ap !== null) return ap;
      for (const k of ['minApprovals', 'maxDurationMs', 'holdTimeoutMs'])
        if (!Number.isSafeInteger(a[k])) return `${at}.approval.${k}: not an integer`;
    }
  }
  return null;
}

function isPolicySet(v: unknown): v is CompiledPolicySet {
  const problem = policySetProblem(v);
  if (problem !== null) throw new Error(`policy_set_json: ${problem}`);
  return true;
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
    binding: {
      namespace: m.bindingNamespace,
      name: m.bindingName,
      generation: Number(m.bindingGeneration),
      spec: spec as DatabaseBindingSpec,
    },
    endpoint: {
      host: m.endpoint.host,
      port: m.endpoint.port,
      database: m.endpoint.database,
      tlsMode: m.endpoint.tlsMode,
      caPem: m.endpoint.caPem === '' ? null : m.endpoint.caPem,
    },
    credentials:
      m.credentials === null || m.credentials.username === ''
        ? null
        : { username: m.credentials.username, password: m.credentials.password },
    grants: m.grants.map((g, i) => {
      const rules: unknown = g.rulesJson === '' ? null : JSON.parse(g.rulesJson);
      if (rules !== null) {
        if (!Array.isArray(rules)) throw new Error(`grants[${i}].rules_json: not a list`);
        for (const [j, r] of rules.entries()) {
          const p = ruleProblem(r, `grants[${i}].rules[${j}]`);
          if (p !== null) throw new Error(p);
        }
      }
      const expiresAtMs = Number(g.expiresAtMs);
      if (
        g.request === ''
        || g.subject === ''
        || !Number.isSafeInteger(expiresAtMs)
        || (rules === null && g.statement === '')
      )
        throw new Error(`grants[${i}]: needs request, subject, expires_at_ms and rules or a statement`);
      return {
        request: g.request,
        subject: g.subject,
        rules: rules as CompiledRule[] | null,
        statement: g.statement === '' ? null : g.statement,
        expiresAtMs,
      };
    }),
    revoked: m.revoked.map((r) => ({ request: r.request, subject: r.subject, reason: r.reason })),
    shutdown: m.shutdown === '' ? null : m.shutdown,
  };
}
