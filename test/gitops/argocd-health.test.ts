// Argo CD health checks (examples/gitops/argocd/argocd-cm.yaml) run by a real Lua 5.1 interpreter on sample
// objects, one row per state. test/gitops/cluster.test.ts runs them again on objects the operator wrote.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { health, healthScripts, toLua } from '../support/argocd-health.ts';

const scripts = healthScripts();
const meta = (generation: number) => ({ name: 'trainer', namespace: 'ml', generation });
const ready = (status: string, reason: string, message: string, observedGeneration: number) => ({
  type: 'Ready',
  status,
  reason,
  message,
  observedGeneration,
  lastTransitionTime: '2026-12-01T10:00:00Z',
});

test('the snippet holds a health check for each of the three kinds, and nothing else', () => {
  assert.deepEqual(Object.keys(scripts).sort(), [
    'airlock.dev_AccessPolicy',
    'airlock.dev_AccessRequest',
    'airlock.dev_DatabaseBinding',
  ]);
});

const policyCases: [string, unknown, string, RegExp][] = [
  ['no status yet', { metadata: meta(1) }, 'Progressing', /Waiting for the Airlock operator/],
  [
    'compiled, current generation',
    {
      metadata: meta(2),
      status: { observedGeneration: 2, conditions: [ready('True', 'Compiled', 'Policy compiled', 2)] },
    },
    'Healthy',
    /^Policy compiled$/,
  ],
  [
    'compiled, but an older generation',
    {
      metadata: meta(3),
      status: { observedGeneration: 2, conditions: [ready('True', 'Compiled', 'Policy compiled', 2)] },
    },
    'Progressing',
    /generation 3/,
  ],
  [
    'rejected, with Stalled',
    {
      metadata: meta(2),
      status: {
        observedGeneration: 2,
        conditions: [
          ready('False', 'InvalidSpec', 'spec.rules[1].name: duplicate rule name "r"', 2),
          {
            type: 'Stalled',
            status: 'True',
            reason: 'InvalidSpec',
            message: 'spec.rules[1].name: duplicate rule name "r"',
            observedGeneration: 2,
          },
        ],
      },
    },
    'Degraded',
    /duplicate rule name "r"/,
  ],
  [
    'rejected by an operator that writes Ready only',
    {
      metadata: meta(2),
      status: { observedGeneration: 2, conditions: [ready('False', 'InvalidSpec', 'bad glob', 2)] },
    },
    'Degraded',
    /^InvalidSpec: bad glob$/,
  ],
  [
    'a message with quotes, backslashes and non-ASCII survives',
    {
      metadata: meta(1),
      status: { observedGeneration: 1, conditions: [ready('False', 'InvalidSpec', 'tables[0]: "a\\b" — ünknown', 1)] },
    },
    'Degraded',
    /tables\[0\]: "a\\b" — ünknown/,
  ],
];
for (const [name, obj, status, message] of policyCases) {
  test(`AccessPolicy: ${name} → ${status}`, async () => {
    const h = await health(scripts['airlock.dev_AccessPolicy'] as string, obj);
    assert.equal(h.status, status);
    assert.match(h.message, message);
  });
}

const bindingCases: [string, unknown, string, RegExp][] = [
  ['no status yet', { metadata: meta(1) }, 'Progressing', /Waiting/],
  [
    'compiled, with pods',
    {
      metadata: meta(1),
      status: {
        observedGeneration: 1,
        injectedPods: 3,
        conditions: [ready('True', 'Compiled', 'Binding compiled and distributed', 1)],
      },
    },
    'Healthy',
    /\(3 pods with the sidecar\)/,
  ],
  [
    'waiting for its Secret',
    {
      metadata: meta(1),
      status: {
        observedGeneration: 1,
        conditions: [
          ready('False', 'SecretNotFound', 'no Secret "orders-airlock"', 1),
          {
            type: 'Reconciling',
            status: 'True',
            reason: 'SecretNotFound',
            message: 'no Secret "orders-airlock"',
            observedGeneration: 1,
          },
        ],
      },
    },
    'Progressing',
    /^SecretNotFound: no Secret "orders-airlock"$/,
  ],
  [
    'a policy of its namespace is invalid',
    {
      metadata: meta(1),
      status: {
        observedGeneration: 1,
        conditions: [
          ready('False', 'PolicyInvalid', 'sidecars keep their last good policy set', 1),
          {
            type: 'Stalled',
            status: 'True',
            reason: 'PolicyInvalid',
            message: 'sidecars keep their last good policy set',
            observedGeneration: 1,
          },
        ],
      },
    },
    'Degraded',
    /last good policy set/,
  ],
];
for (const [name, obj, status, message] of bindingCases) {
  test(`DatabaseBinding: ${name} → ${status}`, async () => {
    const h = await health(scripts['airlock.dev_DatabaseBinding'] as string, obj);
    assert.equal(h.status, status);
    assert.match(h.message, message);
  });
}

const ar = (status?: Record<string, unknown>) => ({
  metadata: { name: 'ar-7f3cq', namespace: 'ml', generation: 1 },
  spec: { database: 'orders' },
  ...(status === undefined ? {} : { status }),
});
const requestCases: [string, unknown, string, RegExp][] = [
  ['just created', ar(), 'Suspended', /airlock request approve ar-7f3cq -n ml/],
  [
    'pending',
    ar({ phase: 'Pending', message: 'waiting for 1 approval from Group:dba' }),
    'Suspended',
    /waiting for 1 approval/,
  ],
  ['approved', ar({ phase: 'Approved', expiresAt: '2026-12-01T11:00:00Z' }), 'Healthy', /until 2026-12-01T11:00:00Z/],
  ['expired', ar({ phase: 'Expired' }), 'Healthy', /Access ended: Expired/],
  ['revoked', ar({ phase: 'Revoked', message: 'revoked by bob@example.com' }), 'Healthy', /revoked by bob/],
  [
    'denied',
    ar({ phase: 'Denied', message: 'denied by bob@example.com: not during the freeze' }),
    'Degraded',
    /not during the freeze/,
  ],
  ['a phase from a newer operator', ar({ phase: 'Escalated' }), 'Unknown', /Escalated/],
];
for (const [name, obj, status, message] of requestCases) {
  test(`AccessRequest: ${name} → ${status}`, async () => {
    const h = await health(scripts['airlock.dev_AccessRequest'] as string, obj);
    assert.equal(h.status, status);
    assert.match(h.message, message);
  });
}

test('the Lua literal keeps what the script reads: nested tables, arrays in order, nulls as nil', () => {
  assert.equal(toLua({ a: [1, 'x'], b: null, c: { d: true } }), '{["a"] = {1, "x"}, ["c"] = {["d"] = true}}');
  assert.equal(toLua('é"\\'), '"\\195\\169\\034\\092"');
});

test('a script error fails loudly rather than reading as a status', async () => {
  await assert.rejects(health('return obj.status.phase', { metadata: {} }), /attempt to index/);
});
