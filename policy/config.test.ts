import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compile, selectFor } from './compile.ts';
import { parseConfig, parseManifests, resolveCredentials } from './config.ts';
import { decide } from './decide.ts';
import { makeIdentity } from './identity.ts';

const EXAMPLE = new URL('../examples/orders.yaml', import.meta.url);

test('examples/orders.yaml parses, validates and compiles', () => {
  const r = parseConfig(readFileSync(EXAMPLE, 'utf8'), 'examples/orders.yaml');
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.deepStrictEqual(
    r.bindings.map((b) => b.metadata.name),
    ['orders'],
  );
  assert.deepStrictEqual(
    r.policies.map((p) => p.metadata.name),
    ['trainer'],
  );
  const b = r.bindings[0]!;
  assert.deepStrictEqual(b.spec.endpoint, { host: '127.0.0.1', port: 5432, database: 'orders' });
  assert.deepStrictEqual(resolveCredentials(b, r.secrets), {
    ok: true,
    username: 'airlock_app',
    password: 'change-me-local-only',
  });
  const set = compile(r.policies, 1);
  const who = makeIdentity('system:serviceaccount:ml:trainer');
  const ctx = {
    identity: who,
    database: 'orders',
    searchPath: ['public'],
    catalogRelations: new Set<string>(),
    catalogFunctions: new Set<string>(),
    grants: [],
  };
  const d = decide(selectFor(set, who, 'orders'), ctx, {
    tag: 'DropStmt',
    command: 'DROP TABLE',
    accesses: [{ operation: 'DROP', relation: { schema: null, name: 'orders' }, kind: 'relation' }],
    unsupported: [],
    effects: [],
    unfilteredWrite: false,
    writes: false,
    outputs: [],
    copyTo: null,
    transaction: false,
    executes: null,
    prepares: null,
  });
  assert.equal(d.verdict, 'deny');
  assert.equal(d.policy, 'ml/trainer');
});

const BINDING = `apiVersion: airlock.dev/v1alpha1
kind: DatabaseBinding
metadata: { name: orders }
spec:
  engine: postgres
  endpoint: { host: db, database: orders }
  credentialsSecretRef: { name: creds }
`;
const POLICY = `apiVersion: airlock.dev/v1alpha1
kind: AccessPolicy
metadata: { name: p }
spec:
  subjects: [{ kind: User, name: alice }]
  databases: [orders]
  rules: [{ name: r, effect: allow, operations: [SELECT] }]
`;
const SECRET = (body: string) => `apiVersion: v1\nkind: Secret\nmetadata: { name: creds }\n${body}\n`;

test('defaults are applied as the apiserver would', () => {
  const r = parseConfig(
    `${BINDING}---\n${POLICY}---\n${SECRET('data: { username: YWlybG9jaw==, password: cHc= }')}---\n`,
    'f.yaml',
  );
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  const b = r.bindings[0]!;
  assert.deepStrictEqual(
    [b.spec.endpoint.port, b.spec.tls, b.spec.sidecar, b.spec.audit],
    [5432, { mode: 'require' }, { port: 5432 }, { onFailure: 'block' }],
  );
  assert.equal(r.policies[0]!.spec.mode, 'enforce');
  assert.deepStrictEqual(resolveCredentials(b, r.secrets), { ok: true, username: 'airlock', password: 'pw' });
});

test('stringData wins over data', () => {
  const r = parseConfig(
    `${BINDING}---\n${SECRET('data: { username: YQ==, password: YQ== }\nstringData: { password: plain }')}`,
    'f.yaml',
  );
  assert.ok(r.ok);
  assert.deepStrictEqual(resolveCredentials(r.bindings[0]!, r.secrets), { ok: true, username: 'a', password: 'plain' });
});

test('every problem in a bad file is reported, each at its line and column', () => {
  const text = [
    BINDING.replace('name: creds', 'name: missing'),
    POLICY.replace('[SELECT]', '[SELECT, DELTE]'),
    POLICY,
    'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n',
    SECRET('stringData: { username: u }'),
    'apiVersion: airlock.dev/v1alpha1\nkind: DatabaseBinding\nmetadata: { name: second }\nspec:\n  engine: postgres\n  endpoint: { host: db, database: orders }\n  credentialsSecretRef: { name: creds }\n',
  ].join('---\n');
  const r = parseConfig(text, 'bad.yaml');
  assert.deepStrictEqual(r, {
    ok: false,
    errors: [
      'bad.yaml:15:58: AccessPolicy p: spec.rules[0].operations[1]: unknown operation "DELTE"; expected one of SELECT, INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY_TO, COPY_FROM, DDL, DROP, GRANT, CALL, NOTIFY, ALL',
      'bad.yaml:26:1: document 4: unknown kind "ConfigMap"; expected one of DatabaseBinding, AccessPolicy, AccessRequest, Secret',
      'bad.yaml:7:27: DatabaseBinding orders: spec.credentialsSecretRef.name: no Secret "missing" in this file; add one with keys username and password',
      'bad.yaml:40:27: DatabaseBinding second: spec.credentialsSecretRef.name: Secret "creds" has no password key (under data, base64, or stringData, plain)',
    ],
  });
});

test('duplicate names and YAML syntax errors with line:col', () => {
  const dup = parseConfig(
    `${BINDING}---\n${BINDING}---\n${SECRET('stringData: { username: u, password: p }')}`,
    'd.yaml',
  );
  assert.deepStrictEqual(dup, {
    ok: false,
    errors: ['d.yaml:9:1: DatabaseBinding orders: defined twice (documents 1 and 2)'],
  });
  const syntax = parseConfig('apiVersion: v1\nkind: Secret\nmetadata: { name: x\n', 's.yaml');
  assert.equal(syntax.ok, false);
  assert.match(
    (syntax as { errors: string[] }).errors[0]!,
    /^s\.yaml:4:1: YAML syntax error in document 1: Flow map in block collection must be sufficiently indented and end with a }$/,
  );
  const keys = parseConfig('kind: Secret\nkind: Secret\n', 'k.yaml');
  assert.match(
    (keys as { errors: string[] }).errors[0]!,
    /^k\.yaml:2:1: YAML syntax error in document 1: Map keys must be unique/,
  );
});

test('bad base64 and a policy naming a binding that is not in the file', () => {
  const r = parseConfig(
    `${BINDING}---\n${SECRET('data: { username: "@@", password: cHc= }')}---\n${POLICY.replace('[orders]', '[billing]')}`,
    'b.yaml',
  );
  assert.deepStrictEqual(r, {
    ok: false,
    errors: [
      'b.yaml:12:9: Secret creds: data.username: is not valid base64; put plain text under stringData instead',
      'b.yaml:19:15: AccessPolicy p: spec.databases[0]: no DatabaseBinding "billing" in this file',
    ],
  });
});

test('a missing field points at the object that lacks it; a bad item at the item', () => {
  const r = parseConfig(
    'apiVersion: airlock.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: x}\nspec:\n  databases: ["*"]\n  rules: []\n',
    'm.yaml',
  );
  assert.deepStrictEqual(r, {
    ok: false,
    errors: [
      'm.yaml:4:1: AccessPolicy x: spec.subjects: required field is missing (Any matching subject applies the policy)',
      'm.yaml:6:3: AccessPolicy x: spec.rules: must list at least 1 entry',
    ],
  });
});

test('manifests: other kinds are skipped, Secrets are not required, references resolve across files', () => {
  const r = parseManifests([
    { source: 'binding.yaml', text: `apiVersion: v1\nkind: Namespace\nmetadata: { name: ml }\n---\n${BINDING}` },
    { source: 'policy.yaml', text: POLICY },
  ]);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.deepStrictEqual(r.others, ['v1 Namespace ml']);
  assert.deepStrictEqual([r.bindings.length, r.policies.length], [1, 1]);
  const bad = parseManifests([
    {
      source: 'a.yaml',
      text: `${POLICY.replace('[orders]', '[billing]')}---\napiVersion: airlock.dev/v1alpha1\nkind: AccessPolicyy\nmetadata: { name: q }\n`,
    },
  ]);
  assert.deepStrictEqual(bad, {
    ok: false,
    errors: [
      'a.yaml:10:1: document 2: unknown kind "AccessPolicyy"; expected one of DatabaseBinding, AccessPolicy, AccessRequest, Secret (documents of other API groups are skipped)',
      'a.yaml:6:15: AccessPolicy p: spec.databases[0]: no DatabaseBinding "billing" in the files given',
    ],
  });
});
