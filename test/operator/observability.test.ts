// The operator's own record on a real kube-apiserver and a real OTLP receiver: each action is an
// events.k8s.io/v1 Event (written with exactly operator/rbac.yaml's permissions) and a span
// `airlock.operator <action>`; repeats fold into a series, resyncs record nothing, and /metrics counts it all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  G,
  TRAINER_POD,
  accessPolicy as policy,
  credentialsSecret,
  databaseBinding as binding,
  eventually,
  installCrds,
  kubeApi,
  operatorOptions,
  operatorServiceAccount,
  podBoundToken,
  registerWebhooks,
} from '../support/operator.ts';
import { startGrpcReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedSpan } from '../support/otlp-receiver.ts';
import { freePort } from '../support/ports.ts';
import { KubeClient } from '../../operator/kube.ts';
import type { Logger } from '../../operator/log.ts';
import { serveMetrics } from '../../operator/metrics.ts';
import { Operator } from '../../operator/operator.ts';
import { watchPolicy } from '../../distribution/client.ts';
import type { DistributedPolicy } from '../../distribution/types.ts';

const EVENTS = '/apis/events.k8s.io/v1/namespaces/ml/events';
const tmp = mkdtempSync(join(tmpdir(), 'airlock-obs-'));

interface Ev {
  metadata: { name: string };
  reason: string;
  action: string;
  type: string;
  note: string;
  reportingController: string;
  reportingInstance: string;
  eventTime: string;
  regarding: { apiVersion: string; kind: string; namespace: string; name: string; uid?: string };
  series?: { count: number; lastObservedTime: string };
}

const BAD_MASK = [{ columns: ['email'], strategy: 'redact' }];
const BAD_MASK_MESSAGE =
  'AccessPolicy ml/bad-mask: spec.masking[0].columns[0]: "email" is not a schema.table.column name (no wildcards); e.g. public.customers.email';

/** One sample's value from the exposition text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('operator observability on a real apiserver and OTLP receiver', () => {
  let kube: Kube;
  let op: Operator;
  let receiver: OtlpReceiver;
  let metricsServer: http.Server;
  let metricsUrl = '';
  let grpcAddr = '';
  let caPem = '';
  const logged: { level: string; msg: string; kv: Record<string, unknown> }[] = [];
  const log: Logger = {
    info: (msg, kv = {}) => {
      logged.push({ level: 'info', msg, kv });
    },
    warn: (msg, kv = {}) => {
      logged.push({ level: 'warn', msg, kv });
    },
    error: (msg, kv = {}) => {
      logged.push({ level: 'error', msg, kv });
    },
  };

  const { req, must } = kubeApi(() => kube);
  const events = async (): Promise<Ev[]> =>
    ((await must('GET', EVENTS)).items as Ev[]).filter((e) => e.reportingController === 'airlock.dev/operator');
  const eventFor = (reason: string, kind: string, name: string, match: (e: Ev) => boolean = () => true) =>
    eventually(`${reason} Event for ${kind} ${name}`, async () =>
      (await events()).find(
        (e) => e.reason === reason && e.regarding.kind === kind && e.regarding.name === name && match(e),
      ),
    );
  const spanFor = (action: string, name: string, match: (s: ReceivedSpan) => boolean = () => true) =>
    eventually(`span airlock.operator ${action} for ${name}`, async () =>
      receiver.spans.find(
        (s) => s.name === `airlock.operator ${action}` && s.attributes['airlock.object.name'] === name && match(s),
      ),
    );
  const scrape = async (): Promise<string> => {
    const r = await fetch(metricsUrl);
    assert.equal(r.status, 200);
    return r.text();
  };

  before(async () => {
    [kube, receiver] = await Promise.all([startKube(), startGrpcReceiver()]);
    await installCrds(kube);
    await kube.createNamespace('airlock-system');
    await kube.createNamespace('ml');
    await must('POST', '/api/v1/namespaces/ml/serviceaccounts', { metadata: { name: 'trainer' } });
    // The operator holds exactly operator/rbac.yaml: Events must work with those permissions.
    const { kubeconfigPath } = await operatorServiceAccount(kube);
    const webhookPort = await freePort();
    await registerWebhooks(kube, webhookPort, { pods: true });
    op = new Operator(
      operatorOptions(KubeClient.fromFile(kubeconfigPath), webhookPort, {
        log,
        resyncMs: 300,
        otlp: { endpoint: receiver.endpoint, spoolDir: join(tmp, 'spool') },
      }),
    );
    const started = await op.start();
    grpcAddr = `127.0.0.1:${started.grpcPort}`;
    caPem = started.caBundlePem ?? '';
    // The /metrics handler bin/operator.ts mounts on its health server, here on a server of the test's own.
    metricsServer = http.createServer((rq, rs) => {
      if (!serveMetrics(op.metrics.registry, rq, rs)) rs.writeHead(404).end();
    });
    await new Promise<void>((r) => metricsServer.listen(0, '127.0.0.1', () => r()));
    metricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics`;
  });
  after(async () => {
    metricsServer?.closeAllConnections();
    metricsServer?.close();
    await op?.stop();
    await receiver?.close();
    await kube?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('a valid AccessPolicy: PolicyCompiled Event on it and an airlock-operator span', async () => {
    await must('POST', '/api/v1/namespaces/ml/secrets', credentialsSecret('airlock_app', 's3cret'));
    const created = await must('POST', `${G}/namespaces/ml/accesspolicies`, policy('trainer'));
    const e = await eventFor('PolicyCompiled', 'AccessPolicy', 'trainer');
    assert.equal(e.type, 'Normal');
    assert.equal(e.action, 'PolicyCompiled');
    assert.equal(e.note, 'Compiled 1 rule(s) of generation 1');
    assert.deepEqual(e.regarding, {
      apiVersion: 'airlock.dev/v1alpha1',
      kind: 'AccessPolicy',
      namespace: 'ml',
      name: 'trainer',
      uid: created.metadata.uid,
    });
    assert.ok(e.reportingInstance.length > 0);
    assert.match(e.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const s = await spanFor('PolicyCompiled', 'trainer');
    assert.equal(s.kind, 1, 'INTERNAL');
    assert.equal(s.resource['service.name'], 'airlock-operator');
    assert.equal(s.status.code, 0);
    assert.deepEqual(
      { ...s.attributes },
      {
        'airlock.generation': 1,
        'airlock.rules': 1,
        'airlock.mode': 'enforce',
        'airlock.note': 'Compiled 1 rule(s) of generation 1',
        'airlock.action': 'PolicyCompiled',
        'k8s.namespace.name': 'ml',
        'airlock.object.kind': 'AccessPolicy',
        'airlock.object.name': 'trainer',
      },
    );
  });

  test('a policy the schema accepts but validation does not: PolicyRejected Warning with the message, span status ERROR', async () => {
    const r = await req(
      'POST',
      `${G}/namespaces/ml/accesspolicies`,
      policy('bad-mask', { databases: ['reports'], masking: BAD_MASK }),
    );
    assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 300));
    const e = await eventFor('PolicyRejected', 'AccessPolicy', 'bad-mask');
    assert.equal(e.type, 'Warning');
    assert.equal(e.note, BAD_MASK_MESSAGE);
    assert.equal(e.series, undefined);
    const s = await spanFor('PolicyRejected', 'bad-mask');
    assert.equal(s.status.code, 2, 'ERROR');
    assert.equal(s.status.message, BAD_MASK_MESSAGE);
  });

  test('the same rejection again folds into the first Event: series.count 2, no new Event', async () => {
    const fix = async (masking: unknown): Promise<void> => {
      const cur = (await req('GET', `${G}/namespaces/ml/accesspolicies/bad-mask`)).body;
      cur.spec.masking = masking;
      await must('PUT', `${G}/namespaces/ml/accesspolicies/bad-mask`, cur);
    };
    await fix([{ columns: ['public.customers.email'], strategy: 'redact' }]);
    await eventFor(
      'PolicyCompiled',
      'AccessPolicy',
      'bad-mask',
      (e) => e.note === 'Compiled 1 rule(s) of generation 2',
    );
    await fix(BAD_MASK);
    const e = await eventFor('PolicyRejected', 'AccessPolicy', 'bad-mask', (x) => x.series?.count === 2);
    assert.match(e.series!.lastObservedTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const rejected = (await events()).filter((x) => x.reason === 'PolicyRejected' && x.regarding.name === 'bad-mask');
    assert.equal(rejected.length, 1, 'one Event, counted twice');
    // Spans are not folded: each rejection is its own span.
    await eventually('two PolicyRejected spans', async () =>
      receiver.spans.filter(
        (s) => s.name === 'airlock.operator PolicyRejected' && s.attributes['airlock.object.name'] === 'bad-mask',
      ).length === 2
        ? true
        : undefined,
    );
  });

  let podName = '';
  let podUid = '';
  test('a pod the webhook injected: PodInjected on its DatabaseBinding, naming the pod', async () => {
    const b = await must('POST', `${G}/namespaces/ml/databasebindings`, binding('orders'));
    await eventFor('PolicyPushed', 'DatabaseBinding', 'orders', (e) => /to 0 sidecar stream\(s\)$/.test(e.note));
    const pod = await must('POST', '/api/v1/namespaces/ml/pods', TRAINER_POD);
    podName = pod.metadata.name;
    podUid = pod.metadata.uid;
    assert.equal(pod.metadata.annotations['airlock.dev/injected'], 'orders@1');
    await must('POST', '/api/v1/namespaces/ml/pods', {
      // selected by no binding: admitted unchanged
      metadata: { name: 'other' },
      spec: { containers: [{ name: 'a', image: 'a:1' }] },
    });
    const e = await eventFor('PodInjected', 'DatabaseBinding', 'orders');
    assert.equal(e.note, `Injected the proxy sidecar into Pod ml/${podName} (binding generation 1)`);
    assert.equal(e.regarding.uid, b.metadata.uid);
    const s = await spanFor('PodInjected', 'orders');
    assert.equal(s.attributes['k8s.pod.name'], podName);
    assert.equal(s.attributes['k8s.pod.uid'], podUid);
    assert.equal(
      (await events()).filter((x) => x.reason === 'PodInjected').length,
      1,
      'not for the pod nothing selected',
    );
  });

  test('a binding with a sidecar stream: PolicyPushed names the version and the stream', async () => {
    const tokenFile = join(tmp, 'pod-token');
    writeFileSync(tokenFile, await podBoundToken(kube, { metadata: { name: podName, uid: podUid } }));
    const got: DistributedPolicy[] = [];
    const w = watchPolicy(
      grpcAddr,
      { namespace: 'ml', name: 'orders' },
      tokenFile,
      (p) => got.push(p),
      () => {},
      { caPem },
    );
    try {
      await eventually('first update', async () => got[0]);
      const text = await scrape();
      assert.equal(sample(text, 'airlock_operator_sidecar_streams'), 1);
      const cur = (await req('GET', `${G}/namespaces/ml/accesspolicies/trainer`)).body;
      cur.spec.rules.push({ name: 'no-drop', effect: 'deny', operations: ['DROP'] });
      await must('PUT', `${G}/namespaces/ml/accesspolicies/trainer`, cur);
      const pushed = await eventually('pushed edit', async () =>
        got.find((p) => p.policySet.policies[0]?.rules.length === 2),
      );
      const e = await eventFor('PolicyPushed', 'DatabaseBinding', 'orders', (x) =>
        /to 1 sidecar stream\(s\)$/.test(x.note),
      );
      assert.equal(e.note, `Published policy version ${pushed.version} (1 AccessPolicies) to 1 sidecar stream(s)`);
      const s = await spanFor('PolicyPushed', 'orders', (x) => x.attributes['airlock.sidecar_streams'] === 1);
      assert.equal(s.attributes['airlock.policies'], 1);
      assert.equal(s.attributes['airlock.version'], pushed.version);
    } finally {
      w.close();
    }
  });

  test('resyncs record nothing: the Events stay as they are', async () => {
    const reconciles = async (): Promise<number> =>
      sample(await scrape(), 'airlock_operator_reconcile_total{kind="binding",result="success"}') ?? 0;
    // Settled: the Events of the edit above are written, nothing is queued.
    await eventFor('PolicyCompiled', 'AccessPolicy', 'trainer', (e) => e.note === 'Compiled 2 rule(s) of generation 2');
    await eventually('queue drained', async () =>
      sample(await scrape(), 'airlock_operator_queue_depth') === 0 ? true : undefined,
    );
    const before = (await events()).map((e) => [e.metadata.name, e.series?.count ?? 1]).sort();
    const start = await reconciles();
    await eventually('five binding resyncs', async () => ((await reconciles()) >= start + 5 ? true : undefined));
    const afterwards = (await events()).map((e) => [e.metadata.name, e.series?.count ?? 1]).sort();
    assert.deepEqual(afterwards, before);
  });

  test('GET /metrics: every family, with the counts of what happened above', async () => {
    const text = await scrape();
    for (const family of [
      'airlock_operator_actions_total',
      'airlock_operator_reconcile_total',
      'airlock_operator_reconcile_duration_seconds',
      'airlock_operator_queue_depth',
      'airlock_operator_sidecar_streams',
      'airlock_operator_snapshots_published_total',
      'airlock_operator_webhook_admissions_total',
      'airlock_operator_webhook_duration_seconds',
      'airlock_operator_leader',
      'process_cpu_seconds_total',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), family);
    }
    assert.equal(sample(text, 'airlock_operator_actions_total{action="PolicyCompiled"}'), 3); // trainer, bad-mask fixed, trainer edited
    assert.equal(sample(text, 'airlock_operator_actions_total{action="PolicyRejected"}'), 2);
    assert.equal(sample(text, 'airlock_operator_actions_total{action="PodInjected"}'), 1);
    assert.ok((sample(text, 'airlock_operator_actions_total{action="PolicyPushed"}') ?? 0) >= 2);
    assert.ok((sample(text, 'airlock_operator_snapshots_published_total') ?? 0) >= 2);
    assert.equal(sample(text, 'airlock_operator_webhook_admissions_total{result="patched"}'), 1);
    // The pod nothing selects, and the injected pod again when the apiserver reinvokes (reinvocationPolicy: IfNeeded).
    const unchanged = sample(text, 'airlock_operator_webhook_admissions_total{result="unchanged"}') ?? 0;
    assert.ok(unchanged >= 1);
    assert.equal(sample(text, 'airlock_operator_webhook_duration_seconds_count'), 1 + unchanged);
    assert.ok((sample(text, 'airlock_operator_reconcile_total{kind="policy",result="success"}') ?? 0) >= 4);
    assert.ok((sample(text, 'airlock_operator_reconcile_duration_seconds_count{kind="binding"}') ?? 0) >= 5);
    assert.equal(sample(text, 'airlock_operator_leader'), 1);
    await eventually('stream closed', async () =>
      sample(await scrape(), 'airlock_operator_sidecar_streams') === 0 ? true : undefined,
    );
    assert.deepEqual(
      logged.filter((l) => l.msg === 'Failed to write Event'),
      [],
      'every Event was allowed by operator/rbac.yaml',
    );
  });
});
