// AccessRequest approvals on a real kube-apiserver (test/support/kube.ts): the operator's webhook server
// (operator/webhook/server.ts, /mutate-accessrequests) registered exactly as the chart registers it
// (charts/airlock/templates/webhook.yaml, with a url clientConfig on 127.0.0.1), its SubjectAccessReviews
// made as the operator's ServiceAccount holding only operator/rbac.yaml, people holding the chart's
// requester/approver rules (charts/airlock/files/accessrequest-roles.yaml), and `airlock request` run
// in-process as those people. No controller runs here: where a phase is needed, the test writes it as
// the operator's user, which the webhook lets through.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ADMIN_USER, startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  G,
  MERGE_PATCH,
  chartAccessRequestWebhook as chartWebhook,
  eventually,
  installCrds,
  kubeApi,
  operatorServiceAccount,
  registerWebhooks,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { KubeClient } from '../../operator/kube.ts';
import { ensureWebhookCert } from '../../operator/webhook/certs.ts';
import { createWebhookServer } from '../../operator/webhook/server.ts';
import { subjectAccessReview } from '../../operator/webhook/accessrequest.ts';
import { UNSTAMPED, requestCommand } from '../../bin/request.ts';
import type { AccessRequest } from '../../policy/types.ts';

const root = join(import.meta.dirname, '..', '..');
const OPERATOR_USER = 'system:serviceaccount:airlock-system:airlock-operator';
const ALICE = 'alice@example.com'; // requester and approver (a DBA asking for herself)
const BOB = 'bob@example.com'; // approver
const MALLORY = 'mallory@example.com'; // requester: may write status, may not approve

describe('AccessRequest approvals on a real apiserver', () => {
  let kube: Kube;
  let server: ReturnType<typeof createWebhookServer>;
  let opToken = '';
  let caBundles: (string | undefined)[] = [];

  const { req, must } = kubeApi(() => kube);
  /** `airlock request …` as `user`, in-process; the exit code and what it printed. */
  const cli = async (user: string, ...args: string[]) => {
    let out = '';
    let err = '';
    const code = await requestCommand([...args, '--kubeconfig', kube.kubeconfigFor(user), '-n', 'ml'], {
      out: (t) => {
        out += t;
      },
      err: (t) => {
        err += t;
      },
    });
    return { code, out, err };
  };
  const getAR = async (name: string): Promise<AccessRequest> =>
    must('GET', `${G}/namespaces/ml/accessrequests/${name}`);
  const newRequest = async (token?: string, extra: Record<string, unknown> = {}): Promise<AccessRequest> =>
    must(
      'POST',
      `${G}/namespaces/ml/accessrequests`,
      {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessRequest',
        metadata: { generateName: 'ar-' },
        spec: {
          subject: { kind: 'User', name: ALICE },
          database: 'orders',
          statement: 'DELETE FROM orders WHERE id = $1',
          ...extra,
        },
      },
      { token },
    );
  /** The status write a controller would make, as the operator's own user. */
  const setPhase = (name: string, phase: string, expiresAt?: string) =>
    req(
      'PATCH',
      `${G}/namespaces/ml/accessrequests/${name}/status`,
      { status: { phase, ...(expiresAt ? { expiresAt } : {}) } },
      { token: opToken, contentType: MERGE_PATCH },
    );

  before(async () => {
    kube = await startKube();
    await installCrds(kube);
    await kube.createNamespace('airlock-system');
    await kube.createNamespace('ml');
    const account = await operatorServiceAccount(kube);
    opToken = account.token;
    // People: the chart's two ClusterRoles, from the file the chart renders them from, bound in ml.
    const roles = parse(
      readFileSync(join(root, 'charts', 'airlock', 'files', 'accessrequest-roles.yaml'), 'utf8'),
    ) as Record<'requester' | 'approver', unknown[]>;
    for (const role of ['requester', 'approver'] as const) {
      await must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
        metadata: { name: `airlock-${role}` },
        rules: roles[role],
      });
    }
    for (const [user, role] of [
      [ALICE, 'requester'],
      [ALICE, 'approver'],
      [BOB, 'approver'],
      [MALLORY, 'requester'],
    ] as const) {
      await must('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/ml/rolebindings', {
        metadata: { name: `${user.split('@')[0]}-${role}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `airlock-${role}` },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      });
    }
    const opKube = KubeClient.fromFile(account.kubeconfigPath);

    // The listening port goes into the configuration first; the operator's certificate code then
    // patches in the caBundle (of every webhook in it), as it does at start. The pod webhook is there
    // for that count: this test creates no pods, and the server's injector has no bindings.
    const port = await freePort();
    await registerWebhooks(kube, port, { pods: true, accessRequests: true });
    const tls = await ensureWebhookCert(opKube, {
      namespace: 'airlock-system',
      secretName: 'airlock-webhook-tls',
      webhookConfigName: 'airlock-sidecar-injector',
      names: ['127.0.0.1'],
      nowMs: Date.now(),
    });
    server = createWebhookServer(tls, {
      bindingsIn: () => [],
      inject: {
        image: 'airlock:test',
        operatorAddress: 'op:9090',
        operatorNamespace: 'airlock-system',
        kubernetesMinor: 37,
      },
      accessRequests: { selfUser: OPERATOR_USER, sar: subjectAccessReview(opKube), now: () => new Date() },
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const cfg = await must(
      'GET',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/airlock-sidecar-injector',
    );
    caBundles = cfg.webhooks.map((w: { clientConfig: { caBundle?: string } }) => w.clientConfig.caBundle);
    // The apiserver picks up the patched caBundle through its own informer: wait until the webhook answers.
    await eventually('the webhook stamping requests', async () => {
      const r = await req('POST', `${G}/namespaces/ml/accessrequests?dryRun=All`, {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessRequest',
        metadata: { name: 'probe' },
        spec: { subject: { kind: 'User', name: ALICE }, database: 'orders', statement: 'SELECT 1' },
      });
      return r.status === 201 && r.body.spec.requestedBy === ADMIN_USER ? true : undefined;
    });
  });
  after(async () => {
    if (server)
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    await kube?.stop();
  });

  test('the chart registers the AccessRequest webhook fail-closed, whatever the pod webhook does', () => {
    const hook = chartWebhook();
    assert.equal(hook.failurePolicy, 'Fail');
    assert.equal(hook.sideEffects, 'None');
    assert.equal(hook.timeoutSeconds, 10);
    assert.equal(hook.clientConfig.service.path, '/mutate-accessrequests');
  });

  test("the operator's certificate code patches the caBundle of every webhook in the configuration", () => {
    assert.equal(caBundles.length, 2);
    assert.ok(caBundles[0] !== undefined && caBundles[0] !== '');
    assert.equal(caBundles[1], caBundles[0]);
  });

  let name = '';
  test('create: requestedBy is the authenticated user, the subject defaults to the caller', async () => {
    const r = await cli(
      ALICE,
      'create',
      '--database',
      'orders',
      '--statement',
      'DELETE FROM orders WHERE id = $1',
      '--duration',
      '1h',
      '--reason',
      'fix order 42',
    );
    assert.equal(r.code, 0, r.err);
    name = r.out.trim();
    assert.match(name, /^ar-[a-z0-9]+$/);
    const ar = await getAR(name);
    assert.equal(ar.spec.requestedBy, ALICE);
    assert.deepEqual(ar.spec.subject, { kind: 'User', name: ALICE });
    assert.equal(ar.spec.duration, '1h');
  });

  test('create: a forged requestedBy is overwritten, and status cannot be set on create', async () => {
    const ar = await newRequest(kube.tokenFor(ALICE), { requestedBy: BOB });
    assert.equal(ar.spec.requestedBy, ALICE);
    const forged = await must(
      'POST',
      `${G}/namespaces/ml/accessrequests`,
      {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessRequest',
        metadata: { generateName: 'ar-' },
        spec: { subject: { kind: 'User', name: ALICE }, database: 'orders', statement: 'SELECT 1', requestedBy: BOB },
        status: { phase: 'Approved', approvals: [{ approver: BOB, decision: 'Approve', at: '2030-01-01T00:00:00Z' }] },
      },
      { token: kube.tokenFor(ALICE) },
    );
    assert.equal(forged.spec.requestedBy, ALICE);
    // The apiserver drops status on create for a CRD with a status subresource (so the webhook need not).
    assert.equal(forged.status, undefined);
  });

  test('an approver approves through the CLI: the entry carries their name, groups and the time', async () => {
    const t0 = Date.now() - 1000;
    const r = await cli(BOB, 'approve', name, '--comment', 'ok for order 42');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `AccessRequest ml/${name}: approved as ${BOB}\n`);
    const [entry, ...rest] = (await getAR(name)).status?.approvals ?? [];
    assert.equal(rest.length, 0);
    assert.equal(entry?.approver, BOB);
    assert.deepEqual(entry?.groups, ['dba', 'system:authenticated']);
    assert.equal(entry?.decision, 'Approve');
    assert.equal(entry?.comment, 'ok for order 42');
    assert.match(entry?.at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Date.parse(entry!.at) >= t0 - 1000 && Date.parse(entry!.at) <= Date.now() + 1000, entry?.at);
  });

  test('the requester may not approve their own request, even holding the approver role', async () => {
    const r = await cli(ALICE, 'approve', name);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      `airlock request approve: admission webhook "accessrequests.airlock.dev" denied the request: `
        + `${ALICE} may not approve AccessRequest ml/${name}: they requested it; ask another approver\n`,
    );
    // Writing the entry by hand under another name changes nothing: the webhook knows who is asking.
    const cur = await getAR(name);
    const forged = await req(
      'PUT',
      `${G}/namespaces/ml/accessrequests/${name}/status`,
      {
        ...cur,
        status: {
          ...cur.status,
          approvals: [
            ...cur.status!.approvals!,
            { approver: 'carol@example.com', decision: 'Approve', at: '2030-01-01T00:00:00Z' },
          ],
        },
      },
      { token: kube.tokenFor(ALICE) },
    );
    assert.equal(forged.status, 403);
    assert.match(
      forged.body.message,
      /alice@example\.com may not approve AccessRequest ml\/ar-\w+: they requested it; ask another approver/,
    );
    assert.equal((await getAR(name)).status?.approvals?.length, 1);
  });

  test('someone RBAC does not allow to approve is refused by the SubjectAccessReview', async () => {
    const r = await cli(MALLORY, 'approve', name);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(
        `denied the request: ${MALLORY} may not approve AccessRequest ml/${name}: RBAC does not allow them verb "approve" `
          + 'on accessrequests\\.airlock\\.dev in namespace ml; ask a cluster admin to bind the Airlock approver ClusterRole to them in that namespace',
      ),
    );
  });

  test('an approver decides once', async () => {
    const r = await cli(BOB, 'deny', name);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /bob@example\.com may not deny AccessRequest ml\/ar-\w+: they already approved it at \S+; each approver decides once/,
    );
  });

  test("the spec is immutable: the CRD's CEL rule refuses an edit, even by an admin", async () => {
    const cur = await getAR(name);
    const r = await req('PUT', `${G}/namespaces/ml/accessrequests/${name}`, {
      ...cur,
      spec: { ...cur.spec, duration: '24h' },
    });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(
      r.body.message,
      /is invalid: spec: Invalid value: .*spec is immutable; create a new AccessRequest instead/,
    );
  });

  test('only the operator sets the phase', async () => {
    const cur = await getAR(name);
    const r = await req(
      'PUT',
      `${G}/namespaces/ml/accessrequests/${name}/status`,
      { ...cur, status: { ...cur.status, phase: 'Approved' } },
      { token: kube.tokenFor(BOB) },
    );
    assert.equal(r.status, 403);
    assert.match(
      r.body.message,
      /bob@example\.com may not change status\.phase of AccessRequest ml\/ar-\w+: only the Airlock operator sets it; append one entry to status\.approvals/,
    );
    const ok = await setPhase(name, 'Approved', '2099-01-01T00:00:00Z');
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.status.phase, 'Approved');
    assert.equal(ok.body.status.approvals.length, 1, "the operator's merge patch kept the approvals");
  });

  test('a decided request takes no more approvals; its requester may revoke it', async () => {
    const late = await cli(MALLORY, 'approve', name);
    assert.match(late.err, /it is already Approved; decisions are closed/);
    const r = await cli(ALICE, 'revoke', name, '--comment', 'done');
    assert.equal(r.code, 0, r.err);
    const last = (await getAR(name)).status?.approvals?.at(-1);
    assert.equal(last?.approver, ALICE);
    assert.equal(last?.decision, 'Revoke');
    assert.deepEqual(last?.groups, ['data-oncall', 'system:authenticated']);
  });

  test('list and get show the request and every decision', async () => {
    const l = await cli(BOB, 'list');
    assert.equal(l.code, 0, l.err);
    const [head, ...rows] = l.out.trimEnd().split('\n');
    assert.match(head!, /^NAME\s+PHASE\s+SUBJECT\s+DATABASE\s+WHAT\s+REQUESTED-BY\s+APPROVALS\s+EXPIRES\s+AGE$/);
    const row = rows.find((x) => x.startsWith(`${name} `));
    assert.ok(row, l.out);
    assert.match(
      row!,
      new RegExp(
        `^${name}\\s+Approved\\s+User:alice@example\\.com\\s+orders\\s+DELETE FROM orders WHERE id = \\$1\\s+alice@example\\.com\\s+1 approve, 1 revoke\\s+in \\d+d\\s+\\d+s$`,
      ),
    );
    const g = await cli(BOB, 'get', name);
    assert.equal(g.code, 0, g.err);
    assert.match(g.out, /^Requested by: alice@example\.com$/m);
    assert.match(
      g.out,
      /^ {2}\S+Z {2}Approve {2}bob@example\.com \(groups: dba, system:authenticated\): "ok for order 42"$/m,
    );
    assert.match(
      g.out,
      /^ {2}\S+Z {2}Revoke {3}alice@example\.com \(groups: data-oncall, system:authenticated\): "done"$/m,
    );
  });

  test('create --wait returns when the request is decided: exit 0 when Approved, 1 when Denied', async () => {
    for (const [phase, code] of [
      ['Approved', 0],
      ['Denied', 1],
    ] as const) {
      let out = '';
      const waiting = requestCommand(
        [
          'create',
          '--kubeconfig',
          kube.kubeconfigFor(ALICE),
          '-n',
          'ml',
          '--database',
          'orders',
          '--operations',
          'update,delete',
          '--tables',
          'public.orders',
          '--wait',
        ],
        {
          out: (t) => {
            out += t;
          },
          err: () => {},
        },
      );
      const created = await eventually('the request name', async () =>
        out.includes('\n') ? out.split('\n')[0] : undefined,
      );
      assert.deepEqual((await getAR(created)).spec.rules, [
        { name: 'requested', effect: 'allow', operations: ['UPDATE', 'DELETE'], tables: ['public.orders'] },
      ]);
      assert.equal((await setPhase(created, phase)).status, 200);
      assert.equal(await waiting, code);
      assert.equal(out, `${created}\n${phase}\n`);
    }
  });

  test('clear errors: a missing verb is named, a missing request is not found', async () => {
    const r = await cli(BOB, 'create', '--database', 'orders', '--statement', 'SELECT 1');
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /create AccessRequest in namespace ml: forbidden: .*cannot create resource "accessrequests".*; you need verb "create" on accessrequests\.airlock\.dev in namespace ml/,
    );
    const g = await cli(BOB, 'get', 'ar-nope');
    assert.equal(g.code, 1);
    assert.equal(
      g.err,
      'airlock request get: AccessRequest ml/ar-nope not found; `airlock request list -n ml` shows the requests there\n',
    );
  });

  // Last: it removes the webhook.
  test('without the webhook, the CLI says its decision went unchecked, and the entry names nobody', async () => {
    const ar = await newRequest(kube.tokenFor(MALLORY));
    await must(
      'DELETE',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/airlock-sidecar-injector',
    );
    await eventually('the apiserver to stop calling the webhook', async () => {
      const r = await req('POST', `${G}/namespaces/ml/accessrequests?dryRun=All`, {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessRequest',
        metadata: { name: 'probe' },
        spec: { subject: { kind: 'User', name: ALICE }, database: 'orders', statement: 'SELECT 1' },
      });
      return r.status === 201 && r.body.spec.requestedBy === undefined ? true : undefined;
    });
    const r = await cli(BOB, 'approve', ar.metadata.name);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /was stored without being checked \(approver "\(not stamped by the Airlock webhook\)", not bob@example\.com\): the Airlock operator's admission webhook accessrequests\.airlock\.dev did not run/,
    );
    assert.equal((await getAR(ar.metadata.name)).status?.approvals?.[0]?.approver, UNSTAMPED);
  });
});
