// End to end: a real kube-apiserver (CRDs, webhook, TokenReview), the Operator in-process, and
// `airlock proxy` in sidecar mode as a separate process — started with the very args the webhook injected
// (ports and paths moved to this machine) and a pod-bound token from the TokenRequest API, in front of a
// real PostgreSQL. Policy edits reach the live session; revocation ends it; deleting the binding makes
// the sidecar exit 0. Latencies are printed (not asserted: machines differ). The Secret and policy exist
// before the operator starts, so they reach it by LIST, not by watch event (informers.ts stamps `kind`).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
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
  registerWebhooks,
  seedOrdersScenario,
  startInjectedSidecar,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { adminQuery, createRole, quoteIdent, testDatabase, uniqueName } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';
import { KubeClient } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';

// A separate process in the loop: waits get 20 s.
const eventually = eventuallyWithin(20_000);

describe('sidecar mode end to end', () => {
  let kube: Kube;
  let op: Operator;
  let db: TestDatabase;
  let proxy: ChildProcess;
  let proxyLog = '';
  let proxyExit: Promise<number | null>;
  let listenPort = 0;
  let healthPort = 0;
  let grpcPort = 0;
  let webhookPort = 0;
  const tmp = mkdtempSync(join(tmpdir(), 'airlock-sidecar-'));

  const { must } = kubeApi(() => kube);
  const readyz = (): Promise<number> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: healthPort, path: '/readyz' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });

  before(async () => {
    [kube, db] = await Promise.all([startKube(), testDatabase('sidecar')]);
    await adminQuery(
      db.server,
      "CREATE TABLE public.items (id int PRIMARY KEY, name text); INSERT INTO public.items VALUES (1, 'one'), (2, 'two')",
      db.database,
    );
    const role = await createRole(uniqueName('airlock_app'), 'app-secret');
    await adminQuery(
      db.server,
      "CREATE TABLE public.notes (id int PRIMARY KEY, body text); INSERT INTO public.notes VALUES (1, 'draft')",
      db.database,
    );
    await adminQuery(
      db.server,
      `GRANT SELECT ON public.items TO ${quoteIdent(role.user)}; GRANT SELECT, UPDATE ON public.notes TO ${quoteIdent(role.user)}`,
      db.database,
    );

    await seedOrdersScenario(kube, db, role, accessPolicy('trainer'));

    webhookPort = await freePort();
    await registerWebhooks(kube, webhookPort, { pods: true });
    op = new Operator(
      operatorOptions(KubeClient.fromFile(kube.kubeconfigPath), webhookPort, {
        sidecar: {
          image: 'ghcr.io/airlock-dev/airlock:e2e',
          operatorAddress: 'airlock-operator.airlock-system.svc:9090',
        },
      }),
    );
    const started = await op.start();
    grpcPort = started.grpcPort;

    // The pod, through the real webhook: it gets the sidecar, its args and AIRLOCK_OPERATOR_CA.
    const sidecar = await startInjectedSidecar(kube, {
      grpcPort: started.grpcPort,
      dir: tmp,
      onOutput: (t) => {
        proxyLog += t;
      },
    });
    ({ child: proxy, exited: proxyExit, listenPort, healthPort } = sidecar);
    assert.deepEqual(
      sidecar.args.filter((a) => a.startsWith('--')),
      ['--operator', '--binding', '--listen', '--health-listen', '--token-file', '--spool-dir', '--drain-timeout'],
    );
    assert.ok(sidecar.ca, 'the webhook passes the operator CA');
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

  let session: pg.Client;
  let sessionEnded: Promise<number>;
  const noteBody = async (): Promise<string> =>
    (await adminQuery(db.server, 'SELECT body FROM public.notes WHERE id = 1', db.database)).rows[0].body;

  test("the sidecar becomes ready with the operator's policy; a SELECT works through it", async () => {
    await eventually('sidecar /readyz', async () => ((await readyz()) === 200 ? true : undefined)).catch(
      async (e: Error) => {
        const b = (await kube.request('GET', `${G}/namespaces/ml/databasebindings/orders`)).body as {
          status?: unknown;
        };
        throw new Error(`${e.message}\nbinding status: ${JSON.stringify(b.status)}\n${proxyLog}`);
      },
    );
    session = await client();
    sessionEnded = new Promise((resolve) => {
      session.on('error', () => {});
      session.once('end', () => resolve(Date.now()));
    });
    const r = await session.query('SELECT id, name FROM public.items ORDER BY id');
    assert.deepEqual(r.rows, [
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
    ]);
    assert.match(proxyLog, /listening on 127\.0\.0\.1:\d+ as system:serviceaccount:ml:trainer/);
  });

  test('a policy edit that denies the SELECT reaches the live session', async () => {
    const t0 = Date.now();
    await must(
      'PATCH',
      `${G}/namespaces/ml/accesspolicies/trainer`,
      {
        spec: {
          rules: [READ_ALL, { name: 'no-items', effect: 'deny', operations: ['SELECT'], tables: ['public.items'] }],
        },
      },
      { contentType: MERGE_PATCH },
    );
    const err = await eventually(
      '42501 on the same session',
      async () => {
        try {
          await session.query('SELECT id FROM public.items');
          return undefined;
        } catch (e) {
          return e as { code?: string; message: string };
        }
      },
      20_000,
      10,
    );
    const ms = Date.now() - t0;
    assert.equal(err.code, '42501', err.message);
    process.stdout.write(`# policy edit → 42501 on the live session: ${ms} ms\n`);
    // Still connected: only the statement was refused.
    assert.deepEqual((await session.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  });

  // Issue 15: the operator restarts (a rollout, a crash) during a live session on the real apiserver.
  test('an operator restart keeps the live session on the last good policy; the sidecar reconnects and an edit made meanwhile reaches the session', async () => {
    await op.stop();
    // Down: the live session runs on the last good policy (the deny of the previous test) and stays open.
    await assert.rejects(session.query('SELECT id FROM public.items'), (e: { code?: string }) => e.code === '42501');
    assert.deepEqual((await session.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    assert.equal(await readyz(), 200, 'still ready: it holds a policy');
    // An edit while no operator runs: items readable again.
    await must(
      'PATCH',
      `${G}/namespaces/ml/accesspolicies/trainer`,
      { spec: { rules: [READ_ALL] } },
      { contentType: MERGE_PATCH },
    );
    const t0 = Date.now();
    op = new Operator(
      operatorOptions(KubeClient.fromFile(kube.kubeconfigPath), webhookPort, {
        sidecar: {
          image: 'ghcr.io/airlock-dev/airlock:e2e',
          operatorAddress: 'airlock-operator.airlock-system.svc:9090',
        },
        grpc: { host: '127.0.0.1', port: grpcPort },
      }),
    );
    await op.start();
    const rows = await eventually(
      'the edit made while the operator was down on the same session',
      async () => {
        try {
          return (await session.query('SELECT id FROM public.items ORDER BY id')).rows;
        } catch {
          return undefined;
        }
      },
      30_000,
      20,
    );
    assert.deepEqual(rows, [{ id: 1 }, { id: 2 }]);
    process.stdout.write(
      `# operator restart → the live session on the new policy: ${Date.now() - t0} ms after the new operator started\n`,
    );
    assert.match(proxyLog, /policy stream from .* ended .*keeping the last good policy/);
    // Back to the state the next tests start from.
    await must(
      'PATCH',
      `${G}/namespaces/ml/accesspolicies/trainer`,
      {
        spec: {
          rules: [READ_ALL, { name: 'no-items', effect: 'deny', operations: ['SELECT'], tables: ['public.items'] }],
        },
      },
      { contentType: MERGE_PATCH },
    );
    await eventually(
      'the deny again',
      async () => {
        try {
          await session.query('SELECT id FROM public.items');
          return undefined;
        } catch (e) {
          return (e as { code?: string }).code === '42501' ? true : undefined;
        }
      },
      20_000,
      10,
    );
  });

  // Just-in-time access: the statement an approve rule governs is held, the operator creates the
  // AccessRequest for the pod's ServiceAccount, an approver's entry makes it Approved, the grant reaches
  // the sidecar and the held statement runs; revoking it ends the session that used it.
  const FIX_NOTES = { name: 'fix-notes', effect: 'approve', operations: ['UPDATE'], tables: ['public.notes'] };
  let requestName = '';
  test('a statement hitting an approve rule waits for its AccessRequest, and runs once it is approved', async () => {
    const updates = (): number => proxyLog.split('policy generation').length;
    const before = updates();
    await must(
      'PATCH',
      `${G}/namespaces/ml/accesspolicies/trainer`,
      {
        spec: {
          rules: [
            READ_ALL,
            { name: 'no-items', effect: 'deny', operations: ['SELECT'], tables: ['public.items'] },
            FIX_NOTES,
          ],
          approval: { approvers: [{ kind: 'Group', name: 'dba' }], holdTimeout: '30s', maxDuration: '1h' },
        },
      },
      { contentType: MERGE_PATCH },
    );
    await eventually('the sidecar to get the approve rule', async () => (updates() > before ? true : undefined));
    const jit = await client();
    jit.on('error', () => {});
    const jitEnded = new Promise<void>((resolve) => jit.once('end', () => resolve()));
    const sql = "UPDATE public.notes SET body = 'approved-4821' WHERE id = 1";
    const running: Promise<pg.QueryResult> = jit.query(sql);
    const req = await eventually(
      'an AccessRequest created for the held statement',
      async () => {
        const l = await must('GET', `${G}/namespaces/ml/accessrequests`);
        return (l.items as any[]).find((r) => r.spec.statement === sql);
      },
      20_000,
      50,
    ).catch(async (e: Error) => {
      await running.catch(() => {});
      throw e;
    });
    requestName = req.metadata.name;
    assert.deepEqual(req.spec.subject, { kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' });
    assert.equal(req.spec.requestedBy, 'system:serviceaccount:ml:trainer');
    assert.equal(req.spec.database, 'orders');
    const pending = await eventually('phase Pending with a message', async () => {
      const r = await must('GET', `${G}/namespaces/ml/accessrequests/${requestName}`);
      return r.status?.phase === 'Pending' ? r : undefined;
    });
    assert.match(pending.status.message, /waiting for 1 more approval from Group dba/);
    assert.equal(await noteBody(), 'draft', 'nothing ran while held');
    // An approver's entry (the admission webhook that stamps it is tested in accessrequest.test.ts).
    const t0 = Date.now();
    pending.status.approvals = [
      {
        approver: 'bob@example.com',
        groups: ['dba'],
        decision: 'Approve',
        at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    ];
    await must('PUT', `${G}/namespaces/ml/accessrequests/${requestName}/status`, pending);
    const r = await running;
    process.stdout.write(`# approval written → held statement ran: ${Date.now() - t0} ms\n`);
    assert.equal(r.rowCount, 1);
    assert.equal(await noteBody(), 'approved-4821');
    const approved = await must('GET', `${G}/namespaces/ml/accessrequests/${requestName}`);
    assert.equal(approved.status.phase, 'Approved');
    assert.ok(
      Date.parse(approved.status.expiresAt) > Date.now() + 50 * 60_000,
      'expires after the requested maxDuration',
    );
    // Another literal is another statement: not covered by this request.
    const sneaky = jit.query("UPDATE public.notes SET body = 'sneaky-1175' WHERE id = 1").then(
      () => 'ran',
      () => 'refused',
    );
    await eventually('a second AccessRequest for the other statement', async () => {
      const l = await must('GET', `${G}/namespaces/ml/accessrequests`);
      return (l.items as any[]).find((x) => x.spec.statement?.includes('sneaky-1175'));
    });
    // Revoking the approved request ends the session that used it.
    const t1 = Date.now();
    approved.status.approvals.push({
      approver: 'system:serviceaccount:ml:trainer',
      decision: 'Revoke',
      at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
    await must('PUT', `${G}/namespaces/ml/accessrequests/${requestName}/status`, approved);
    await Promise.race([
      jitEnded,
      new Promise((_, rej) =>
        setTimeout(() => rej(new Error(`the session that used the grant was not ended\n${proxyLog}`)), 20_000).unref(),
      ),
    ]);
    process.stdout.write(`# revoke written → session that used the grant closed: ${Date.now() - t1} ms\n`);
    assert.equal(await sneaky, 'refused');
    assert.equal(await noteBody(), 'approved-4821');
    const revoked = await eventually('phase Revoked', async () => {
      const x = await must('GET', `${G}/namespaces/ml/accessrequests/${requestName}`);
      return x.status?.phase === 'Revoked' ? x : undefined;
    });
    assert.match(revoked.status.message, /revoked by system:serviceaccount:ml:trainer/);
    // The idle session that never used the grant is still there.
    assert.deepEqual((await session.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  });

  test('an approval expires: the session that used it ends when its time is up', async () => {
    const updates = (): number => proxyLog.split('policy generation').length;
    const before = updates();
    await must(
      'PATCH',
      `${G}/namespaces/ml/accesspolicies/trainer`,
      { spec: { approval: { maxDuration: '2s', holdTimeout: '30s' } } },
      { contentType: MERGE_PATCH },
    );
    await eventually('the sidecar to get the new maxDuration', async () => (updates() > before ? true : undefined));
    const jit = await client();
    jit.on('error', (e) => {
      jitError += `${e.message}\n`;
    });
    let jitError = '';
    const ended = new Promise<number>((resolve) => jit.once('end', () => resolve(Date.now())));
    const sql = "UPDATE public.notes SET body = 'briefly-3310' WHERE id = 1";
    const running = jit.query(sql);
    const req = await eventually('the AccessRequest', async () => {
      const l = await must('GET', `${G}/namespaces/ml/accessrequests`);
      return (l.items as any[]).find((r) => r.spec.statement === sql && r.status?.phase === 'Pending');
    });
    req.status.approvals = [
      {
        approver: 'bob@example.com',
        groups: ['dba'],
        decision: 'Approve',
        at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    ];
    await must('PUT', `${G}/namespaces/ml/accessrequests/${req.metadata.name}/status`, req);
    assert.equal((await running).rowCount, 1);
    const approved = await must('GET', `${G}/namespaces/ml/accessrequests/${req.metadata.name}`);
    const expiresAt = Date.parse(approved.status.expiresAt);
    const at = await Promise.race([ended, new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref())]);
    assert.ok(at !== null, `the session was not ended at expiry\n${proxyLog}`);
    assert.ok(at >= expiresAt - 1000, 'not ended before the approval expired (expiresAt has 1 s resolution)');
    assert.match(jitError, /access revoked: AccessRequest ml\/ar-\w+ expired/);
    process.stdout.write(`# approval expiry → session ended ${at - expiresAt} ms after expiresAt\n`);
    await eventually('phase Expired', async () => {
      const x = await must('GET', `${G}/namespaces/ml/accessrequests/${req.metadata.name}`);
      return x.status?.phase === 'Expired' ? true : undefined;
    });
  });

  test('deleting the policy ends the idle session (revocation)', async () => {
    const t0 = Date.now();
    await must('DELETE', `${G}/namespaces/ml/accesspolicies/trainer`);
    const ended = await Promise.race([
      sessionEnded,
      new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref()),
    ]);
    assert.ok(ended !== null, `the idle session was not closed\n${proxyLog}`);
    process.stdout.write(`# policy delete → idle session closed: ${ended - t0} ms\n`);
    // A new session is refused now: nothing gives the pod's ServiceAccount access.
    await assert.rejects(client(), (e: { code?: string }) => e.code === '42501');
  });

  test('deleting the binding makes the sidecar exit 0 (shutdown from the operator)', async () => {
    await must('DELETE', `${G}/namespaces/ml/databasebindings/orders`);
    const code = await Promise.race([
      proxyExit,
      new Promise<string>((r) => setTimeout(() => r('still running'), 20_000).unref()),
    ]);
    assert.equal(code, 0, proxyLog);
    assert.match(proxyLog, /the operator says stop/);
  });
});
