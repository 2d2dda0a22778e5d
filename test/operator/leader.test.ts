// Leader election against a real kube-apiserver: several Operator instances in one namespace, each as the
// operator's ServiceAccount holding only operator/rbac.yaml, with short Lease timings (lease 3 s, renew
// deadline 2 s, retry 300 ms). Only the Lease holder writes status; every replica serves gRPC and picks
// up a renewed serving certificate from the Secret; stop releases; a crash hands over after expiry; a lost
// write (409) never makes two leaders.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  G,
  OPERATOR_NS as NS,
  TRAINER_POD,
  accessPolicy as policy,
  credentialsSecret,
  databaseBinding,
  eventuallyWithin,
  installCrds,
  kubeApi,
  operatorOptions,
  operatorServiceAccount,
  podBoundToken,
  registerWebhooks,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { KubeClient } from '../../operator/kube.ts';
import type { KubeResult } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';
import { issueServing } from '../../operator/webhook/certs.ts';
import { watchPolicy } from '../../distribution/client.ts';
import type { DistributedPolicy } from '../../distribution/types.ts';

const LEASE = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/airlock-operator`;
const tmp = mkdtempSync(join(tmpdir(), 'airlock-le-'));

// Polled every 25 ms: leadership changes within a 300 ms retry period.
const eventually = eventuallyWithin(15_000, 25);

/** The real client, recording the writes the test asserts on (status patches, Lease updates). */
class RecordingKube extends KubeClient {
  readonly statusWrites: string[] = [];
  readonly leaseUpdates: number[] = [];
  /** Runs once, right before this replica's next Lease update is sent (to make it lose a race). */
  beforeLeaseUpdate: (() => Promise<void>) | null = null;
  override async call(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
    timeoutMs?: number,
  ): Promise<KubeResult> {
    const lease = method === 'PUT' && path.includes('/leases/');
    if (lease && this.beforeLeaseUpdate !== null) {
      const f = this.beforeLeaseUpdate;
      this.beforeLeaseUpdate = null;
      await f();
    }
    const r = await super.call(method, path, body, contentType, timeoutMs);
    if (method === 'PATCH' && path.endsWith('/status') && r.status === 200) this.statusWrites.push(path);
    if (lease) this.leaseUpdates.push(r.status);
    return r;
  }
}

interface Replica {
  readonly name: string;
  readonly op: Operator;
  readonly kube: RecordingKube;
  readonly webhookPort: number;
  readonly grpcPort: number;
}

describe('leader election on a real apiserver', () => {
  let kube: Kube;
  let kubeconfig = '';
  let caPem = '';
  const live: Replica[] = [];
  /** Every moment two replicas believed they lead (checked on each change, and by a sampler). */
  const overlaps: string[] = [];
  let sampler: NodeJS.Timeout | undefined;

  const { req, must } = kubeApi(() => kube);
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
    const op = new Operator(
      operatorOptions(rk, webhookPort, {
        leaderElection: {
          id: 'airlock-operator',
          identity: name,
          leaseDurationMs: 3000,
          renewDeadlineMs: 2000,
          retryPeriodMs: 300,
        },
      }),
    );
    op.leader!.onChange(() => checkOverlap(`${name} changed`));
    const started = await op.start().catch(async (e: unknown) => {
      await op.stop();
      throw e;
    });
    caPem = started.caBundlePem ?? '';
    const r = { name, op, kube: rk, webhookPort, grpcPort: started.grpcPort };
    live.push(r);
    return r;
  }
  async function stop(r: Replica, how: 'release' | 'crash'): Promise<void> {
    live.splice(live.indexOf(r), 1);
    if (how === 'crash') await r.op.leader!.stop({ release: false }); // renewals end, the Lease is left as it was
    await r.op.stop();
  }
  const lease = async (): Promise<{
    holderIdentity?: string;
    leaseTransitions?: number;
    leaseDurationSeconds?: number;
  }> => (await must('GET', LEASE)).spec;

  before(async () => {
    kube = await startKube();
    await installCrds(kube);
    await kube.createNamespace(NS);
    await kube.createNamespace('ml');
    await must('POST', '/api/v1/namespaces/ml/serviceaccounts', { metadata: { name: 'trainer' } });
    kubeconfig = (await operatorServiceAccount(kube)).kubeconfigPath;
    const webhookPort = await freePort();
    // Points at the first replica: pods are created only while it runs.
    await registerWebhooks(kube, webhookPort, { pods: true });
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
    await must('POST', '/api/v1/namespaces/ml/secrets', credentialsSecret('airlock_app', 's3cret'));
    await must('POST', `${G}/namespaces/ml/databasebindings`, databaseBinding('orders'));
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
    await eventually("binding in the webhook replica's cache", () => first.op.caches.bindings.get('orders', 'ml'));
    const pod = await must('POST', '/api/v1/namespaces/ml/pods', TRAINER_POD);
    assert.equal(pod.metadata.annotations['airlock.dev/injected'], 'orders@1');
    await eventually('pod in every cache', () =>
      live.every((r) => r.op.caches.pods.get(pod.metadata.name, 'ml')) ? true : undefined,
    );
    tokenFile = join(tmp, 'pod-token');
    writeFileSync(tokenFile, await podBoundToken(kube, pod));
    for (const r of live) {
      const got: DistributedPolicy[] = [];
      const w = watchPolicy(
        `127.0.0.1:${r.grpcPort}`,
        { namespace: 'ml', name: 'orders' },
        tokenFile,
        (p) => got.push(p),
        () => {},
        { caPem },
      );
      try {
        const p = await eventually(`snapshot from ${r.name}`, () => got[0]);
        assert.deepEqual(p.credentials, { username: 'airlock_app', password: 's3cret' });
        assert.deepEqual(
          p.policySet.policies.map((x) => x.name),
          ['ml/trainer'],
        );
      } finally {
        w.close();
      }
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
    const served = (port: number, alpn?: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const c = connect(
          { host: '127.0.0.1', port, rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: [alpn] } : {}) },
          () => {
            const f = c.getPeerCertificate().fingerprint256;
            c.destroy();
            resolve(f);
          },
        );
        c.on('error', reject);
      });
    for (const r of live) {
      await eventually(`${r.name} webhook serving the renewed certificate`, async () =>
        (await served(r.webhookPort)) === want ? true : undefined,
      );
      await eventually(`${r.name} gRPC serving the renewed certificate`, async () =>
        (await served(r.grpcPort, 'h2')) === want ? true : undefined,
      );
      // and a sidecar still verifies it with the CA it was given
      const got: DistributedPolicy[] = [];
      const w = watchPolicy(
        `127.0.0.1:${r.grpcPort}`,
        { namespace: 'ml', name: 'orders' },
        tokenFile,
        (p) => got.push(p),
        () => {},
        { caPem },
      );
      try {
        await eventually(`snapshot from ${r.name} over the renewed certificate`, () => got[0]);
      } finally {
        w.close();
      }
    }
  });

  test('stopping the leader releases the Lease: the other takes over at once and writes status', async () => {
    const old = leaders()[0]!;
    const next = live.find((r) => r !== old)!;
    const before = await lease();
    const t0 = performance.now();
    await stop(old, 'release');
    await eventually('the other replica leading', () => (next.op.isLeader() ? true : undefined));
    process.stdout.write(
      `# takeover after release: ${(performance.now() - t0).toFixed(0)} ms (lease 3000 ms, retry 300 ms)\n`,
    );
    const now = await lease();
    assert.equal(now.holderIdentity, next.name);
    assert.equal(
      now.leaseTransitions,
      (before.leaseTransitions ?? 0) + 1,
      'one change of holder (a release is not one)',
    );
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
      l.spec = {
        ...l.spec,
        holderIdentity: 'intruder',
        leaseDurationSeconds: 2,
        renewTime: new Date().toISOString().replace(/Z$/, '000Z'),
      };
      writtenBy = (await must('PUT', LEASE, l)).spec.holderIdentity;
    };
    const seen = leader.kube.leaseUpdates.length;
    await eventually('a conflict', () => (leader.kube.leaseUpdates.slice(seen).includes(409) ? true : undefined));
    assert.equal(writtenBy, 'intruder');
    await eventually('the old leader stepping down', () => (leader.op.isLeader() ? undefined : true));
    assert.equal(fourth.op.isLeader(), false, "nobody leads while the intruder's lease is valid");
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
