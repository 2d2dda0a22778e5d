// End to end: staging counters (design.md: warn/observe policies count what enforcement would have
// denied, per rule, with the last example's normalised text). A real kube-apiserver, the Operator
// in-process running as a ServiceAccount that holds only operator/rbac.yaml, a sidecar-mode proxy as a
// separate process (args from the real webhook, a pod-bound token), and a real PostgreSQL. An `observe`
// policy that would deny a SELECT: the SELECT runs, and the policy's status.violations counts it.
// A spec change (new generation) starts the counts from zero.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseAllDocuments } from 'yaml';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import { freePort } from '../support/ports.ts';
import { adminQuery, createRole, quoteIdent, testDatabase, uniqueName } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';
import { KubeClient } from '../../operator/kube.ts';
import { silentLogger } from '../../operator/log.ts';
import { Operator } from '../../operator/operator.ts';

const root = join(import.meta.dirname, '..', '..');
const IMAGE = 'ghcr.io/airlock-dev/airlock:e2e';
const G = '/apis/airlock.dev/v1alpha1';
const POLICY = `${G}/namespaces/ml/accesspolicies/staged`;

async function eventually<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try { const v = await f(); if (v !== undefined) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface Violation { rule: string; count: number; lastStatement?: string; lastSeen?: string }
interface PolicyObject { metadata: { generation: number }; status?: { observedGeneration?: number; violations?: Violation[] } }

const READ_ALL = { name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] };
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

  const must = async (method: string, path: string, body?: unknown, contentType?: string) => {
    const r = await kube.request(method, path, { body, ...(contentType === undefined ? {} : { contentType }) });
    assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 400)}`);
    return r.body as any;
  };
  const policy = async (): Promise<PolicyObject> => await must('GET', POLICY) as PolicyObject;

  before(async () => {
    [kube, db] = await Promise.all([startKube(), testDatabase('violations')]);
    await adminQuery(db.server, 'CREATE TABLE public.items (id int PRIMARY KEY, name text); INSERT INTO public.items VALUES (1, \'one\'), (4242, \'secret-ish\')', db.database);
    await adminQuery(db.server, 'CREATE TABLE public.other (id int PRIMARY KEY)', db.database);
    const role = await createRole(uniqueName('airlock_app'), 'app-secret');
    await adminQuery(db.server, `GRANT SELECT ON public.items, public.other TO ${quoteIdent(role.user)}`, db.database);

    for (const f of readdirSync(join(root, 'crds')).filter((x) => x.endsWith('.yaml'))) {
      for (const d of parseAllDocuments(readFileSync(join(root, 'crds', f), 'utf8'))) {
        const crd = d.toJS();
        if (crd) await must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      }
    }
    await eventually('CRDs established', async () => {
      const a = await kube.request('GET', `${G}/namespaces/default/databasebindings`);
      const b = await kube.request('GET', `${G}/namespaces/default/accesspolicies`);
      return a.status === 200 && b.status === 200 ? true : undefined;
    });
    await kube.createNamespace('airlock-system');
    await kube.createNamespace('ml');
    await must('POST', '/api/v1/namespaces/ml/serviceaccounts', { metadata: { name: 'trainer' } });
    // The operator holds exactly operator/rbac.yaml: status.violations needs get+update on accesspolicies/status.
    await must('POST', '/api/v1/namespaces/airlock-system/serviceaccounts', { metadata: { name: 'airlock-operator' } });
    for (const d of parseAllDocuments(readFileSync(join(root, 'operator', 'rbac.yaml'), 'utf8'))) {
      const o = d.toJS() as { kind: string; metadata: { namespace?: string } } | null;
      if (o === null) continue;
      const plural = `${o.kind.toLowerCase()}s`;
      await must('POST', o.metadata.namespace ? `/apis/rbac.authorization.k8s.io/v1/namespaces/${o.metadata.namespace}/${plural}` : `/apis/rbac.authorization.k8s.io/v1/${plural}`, o);
    }
    const opToken = await kube.serviceAccountToken('airlock-system', 'airlock-operator');
    const kubeconfig = join(tmp, 'operator.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'op',
      clusters: [{ name: 'k', cluster: { server: kube.server, 'certificate-authority-data': Buffer.from(kube.caPem).toString('base64') } }],
      users: [{ name: 'op', user: { token: opToken } }],
      contexts: [{ name: 'op', context: { cluster: 'k', user: 'op' } }],
    }));

    await must('POST', '/api/v1/namespaces/ml/secrets', { metadata: { name: 'orders-airlock' }, stringData: { username: role.user, password: role.password } });
    await must('POST', `${G}/namespaces/ml/databasebindings`, {
      apiVersion: 'airlock.dev/v1alpha1', kind: 'DatabaseBinding', metadata: { name: 'orders', namespace: 'ml' },
      spec: { engine: 'postgres', endpoint: { host: db.host, port: db.port, database: db.database }, credentialsSecretRef: { name: 'orders-airlock' },
        tls: { mode: 'disable' }, workloadSelector: { matchLabels: { app: 'trainer' } } },
    });
    // Staged: a team wants to forbid reading public.items, and watches what that would break first.
    await must('POST', `${G}/namespaces/ml/accesspolicies`, {
      apiVersion: 'airlock.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'staged', namespace: 'ml' },
      spec: { mode: 'observe', subjects: [{ kind: 'ServiceAccount', name: 'trainer' }], databases: ['orders'], rules: [READ_ALL, NO_ITEMS] },
    });

    const webhookPort = await freePort();
    await must('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
      metadata: { name: 'airlock-sidecar-injector' },
      webhooks: [{
        name: 'sidecar-injector.airlock.dev', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 5,
        clientConfig: { url: `https://127.0.0.1:${webhookPort}/mutate-pods` },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['airlock-system', 'kube-system'] }] },
      }],
    });
    op = new Operator({
      kube: KubeClient.fromFile(kubeconfig), namespace: 'airlock-system', log: silentLogger,
      webhook: { host: '127.0.0.1', port: webhookPort, configName: 'airlock-sidecar-injector', secretName: 'airlock-webhook-tls', names: ['127.0.0.1'], manageCert: true },
      grpc: { host: '127.0.0.1', port: 0 },
      sidecar: { image: IMAGE, operatorAddress: 'airlock-operator.airlock-system.svc:9090' },
    });
    const started = await op.start();

    const pod = await eventually('pod admitted by the webhook', async () => {
      const r = await kube.request('POST', '/api/v1/namespaces/ml/pods', { body: {
        metadata: { generateName: 'trainer-', labels: { app: 'trainer' } },
        spec: { serviceAccountName: 'trainer', containers: [{ name: 'train', image: 'trainer:1' }] },
      } });
      return r.status === 201 ? r.body as any : undefined;
    });
    const sidecar = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c: { name: string }) => c.name === 'airlock-proxy-orders');
    assert.ok(sidecar, 'the webhook injected the sidecar');
    const tr = await must('POST', '/api/v1/namespaces/ml/serviceaccounts/trainer/token', {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: { audiences: ['airlock'], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid } },
    });
    const tokenFile = join(tmp, 'token');
    writeFileSync(tokenFile, tr.status.token);
    const spool = join(tmp, 'spool');
    mkdirSync(spool);
    const healthPort = await freePort();
    listenPort = await freePort();
    const moved: Record<string, string> = {
      '--operator': `127.0.0.1:${started.grpcPort}`, '--listen': `127.0.0.1:${listenPort}`,
      '--health-listen': `127.0.0.1:${healthPort}`, '--token-file': tokenFile, '--spool-dir': spool,
    };
    const args = (sidecar.args as string[]).map((a, i, all) => moved[all[i - 1] ?? ''] ?? a);
    const ca = (sidecar.env as { name: string; value?: string }[]).find((e) => e.name === 'AIRLOCK_OPERATOR_CA')?.value;
    proxy = spawn(process.execPath, [join(root, 'bin', 'airlock.ts'), ...args], {
      env: { ...process.env, AIRLOCK_OPERATOR_CA: ca, POD_NAME: pod.metadata.name, POD_NAMESPACE: 'ml' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    proxy.stdout!.on('data', (c: Buffer) => { proxyLog += c.toString(); });
    proxy.stderr!.on('data', (c: Buffer) => { proxyLog += c.toString(); });
    proxyExit = new Promise((resolve) => proxy.once('exit', (code, sig) => { proxyLog += `[exited ${code} ${sig}]\n`; resolve(code); }));
    await eventually('the sidecar listening', async () => (/listening on/.test(proxyLog) ? true : undefined)).catch((e: Error) => {
      throw new Error(`${e.message}\n${proxyLog}`);
    });
  });

  after(async () => {
    if (proxy !== undefined && proxy.exitCode === null) { proxy.kill('SIGTERM'); await proxyExit; }
    await op?.stop();
    await kube?.stop();
    await db?.drop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const client = async (): Promise<pg.Client> => {
    const c = new pg.Client({ host: '127.0.0.1', port: listenPort, database: 'orders', user: 'app', password: 'anything' });
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
      await c.query('SELECT id FROM public.other');            // allowed by "read": not a violation
    } finally {
      await c.end();
    }
    const p = await eventually('status.violations with count 3', async () => {
      const got = await policy();
      return got.status?.violations?.[0]?.count === 3 ? got : undefined;
    }).catch((e: Error) => { throw new Error(`${e.message}\n${proxyLog}`); });
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
    await must('PATCH', POLICY, { spec: { mode: 'warn' } }, 'application/merge-patch+json');
    const cleared = await eventually('the new generation observed, counts reset', async () => {
      const got = await policy();
      return got.metadata.generation === 2 && got.status?.observedGeneration === 2 && (got.status.violations ?? []).length === 0 ? got : undefined;
    });
    assert.equal(cleared.status?.violations, undefined);
    const c = await client();
    try {
      await c.query('SELECT id FROM public.items WHERE id = 1');   // warn: runs, counted against generation 2
    } finally {
      await c.end();
    }
    const p = await eventually('the count of the new generation', async () => {
      const got = await policy();
      return (got.status?.violations ?? []).length > 0 ? got : undefined;
    });
    assert.deepEqual(p.status!.violations!.map((x) => [x.rule, x.count, x.lastStatement]), [['no-items', 1, 'SELECT id FROM public.items WHERE id = $1']]);
  });
});
