// Leader election against a real kube-apiserver: several Operator instances in one namespace, each as the
// operator's ServiceAccount holding only operator/rbac.yaml, with short Lease timings (lease 3 s, renew
// deadline 2 s, retry 300 ms). Only the Lease holder writes status; every replica serves gRPC and picks
// up a renewed serving certificate from the Secret; stop releases; a crash hands over after expiry; a lost
// write (409) never makes two leaders.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import { freePort } from '../support/ports.ts';
import { KubeClient } from '../../operator/kube.ts';
import type { KubeResult } from '../../operator/kube.ts';
import { silentLogger } from '../../operator/log.ts';
import { Operator } from '../../operator/operator.ts';
import { issueServing } from '../../operator/webhook/certs.ts';
import { watchPolicy } from '../../distribution/client.ts';
import type { DistributedPolicy } from '../../distribution/types.ts';

const root = join(import.meta.dirname, '..', '..');
const IMAGE = 'ghcr.io/airlock-dev/airlock:test';
const G = '/apis/airlock.dev/v1alpha1';
const NS = 'airlock-system';
const LEASE = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/airlock-operator`;
const tmp = mkdtempSync(join(tmpdir(), 'airlock-le-'));

async function eventually<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try { const v = await f(); if (v !== undefined) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The real client, recording the writes the test asserts on (status patches, Lease updates). */
class RecordingKube extends KubeClient {
  readonly statusWrites: string[] = [];
  readonly leaseUpdates: number[] = [];
  /** Runs once, right before this replica's next Lease update is sent (to make it lose a race). */
  beforeLeaseUpdate: (() => Promise<void>) | null = null;
  override async call(method: string, path: string, body?: unknown, contentType?: string, timeoutMs?: number): Promise<KubeResult> {
    const lease = method === 'PUT' && path.includes('/leases/');
    if (lease && this.beforeLeaseUpdate !== null) { const f = this.beforeLeaseUpdate; this.beforeLeaseUpdate = null; await f(); }
    const r = await super.call(method, path, body, contentType, timeoutMs);
    if (method === 'PATCH' && path.endsWith('/status') && r.status === 200) this.statusWrites.push(path);
    if (lease) this.leaseUpdates.push(r.status);
    return r;
  }
}

function policy(name: string): object {
  return { apiVersion: 'airlock.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace: 'ml' },
    spec: { subjects: [{ kind: 'ServiceAccount', name: 'trainer' }], databases: ['orders'], rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] }] } };
}

interface Replica { readonly name: string; readonly op: Operator; readonly kube: RecordingKube; readonly webhookPort: number; readonly grpcPort: number }

describe('leader election on a real apiserver', () => {
  let kube: Kube;
  let kubeconfig = '';
  let caPem = '';
  const live: Replica[] = [];
  /** Every moment two replicas believed they lead (checked on each change, and by a sampler). */
  const overlaps: string[] = [];
  let sampler: NodeJS.Timeout | undefined;

  const req = async (method: string, path: string, body?: unknown) => kube.request(method, path, { body });
  const must = async (method: string, path: string, body?: unknown) => {
    const r = await req(method, path, body);
    assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 400)}`);
    return r.body;
  };
  const leaders = (): Replica[] => live.filter((r) => r.op.isLeader());
  const checkOverlap = (when: string): void => {
    const l = leaders();
    if (l.length > 1) overlaps.push(`${when}: ${l.map((r) => r.name).join(' and ')}`);
  };
  const ready = async (path: string): Promise<boolean | undefined> => {
    const c = (await req('GET', path)).body.status?.conditions?.find((x: { type: string }) => x.type === 'Ready');
    return c?.status === 'True' ? true : undefined;
  };

  async function replica(name: string, webhookPort: number): Promise<Replica> {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const rk = new RecordingKube(kc);
    const op = new Operator({
      kube: rk, namespace: NS, log: silentLogger,
      webhook: { host: '127.0.0.1', port: webhookPort, configName: 'airlock-sidecar-injector', secretName: 'airlock-webhook-tls', names: ['127.0.0.1'], manageCert: true },
      grpc: { host: '127.0.0.1', port: 0 },
      sidecar: { image: IMAGE, operatorAddress: 'operator:9090' },
      leaderElection: { id: 'airlock-operator', identity: name, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 },
    });
    op.leader!.onChange(() => checkOverlap(`${name} changed`));
    const started = await op.start().catch(async (e: unknown) => { await op.stop(); throw e; });
    caPem = started.caBundlePem ?? '';
    const r = { name, op, kube: rk, webhookPort, grpcPort: started.grpcPort };
    live.push(r);
    return r;
  }
  async function stop(r: Replica, how: 'release' | 'crash'): Promise<void> {
    live.splice(live.indexOf(r), 1);
    if (how === 'crash') await r.op.leader!.stop({ release: false });  // renewals end, the Lease is left as it was
    await r.op.stop();
  }
  const lease = async (): Promise<{ holderIdentity?: string; leaseTransitions?: number; leaseDurationSeconds?: number }> => (await must('GET', LEASE)).spec;

  before(async () => {
    kube = await startKube();
    for (const f of readdirSync(join(root, 'crds')).filter((x) => x.endsWith('.yaml'))) {
      for (const d of parseAllDocuments(readFileSync(join(root, 'crds', f), 'utf8'))) {
        const crd = d.toJS();
        if (crd) await must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      }
    }
    await eventually('CRDs established', async () => ((await req('GET', `${G}/namespaces/default/accesspolicies`)).status === 200 ? true : undefined));
    await kube.createNamespace(NS);
    await kube.createNamespace('ml');
    await must('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: 'airlock-operator' } });
    await must('POST', '/api/v1/namespaces/ml/serviceaccounts', { metadata: { name: 'trainer' } });
    for (const d of parseAllDocuments(readFileSync(join(root, 'operator', 'rbac.yaml'), 'utf8'))) {
      const o = d.toJS() as { kind: string; metadata: { namespace?: string } };
      const plural = `${o.kind.toLowerCase()}s`;
      await must('POST', o.metadata.namespace ? `/apis/rbac.authorization.k8s.io/v1/namespaces/${o.metadata.namespace}/${plural}` : `/apis/rbac.authorization.k8s.io/v1/${plural}`, o);
    }
    const token = await kube.serviceAccountToken(NS, 'airlock-operator');
    kubeconfig = join(tmp, 'operator.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'op',
      clusters: [{ name: 'k', cluster: { server: kube.server, 'certificate-authority-data': Buffer.from(kube.caPem).toString('base64') } }],
      users: [{ name: 'op', user: { token } }],
      contexts: [{ name: 'op', context: { cluster: 'k', user: 'op' } }],
    }));
    const webhookPort = await freePort();
    // Points at the first replica: pods are created only while it runs.
    await must('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
      metadata: { name: 'airlock-sidecar-injector' },
      webhooks: [{
        name: 'sidecar-injector.airlock.dev', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 5,
        clientConfig: { url: `https://127.0.0.1:${webhookPort}/mutate-pods` },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NS, 'kube-system'] }] },
      }],
    });
    // Started together: both race to create the certificate Secret and the Lease.
    await Promise.all([replica('op-a', webhookPort), (async () => replica('op-b', await freePort()))()]);
    sampler = setInterval(() => checkOverlap('sampled'), 10);
  });
  after(async () => {
    clearInterval(sampler);
    for (const r of [...live]) await stop(r, 'release');
    await kube?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('exactly one replica holds the Lease, and only it writes status', async () => {
    const [leader] = await eventually('a leader', () => (leaders().length === 1 ? leaders() : undefined));
    assert.equal((await lease()).holderIdentity, leader!.name);
    const follower = live.find((r) => r !== leader)!;
    await must('POST', '/api/v1/namespaces/ml/secrets', { metadata: { name: 'orders-airlock' }, stringData: { username: 'airlock_app', password: 's3cret' } });
    await must('POST', `${G}/namespaces/ml/databasebindings`, { apiVersion: 'airlock.dev/v1alpha1', kind: 'DatabaseBinding', metadata: { name: 'orders', namespace: 'ml' },
      spec: { engine: 'postgres', endpoint: { host: 'orders-pg.db.svc', database: 'orders' }, credentialsSecretRef: { name: 'orders-airlock' },
        tls: { mode: 'disable' }, workloadSelector: { matchLabels: { app: 'trainer' } } } });
    await must('POST', `${G}/namespaces/ml/accesspolicies`, policy('trainer'));
    await eventually('binding Ready', () => ready(`${G}/namespaces/ml/databasebindings/orders`));
    await eventually('policy Ready', () => ready(`${G}/namespaces/ml/accesspolicies/trainer`));
    assert.ok(leader!.kube.statusWrites.length >= 2, 'the leader wrote both statuses');
    assert.deepEqual(follower.kube.statusWrites, [], 'the follower wrote no status');
    assert.equal(follower.op.isLeader(), false);
  });

  let tokenFile = '';
  test('every replica serves gRPC snapshots, leader or not', async () => {
    const first = live[0]!;
    await eventually('binding in the webhook replica\'s cache', () => first.op.caches.bindings.get('orders', 'ml'));
    const pod = await must('POST', '/api/v1/namespaces/ml/pods', {
      metadata: { generateName: 'trainer-', labels: { app: 'trainer' } },
      spec: { serviceAccountName: 'trainer', containers: [{ name: 'train', image: 'trainer:1' }] },
    });
    assert.equal(pod.metadata.annotations['airlock.dev/injected'], 'orders@1');
    await eventually('pod in every cache', () => (live.every((r) => r.op.caches.pods.get(pod.metadata.name, 'ml')) ? true : undefined));
    const t = await must('POST', '/api/v1/namespaces/ml/serviceaccounts/trainer/token', {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: { audiences: ['airlock'], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid } },
    });
    tokenFile = join(tmp, 'pod-token');
    writeFileSync(tokenFile, t.status.token);
    for (const r of live) {
      const got: DistributedPolicy[] = [];
      const w = watchPolicy(`127.0.0.1:${r.grpcPort}`, { namespace: 'ml', name: 'orders' }, tokenFile, (p) => got.push(p), () => {}, { caPem });
      try {
        const p = await eventually(`snapshot from ${r.name}`, () => got[0]);
        assert.deepEqual(p.credentials, { username: 'airlock_app', password: 's3cret' });
        assert.deepEqual(p.policySet.policies.map((x) => x.name), ['ml/trainer']);
      } finally { w.close(); }
    }
  });

  test('every replica picks up a renewed serving certificate from the Secret, webhook and gRPC', async () => {
    const s = await must('GET', `/api/v1/namespaces/${NS}/secrets/airlock-webhook-tls`);
    const unb64 = (k: string): string => Buffer.from(s.data[k], 'base64').toString('utf8');
    const renewed = await issueServing({ certPem: unb64('ca.crt'), keyPem: unb64('ca.key') }, ['127.0.0.1']);
    s.data['tls.crt'] = Buffer.from(renewed.certPem).toString('base64');
    s.data['tls.key'] = Buffer.from(renewed.keyPem).toString('base64');
    await must('PUT', `/api/v1/namespaces/${NS}/secrets/airlock-webhook-tls`, s);
    const want = new X509Certificate(renewed.certPem).fingerprint256;
    const served = (port: number, alpn?: string): Promise<string> => new Promise((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: [alpn] } : {}) }, () => {
        const f = c.getPeerCertificate().fingerprint256;
        c.destroy();
        resolve(f);
      });
      c.on('error', reject);
    });
    for (const r of live) {
      await eventually(`${r.name} webhook serving the renewed certificate`, async () => ((await served(r.webhookPort)) === want ? true : undefined));
      await eventually(`${r.name} gRPC serving the renewed certificate`, async () => ((await served(r.grpcPort, 'h2')) === want ? true : undefined));
      // and a sidecar still verifies it with the CA it was given
      const got: DistributedPolicy[] = [];
      const w = watchPolicy(`127.0.0.1:${r.grpcPort}`, { namespace: 'ml', name: 'orders' }, tokenFile, (p) => got.push(p), () => {}, { caPem });
      try { await eventually(`snapshot from ${r.name} over the renewed certificate`, () => got[0]); } finally { w.close(); }
    }
  });

  test('stopping the leader releases the Lease: the other takes over at once and writes status', async () => {
    const old = leaders()[0]!;
    const next = live.find((r) => r !== old)!;
    const before = await lease();
    const t0 = performance.now();
    await stop(old, 'release');
    await eventually('the other replica leading', () => (next.op.isLeader() ? true : undefined));
    process.stdout.write(`# takeover after release: ${(performance.now() - t0).toFixed(0)} ms (lease 3000 ms, retry 300 ms)\n`);
    const now = await lease();
    assert.equal(now.holderIdentity, next.name);
    assert.equal(now.leaseTransitions, (before.leaseTransitions ?? 0) + 1, 'one change of holder (a release is not one)');
    await must('POST', `${G}/namespaces/ml/accesspolicies`, policy('after-release'));
    await eventually('new policy Ready', () => ready(`${G}/namespaces/ml/accesspolicies/after-release`));
    assert.ok(next.kube.statusWrites.some((p) => p.endsWith('/accesspolicies/after-release/status')));
  });

  test('a crashed leader (no release) is replaced once its lease expires', async () => {
    const third = await replica('op-c', await freePort());
    const crashed = leaders()[0]!;
    assert.notEqual(crashed, third, 'the running leader keeps its Lease when a replica joins');
    const t0 = performance.now();
    await stop(crashed, 'crash');
    assert.equal((await lease()).holderIdentity, crashed.name, 'not released');
    await eventually('the new replica leading', () => (third.op.isLeader() ? true : undefined));
    process.stdout.write(`# takeover after a crash: ${(performance.now() - t0).toFixed(0)} ms (lease 3000 ms)\n`);
    assert.equal((await lease()).holderIdentity, third.name);
    await must('POST', `${G}/namespaces/ml/accesspolicies`, policy('after-crash'));
    await eventually('new policy Ready', () => ready(`${G}/namespaces/ml/accesspolicies/after-crash`));
    assert.ok(third.kube.statusWrites.some((p) => p.endsWith('/accesspolicies/after-crash/status')));
  });

  test('a lost Lease update (409) never yields two leaders; the loser steps down at once', async () => {
    const fourth = await replica('op-d', await freePort());
    const leader = leaders()[0]!;
    assert.notEqual(leader, fourth);
    // Right before the leader's next renewal, someone else takes the Lease: the renewal gets a real 409.
    let writtenBy = '';
    leader.kube.beforeLeaseUpdate = async () => {
      const l = await must('GET', LEASE);
      l.spec = { ...l.spec, holderIdentity: 'intruder', leaseDurationSeconds: 2, renewTime: new Date().toISOString().replace(/Z$/, '000Z') };
      writtenBy = (await must('PUT', LEASE, l)).spec.holderIdentity;
    };
    const seen = leader.kube.leaseUpdates.length;
    await eventually('a conflict', () => (leader.kube.leaseUpdates.slice(seen).includes(409) ? true : undefined));
    assert.equal(writtenBy, 'intruder');
    await eventually('the old leader stepping down', () => (leader.op.isLeader() ? undefined : true));
    assert.equal(fourth.op.isLeader(), false, 'nobody leads while the intruder\'s lease is valid');
    assert.equal((await lease()).holderIdentity, 'intruder');
    // The intruder never renews: after its 2 s one replica — exactly one — takes over.
    const next = await eventually('a new leader', () => leaders()[0]);
    assert.equal((await lease()).holderIdentity, next.name);
    assert.deepEqual(overlaps, []);
  });

  test('no two replicas ever led at the same time', () => {
    assert.deepEqual(overlaps, []);
  });
});
