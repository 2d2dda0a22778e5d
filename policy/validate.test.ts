import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssues, validate } from './validate.ts';

const policy = (
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = { name: 'trainer', namespace: 'ml' },
) => ({
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AccessPolicy',
  metadata,
  spec: {
    subjects: [{ kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' }],
    databases: ['orders'],
    rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] }],
    ...spec,
  },
});
const binding = (spec: Record<string, unknown>) => ({
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'DatabaseBinding',
  metadata: { name: 'orders', namespace: 'ml' },
  spec: {
    engine: 'postgres',
    endpoint: { host: 'pg', database: 'orders' },
    credentialsSecretRef: { name: 's' },
    ...spec,
  },
});
const lines = (doc: unknown) => formatIssues('examples/orders.yaml', doc, validate(doc));

test('a valid policy has no issues', () => assert.deepStrictEqual(validate(policy({})), []));

test('unknown operation names the allowed ones', () => {
  const doc = policy({
    rules: [
      { name: 'a', effect: 'allow', operations: ['SELECT'] },
      { name: 'b', effect: 'allow', operations: ['SELECT'] },
      { name: 'c', effect: 'deny', operations: ['DELTE'] },
    ],
  });
  assert.deepStrictEqual(lines(doc), [
    'examples/orders.yaml: AccessPolicy ml/trainer: spec.rules[2].operations[0]: unknown operation "DELTE"; expected one of SELECT, INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY_TO, COPY_FROM, DDL, DROP, GRANT, CALL, NOTIFY, ALL',
  ]);
});

test('channels: only with NOTIFY, and a NOTIFY rule that lists tables must list channels', () => {
  const doc = policy({
    rules: [
      { name: 'a', effect: 'allow', operations: ['SELECT'], channels: ['jobs'] },
      { name: 'b', effect: 'allow', operations: ['SELECT', 'NOTIFY'], tables: ['public.*'] },
      { name: 'c', effect: 'allow', operations: ['NOTIFY'], channels: ['jobs', 'cache_*'] },
      { name: 'd', effect: 'allow', operations: ['ALL'], tables: ['scratch.*'] },
      { name: 'e', effect: 'allow', operations: ['NOTIFY'], channels: [''] },
    ],
  });
  assert.deepStrictEqual(
    lines(doc).map((l) => l.replace('examples/orders.yaml: AccessPolicy ml/trainer: ', '')),
    [
      'spec.rules[4].channels[0]: must not be empty',
      'spec.rules[0].channels: channels applies only to NOTIFY; add NOTIFY or ALL to operations',
      'spec.rules[1].operations: NOTIFY pairs are matched by channels, and a rule that lists tables or functions reaches no channel; add channels (["*"] for any channel) or move NOTIFY to a rule of its own',
    ],
  );
});

test('every issue is reported, with its path', () => {
  const doc = policy({
    mode: 'strict',
    subjects: [
      { kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' },
      { kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' },
      { kind: 'User', name: 'a', namespace: 'ml' },
    ],
    rules: [
      { name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['orders', 'public.*'] },
      { name: 'read', effect: 'permit', operations: [], tabels: ['x'] },
      { name: 'Bad Name', effect: 'allow', operations: ['SELECT'], functions: ['public.f'] },
    ],
    masking: [
      { columns: ['customers.email', 'public.customers.ssn'], strategy: 'scramble' },
      { columns: ['public.customers.ssn'], strategy: 'null' },
    ],
    guardrails: { maxAffectedRows: 0 },
    approval: { approvers: [{ kind: 'Group', name: 'dba' }], maxDuration: '4 hours', holdTimeout: '0s' },
  });
  const msgs = lines(doc).map((l) => l.replace('examples/orders.yaml: AccessPolicy ml/trainer: ', ''));
  assert.deepStrictEqual(msgs, [
    'spec.rules[1].effect: unknown effect "permit"; expected one of allow, deny, approve',
    'spec.rules[1].operations: must list at least 1 entry',
    'spec.rules[1].tabels: unknown field "tabels"; expected one of name, effect, operations, tables, functions, channels',
    'spec.rules[2].name: "Bad Name" is not allowed here; use lower-case letters, digits and \'-\' (a DNS label, at most 63 characters)',
    'spec.mode: unknown mode "strict"; expected one of enforce, warn, observe',
    'spec.masking[0].strategy: unknown masking strategy "scramble"; expected one of redact, partial, hash, null',
    'spec.guardrails.maxAffectedRows: must be at least 1, got 0',
    'spec.subjects[1]: duplicate subject ServiceAccount ml/trainer (also spec.subjects[0])',
    'spec.subjects[2].namespace: applies only to ServiceAccount subjects; a User is cluster-wide',
    'spec.rules[0].tables[0]: "orders" is not a schema.table glob; write schema.table, schema.*, *.table or * (a part in double quotes keeps its case)',
    'spec.rules[1].name: duplicate rule name "read" (also spec.rules[0])',
    'spec.rules[2].functions: functions applies only to CALL; add CALL or ALL to operations',
    'spec.masking[0].columns[0]: "customers.email" is not a schema.table.column name (no wildcards); e.g. public.customers.email',
    'spec.masking[1].columns[0]: column public.customers.ssn is already masked by spec.masking[0].columns[1]',
    'spec.approval.maxDuration: "4 hours" is not a duration; write a duration such as 90s, 15m, 4h or 1h30m',
    'spec.approval.holdTimeout: must be longer than zero; write a duration such as 90s, 15m, 4h or 1h30m',
  ]);
});

test('missing and mistyped fields', () => {
  const doc = {
    apiVersion: 'airlock.dev/v1',
    kind: 'DatabaseBinding',
    metadata: { name: 'Orders' },
    spec: { engine: 'mysql', endpoint: { host: 'pg', port: '5432' }, credentialsSecretRef: {} },
    extra: 1,
  };
  assert.deepStrictEqual(formatIssues('', doc, validate(doc)), [
    'DatabaseBinding Orders: apiVersion: unknown apiVersion "airlock.dev/v1" for DatabaseBinding; expected airlock.dev/v1alpha1',
    'DatabaseBinding Orders: extra: unknown field "extra"; expected one of apiVersion, kind, metadata, spec, status',
    "DatabaseBinding Orders: metadata.name: \"Orders\" is not allowed here; use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
    'DatabaseBinding Orders: spec.engine: unknown engine "mysql"; expected one of postgres',
    'DatabaseBinding Orders: spec.endpoint.database: required field is missing (Database name on the server)',
    'DatabaseBinding Orders: spec.endpoint.port: expected an integer, got a string',
    'DatabaseBinding Orders: spec.credentialsSecretRef.name: required field is missing (Name of the Secret holding keys username and password)',
  ]);
});

test('binding cross-field rules', () => {
  assert.deepStrictEqual(validate(binding({ tls: { mode: 'verify-full' } })), [
    {
      path: 'spec.tls.caSecretRef',
      message: 'required when tls.mode is verify-full (the Secret with the CA bundle to verify the server against)',
    },
  ]);
  assert.deepStrictEqual(validate(binding({ tls: { mode: 'verify-full', caSecretRef: { name: 'ca' } } })), []);
  assert.equal(
    validate(binding({ tls: { mode: 'require', caSecretRef: { name: 'ca' } } }))[0]?.path,
    'spec.tls.caSecretRef',
  );
  assert.deepStrictEqual(
    validate(binding({ audit: { otlpEndpoint: 'otel:4317' } })).map((i) => i.message),
    ['"otel:4317" is not an http:// or https:// URL; e.g. http://otel-collector.observability:4317'],
  );
  assert.deepStrictEqual(
    validate(binding({ workloadSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } })),
    [{ path: 'spec.workloadSelector.matchExpressions[0].values', message: 'must not be empty when operator is In' }],
  );
});

test('ServiceAccount subject needs a namespace somewhere', () => {
  const doc = policy({ subjects: [{ kind: 'ServiceAccount', name: 'trainer' }] }, { name: 'p' });
  assert.deepStrictEqual(validate(doc), [
    {
      path: 'spec.subjects[0].namespace',
      message: 'required for a ServiceAccount subject when the object has no metadata.namespace',
    },
  ]);
  assert.deepStrictEqual(validate(policy({ subjects: [{ kind: 'ServiceAccount', name: 'trainer' }] })), []);
});

test('AccessRequest: exactly one of rules or statement', () => {
  const req = (spec: Record<string, unknown>) => ({
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'AccessRequest',
    metadata: { name: 'r1', namespace: 'ml' },
    spec: { subject: { kind: 'User', name: 'alice' }, database: 'orders', ...spec },
  });
  assert.deepStrictEqual(validate(req({ statement: 'DELETE FROM orders WHERE id = $1', duration: '1h' })), []);
  assert.deepStrictEqual(validate(req({ duration: 'soon' })), [
    { path: 'spec', message: 'set exactly one of rules (access to grant) or statement (one statement to allow)' },
    { path: 'spec.duration', message: '"soon" is not a duration; write a duration such as 90s, 15m, 4h or 1h30m' },
  ]);
  assert.deepStrictEqual(validate(req({ subject: { kind: 'User', name: 'a', namespace: 'x' }, statement: 's' })), [
    { path: 'spec.subject.namespace', message: 'applies only to ServiceAccount subjects; a User is cluster-wide' },
  ]);
});

test('Secrets and unknown kinds', () => {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's' },
    data: { password: 'not base64!' },
    stringData: { username: 3 },
  };
  assert.deepStrictEqual(formatIssues('f.yaml', secret, validate(secret)), [
    'f.yaml: Secret s: data.password: is not valid base64; put plain text under stringData instead',
    'f.yaml: Secret s: stringData.username: expected a string, got an integer',
  ]);
  assert.deepStrictEqual(validate({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }), [
    {
      path: 'kind',
      message: 'unknown kind "ConfigMap"; expected one of DatabaseBinding, AccessPolicy, AccessRequest, Secret',
    },
  ]);
  assert.deepStrictEqual(validate('text'), [{ path: '', message: 'expected a Kubernetes object, got a string' }]);
});

test('status shapes are checked too', () => {
  const doc = {
    ...policy({}),
    status: {
      observedGeneration: 2,
      conditions: [
        { type: 'Ready', status: 'Maybe', reason: 'Compiled', message: '', lastTransitionTime: 'yesterday' },
      ],
    },
  };
  assert.deepStrictEqual(validate(doc), [
    {
      path: 'status.conditions[0].status',
      message: 'unknown condition status "Maybe"; expected one of True, False, Unknown',
    },
    { path: 'status.conditions[0].lastTransitionTime', message: '"yesterday" is not an RFC 3339 date-time' },
  ]);
});
