// Real gRPC server and client in one process (style.md §9: real parts). Identity comes from a fixed
// token map (StaticTokenReviewer); test/operator/ covers the TokenReview against a real apiserver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { DatabaseBinding } from '../../policy/types.ts';
import { StaticTokenReviewer, reviewed } from './auth.ts';
import { authorizeWatch } from './authorize.ts';
import { watchPolicy } from '../../distribution/client.ts';
import type { WatchState } from '../../distribution/client.ts';
import { PolicyDistributionClient } from '../../distribution/proto.ts';
import { DistributionServer } from './server.ts';
import type { BindingRef, DistributedPolicy, PolicyUpdateMessage, Snapshot } from '../../distribution/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-dist-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function tokenFile(token: string): string {
  const p = join(dir, `token-${Math.random().toString(36).slice(2)}`);
  writeFileSync(p, `${token}\n`);
  return p;
}

const ORDERS: BindingRef = { namespace: 'ml', name: 'orders' };
const bindings: DatabaseBinding[] = [
  {
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'DatabaseBinding',
    metadata: { name: 'orders', namespace: 'ml', generation: 1 },
    spec: {
      engine: 'postgres',
      endpoint: { host: 'pg', database: 'orders' },
      credentialsSecretRef: { name: 's' },
      workloadSelector: { matchLabels: { app: 'trainer' } },
    },
  },
];
const reviewer = new StaticTokenReviewer(
  new Map([
    ['trainer-token', reviewed('system:serviceaccount:ml:trainer')],
    ['shop-token', reviewed('system:serviceaccount:shop:web')],
    ['alice-token', reviewed('alice@example.com')],
  ]),
);

function snapshot(n: number, pad = 0): Snapshot {
  return {
    policySet: {
      generation: n,
      policies: [
        {
          name: `ml/p${n}`,
          mode: 'enforce',
          subjects: [],
          databases: ['orders'],
          rules: [{ name: 'r', effect: 'allow', operations: ['SELECT'], tables: ['x'.repeat(pad)], functions: null }],
          masking: {},
          blockUnfilteredWrites: false,
          maxAffectedRows: null,
          approval: null,
        },
      ],
    },
    binding: { namespace: 'ml', name: 'orders', generation: 1, spec: bindings[0]!.spec },
    endpoint: { host: 'pg', port: 5432, database: 'orders', tlsMode: 'require', caPem: null },
    credentials: { username: 'app', password: 'secret' },
    grants: [],
    revoked: [],
    shutdown: null,
  };
}

function nextEvent<T>(arr: T[], pred: (t: T) => boolean, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = (): void => {
      const hit = arr.find(pred);
      if (hit !== undefined) return resolve(hit);
      if (Date.now() - start > timeoutMs)
        return reject(new Error(`timed out; saw ${JSON.stringify(arr).slice(0, 500)}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

describe('PolicyDistribution', () => {
  let server: DistributionServer;
  let port = 0;
  let addr = '';
  before(async () => {
    server = new DistributionServer({
      reviewer,
      authorize: (who, ref) => authorizeWatch(who, ref, bindings, null, 'img'),
    });
    port = await server.listen('127.0.0.1:0');
    addr = `127.0.0.1:${port}`;
  });
  after(async () => {
    await server.close();
  });

  test('pushes the current snapshot on connect and every new one after', async () => {
    server.publish(ORDERS, snapshot(1));
    const got: DistributedPolicy[] = [];
    const w = watchPolicy(addr, ORDERS, tokenFile('trainer-token'), (p) => got.push(p));
    try {
      await nextEvent(got, (p) => p.policySet.policies[0]?.name === 'ml/p1');
      assert.deepEqual(got[0]?.credentials, { username: 'app', password: 'secret' });
      assert.equal(got[0]?.policySet.generation, 1);
      server.publish(ORDERS, snapshot(2));
      const second = await nextEvent(got, (p) => p.policySet.policies[0]?.name === 'ml/p2');
      assert.equal(second.policySet.generation, 2, 'new content, new client generation');
      // Same policy set again (e.g. only the Secret changed): the generation, and the decision cache, stay.
      server.publish(ORDERS, { ...snapshot(2), credentials: { username: 'app', password: 'rotated' } });
      const third = await nextEvent(got, (p) => p.credentials?.password === 'rotated');
      assert.equal(third.policySet.generation, 2);
      assert.equal(w.last(), third);
    } finally {
      w.close();
    }
  });

  test('a slow reader gets one merged, newest update instead of a queue', async () => {
    server.publish(ORDERS, snapshot(100));
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer trainer-token');
    const client = new PolicyDistributionClient(addr, grpc.credentials.createInsecure());
    const call = (client as any).watch(
      { namespace: 'ml', binding: 'orders' },
      md,
    ) as grpc.ClientReadableStream<PolicyUpdateMessage>;
    const seen: PolicyUpdateMessage[] = [];
    await new Promise<void>((resolve) =>
      call.once('data', (m: PolicyUpdateMessage) => {
        seen.push(m);
        resolve();
      }),
    );
    call.pause(); // stop reading: HTTP/2 flow control stalls the server's writes
    const before = server.stats();
    const N = 300;
    for (let i = 1; i <= N; i++) server.publish(ORDERS, snapshot(100 + i, 20_000)); // ~20 kB each
    const mid = server.stats();
    assert.ok(mid.merged - before.merged > 0, 'updates were merged while a send was in flight');
    call.on('data', (m: PolicyUpdateMessage) => seen.push(m));
    call.resume();
    await nextEvent(seen, (m) => (JSON.parse(m.policySetJson) as { generation: number }).generation === 100 + N);
    const gens = seen.map((m) => (JSON.parse(m.policySetJson) as { generation: number }).generation);
    assert.ok(gens.length < N / 2, `the reader got ${gens.length} messages for ${N} publishes`);
    assert.deepEqual(
      [...gens].sort((a, b) => a - b),
      gens,
      'in order',
    );
    call.on('error', () => {}); // the CANCELLED status our own cancel() causes
    call.cancel();
    client.close();
  });

  test('reconnects after the operator restarts and keeps the last good update meanwhile', async () => {
    const s1 = new DistributionServer({
      reviewer,
      authorize: (who, ref) => authorizeWatch(who, ref, bindings, null, 'img'),
    });
    const p = await s1.listen('127.0.0.1:0');
    s1.publish(ORDERS, snapshot(7));
    const got: DistributedPolicy[] = [];
    const states: WatchState[] = [];
    const w = watchPolicy(
      `127.0.0.1:${p}`,
      ORDERS,
      tokenFile('trainer-token'),
      (x) => got.push(x),
      (s) => states.push(s),
      { initialBackoffMs: 20, maxBackoffMs: 100 },
    );
    try {
      await nextEvent(got, (x) => x.policySet.policies[0]?.name === 'ml/p7');
      await s1.close();
      await nextEvent(states, (s) => s.state === 'backoff');
      assert.equal(w.last()?.policySet.policies[0]?.name, 'ml/p7', 'last good kept while disconnected');
      const s2 = new DistributionServer({
        reviewer,
        authorize: (who, ref) => authorizeWatch(who, ref, bindings, null, 'img'),
      });
      await s2.listen(`127.0.0.1:${p}`);
      s2.publish(ORDERS, snapshot(8));
      try {
        const x = await nextEvent(got, (y) => y.policySet.policies[0]?.name === 'ml/p8');
        assert.equal(x.policySet.generation, 2);
      } finally {
        await s2.close();
      }
    } finally {
      w.close();
    }
  });

  test('a malformed update is reported and the last good one kept', async () => {
    server.publish(ORDERS, snapshot(20));
    const got: DistributedPolicy[] = [];
    const states: WatchState[] = [];
    const w = watchPolicy(
      addr,
      ORDERS,
      tokenFile('trainer-token'),
      (x) => got.push(x),
      (s) => states.push(s),
    );
    try {
      await nextEvent(got, (x) => x.policySet.policies[0]?.name === 'ml/p20');
      server.publish(ORDERS, { ...snapshot(21), policySet: { generation: 'nope', policies: null } as never });
      const bad = await nextEvent(states, (s) => s.state === 'invalid-update');
      assert.match((bad as { message: string }).message, /not a CompiledPolicySet/);
      assert.equal(w.last()?.policySet.policies[0]?.name, 'ml/p20');
    } finally {
      w.close();
    }
  });

  const refusals: [string, string | null, BindingRef, number, RegExp][] = [
    ['unknown token', 'stolen-token', ORDERS, grpc.status.UNAUTHENTICATED, /TokenReview/],
    ['no token at all', null, ORDERS, grpc.status.UNAUTHENTICATED, /authorization/],
    [
      'another namespace',
      'shop-token',
      ORDERS,
      grpc.status.PERMISSION_DENIED,
      /only watch DatabaseBindings in namespace shop, not ml/,
    ],
    ['a user, not a ServiceAccount', 'alice-token', ORDERS, grpc.status.PERMISSION_DENIED, /not a ServiceAccount/],
    [
      'a binding that does not exist',
      'trainer-token',
      { namespace: 'ml', name: 'nope' },
      grpc.status.NOT_FOUND,
      /does not exist/,
    ],
  ];
  for (const [name, token, ref, code, message] of refusals) {
    test(`refuses ${name}`, async () => {
      const md = new grpc.Metadata();
      if (token !== null) md.set('authorization', `Bearer ${token}`);
      const client = new PolicyDistributionClient(addr, grpc.credentials.createInsecure());
      const call = (client as any).watch(
        { namespace: ref.namespace, binding: ref.name },
        md,
      ) as grpc.ClientReadableStream<PolicyUpdateMessage>;
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        call.on('data', () => reject(new Error('got an update')));
        call.on('error', resolve);
      });
      assert.equal(err.code, code);
      assert.match(err.details, message);
      client.close();
    });
  }

  test('the client reports refusals and keeps retrying', async () => {
    const states: WatchState[] = [];
    const w = watchPolicy(
      addr,
      ORDERS,
      tokenFile('shop-token'),
      () => assert.fail('no update expected'),
      (s) => states.push(s),
      { initialBackoffMs: 10, maxBackoffMs: 20 },
    );
    try {
      await nextEvent(states, (s) => s.state === 'connecting' && s.attempt >= 2);
      const b = states.find((s) => s.state === 'backoff') as { code: number };
      assert.equal(b.code, grpc.status.PERMISSION_DENIED);
      assert.equal(w.last(), null, 'nothing to serve: the proxy denies everything');
    } finally {
      w.close();
    }
  });

  test('a deleted binding sends deny-all with a shutdown reason and ends the stream', async () => {
    const ref = { namespace: 'ml', name: 'orders' };
    server.publish(ref, snapshot(30));
    const got: DistributedPolicy[] = [];
    const states: WatchState[] = [];
    const w = watchPolicy(
      addr,
      ref,
      tokenFile('trainer-token'),
      (x) => got.push(x),
      (s) => states.push(s),
      { initialBackoffMs: 1000 },
    );
    try {
      await nextEvent(got, (x) => x.policySet.policies[0]?.name === 'ml/p30');
      server.remove(ref, 'DatabaseBinding ml/orders was deleted');
      const last = await nextEvent(got, (x) => x.shutdown !== null);
      assert.deepEqual(last.policySet.policies, []);
      assert.equal(last.credentials, null);
      const b = await nextEvent(states, (s) => s.state === 'backoff');
      assert.equal((b as { code: number }).code, grpc.status.NOT_FOUND);
    } finally {
      w.close();
      server.publish(ORDERS, snapshot(31));
    }
  });

  test('a new version reaches 50 connected sidecars (latency reported, not asserted)', async () => {
    const ws: { got: DistributedPolicy[]; w: ReturnType<typeof watchPolicy> }[] = [];
    for (let i = 0; i < 50; i++) {
      const got: DistributedPolicy[] = [];
      ws.push({ got, w: watchPolicy(addr, ORDERS, tokenFile('trainer-token'), (x) => got.push(x)) });
    }
    try {
      for (const { got } of ws) await nextEvent(got, () => true);
      const t0 = performance.now();
      const arrived: number[] = [];
      server.publish(ORDERS, snapshot(999));
      for (const { got } of ws) {
        await nextEvent(got, (x) => x.policySet.policies[0]?.name === 'ml/p999', 5000);
        arrived.push(performance.now() - t0);
      }
      const max = Math.max(...arrived);
      process.stdout.write(`# push to 50 sidecars: all received within ${max.toFixed(1)} ms\n`);
    } finally {
      for (const { w } of ws) w.close();
    }
  });
});
