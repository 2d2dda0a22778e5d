// Smoke test of the real control plane harness: if these pass, operator and webhook tests stand on a real
// apiserver with RBAC, admission and ServiceAccount tokens working. Missing binaries fail (never skip),
// in CI and locally alike (style.md §9).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_USER, SERVICE_ACCOUNT_ISSUER, TEST_USERS, kubeBinaries, startKube } from './kube.ts';
import type { Kube } from './kube.ts';

describe('startKube', () => {
  let kube: Kube;
  before(async () => {
    kube = await startKube();
  });
  after(async () => {
    await kube?.stop();
  });

  it('serves the pinned Kubernetes version over TLS signed by its CA', async () => {
    const r = await kube.request('GET', '/version');
    assert.equal(r.status, 200);
    assert.equal(r.body.gitVersion, kube.version);
    assert.equal(kube.version, kubeBinaries().version);
    assert.match(kube.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(kube.caPem, /^-----BEGIN CERTIFICATE-----/);
  });

  it('creates the built-in namespaces itself', async () => {
    // The apiserver's own post-start hooks create these; readyz may pass a moment before the last one.
    const want = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
    let names: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await kube.request('GET', '/api/v1/namespaces');
      assert.equal(r.status, 200);
      names = r.body.items.map((n: { metadata: { name: string } }) => n.metadata.name);
      if (want.every((n) => names.includes(n))) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    for (const n of want) assert.ok(names.includes(n), `namespace ${n} missing from ${names.join(', ')}`);
  });

  it('stores and returns a ConfigMap in a new namespace', async () => {
    await kube.createNamespace('smoke-cm', { team: 'airlock' });
    const created = await kube.request('POST', '/api/v1/namespaces/smoke-cm/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'greeting' }, data: { hello: 'world' } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const read = await kube.request('GET', '/api/v1/namespaces/smoke-cm/configmaps/greeting');
    assert.equal(read.status, 200);
    assert.deepEqual(read.body.data, { hello: 'world' });
    const ns = await kube.request('GET', '/api/v1/namespaces/smoke-cm');
    assert.equal(ns.body.metadata.labels.team, 'airlock');
  });

  it('refuses an unknown token (401) and an unprivileged user (403)', async () => {
    const stranger = await kube.request('GET', '/api/v1/namespaces/default/secrets', { token: 'not-a-token' });
    assert.equal(stranger.status, 401);
    const mallory = await kube.request('GET', '/api/v1/namespaces/default/secrets', {
      token: kube.tokenFor('mallory@example.com'),
    });
    assert.equal(mallory.status, 403);
    assert.equal(mallory.body.reason, 'Forbidden');
    assert.match(mallory.body.message, /User "mallory@example.com" cannot list resource "secrets"/);
  });

  it('enforces RoleBindings to users and to groups from the token file', async () => {
    await kube.createNamespace('smoke-rbac');
    const role = await kube.request('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/smoke-rbac/roles', {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'cm-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    const binding = await kube.request(
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/smoke-rbac/rolebindings',
      {
        body: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'cm-reader' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-reader' },
          subjects: [
            { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice@example.com' },
            { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dba' },
          ],
        },
      },
    );
    assert.equal(binding.status, 201, JSON.stringify(binding.body));
    // RBAC reads bindings from an informer: the grant takes effect within moments, not synchronously.
    const listAs = (user: string, what: string) =>
      kube.request('GET', `/api/v1/namespaces/smoke-rbac/${what}`, { token: kube.tokenFor(user) });
    let alice = await listAs('alice@example.com', 'configmaps');
    for (let i = 0; i < 100 && alice.status === 403; i++) {
      await new Promise((res) => setTimeout(res, 100));
      alice = await listAs('alice@example.com', 'configmaps');
    }
    assert.equal(alice.status, 200);
    assert.equal((await listAs('bob@example.com', 'configmaps')).status, 200); // via group dba
    assert.equal((await listAs('alice@example.com', 'secrets')).status, 403); // not granted
    assert.equal((await listAs('mallory@example.com', 'configmaps')).status, 403); // not bound
  });

  it('issues ServiceAccount tokens the apiserver authenticates, and admits pods with a mounted token', async () => {
    await kube.createNamespace('smoke-sa');
    const token = await kube.serviceAccountToken('smoke-sa', 'default');
    const review = await kube.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [SERVICE_ACCOUNT_ISSUER] },
      },
    });
    assert.equal(review.status, 201, JSON.stringify(review.body));
    assert.equal(review.body.status.authenticated, true);
    assert.equal(review.body.status.user.username, 'system:serviceaccount:smoke-sa:default');

    // The ServiceAccount admission plugin is on: it needs the `default` ServiceAccount createNamespace
    // made, and mounts the projected token as in a real cluster.
    const pod = await kube.request('POST', '/api/v1/namespaces/smoke-sa/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'app' },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
    assert.equal(pod.status, 201, JSON.stringify(pod.body));
    assert.equal(pod.body.spec.serviceAccountName, 'default');
    assert.ok(
      pod.body.spec.volumes.some((v: { name: string }) => v.name.startsWith('kube-api-access-')),
      `no token volume in ${JSON.stringify(pod.body.spec.volumes)}`,
    );
  });

  it('writes a kubeconfig per user', () => {
    for (const user of [ADMIN_USER, ...Object.keys(TEST_USERS)]) {
      const path = user === ADMIN_USER ? kube.kubeconfigPath : kube.kubeconfigFor(user);
      const config = JSON.parse(readFileSync(path, 'utf8'));
      assert.equal(config['current-context'], user);
      assert.equal(config.clusters[0].cluster.server, kube.server);
      assert.equal(
        Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
        kube.caPem,
      );
      assert.equal(config.users[0].user.token, kube.tokenFor(user));
    }
    assert.equal(kube.tokenFor(ADMIN_USER), kube.adminToken);
    assert.throws(() => kube.tokenFor('eve@example.com'), /no test user "eve@example.com"/);
  });
});

describe('startKube lifecycle', () => {
  it('stop() ends the control plane and removes its files', async () => {
    const kube = await startKube();
    assert.equal((await kube.request('GET', '/readyz')).status, 200);
    await kube.stop();
    assert.equal(existsSync(kube.dir), false);
    await assert.rejects(kube.request('GET', '/readyz'), { code: 'ECONNREFUSED' });
    await kube.stop(); // twice is fine
  });

  it('fails, locally and in CI, with how to build the binaries when they are missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'airlock-cache-'));
    const saved = { AIRLOCK_CACHE: process.env.AIRLOCK_CACHE, CI: process.env.CI };
    process.env.AIRLOCK_CACHE = empty;
    try {
      delete process.env.CI;
      await assert.rejects(
        startKube(),
        /are not built: .*kube-apiserver does not exist.*Run scripts\/build-kube\.sh.*never skip/,
      );
      process.env.CI = 'true';
      await assert.rejects(startKube(), /Run scripts\/build-kube\.sh.*CI must build them before the tests run/);
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      await rm(empty, { recursive: true, force: true });
    }
  });
});
