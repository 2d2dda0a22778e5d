// Set-up shared by the operator's end-to-end tests (test/operator/): waiting, API calls that must succeed,
// the CRDs from crds/, the operator's ServiceAccount holding only operator/rbac.yaml, the webhook
// registration the chart makes (with a url clientConfig on 127.0.0.1), and the objects and Operator options
// most tests start from. Each test still says what it creates; these only spell the common shapes once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { Kube, KubeResponse } from './kube.ts';
import { freePort } from './ports.ts';
import type { KubeClient } from '../../operator/kube.ts';
import { silentLogger } from '../../operator/log.ts';
import type { OperatorOptions } from '../../operator/operator.ts';

const root = join(import.meta.dirname, '..', '..');

/** The airlock.dev API group path. */
export const G = '/apis/airlock.dev/v1alpha1';
/** The operator's namespace in every test, as the chart's default. */
export const OPERATOR_NS = 'airlock-system';
/** The MutatingWebhookConfiguration the operator patches its caBundle into. */
export const WEBHOOK_CONFIG = 'airlock-sidecar-injector';
export const MERGE_PATCH = 'application/merge-patch+json';

/**
 * Polls `f` until it returns something other than undefined, and returns that. A throw counts as "not
 * yet"; on timeout the last error is part of the message, so a wait that never passes says why.
 */
export async function eventually<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An `eventually` with other defaults, for a file whose waits all need longer (a separate process in the loop). */
export function eventuallyWithin(defaultTimeoutMs: number, defaultEveryMs = 50): typeof eventually {
  return (what, f, timeoutMs = defaultTimeoutMs, everyMs = defaultEveryMs) => eventually(what, f, timeoutMs, everyMs);
}

export interface CallOptions {
  readonly token?: string;
  readonly contentType?: string;
}
export interface KubeApi {
  /** One call as the admin (or `token`); the response whatever its status. */
  req(method: string, path: string, body?: unknown, options?: CallOptions): Promise<KubeResponse>;
  /** One call that must answer 2xx (else the assertion names the call and the apiserver's message); its body. */
  must(method: string, path: string, body?: unknown, options?: CallOptions): Promise<any>;
}

/**
 * `req` and `must` bound to a Kube that a `before` hook starts later: `kube()` is read on each call, so
 * they can be declared beside the test's other helpers.
 */
export function kubeApi(kube: () => Kube): KubeApi {
  const req = (method: string, path: string, body?: unknown, options: CallOptions = {}) =>
    kube().request(method, path, {
      body,
      ...(options.token ? { token: options.token } : {}),
      ...(options.contentType ? { contentType: options.contentType } : {}),
    });
  return {
    req,
    async must(method, path, body, options) {
      const r = await req(method, path, body, options);
      assert.ok(
        r.status >= 200 && r.status < 300,
        `${method} ${path}: HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 400)}`,
      );
      return r.body;
    },
  };
}

/** Every document of a YAML file in the repository, empty ones left out. */
function repoDocuments<T>(...path: string[]): T[] {
  return parseAllDocuments(readFileSync(join(root, ...path), 'utf8'))
    .map((d) => d.toJS() as T | null)
    .filter((x): x is T => x !== null && x !== undefined);
}

interface Crd {
  spec: { group: string; names: { plural: string }; versions: { name: string; served: boolean }[] };
}

/**
 * Creates the CRDs in crds/ and waits until the apiserver serves each of them (Established takes a
 * moment after the create returns; a request before that is a 404).
 */
export async function installCrds(kube: Kube, timeoutMs = 30_000): Promise<void> {
  const { must, req } = kubeApi(() => kube);
  const crds = readdirSync(join(root, 'crds'))
    .filter((x) => x.endsWith('.yaml'))
    .flatMap((f) => repoDocuments<Crd>('crds', f));
  for (const crd of crds) await must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  await eventually(
    'CRDs established',
    async () => {
      for (const { spec } of crds) {
        const version = spec.versions.find((v) => v.served)!.name;
        if ((await req('GET', `/apis/${spec.group}/${version}/namespaces/default/${spec.names.plural}`)).status !== 200)
          return undefined;
      }
      return true;
    },
    timeoutMs,
  );
}

/**
 * ServiceAccount airlock-operator in OPERATOR_NS (which must exist), holding exactly operator/rbac.yaml —
 * so a test notices when the operator needs a permission the chart does not give it. Returns its token
 * and a kubeconfig for it (in kube.dir, removed with the apiserver).
 */
export async function operatorServiceAccount(kube: Kube): Promise<{ token: string; kubeconfigPath: string }> {
  const { must } = kubeApi(() => kube);
  await must('POST', `/api/v1/namespaces/${OPERATOR_NS}/serviceaccounts`, { metadata: { name: 'airlock-operator' } });
  for (const o of repoDocuments<{ kind: string; metadata: { namespace?: string } }>('operator', 'rbac.yaml')) {
    const plural = `${o.kind.toLowerCase()}s`;
    await must(
      'POST',
      o.metadata.namespace
        ? `/apis/rbac.authorization.k8s.io/v1/namespaces/${o.metadata.namespace}/${plural}`
        : `/apis/rbac.authorization.k8s.io/v1/${plural}`,
      o,
    );
  }
  const token = await kube.serviceAccountToken(OPERATOR_NS, 'airlock-operator');
  const kubeconfigPath = join(kube.dir, 'operator.kubeconfig');
  writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'op',
      clusters: [
        {
          name: 'k',
          cluster: { server: kube.server, 'certificate-authority-data': Buffer.from(kube.caPem).toString('base64') },
        },
      ],
      users: [{ name: 'op', user: { token } }],
      contexts: [{ name: 'op', context: { cluster: 'k', user: 'op' } }],
    }),
    { mode: 0o600 },
  );
  return { token, kubeconfigPath };
}

/** The chart's AccessRequest webhook entry (charts/airlock/templates/webhook.yaml), its templated service reference aside. */
export function chartAccessRequestWebhook(): Record<string, any> {
  const text = readFileSync(join(root, 'charts', 'airlock', 'templates', 'webhook.yaml'), 'utf8');
  const at = text.indexOf('  - name: accessrequests.airlock.dev');
  assert.ok(at > 0, 'charts/airlock/templates/webhook.yaml has no accessrequests.airlock.dev webhook');
  const [hook] = parse(text.slice(at).replace(/\{\{[^}]*\}\}/g, 'templated')) as Record<string, any>[];
  return hook!;
}

/**
 * The chart's pod webhook with its default values (charts/airlock/values.yaml), written out here: its
 * template loops over the excluded namespaces, which only Helm renders.
 */
function chartPodWebhook(url: string): object {
  const optOut = { key: 'airlock.dev/inject', operator: 'NotIn', values: ['false'] };
  return {
    name: 'sidecar-injector.airlock.dev',
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    reinvocationPolicy: 'IfNeeded',
    matchPolicy: 'Equivalent',
    clientConfig: { url },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
    namespaceSelector: {
      matchExpressions: [
        {
          key: 'kubernetes.io/metadata.name',
          operator: 'NotIn',
          values: [OPERATOR_NS, 'kube-system', 'kube-node-lease'],
        },
        optOut,
      ],
    },
    objectSelector: { matchExpressions: [optOut] },
  };
}

/**
 * Registers WEBHOOK_CONFIG as the chart does, but calling https://127.0.0.1:`port` (the operator's
 * webhook server) instead of its Service, and without a caBundle: the operator's certificate code
 * patches that in at start.
 */
export async function registerWebhooks(
  kube: Kube,
  port: number,
  which: { pods?: boolean; accessRequests?: boolean },
): Promise<void> {
  const url = `https://127.0.0.1:${port}`;
  const webhooks: object[] = [];
  if (which.pods) webhooks.push(chartPodWebhook(`${url}/mutate-pods`));
  if (which.accessRequests) {
    const { clientConfig: _service, ...hook } = chartAccessRequestWebhook();
    webhooks.push({ ...hook, clientConfig: { url: `${url}/mutate-accessrequests` } });
  }
  assert.ok(webhooks.length > 0, 'registerWebhooks: name at least one of pods, accessRequests');
  await kubeApi(() => kube).must('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
    metadata: { name: WEBHOOK_CONFIG },
    webhooks,
  });
}

/**
 * The Operator options the tests share: namespace OPERATOR_NS, webhook on 127.0.0.1:`webhookPort` with
 * a certificate it manages itself, gRPC on an ephemeral port, no logs. `extra` replaces whole fields.
 */
export function operatorOptions(
  kube: KubeClient,
  webhookPort: number,
  extra: Partial<OperatorOptions> = {},
): OperatorOptions {
  return {
    kube,
    namespace: OPERATOR_NS,
    log: silentLogger,
    webhook: {
      host: '127.0.0.1',
      port: webhookPort,
      configName: WEBHOOK_CONFIG,
      secretName: 'airlock-webhook-tls',
      names: ['127.0.0.1'],
      manageCert: true,
    },
    grpc: { host: '127.0.0.1', port: 0 },
    sidecar: { image: 'ghcr.io/airlock-dev/airlock:test', operatorAddress: 'operator:9090' },
    ...extra,
  };
}

/**
 * DatabaseBinding `name` in namespace ml for database orders, credentials from Secret orders-airlock,
 * selecting pods labelled app=trainer; `spec` replaces top-level spec fields.
 */
export function databaseBinding(name: string, spec: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'DatabaseBinding',
    metadata: { name, namespace: 'ml' },
    spec: {
      engine: 'postgres',
      endpoint: { host: 'orders-pg.db.svc', database: 'orders' },
      credentialsSecretRef: { name: 'orders-airlock' },
      tls: { mode: 'disable' },
      workloadSelector: { matchLabels: { app: 'trainer' } },
      ...spec,
    },
  };
}

export const READ_ALL = { name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] };

/** AccessPolicy `name` in namespace ml: ServiceAccount trainer may SELECT public.* in orders; `spec` replaces top-level spec fields. */
export function accessPolicy(name: string, spec: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name, namespace: 'ml' },
    spec: {
      subjects: [{ kind: 'ServiceAccount', name: 'trainer' }],
      databases: ['orders'],
      rules: [READ_ALL],
      ...spec,
    },
  };
}

/** The Secret a binding's credentialsSecretRef names. */
export function credentialsSecret(username: string, password: string, name = 'orders-airlock'): object {
  return { metadata: { name }, stringData: { username, password } };
}

/**
 * The cluster side of a sidecar scenario: the CRDs, namespaces airlock-system and ml, ServiceAccount
 * ml/trainer, the credentials Secret for `role`, DatabaseBinding ml/orders pointing at `db`, and `policy`
 * (an AccessPolicy object, e.g. accessPolicy('trainer')).
 */
export async function seedOrdersScenario(
  kube: Kube,
  db: { host: string; port: number; database: string },
  role: { user: string; password: string },
  policy: object,
): Promise<void> {
  const { must } = kubeApi(() => kube);
  await installCrds(kube);
  await kube.createNamespace('airlock-system');
  await kube.createNamespace('ml');
  await must('POST', '/api/v1/namespaces/ml/serviceaccounts', { metadata: { name: 'trainer' } });
  await must('POST', '/api/v1/namespaces/ml/secrets', credentialsSecret(role.user, role.password));
  await must(
    'POST',
    `${G}/namespaces/ml/databasebindings`,
    databaseBinding('orders', { endpoint: { host: db.host, port: db.port, database: db.database } }),
  );
  await must('POST', `${G}/namespaces/ml/accesspolicies`, policy);
}

/**
 * A token for ServiceAccount ml/trainer bound to `pod`, from the TokenRequest API: what the projected
 * volume of an injected pod holds (no kubelet runs here).
 */
export async function podBoundToken(
  kube: Kube,
  pod: { metadata: { name: string; uid: string } },
  audience = 'airlock',
): Promise<string> {
  const r = await kubeApi(() => kube).must('POST', '/api/v1/namespaces/ml/serviceaccounts/trainer/token', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: [audience],
      expirationSeconds: 3600,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
    },
  });
  return r.status.token;
}

/** A trainer pod (label app=trainer, ServiceAccount trainer) to POST to namespace ml. */
export const TRAINER_POD = {
  metadata: { generateName: 'trainer-', labels: { app: 'trainer' } },
  spec: { serviceAccountName: 'trainer', containers: [{ name: 'train', image: 'trainer:1' }] },
} as const;

export interface InjectedSidecar {
  /** `airlock proxy` in sidecar mode, as a process of its own. */
  readonly child: ChildProcess;
  /** Its exit code once it exits. */
  readonly exited: Promise<number | null>;
  /** The pod as the webhook admitted it. */
  readonly pod: any;
  /** The args it runs with: the injected ones, ports and paths moved to this machine. */
  readonly args: readonly string[];
  /** AIRLOCK_OPERATOR_CA as the webhook injected it. */
  readonly ca: string | undefined;
  readonly listenPort: number;
  readonly healthPort: number;
}

/**
 * Creates a trainer pod in ml through the real webhook, and runs the sidecar injected into it for
 * binding "orders" as a process: with the very args the webhook wrote (the operator address, ports and
 * paths moved to this machine) and a token bound to the pod (no kubelet here). `onOutput` gets all it prints.
 */
export async function startInjectedSidecar(
  kube: Kube,
  o: {
    grpcPort: number;
    dir: string;
    onOutput: (text: string) => void;
    /** The CLI to run (default bin/airlock.ts; the image test passes its compiled tree's bin/airlock.js). */
    entry?: string;
  },
): Promise<InjectedSidecar> {
  // The webhook may not answer yet: the apiserver picks up the operator's caBundle through its informer.
  const pod = await eventually(
    'pod admitted by the webhook',
    async () => {
      const r = await kube.request('POST', '/api/v1/namespaces/ml/pods', { body: TRAINER_POD });
      return r.status === 201 ? (r.body as any) : undefined;
    },
    30_000,
  );
  const sidecar = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find(
    (c: { name: string }) => c.name === 'airlock-proxy-orders',
  );
  assert.ok(sidecar, 'the webhook injected the sidecar');
  const tokenFile = join(o.dir, 'token');
  writeFileSync(tokenFile, await podBoundToken(kube, pod));
  const spool = join(o.dir, 'spool');
  mkdirSync(spool);
  const [listenPort, healthPort] = await Promise.all([freePort(), freePort()]);
  const moved: Record<string, string> = {
    '--operator': `127.0.0.1:${o.grpcPort}`,
    '--listen': `127.0.0.1:${listenPort}`,
    '--health-listen': `127.0.0.1:${healthPort}`,
    '--token-file': tokenFile,
    '--spool-dir': spool,
  };
  const args = (sidecar.args as string[]).map((a, i, all) => moved[all[i - 1] ?? ''] ?? a);
  const env = sidecar.env as { name: string; value?: string }[];
  const ca = env.find((e) => e.name === 'AIRLOCK_OPERATOR_CA')?.value;
  // The V8 and malloc settings the webhook gives the sidecar (operator/pod.ts): what a pod runs.
  const nodeOptions = env.find((e) => e.name === 'NODE_OPTIONS')?.value;
  const arenas = env.find((e) => e.name === 'MALLOC_ARENA_MAX')?.value;
  const child = spawn(process.execPath, [o.entry ?? join(root, 'bin', 'airlock.ts'), ...args], {
    env: {
      ...process.env,
      AIRLOCK_OPERATOR_CA: ca,
      POD_NAME: pod.metadata.name,
      POD_NAMESPACE: 'ml',
      ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }),
      ...(arenas === undefined ? {} : { MALLOC_ARENA_MAX: arenas }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => o.onOutput(c.toString()));
  child.stderr!.on('data', (c: Buffer) => o.onOutput(c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, sig) => {
      o.onOutput(`[exited ${code} ${sig}]\n`);
      resolve(code);
    }),
  );
  return { child, exited, pod, args, ca, listenPort, healthPort };
}
