// The webhook over real HTTPS with a certificate from certs.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DatabaseBinding } from '../../policy/types.ts';
import { issueServing, makeCA } from './certs.ts';
import type { Pod } from '../pod.ts';
import { applyPatch } from './patch.ts';
import type { JsonPatchOp } from './patch.ts';
import { WEBHOOK_PATH, createWebhookServer } from './server.ts';

const binding = (name: string, port?: number): DatabaseBinding => ({
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'DatabaseBinding',
  metadata: { name, namespace: 'ml', generation: 1 },
  spec: {
    engine: 'postgres',
    endpoint: { host: 'pg', database: name },
    credentialsSecretRef: { name: 's' },
    workloadSelector: { matchLabels: { app: 'trainer' } },
    ...(port ? { sidecar: { port } } : {}),
  },
});
let bindings: DatabaseBinding[] = [binding('orders')];
const pod: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'trainer-', labels: { app: 'trainer' } },
  spec: { containers: [{ name: 'app', image: 'app:1' }] },
};
const reviewOf = (p: unknown, ns = 'ml'): string =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'abc-123',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: ns,
      operation: 'CREATE',
      object: p,
    },
  });

describe('webhook server', () => {
  let ca = '';
  let port = 0;
  let server: ReturnType<typeof createWebhookServer>;
  before(async () => {
    const c = await makeCA('t');
    const s = await issueServing(c, ['127.0.0.1']);
    ca = c.certPem;
    server = createWebhookServer(s, {
      bindingsIn: (ns) => bindings.filter((b) => b.metadata.namespace === ns),
      inject: {
        image: 'airlock:1',
        operatorAddress: 'op:9090',
        operatorNamespace: 'airlock-system',
        kubernetesMinor: 31,
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  function post(body: string, path = WEBHOOK_PATH): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, method: 'POST', ca, headers: { 'content-type': 'application/json' } },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  test('answers a matching pod with a JSONPatch that injects the sidecar', async () => {
    const r = await post(reviewOf(pod));
    assert.equal(r.status, 200);
    const resp = JSON.parse(r.text).response;
    assert.equal(resp.uid, 'abc-123');
    assert.equal(resp.allowed, true);
    assert.equal(resp.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(resp.patch, 'base64').toString()) as JsonPatchOp[];
    const out = applyPatch({ ...pod, metadata: { ...pod.metadata, namespace: 'ml' } }, ops);
    assert.equal(out.spec?.initContainers?.[0]?.name, 'airlock-proxy-orders');
    assert.equal(out.metadata?.annotations?.['airlock.dev/injected'], 'orders@1');
    assert.ok(!ops.some((o) => o.path === '/metadata/namespace'), 'namespace is not patched in');
  });

  test('allows without a patch when nothing changes', async () => {
    const r = await post(reviewOf({ ...pod, metadata: { labels: { app: 'web' } } }));
    assert.deepEqual(JSON.parse(r.text).response, { uid: 'abc-123', allowed: true });
  });

  test('refuses a pod whose bindings collide, with the reason', async () => {
    bindings = [binding('orders'), binding('crm')];
    try {
      const resp = JSON.parse((await post(reviewOf(pod))).text).response;
      assert.equal(resp.allowed, false);
      assert.equal(resp.status.code, 403);
      assert.match(
        resp.status.message,
        /^airlock: DatabaseBinding "orders" needs port 5432, which DatabaseBinding "crm" already uses/,
      );
    } finally {
      bindings = [binding('orders')];
    }
  });

  const malformed: [string, string, RegExp][] = [
    ['not JSON', '{', /body is not JSON/],
    [
      'a v1beta1 review',
      JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }),
      /expected apiVersion admission\.k8s\.io\/v1/,
    ],
    [
      'no uid',
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { kind: { group: '', kind: 'Pod' } },
      }),
      /request\.uid is missing/,
    ],
    ['a Deployment', reviewOf(pod).replace('"kind":"Pod"}', '"kind":"Deployment"}'), /mutates core\/v1 Pods only/],
    ['a pod without containers', reviewOf({ metadata: {}, spec: {} }), /not a Pod with spec\.containers/],
  ];
  for (const [name, body, message] of malformed) {
    test(`answers 400 to ${name}`, async () => {
      const r = await post(body);
      assert.equal(r.status, 400);
      assert.match(r.text, message);
    });
  }

  test('other paths are 404, oversized bodies 413', async () => {
    assert.equal((await post('{}', '/other')).status, 404);
    assert.equal(
      (await post(reviewOf({ ...pod, metadata: { annotations: { big: 'x'.repeat(4 * 1024 * 1024) } } }))).status,
      413,
    );
  });
});
