// Issue 11, class 6: the operator holds only what it needs — the Secrets bindings name (each watched by
// name), and Pods that carry a sidecar (label airlock.dev/sidecar=true, set by the webhook) — on a real
// kube-apiserver, running as a ServiceAccount bound to exactly operator/rbac.yaml.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  G,
  MERGE_PATCH,
  TRAINER_POD,
  accessPolicy,
  credentialsSecret,
  databaseBinding,
  eventually,
  installCrds,
  kubeApi,
  operatorOptions,
  operatorServiceAccount,
  registerWebhooks,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { KubeClient } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';
import type { SecretCache } from '../../operator/controllers/secrets.ts';

describe('operator reads only what bindings reference', () => {
  let kube: Kube;
  let op: Operator;
  const { must } = kubeApi(() => kube);
  const secretKeys = () => (op.caches.secrets as SecretCache).keys();
  const ready = (name: string) =>
    eventually(`binding ${name} Ready`, async () => {
      const b = await must('GET', `${G}/namespaces/ml/databasebindings/${name}`);
      const c = b.status?.conditions?.find((x: { type: string }) => x.type === 'Ready');
      return c?.status === 'True' ? c : undefined;
    });

  before(async () => {
    kube = await startKube();
    await installCrds(kube);
    for (const ns of ['airlock-system', 'ml', 'shop']) await kube.createNamespace(ns);
    await must('POST', '/api/v1/namespaces/ml/serviceaccounts', { metadata: { name: 'trainer' } });
    // Secrets the operator must never hold: another app's in the same namespace, and one elsewhere.
    await must(
      'POST',
      '/api/v1/namespaces/ml/secrets',
      credentialsSecret('someone_else', 'not-for-airlock', 'unrelated'),
    );
    await must('POST', '/api/v1/namespaces/shop/secrets', credentialsSecret('shop', 'not-for-airlock', 'shop-db'));
    // A pod without a sidecar, created before the operator starts (nothing injects it: no binding selects it).
    await must('POST', '/api/v1/namespaces/shop/pods', {
      metadata: { name: 'web' },
      spec: { containers: [{ name: 'web', image: 'web:1' }] },
    });
    const account = await operatorServiceAccount(kube);
    const webhookPort = await freePort();
    await registerWebhooks(kube, webhookPort, { pods: true });
    op = new Operator(operatorOptions(KubeClient.fromFile(account.kubeconfigPath), webhookPort));
    await op.start();
  });
  after(async () => {
    await op?.stop();
    await kube?.stop();
  });

  test('Secrets: only those a binding names, watched by name, released when the binding goes', async () => {
    // At start only the webhook's own certificate Secret is held.
    assert.deepEqual(secretKeys(), ['airlock-system/airlock-webhook-tls']);
    await must('POST', `${G}/namespaces/ml/accesspolicies`, accessPolicy('trainer'));
    await must('POST', `${G}/namespaces/ml/databasebindings`, databaseBinding('orders'));
    // Named before it exists: the binding waits for it, and its creation is seen through the narrow watch.
    await eventually('SecretNotFound', async () => {
      const b = await must('GET', `${G}/namespaces/ml/databasebindings/orders`);
      return b.status?.conditions?.[0]?.reason === 'SecretNotFound' ? b : undefined;
    });
    assert.deepEqual(secretKeys(), ['airlock-system/airlock-webhook-tls', 'ml/orders-airlock']);
    await must('POST', '/api/v1/namespaces/ml/secrets', credentialsSecret('airlock_app', 's3cret'));
    await ready('orders');
    const held = op.caches.secrets
      .list()
      .map((s) => `${s.metadata.namespace}/${s.metadata.name}`)
      .sort();
    assert.deepEqual(held, ['airlock-system/airlock-webhook-tls', 'ml/orders-airlock']);
    assert.equal(op.caches.secrets.get('unrelated', 'ml'), undefined);

    // A rotation reaches the cache through the watch at once (no resync needed).
    await must(
      'PATCH',
      '/api/v1/namespaces/ml/secrets/orders-airlock',
      { stringData: { password: 'rotated' } },
      { contentType: MERGE_PATCH },
    );
    await eventually('rotated password in the cache', () => {
      const s = op.caches.secrets.get('orders-airlock', 'ml');
      return s?.data?.['password'] === Buffer.from('rotated').toString('base64') ? s : undefined;
    });

    // Pointing the binding at another Secret releases the first.
    await must('POST', '/api/v1/namespaces/ml/secrets', credentialsSecret('airlock_app', 'v2', 'orders-airlock-v2'));
    await must(
      'PATCH',
      `${G}/namespaces/ml/databasebindings/orders`,
      { spec: { credentialsSecretRef: { name: 'orders-airlock-v2' } } },
      { contentType: MERGE_PATCH },
    );
    await eventually('the new Secret only', () => {
      const k = secretKeys();
      return k.join() === 'airlock-system/airlock-webhook-tls,ml/orders-airlock-v2' ? k : undefined;
    });
    await must('DELETE', `${G}/namespaces/ml/databasebindings/orders`);
    await eventually('released', () =>
      secretKeys().join() === 'airlock-system/airlock-webhook-tls' ? true : undefined,
    );
  });

  test('Pods: only those with a sidecar, labelled by the webhook', async () => {
    await must('POST', `${G}/namespaces/ml/databasebindings`, databaseBinding('orders2', { sidecar: { port: 5433 } }));
    await ready('orders2');
    const injected = await must('POST', '/api/v1/namespaces/ml/pods', TRAINER_POD);
    assert.equal(injected.metadata.labels['airlock.dev/sidecar'], 'true');
    const plain = await must('POST', '/api/v1/namespaces/ml/pods', {
      metadata: { name: 'not-selected', labels: { app: 'other' } },
      spec: { containers: [{ name: 'c', image: 'c:1' }] },
    });
    assert.equal(plain.metadata.labels['airlock.dev/sidecar'], undefined);
    await eventually('the injected pod in the cache', () => op.caches.pods.get(injected.metadata.name, 'ml'));
    // injectedPods counts it (the status reads the narrowed cache).
    await eventually('injectedPods 1', async () => {
      const b = await must('GET', `${G}/namespaces/ml/databasebindings/orders2`);
      return b.status?.injectedPods === 1 ? b : undefined;
    });
    const names = op.caches.pods.list().map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    assert.deepEqual(names, [`ml/${injected.metadata.name}`]);
    assert.equal(op.caches.pods.get('web', 'shop'), undefined);
    assert.equal(op.caches.pods.get('not-selected', 'ml'), undefined);
  });
});
