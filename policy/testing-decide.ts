// The fixtures of the decision tests (decide*.test.ts): policies, StatementFacts written by hand, one run()
// through compile → selectFor → decide, and check() comparing the fields a row names.
import assert from 'node:assert/strict';
import { compile, selectFor } from './compile.ts';
import { decide } from './decide.ts';
import { makeIdentity } from './identity.ts';
import type { InvokerViews } from './invoker.ts';
import type {
  Access,
  AccessPolicy,
  AccessPolicySpec,
  ColumnSource,
  ConcreteOperation,
  Decision,
  Grant,
  RelName,
  SessionContext,
  SessionEffect,
  StatementFacts,
} from './types.ts';

export const policy = (name: string, spec: Partial<AccessPolicySpec>, ns = 'ml'): AccessPolicy => ({
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AccessPolicy',
  metadata: { name, namespace: ns },
  spec: {
    subjects: [{ kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' }],
    databases: ['orders'],
    rules: [],
    ...spec,
  },
});

export const TRAINER = policy('trainer', {
  subjects: [
    { kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' },
    { kind: 'User', name: 'alice@example.com' },
  ],
  rules: [
    { name: 'read-app-tables', effect: 'allow', operations: ['SELECT', 'COPY_TO'], tables: ['public.*'] },
    { name: 'write-orders', effect: 'allow', operations: ['INSERT', 'UPDATE'], tables: ['public.orders'] },
    { name: 'no-destructive', effect: 'deny', operations: ['DROP', 'TRUNCATE'] },
    { name: 'approve-deletes', effect: 'approve', operations: ['DELETE'], tables: ['public.orders'] },
    { name: 'call-calc', effect: 'allow', operations: ['CALL'], functions: ['public.calc_*'] },
    { name: 'scratch', effect: 'allow', operations: ['ALL'], tables: ['scratch.*'] },
  ],
  masking: [
    { columns: ['public.customers.email'], strategy: 'partial' },
    { columns: ['public.customers.ssn'], strategy: 'redact' },
    { columns: ['public.customers.phone'], strategy: 'hash' },
  ],
  guardrails: { blockUnfilteredWrites: true, maxAffectedRows: 1000 },
  approval: { approvers: [{ kind: 'Group', name: 'dba' }], holdTimeout: '30s' },
});

export const SA = 'system:serviceaccount:ml:trainer';
export const rel = (q: string): RelName => {
  const i = q.indexOf('.');
  return i === -1 ? { schema: null, name: q } : { schema: q.slice(0, i), name: q.slice(i + 1) };
};
export const acc = (operation: ConcreteOperation, q: string, kind: Access['kind'] = 'relation'): Access => ({
  operation,
  relation: rel(q),
  kind,
});
export const col = (q: string): ColumnSource => {
  const i = q.lastIndexOf('.');
  return { kind: 'column', relation: rel(q.slice(0, i)), column: q.slice(i + 1) };
};

export function facts(f: Partial<StatementFacts>): StatementFacts {
  return {
    tag: 'SelectStmt',
    command: 'SELECT',
    accesses: [],
    unsupported: [],
    effects: [],
    unfilteredWrite: false,
    writes: false,
    outputs: [],
    copyTo: null,
    transaction: false,
    executes: null,
    prepares: null,
    ...f,
  };
}
export const select = (...tables: string[]) => facts({ accesses: tables.map((t) => acc('SELECT', t)) });
export const effect = (e: SessionEffect | Record<string, unknown>, command = 'SET') =>
  facts({ tag: 'VariableSetStmt', command, effects: [e as SessionEffect] });

export interface Opts {
  policies?: AccessPolicy[];
  user?: string;
  groups?: string[];
  database?: string;
  searchPath?: string[];
  grants?: Grant[];
  text?: string;
  invoker?: InvokerViews;
}
export function run(stmt: StatementFacts, o: Opts = {}): Decision {
  const set = compile(o.policies ?? [TRAINER], 7);
  const identity = makeIdentity(o.user ?? SA, o.groups ?? []);
  const database = o.database ?? 'orders';
  const ctx: SessionContext = {
    identity,
    database,
    searchPath: o.searchPath ?? ['public'],
    catalogRelations: new Set(['pg_class', 'pg_type', 'pg_stats']),
    catalogFunctions: new Set(['now', 'lower', 'pg_read_file', 'set_config', 'pg_sleep']),
    grants: o.grants ?? [],
    ...(o.invoker === undefined ? {} : { invoker: o.invoker }),
  };
  return decide(selectFor(set, identity, database), ctx, stmt, o.text);
}

export type Want = Partial<Record<'verdict' | 'policy' | 'rule' | 'reason' | 'holdTimeoutMs', unknown>> & {
  wouldDeny?: unknown;
  outputs?: unknown;
  needsRowDescription?: boolean;
  refuse?: unknown;
  maxAffectedRows?: unknown;
  grant?: unknown;
};
export const allow = (rule: string, policyName = 'ml/trainer'): Want => ({
  verdict: 'allow',
  policy: policyName,
  rule,
});
export const denyBy = (policyName: string | null, rule: string | null, reason: string): Want => ({
  verdict: 'deny',
  policy: policyName,
  rule,
  reason,
});
export const noRule = (reason: string): Want => denyBy(null, null, reason);

function pick(d: Decision): Want {
  const w: Want = { verdict: d.verdict, policy: d.policy, rule: d.rule };
  if (d.verdict === 'deny') w.reason = d.reason;
  if (d.verdict === 'approve') w.holdTimeoutMs = d.holdTimeoutMs;
  if (d.verdict === 'allow' || d.verdict === 'warn') {
    w.wouldDeny = d.wouldDeny;
    w.grant = d.grant;
    w.outputs = d.masks.outputs;
    w.needsRowDescription = d.masks.needsRowDescription;
    w.refuse = d.masks.refuse;
    w.maxAffectedRows = d.guardrails;
  }
  return w;
}
export function check(d: Decision, want: Want): void {
  const got = pick(d);
  const subset: Record<string, unknown> = {};
  for (const k of Object.keys(want)) subset[k] = (got as Record<string, unknown>)[k];
  assert.deepStrictEqual(subset, want);
}

/** A decision table row: name, the statement's facts, the fields wanted, and who runs it where. */
export type Case = [string, StatementFacts, Want, Opts?];

export const WARN_ONLY_CUSTOMERS = policy('new', {
  mode: 'warn',
  rules: [{ name: 'read-customers', effect: 'allow', operations: ['SELECT'], tables: ['public.customers'] }],
  masking: [{ columns: ['public.customers.name'], strategy: 'null' }],
});
