// The operator against a real kube-apiserver (test/support/kube.ts): CRDs from crds/, status from the
// reconcilers, sidecar injection through a real MutatingWebhookConfiguration (url clientConfig on
// 127.0.0.1, caBundle patched by the operator), policy distribution authenticated by a real TokenReview —
// and the operator itself runs as a ServiceAccount holding only operator/rbac.yaml.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  G,
  TRAINER_POD,
  accessPolicy,
  credentialsSecret,
  databaseBinding,
  eventually,
  installCrds,
  kubeApi,
  operatorOptions,
  operatorServiceAccount,
  podBoundToken,
  registerWebhooks,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { KubeClient } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';
import { watchPolicy } from '../../distribution/client.ts';
import type { WatchState } from '../../distribution/client.ts';
import type { DistributedPolicy } from '../../distribution/types.ts';

const tmp = mkdtempSync(join(tmpdir(), 'airlock-op-'));

describe('operator on a real apiserver', () => {
  let kube: Kube;
  let op: Operator;
  let opToken = '';
  let grpcAddr = '';
  let caPem = '';

  const { req, must } = kubeApi(() => kube);

  before(async () => {
    kube = await startKube();
    await installCrds(kube);
    await kube.createNamespace('airlock-system');
    await kube.createNamespace('ml');
    await kube.createNamespace('shop');
    await must('POST', '/api/v1/namespaces/ml/serviceaccounts', { metadata: { name: 'trainer' } });
    const account = await operatorServiceAccount(kube);
    opToken = account.token;
    const webhookPort = await freePort();
    await registerWebhooks(kube, webhookPort, { pods: true });
    op = new Operator(operatorOptions(KubeClient.fromFile(account.kubeconfigPath), webhookPort));
    const started = await op.start();
    grpcAddr = `127.0.0.1:${started.grpcPort}`;
    caPem = started.caBundlePem ?? '';
  });
  after(async () => {
    await op?.stop();
    await kube?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('the apiserver rejects a malformed AccessPolicy with the CRD schema message', async () => {
    const r = await req(
      'POST',
      `${G}/namespaces/ml/accesspolicies`,
      accessPolicy('bad-op', { rules: [{ name: 'r', effect: 'allow', operations: ['DELTE'] }] }),
    );
    assert.equal(r.status, 422);
    assert.match(r.body.message, /spec\.rules\[0\]\.operations\[0\]: Unsupported value: "DELTE"/);
  });

  test('binding: Ready=False SecretNotFound until the Secret exists, then Ready=True', async () => {
    await must('POST', `${G}/namespaces/ml/databasebindings`, databaseBinding('orders'));
    const notReady = await eventually('SecretNotFound', async () => {
      const b = (await req('GET', `${G}/namespaces/ml/databasebindings/orders`)).body;
      const c = b.status?.conditions?.find((x: { type: string }) => x.type === 'Ready');
      return c?.reason === 'SecretNotFound' ? c : undefined;
    });
    assert.equal(notReady.status, 'False');
    assert.equal(notReady.observedGeneration, 1);
    assert.match(notReady.message, /credentialsSecretRef: no Secret "orders-airlock" in namespace ml/);
    await must('POST', '/api/v1/namespaces/ml/secrets', credentialsSecret('airlock_app', 's3cret'));
    await must('POST', `${G}/namespaces/ml/accesspolicies`, accessPolicy('trainer'));
    const ready = await eventually('Ready', async () => {
      const b = (await req('GET', `${G}/namespaces/ml/databasebindings/orders`)).body;
      const c = b.status?.conditions?.find((x: { type: string }) => x.type === 'Ready');
      return c?.status === 'True' ? c : undefined;
    });
    assert.equal(ready.reason, 'Compiled');
    const p = await eventually('policy Ready', async () => {
      const x = (await req('GET', `${G}/namespaces/ml/accesspolicies/trainer`)).body;
      return x.status?.conditions?.[0]?.status === 'True' ? x : undefined;
    });
    assert.equal(p.status.compiledRules, 1);
  });

  test('a policy the schema accepts but validation does not: Ready=False with the formatted message', async () => {
    const r = await req(
      'POST',
      `${G}/namespaces/ml/accesspolicies`,
      accessPolicy('bad-mask', { databases: ['reports'], masking: [{ columns: ['email'], strategy: 'redact' }] }),
    );
    assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 300));
    const c = await eventually('InvalidSpec', async () => {
      const x = (await req('GET', `${G}/namespaces/ml/accesspolicies/bad-mask`)).body;
      const cond = x.status?.conditions?.find((y: { type: string }) => y.type === 'Ready');
      return cond?.reason === 'InvalidSpec' ? cond : undefined;
    });
    assert.equal(c.status, 'False');
    assert.equal(
      c.message,
      'AccessPolicy ml/bad-mask: spec.masking[0].columns[0]: "email" is not a schema.table.column name (no wildcards); e.g. public.customers.email',
    );
  });

  let podName = '';
  let podUid = '';
  test('a pod the binding selects gets the native sidecar from the webhook; opted-out pods do not', async () => {
    const pod = await must('POST', '/api/v1/namespaces/ml/pods', TRAINER_POD);
    podName = pod.metadata.name;
    podUid = pod.metadata.uid;
    assert.equal(pod.metadata.annotations['airlock.dev/injected'], 'orders@1');
    assert.equal(pod.spec.initContainers[0].name, 'airlock-proxy-orders');
    assert.equal(pod.spec.initContainers[0].restartPolicy, 'Always');
    const env = Object.fromEntries(
      pod.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    assert.deepEqual(env, {
      PGHOST: '127.0.0.1',
      PGPORT: '5432',
      PGDATABASE: 'orders',
      DATABASE_URL: 'postgresql://127.0.0.1:5432/orders',
    });
    assert.doesNotMatch(JSON.stringify(pod), /s3cret/);
    const sidecarEnv = pod.spec.initContainers[0].env.find((e: { name: string }) => e.name === 'AIRLOCK_OPERATOR_CA');
    const tlsSecret = await must('GET', '/api/v1/namespaces/airlock-system/secrets/airlock-webhook-tls');
    assert.equal(
      sidecarEnv?.value,
      Buffer.from(tlsSecret.data['ca.crt'], 'base64').toString(),
      'the sidecar verifies the operator with its CA',
    );
    const out = await must('POST', '/api/v1/namespaces/ml/pods', {
      metadata: { name: 'opted-out', labels: { app: 'trainer', 'airlock.dev/inject': 'false' } },
      spec: { serviceAccountName: 'trainer', containers: [{ name: 'train', image: 'trainer:1' }] },
    });
    assert.equal(out.spec.initContainers, undefined);
    await eventually('injectedPods', async () => {
      const b = (await req('GET', `${G}/namespaces/ml/databasebindings/orders`)).body;
      return b.status?.injectedPods === 1 ? true : undefined;
    });
  });

  async function podToken(audience: string): Promise<string> {
    const f = join(tmp, `token-${Math.random().toString(36).slice(2)}`);
    writeFileSync(f, await podBoundToken(kube, { metadata: { name: podName, uid: podUid } }, audience));
    return f;
  }

  test('the sidecar gets credentials and policy over gRPC with its pod-bound token; pushes follow edits', async () => {
    const got: DistributedPolicy[] = [];
    const w = watchPolicy(
      grpcAddr,
      { namespace: 'ml', name: 'orders' },
      await podToken('airlock'),
      (p) => got.push(p),
      () => {},
      { caPem },
    );
    try {
      const first = await eventually('first update', async () => got[0]);
      assert.deepEqual(first.credentials, { username: 'airlock_app', password: 's3cret' });
      assert.deepEqual(
        first.policySet.policies.map((p) => p.name),
        ['ml/trainer'],
      );
      const cur = (await req('GET', `${G}/namespaces/ml/accesspolicies/trainer`)).body;
      cur.spec.rules.push({ name: 'no-drop', effect: 'deny', operations: ['DROP'] });
      const t0 = performance.now();
      await must('PUT', `${G}/namespaces/ml/accesspolicies/trainer`, cur);
      const second = await eventually('pushed edit', async () =>
        got.find((p) => p.policySet.policies[0]?.rules.length === 2),
      );
      process.stdout.write(
        `# policy edit → sidecar: ${(performance.now() - t0).toFixed(1)} ms (apiserver watch + reconcile + gRPC)\n`,
      );
      assert.equal(second.policySet.generation, 2);
    } finally {
      w.close();
    }
  });

  test('tokens for another audience or pod-less tokens are refused; other namespaces are denied', async () => {
    const states: WatchState[] = [];
    const w1 = watchPolicy(
      grpcAddr,
      { namespace: 'ml', name: 'orders' },
      await podToken('https://kubernetes.default.svc.cluster.local'),
      () => assert.fail('served'),
      (s) => states.push(s),
      { initialBackoffMs: 5000, caPem },
    );
    const b1 = await eventually(
      'refusal',
      async () => states.find((s) => s.state === 'backoff') as { code: number; message: string } | undefined,
    );
    w1.close();
    assert.equal(b1.code, 16); // UNAUTHENTICATED
    const f = join(tmp, 'plain-token');
    writeFileSync(f, await kube.serviceAccountToken('ml', 'trainer', ['airlock']));
    const s2: WatchState[] = [];
    const w2 = watchPolicy(
      grpcAddr,
      { namespace: 'ml', name: 'orders' },
      f,
      () => assert.fail('served'),
      (s) => s2.push(s),
      { initialBackoffMs: 5000, caPem },
    );
    const b2 = await eventually(
      'refusal',
      async () => s2.find((s) => s.state === 'backoff') as { code: number; message: string } | undefined,
    );
    w2.close();
    assert.equal(b2.code, 7); // PERMISSION_DENIED
    assert.match(b2.message, /not bound to a pod/);
    const g = join(tmp, 'shop-token');
    writeFileSync(g, await kube.serviceAccountToken('shop', 'default', ['airlock']));
    const s3: WatchState[] = [];
    const w3 = watchPolicy(
      grpcAddr,
      { namespace: 'ml', name: 'orders' },
      g,
      () => assert.fail('served'),
      (s) => s3.push(s),
      { initialBackoffMs: 5000, caPem },
    );
    const b3 = await eventually(
      'refusal',
      async () => s3.find((s) => s.state === 'backoff') as { code: number; message: string } | undefined,
    );
    w3.close();
    assert.equal(b3.code, 7);
    assert.match(b3.message, /only watch DatabaseBindings in namespace shop, not ml/);
  });

  test('RBAC: the operator role cannot write specs, pods or other Secrets', async () => {
    const forbidden: [string, string, unknown][] = [
      [
        'PUT',
        `${G}/namespaces/ml/databasebindings/orders`,
        (await req('GET', `${G}/namespaces/ml/databasebindings/orders`)).body,
      ],
      [
        'POST',
        '/api/v1/namespaces/ml/pods',
        { metadata: { name: 'x' }, spec: { containers: [{ name: 'a', image: 'a' }] } },
      ],
      ['DELETE', '/api/v1/namespaces/ml/secrets/orders-airlock', undefined],
      ['POST', '/api/v1/namespaces/ml/secrets', { metadata: { name: 'y' } }],
      ['PUT', '/api/v1/namespaces/airlock-system/secrets/other', { metadata: { name: 'other' } }],
      ['GET', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', undefined],
    ];
    for (const [m, p, body] of forbidden) {
      const r = await req(m, p, body, { token: opToken });
      assert.equal(r.status, 403, `${m} ${p} should be forbidden, got ${r.status}`);
    }
  });
});
