// The examples on a real kube-apiserver with the operator running, and what GitOps tools read from the
// status it writes: every example is validated by `airlock validate --manifests` and applied (the ML
// example rendered by kubectl's own kustomize, as `kubectl apply -k` would); then the real kstatus
// library (sigs.k8s.io/cli-utils, test/kstatus) and the Argo CD health checks (real Lua 5.1) judge the
// AccessPolicies, DatabaseBindings and AccessRequests the operator wrote status on — including a bad
// policy change and a binding waiting for its Secret, and the fix of each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  G,
  eventually,
  installCrds,
  kubeApi,
  operatorOptions,
  operatorServiceAccount,
  registerWebhooks,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { health, healthScripts } from '../support/argocd-health.ts';
import { kstatus, kstatusBinary } from '../support/kstatus.ts';
import { pluginPath, run } from '../support/plugin.ts';
import { KubeClient } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ex = (...p: string[]) => join(repo, 'examples', ...p);

function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [join(repo, 'bin', 'airlock.ts'), ...args],
      { encoding: 'utf8', timeout: 60_000 },
      (e, out, err) => {
        res({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, out, err });
      },
    );
  });
}

type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
const docsOf = (text: string): Doc[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);

/** The REST collection for a namespaced object of the kinds the examples hold. */
function collection(d: Doc): string {
  if (d.kind === 'Namespace') return '/api/v1/namespaces';
  const ns = d.metadata.namespace ?? 'ml';
  const plural = `${d.kind.toLowerCase()}s`;
  if (d.apiVersion === 'v1') return `/api/v1/namespaces/${ns}/${plural}`;
  return `/apis/${d.apiVersion}/namespaces/${ns}/${plural.replace(/ys$/, 'ies')}`;
}

const TYPES = ['accesspolicies', 'databasebindings', 'accessrequests'] as const;

describe('examples on a real apiserver, judged by kstatus and the Argo CD health checks', () => {
  let kube: Kube;
  let op: Operator;
  const scripts = healthScripts();
  const { must } = kubeApi(() => kube);
  const applied: string[] = [];

  async function apply(docs: Doc[]): Promise<void> {
    for (const d of docs) {
      await must('POST', collection(d), d);
      applied.push(`${d.kind} ${d.metadata.namespace ?? 'ml'}/${d.metadata.name}`);
    }
  }
  const list = async (type: string) => (await must('GET', `${G}/namespaces/ml/${type}`)).items as Doc[];
  const get = async (type: string, name: string) => must('GET', `${G}/namespaces/ml/${type}/${name}`);
  /** Every airlock object of namespace ml once the operator has written status for its current generation. */
  async function settled(): Promise<Doc[]> {
    return eventually(
      'status for every generation',
      async () => {
        const all: Doc[] = [];
        for (const t of TYPES)
          all.push(...(await list(t)).map((o) => ({ ...o, apiVersion: 'airlock.dev/v1alpha1', kind: kindOf(t) })));
        const done = all.every((o: any) =>
          o.kind === 'AccessRequest'
            ? o.status?.phase !== undefined
            : o.status?.observedGeneration === o.metadata.generation,
        );
        return done ? all : undefined;
      },
      20_000,
    );
  }
  /**
   * settled(), and the binding's own reconcile done too: a policy edit does not change the binding's
   * generation, so observedGeneration alone cannot say its Ready has caught up.
   */
  async function bindingReady(name: string, status: 'True' | 'False'): Promise<Doc[]> {
    return eventually(
      `DatabaseBinding ${name} Ready=${status}`,
      async () => {
        const all = await settled();
        const b = all.find((o: any) => o.kind === 'DatabaseBinding' && o.metadata.name === name) as any;
        return b?.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === status ? all : undefined;
      },
      20_000,
    );
  }
  const kindOf = (t: string) =>
    ({ accesspolicies: 'AccessPolicy', databasebindings: 'DatabaseBinding', accessrequests: 'AccessRequest' })[
      t
    ] as string;
  const healthOf = (o: Doc) => health(scripts[`airlock.dev_${o.kind}`] as string, o);

  before(async () => {
    kstatusBinary(); // built (or found) before the apiserver starts: a first build takes a minute
    kube = await startKube();
    await installCrds(kube);
    await kube.createNamespace('airlock-system');
    await kube.createNamespace('ml');
    const account = await operatorServiceAccount(kube);
    const webhookPort = await freePort();
    await registerWebhooks(kube, webhookPort, { accessRequests: true });
    op = new Operator(operatorOptions(KubeClient.fromFile(account.kubeconfigPath), webhookPort));
    await op.start();
  });
  after(async () => {
    await op?.stop();
    await kube?.stop();
  });

  test('every example validates with `airlock validate --manifests`, each problem-free', async () => {
    for (const set of [
      [ex('quickstart')],
      [ex('ml-training')],
      [ex('quickstart', 'binding.yaml'), ex('break-glass')],
    ]) {
      const r = await cli(['validate', '--manifests', ...set]);
      assert.equal(r.code, 0, `${set.join(' ')}:\n${r.out}${r.err}`);
      assert.match(r.out, /: ok \(/);
    }
  });

  test('the quick start, the ML workload (kubectl kustomize), the break-glass policy and the tour manifests apply to the apiserver', async () => {
    await must('POST', '/api/v1/namespaces/ml/secrets', {
      metadata: { name: 'orders-airlock' },
      stringData: { username: 'airlock_app', password: 'x' },
    });
    await must('POST', '/api/v1/namespaces/ml/secrets', {
      metadata: { name: 'features-airlock' },
      stringData: { username: 'trainer_ro', password: 'x' },
    });
    for (const f of ['binding.yaml', 'policy-readonly.yaml', 'policy-guardrails.yaml'])
      await apply(docsOf(readFileSync(ex('quickstart', f), 'utf8')));
    // The real kustomize inside kubectl renders the ConfigMap from train.py and requirements.txt.
    const rendered = execFileSync('kubectl', ['kustomize', ex('ml-training')], { encoding: 'utf8', timeout: 60_000 });
    const ml = docsOf(rendered);
    assert.deepEqual(ml.map((d) => d.kind).sort(), [
      'AccessPolicy',
      'ConfigMap',
      'DatabaseBinding',
      'Job',
      'ServiceAccount',
    ]);
    const cm = ml.find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> } & Doc;
    assert.equal(cm.data['train.py'], readFileSync(ex('ml-training', 'train.py'), 'utf8'));
    await apply(ml);
    await apply(docsOf(readFileSync(ex('break-glass', 'policy.yaml'), 'utf8')));
    await apply(docsOf(readFileSync(ex('break-glass', 'request.yaml'), 'utf8')));
    // The tour's database and collector (docs/tour.md) are accepted as written.
    for (const f of ['postgres.yaml', 'otel-collector.yaml']) await apply(docsOf(readFileSync(ex('tour', f), 'utf8')));
    await must('GET', '/apis/apps/v1/namespaces/observability/deployments/otel-collector');
    const job = await must('GET', '/apis/batch/v1/namespaces/ml/jobs/churn-trainer');
    assert.equal(job.spec.template.metadata.labels.app, 'churn-trainer', 'the label the features binding selects');
    assert.ok(applied.length >= 11, applied.join(', '));
  });

  test('on the objects the operator wrote, kstatus says Current and Argo CD says Healthy (the request: Suspended)', async () => {
    const objs = await settled();
    const ks = await kstatus(objs);
    const by = Object.fromEntries(ks.map((r) => [`${r.kind} ${r.name}`, r]));
    for (const key of [
      'AccessPolicy ml/analysts-read',
      'AccessPolicy ml/guardrails',
      'AccessPolicy ml/churn-trainer',
      'AccessPolicy ml/oncall-break-glass',
      'DatabaseBinding ml/orders',
      'DatabaseBinding ml/features',
      'AccessRequest ml/inc-4711-fix-order',
    ]) {
      assert.equal(by[key]?.status, 'Current', `${key}: ${JSON.stringify(by[key])}`);
    }
    for (const o of objs) {
      const h = await healthOf(o);
      assert.equal(
        h.status,
        o.kind === 'AccessRequest' ? 'Suspended' : 'Healthy',
        `${o.kind} ${o.metadata.name}: ${h.message}`,
      );
    }
    const ar = objs.find((o) => o.kind === 'AccessRequest') as any;
    assert.equal(ar.status.phase, 'Pending');
  });

  test("a bad policy change: kstatus Failed (Stalled) at once, Argo CD Degraded with the operator's message; the fix makes both Current/Healthy", async () => {
    const p = await get('accesspolicies', 'analysts-read');
    // Accepted by the CRD schema, rejected by the operator's validation: functions on a rule without CALL.
    p.spec.rules.push({ name: 'reports', effect: 'allow', operations: ['SELECT'], functions: ['reporting.*'] });
    await must('PUT', `${G}/namespaces/ml/accesspolicies/analysts-read`, p);
    const objs = await bindingReady('orders', 'False');
    const bad = objs.find((o) => o.kind === 'AccessPolicy' && o.metadata.name === 'analysts-read') as any;
    assert.deepEqual(
      bad.status.conditions.map((c: any) => [c.type, c.status, c.reason]),
      [
        ['Ready', 'False', 'InvalidSpec'],
        ['Stalled', 'True', 'InvalidSpec'],
      ],
    );
    const ks = await kstatus(objs);
    const st = (k: string) => ks.find((r) => `${r.kind} ${r.name}` === k);
    assert.equal(st('AccessPolicy ml/analysts-read')?.status, 'Failed');
    assert.match(
      st('AccessPolicy ml/analysts-read')?.message ?? '',
      /spec\.rules\[1\]\.functions: functions applies only to CALL/,
    );
    // The binding the policy is for keeps its sidecars on the last good set, and says so the same way.
    assert.equal(st('DatabaseBinding ml/orders')?.status, 'Failed');
    assert.equal(st('DatabaseBinding ml/features')?.status, 'Current', 'another binding is not affected');
    const h = await healthOf(bad);
    assert.equal(h.status, 'Degraded');
    assert.match(
      h.message,
      /AccessPolicy ml\/analysts-read: spec\.rules\[1\]\.functions: functions applies only to CALL/,
    );

    const fixed = await get('accesspolicies', 'analysts-read');
    fixed.spec.rules.pop();
    await must('PUT', `${G}/namespaces/ml/accesspolicies/analysts-read`, fixed);
    const again = await bindingReady('orders', 'True');
    const ks2 = await kstatus(again);
    for (const r of ks2) assert.equal(r.status, 'Current', `${r.kind} ${r.name}: ${r.message}`);
    const good = again.find((o) => o.kind === 'AccessPolicy' && o.metadata.name === 'analysts-read') as any;
    assert.deepEqual(
      good.status.conditions.map((c: any) => c.type),
      ['Ready'],
      'Stalled is removed, not left False',
    );
    assert.equal((await healthOf(good)).status, 'Healthy');
  });

  test('a binding waiting for its Secret is in progress (Reconciling), not failed; the Secret makes it Current', async () => {
    await apply([
      {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'DatabaseBinding',
        metadata: { name: 'reports', namespace: 'ml' },
        spec: {
          engine: 'postgres',
          endpoint: { host: 'reports-pg.db.svc', database: 'reports' },
          credentialsSecretRef: { name: 'reports-airlock' },
        },
      },
    ]);
    const objs = await settled();
    const b = objs.find((o) => o.kind === 'DatabaseBinding' && o.metadata.name === 'reports') as any;
    assert.deepEqual(
      b.status.conditions.map((c: any) => [c.type, c.status, c.reason]),
      [
        ['Ready', 'False', 'SecretNotFound'],
        ['Reconciling', 'True', 'SecretNotFound'],
      ],
    );
    const [r] = await kstatus([b]);
    assert.equal(r?.status, 'InProgress');
    assert.equal((await healthOf(b)).status, 'Progressing');
    await must('POST', '/api/v1/namespaces/ml/secrets', {
      metadata: { name: 'reports-airlock' },
      stringData: { username: 'u', password: 'p' },
    });
    const ready = await eventually('reports Ready', async () => {
      const x = await get('databasebindings', 'reports');
      return x.status?.conditions?.length === 1 && x.status.conditions[0].status === 'True'
        ? { ...x, apiVersion: 'airlock.dev/v1alpha1', kind: 'DatabaseBinding' }
        : undefined;
    });
    const [r2] = await kstatus([ready]);
    assert.equal(r2?.status, 'Current');
  });

  test("kubectl airlock: a person on call asks, a DBA approves, through kubectl's plugin mechanism; the grant reads Healthy", async () => {
    // The chart's ClusterRoles that examples/break-glass binds to groups data-oncall and dba.
    const roles = parse(
      readFileSync(join(repo, 'charts', 'airlock', 'files', 'accessrequest-roles.yaml'), 'utf8'),
    ) as Record<string, unknown[]>;
    for (const role of ['requester', 'approver'])
      await must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
        metadata: { name: `airlock-${role}` },
        rules: roles[role],
      });
    const plugin = pluginPath();
    const kubectl = (user: string, ...args: string[]) =>
      run('kubectl', ['airlock', ...args], { ...plugin, KUBECONFIG: kube.kubeconfigFor(user) });
    const sql = "UPDATE public.orders SET status = 'refunded' WHERE id = 4712";
    // The plugin's own explain first: what the approval is for.
    const x = await kubectl(
      'alice@example.com',
      'explain',
      ex('quickstart', 'binding.yaml'),
      ex('break-glass', 'policy.yaml'),
      '--identity',
      'alice@example.com',
      '--group',
      'data-oncall',
      sql,
    );
    assert.equal(x.code, 0, x.err);
    assert.match(x.out, /verdict: approve by ml\/oncall-break-glass rule "fix-with-approval"/);
    const created = await eventually('kubectl airlock request create', async () => {
      const r = await kubectl(
        'alice@example.com',
        'request',
        'create',
        '-n',
        'ml',
        '--subject',
        'Group:data-oncall',
        '--database',
        'orders',
        '--statement',
        sql,
        '--duration',
        '30m',
        '--reason',
        'INC-4712',
      );
      return r.code === 0 ? r.out.trim() : undefined; // the apiserver may need a moment to authorize via the new roles
    });
    assert.match(created, /^ar-[a-z0-9]+$/);
    const listed = await kubectl('bob@example.com', 'request', 'list', '-n', 'ml');
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, new RegExp(`${created}\\s+Pending`));
    const approved = await kubectl('bob@example.com', 'approve', created, '-n', 'ml', '--comment', 'refund checked');
    assert.equal(approved.code, 0, approved.err);
    assert.equal(approved.out.trim(), `AccessRequest ml/${created}: approved as bob@example.com`);
    const ar = await eventually('Approved', async () => {
      const o = await get('accessrequests', created);
      return o.status?.phase === 'Approved'
        ? { ...o, apiVersion: 'airlock.dev/v1alpha1', kind: 'AccessRequest' }
        : undefined;
    });
    const h = await healthOf(ar);
    assert.equal(h.status, 'Healthy');
    assert.match(h.message, /^Approved until \d{4}-/);
    const [k] = await kstatus([ar]);
    assert.equal(k?.status, 'Current');
  });

  test('a spec edit not yet observed reads as in progress in both tools', async () => {
    // Stop the operator so the new generation stays unobserved, as in the moment after a GitOps sync.
    await op.stop();
    const p = await get('accesspolicies', 'guardrails');
    p.spec.guardrails.maxAffectedRows = 500;
    const updated = {
      ...(await must('PUT', `${G}/namespaces/ml/accesspolicies/guardrails`, p)),
      apiVersion: 'airlock.dev/v1alpha1',
      kind: 'AccessPolicy',
    };
    assert.ok(updated.metadata.generation > updated.status.observedGeneration);
    const [r] = await kstatus([updated]);
    assert.equal(r?.status, 'InProgress');
    assert.equal((await healthOf(updated)).status, 'Progressing');
  });
});
