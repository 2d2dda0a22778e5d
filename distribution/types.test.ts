import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../policy/compile.ts';
import type { AccessPolicy } from '../policy/types.ts';
import { fromMessage, policySetProblem, toMessage } from './types.ts';
import type { Snapshot } from './types.ts';

const POLICY = {
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AccessPolicy',
  metadata: { name: 'p', namespace: 'ml' },
  spec: {
    subjects: [{ kind: 'ServiceAccount', name: 'trainer' }],
    databases: ['orders'],
    mode: 'enforce',
    rules: [
      { name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] },
      { name: 'fix', effect: 'approve', operations: ['UPDATE'] },
    ],
    masking: [{ columns: ['public.customers.email'], strategy: 'partial' }],
    guardrails: { maxAffectedRows: 10 },
    approval: { approvers: [{ kind: 'Group', name: 'dba' }] },
  },
} as unknown as AccessPolicy;

const snapshot = (): Snapshot => ({
  policySet: compile([POLICY], 0),
  binding: {
    namespace: 'ml',
    name: 'orders',
    generation: 1,
    spec: { engine: 'postgres', endpoint: { host: 'pg', database: 'orders' }, credentialsSecretRef: { name: 's' } },
  },
  endpoint: { host: 'pg', port: 5432, database: 'orders', tlsMode: 'require', caPem: null },
  credentials: { username: 'u', password: 'p' },
  grants: [
    {
      request: 'ar-1',
      subject: 'system:serviceaccount:ml:trainer',
      rules: [{ name: 'jit', effect: 'allow', operations: ['UPDATE'], tables: ['public.notes'], functions: null }],
      statement: null,
      expiresAtMs: 1_900_000_000_000,
    },
  ],
  revoked: [],
  shutdown: null,
});

test('a compiled policy set and its grants survive the wire unchanged', () => {
  const s = snapshot();
  const back = fromMessage(toMessage(s, 7));
  assert.deepEqual(back.policySet, s.policySet);
  assert.deepEqual(back.grants, s.grants);
  assert.equal(policySetProblem(compile([], 3)), null);
});

test('a malformed policy set or grant is refused with the path of what is wrong', () => {
  const bad = (mutate: (set: any) => void): string => {
    const m = toMessage(snapshot(), 1);
    const set = JSON.parse(m.policySetJson);
    mutate(set);
    m.policySetJson = JSON.stringify(set);
    try {
      fromMessage(m);
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  assert.match(
    bad((s) => {
      s.policies[0].rules[0].effect = 'permit';
    }),
    /policies\[0\]\.rules\[0\]\.effect: "permit" is not one of allow, deny, approve/,
  );
  assert.match(
    bad((s) => {
      delete s.policies[0].rules;
    }),
    /policies\[0\]\.rules: not a list/,
  );
  assert.match(
    bad((s) => {
      s.policies[0].rules[1].operations = ['SELECT', 'ALL'];
    }),
    /rules\[1\]\.operations/,
  );
  assert.match(
    bad((s) => {
      s.policies[0].mode = 'audit';
    }),
    /policies\[0\]\.mode/,
  );
  assert.match(
    bad((s) => {
      s.policies[0].masking['public.customers.email'] = 'scramble';
    }),
    /masking/,
  );
  assert.match(
    bad((s) => {
      s.policies[0].subjects = [{ kind: 'Robot', name: 'x' }];
    }),
    /subjects\[0\]: not a subject/,
  );
  assert.match(
    bad((s) => {
      s.policies[0].approval.holdTimeoutMs = '60s';
    }),
    /approval\.holdTimeoutMs/,
  );
  assert.match(
    bad((s) => {
      s.generation = 1.5;
    }),
    /not a CompiledPolicySet/,
  );
  const m = toMessage(snapshot(), 1);
  m.grants[0]!.rulesJson = JSON.stringify([
    { name: 'jit', effect: 'allow', operations: 'UPDATE', tables: null, functions: null },
  ]);
  assert.throws(() => fromMessage(m), /grants\[0\]\.rules\[0\]\.operations/);
  const n = toMessage(snapshot(), 1);
  n.grants[0]!.rulesJson = '';
  assert.throws(() => fromMessage(n), /grants\[0\]: needs request, subject, expires_at_ms and rules or a statement/);
});
