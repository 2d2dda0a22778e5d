// End to end: staging counters (design.md: warn/observe policies count what enforcement would have
// denied, per rule, with the last example's normalised text). A real kube-apiserver, the Operator
// in-process running as a ServiceAccount that holds only operator/rbac.yaml, a sidecar-mode proxy as a
// separate process (args from the real webhook, a pod-bound token), and a real PostgreSQL. An `observe`
// policy that would deny a SELECT: the SELECT runs, and the policy's status.violations counts it.
// A spec change (new generation) starts the counts from zero.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  G,
  MERGE_PATCH,
  READ_ALL,
  accessPolicy,
  eventuallyWithin,
  kubeApi,
  operatorOptions,
  operatorServiceAccount,
  registerWebhooks,
  seedOrdersScenario,
  startInjectedSidecar,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { adminQuery, createRole, quoteIdent, testDatabase, uniqueName } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';
import { KubeClient } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';

const POLICY = `${G}/namespaces/ml/accesspolicies/staged`;
// Counts reach status through the sidecar's report and a status write: waits get 30 s, polled every 100 ms.
const eventually = eventuallyWithin(30_000, 100);

interface Violation {
  rule: string;
  count: number;
  lastStatement?: string;
  lastSeen?: string;
}
interface PolicyObject {
  metadata: { generation: number };
  status?: { observedGeneration?: number; violations?: Violation[] };
}

const NO_ITEMS = { name: 'no-items', effect: 'deny', operations: ['SELECT'], tables: ['public.items'] };

describe('warn/observe violation counters in AccessPolicy status', () => {
  let kube: Kube;
  let op: Operator;
  let db: TestDatabase;
  let proxy: ChildProcess;
  let proxyLog = '';
  let proxyExit: Promise<number | null>;
  let listenPort = 0;
  const tmp = mkdtempSync(join(tmpdir(), 'airlock-violations-'));

  const { must } = kubeApi(() => kube);
  const policy = async (): Promise<PolicyObject> => (await must('GET', POLICY)) as PolicyObject;

  before(async () => {
    [kube, db] = await Promise.all([startKube(), testDatabase('violations')]);
    await adminQuery(
      db.server,
      "CREATE TABLE public.items (id int PRIMARY KEY, name text); INSERT INTO public.items VALUES (1, 'one'), (4242, 'secret-ish')",
      db.database,
    );
    await adminQuery(db.server, 'CREATE TABLE public.other (id int PRIMARY KEY)', db.database);
    const role = await createRole(uniqueName('airlock_app'), 'app-secret');
    await adminQuery(db.server, `GRANT SELECT ON public.items, public.other TO ${quoteIdent(role.user)}`, db.database);

    // Staged: a team wants to forbid reading public.items, and watches what that would break first.
    await seedOrdersScenario(kube, db, role, accessPolicy('staged', { mode: 'observe', rules: [READ_ALL, NO_ITEMS] }));
    // The operator holds exactly operator/rbac.yaml: status.violations needs get+update on accesspolicies/status.
    const { kubeconfigPath } = await operatorServiceAccount(kube);

    const webhookPort = await freePort();
    await registerWebhooks(kube, webhookPort, { pods: true });
    op = new Operator(
      operatorOptions(KubeClient.fromFile(kubeconfigPath), webhookPort, {
        sidecar: {
          image: 'ghcr.io/airlock-dev/airlock:e2e',
          operatorAddress: 'airlock-operator.airlock-system.svc:9090',
        },
      }),
    );
    const started = await op.start();

    ({
      child: proxy,
      exited: proxyExit,
      listenPort,
    } = await startInjectedSidecar(kube, {
      grpcPort: started.grpcPort,
      dir: tmp,
      onOutput: (t) => {
        proxyLog += t;
      },
    }));
    await eventually('the sidecar listening', async () => (/listening on/.test(proxyLog) ? true : undefined)).catch(
      (e: Error) => {
        throw new Error(`${e.message}\n${proxyLog}`);
      },
    );
  });

  after(async () => {
    if (proxy !== undefined && proxy.exitCode === null) {
      proxy.kill('SIGTERM');
      await proxyExit;
    }
    await op?.stop();
    await kube?.stop();
    await db?.drop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const client = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      host: '127.0.0.1',
      port: listenPort,
      database: 'orders',
      user: 'app',
      password: 'anything',
    });
    await c.connect();
    return c;
  };

  test('statements an observe policy would deny run, and its status counts them with normalized text', async () => {
    const c = await client();
    try {
      for (const id of [4242, 1, 4242]) {
        const r = await c.query(`SELECT name FROM public.items WHERE id = ${id}`);
        assert.equal(r.rowCount, 1, 'observe mode lets the statement run');
      }
      await c.query('SELECT id FROM public.other'); // allowed by "read": not a violation
    } finally {
      await c.end();
    }
    const p = await eventually('status.violations with count 3', async () => {
      const got = await policy();
      return got.status?.violations?.[0]?.count === 3 ? got : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${proxyLog}`);
    });
    const v = p.status!.violations!;
    assert.equal(v.length, 1, JSON.stringify(v));
    assert.equal(v[0]!.rule, 'no-items');
    assert.equal(v[0]!.lastStatement, 'SELECT name FROM public.items WHERE id = $1');
    assert.ok(!JSON.stringify(v).includes('4242'), 'no literal reaches the status');
    const seen = Date.parse(v[0]!.lastSeen ?? '');
    assert.ok(Number.isFinite(seen) && Math.abs(Date.now() - seen) < 10 * 60_000, `lastSeen ${v[0]!.lastSeen}`);
    assert.equal(p.status!.observedGeneration, p.metadata.generation);
  });

  test('a new generation of the policy starts the counts from zero', async () => {
    await must('PATCH', POLICY, { spec: { mode: 'warn' } }, { contentType: MERGE_PATCH });
    const cleared = await eventually('the new generation observed, counts reset', async () => {
      const got = await policy();
      return got.metadata.generation === 2
        && got.status?.observedGeneration === 2
        && (got.status.violations ?? []).length === 0
        ? got
        : undefined;
    });
    assert.equal(cleared.status?.violations, undefined);
    const c = await client();
    try {
      await c.query('SELECT id FROM public.items WHERE id = 1'); // warn: runs, counted against generation 2
    } finally {
      await c.end();
    }
    const p = await eventually('the count of the new generation', async () => {
      const got = await policy();
      return (got.status?.violations ?? []).length > 0 ? got : undefined;
    });
    assert.deepEqual(
      p.status!.violations!.map((x) => [x.rule, x.count, x.lastStatement]),
      [['no-items', 1, 'SELECT id FROM public.items WHERE id = $1']],
    );
  });
});
