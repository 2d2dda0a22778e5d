// The Helm chart (charts/airlock), checked with the real `helm` (built by scripts/build-helm.sh) and
// installed into a real kube-apiserver (test/support/kube.ts): lint, what renders and why, the schema
// refusing bad values, the CRD copy matching crds/, then install, upgrade and uninstall on a cluster,
// where the webhook's selectors, fail-closed policy and RBAC are judged by the API server itself.
// A missing helm fails — never skips — in CI and locally alike (style.md §9).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import { credentialsSecret, databaseBinding, eventually, operatorOptions } from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { KubeClient } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';

const repo = resolve(import.meta.dirname, '..', '..');
const chart = join(repo, 'charts', 'airlock');
const NS = 'airlock-system';
const RELEASE = 'airlock';
const OPERATOR = 'airlock-operator';
const WEBHOOK_CONFIG = 'airlock-sidecar-injector';
const OPERATOR_SA_USER = `system:serviceaccount:${NS}:${OPERATOR}`;

/** Where scripts/build-helm.sh puts helm (keep in step with it: it pins HELM_VERSION on one line). */
function helmBinary(): { readonly path: string; readonly version: string; readonly problem: string | null } {
  const script = readFileSync(join(repo, 'scripts', 'build-helm.sh'), 'utf8');
  const version = /^HELM_VERSION=(v\S+)$/m.exec(script)?.[1];
  if (version === undefined) throw new Error('scripts/build-helm.sh has no HELM_VERSION=v… line');
  const cache = process.env.AIRLOCK_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'airlock');
  const path = join(cache, 'helm', version, 'bin', 'helm');
  let problem: string | null = null;
  try {
    if ((statSync(path).mode & 0o111) === 0) problem = `${path} is not executable`;
  } catch {
    problem = `${path} does not exist`;
  }
  return { path, version, problem };
}

function missingHelm(version: string, problem: string): Error {
  const why =
    process.env.CI === 'true'
      ? 'CI must build it before the tests run (the test suite never skips a real part)'
      : 'the chart tests need the real helm and never skip it';
  return new Error(
    `helm ${version} is not built: ${problem}. Run scripts/build-helm.sh `
      + `(the first build takes ~2 minutes on 2 cores); ${why}.`,
  );
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

// Helm's own state (repositories, plugins, registry logins) goes to a temp dir, never the user's.
const helmHome = mkdtempSync(join(tmpdir(), 'airlock-helm-'));
after(() => rmSync(helmHome, { recursive: true, force: true }));

let helmPath = '';
/** Runs helm; never throws on a non-zero exit: tests assert on it. */
function helm(...args: string[]): Promise<Run> {
  return new Promise((done, reject) => {
    execFile(
      helmPath,
      args,
      {
        cwd: repo,
        maxBuffer: 32 << 20,
        env: {
          ...process.env,
          HELM_CACHE_HOME: join(helmHome, 'cache'),
          HELM_CONFIG_HOME: join(helmHome, 'config'),
          HELM_DATA_HOME: join(helmHome, 'data'),
        },
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(err);
          return;
        }
        done({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
  });
}

async function mustHelm(...args: string[]): Promise<string> {
  const r = await helm(...args);
  assert.equal(r.code, 0, `helm ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly [field: string]: any;
}

/** `helm template` with the given --set-json pairs, parsed. */
async function render(...setJson: string[]): Promise<K8sObject[]> {
  const args = ['template', RELEASE, chart, '--namespace', NS];
  for (const s of setJson) args.push('--set-json', s);
  const text = await mustHelm(...args);
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text, { uniqueKeys: true })) {
    assert.deepEqual(doc.errors, [], 'helm template printed invalid YAML');
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

function only(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}

const kinds = (objects: readonly K8sObject[]): string[] => objects.map((o) => o.kind).sort();
const operatorArgs = (objects: readonly K8sObject[]): string[] =>
  only(objects, 'Deployment').spec.template.spec.containers[0].args;

/** Every key anywhere in a value, with its path, for the "no credentials" check. */
function* keysOf(value: unknown, path: string): Generator<[string, string]> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* keysOf(value[i], `${path}[${i}]`);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      yield [k, `${path}.${k}`];
      yield* keysOf(v, `${path}.${k}`);
    }
  }
}

const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);
// Every option that adds objects, at once: the checks that hold for every rendering run on this too.
const EVERYTHING = [
  'certManager.enabled=true',
  'networkPolicy.enabled=true',
  'metrics.serviceMonitor.enabled=true',
  'sidecar.metrics.enabled=true',
  'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]',
];

before(() => {
  const bin = helmBinary();
  if (bin.problem !== null) throw missingHelm(bin.version, bin.problem);
  helmPath = bin.path;
});

describe('chart: lint and render', () => {
  it('is the helm version build-helm.sh pins', async () => {
    assert.equal((await mustHelm('version', '--template', '{{.Version}}')).trim(), helmBinary().version);
  });

  it('passes helm lint --strict with default values and with every option on', async () => {
    await mustHelm('lint', '--strict', chart, '--namespace', NS);
    const args = ['lint', '--strict', chart, '--namespace', NS];
    for (const s of EVERYTHING) args.push('--set-json', s);
    await mustHelm(...args);
  });

  it('renders exactly the operator objects by default, labelled and namespaced', async () => {
    const objects = await render();
    // Three ClusterRoles: the operator's, and <fullname>-requester / -approver for people to bind.
    assert.deepEqual(kinds(objects), [
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'MutatingWebhookConfiguration',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    for (const o of objects) {
      const where = `${o.kind} ${o.metadata.name}`;
      assert.equal(o.metadata.labels?.['app.kubernetes.io/name'], 'airlock', where);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], RELEASE, where);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/version'], '0.1.0', where);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', where);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'airlock', where);
      assert.equal(o.metadata.namespace, CLUSTER_SCOPED.has(o.kind) ? undefined : NS, where);
    }
  });

  it('configures the webhook as documented: fail closed, 5 s, pods on CREATE, never the operator namespace or opted-out pods', async () => {
    const objects = await render();
    const config = only(objects, 'MutatingWebhookConfiguration', WEBHOOK_CONFIG);
    assert.deepEqual(
      config.webhooks.map((h: { name: string }) => h.name),
      ['sidecar-injector.airlock.dev', 'accessrequests.airlock.dev'],
    );
    const w = config.webhooks[0];
    assert.equal(w.failurePolicy, 'Fail');
    assert.equal(w.timeoutSeconds, 5);
    assert.equal(w.sideEffects, 'None');
    assert.equal(w.reinvocationPolicy, 'IfNeeded');
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.deepEqual(w.rules, [
      { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' },
    ]);
    assert.deepEqual(w.namespaceSelector.matchExpressions, [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NS, 'kube-system', 'kube-node-lease'] },
      { key: 'airlock.dev/inject', operator: 'NotIn', values: ['false'] },
    ]);
    assert.deepEqual(w.objectSelector.matchExpressions, [
      { key: 'airlock.dev/inject', operator: 'NotIn', values: ['false'] },
    ]);
    // The operator (or cert-manager) owns the caBundle; a chart value here would be reset on every upgrade.
    assert.equal(w.clientConfig.caBundle, undefined);
    assert.equal(config.metadata.annotations?.['cert-manager.io/inject-ca-from'], undefined);

    // The chain API server → Service 443 → container port 9443 holds together.
    assert.deepEqual(w.clientConfig.service, { name: OPERATOR, namespace: NS, path: '/mutate-pods', port: 443 });
    const service = only(objects, 'Service', OPERATOR);
    const container = only(objects, 'Deployment', OPERATOR).spec.template.spec.containers[0];
    const portOf = (name: string): number =>
      container.ports.find((p: { name: string }) => p.name === name).containerPort;
    assert.deepEqual(
      service.spec.ports.map((p: { name: string; port: number; targetPort: string }) => [
        p.name,
        p.port,
        portOf(p.targetPort),
      ]),
      [
        ['webhook', 443, 9443],
        ['grpc', 9090, 9090],
        ['metrics', 8080, 8080],
      ],
    );
  });

  it('configures the AccessRequest webhook: create and status updates, every namespace, Fail even when pods Ignore', async () => {
    for (const objects of [
      await render(),
      await render('webhook.failurePolicy="Ignore"', 'webhook.timeoutSeconds=3'),
    ]) {
      const a = only(objects, 'MutatingWebhookConfiguration', WEBHOOK_CONFIG).webhooks[1];
      // An unchecked approval must never land: this one does not follow webhook.failurePolicy.
      assert.equal(a.failurePolicy, 'Fail');
      assert.equal(a.timeoutSeconds, 10);
      assert.equal(a.sideEffects, 'None');
      assert.deepEqual(a.admissionReviewVersions, ['v1']);
      assert.deepEqual(a.rules, [
        {
          operations: ['CREATE'],
          apiGroups: ['airlock.dev'],
          apiVersions: ['v1alpha1'],
          resources: ['accessrequests'],
          scope: 'Namespaced',
        },
        {
          operations: ['UPDATE'],
          apiGroups: ['airlock.dev'],
          apiVersions: ['v1alpha1'],
          resources: ['accessrequests/status'],
          scope: 'Namespaced',
        },
      ]);
      assert.equal(a.namespaceSelector, undefined);
      assert.equal(a.objectSelector, undefined);
      assert.equal(a.clientConfig.caBundle, undefined);
      assert.deepEqual(a.clientConfig.service, {
        name: OPERATOR,
        namespace: NS,
        path: '/mutate-accessrequests',
        port: 443,
      });
    }
    assert.ok(
      operatorArgs(await render()).includes(`--service-account=${OPERATOR}`),
      'the operator must know its own user',
    );
  });

  it('runs `airlock operator` with the assumed flags, two replicas, leader election and a hardened pod', async () => {
    const objects = await render();
    const deployment = only(objects, 'Deployment', OPERATOR);
    assert.equal(deployment.spec.replicas, 2);
    const pod = deployment.spec.template;
    const args: string[] = pod.spec.containers[0].args;
    assert.equal(args[0], 'operator');
    for (const flag of [
      `--namespace=${NS}`,
      '--webhook-port=9443',
      '--grpc-port=9090',
      '--metrics-port=8080',
      '--leader-elect=true',
      `--webhook-config-name=${WEBHOOK_CONFIG}`,
      '--webhook-cert-secret=airlock-webhook-tls',
      '--manage-webhook-cert=true',
      `--grpc-address=${OPERATOR}.${NS}.svc:9090`,
      '--sidecar-image=ghcr.io/airlock-dev/airlock:0.1.0',
      '--sidecar-metrics=false',
    ]) {
      assert.ok(args.includes(flag), `${flag} missing from ${args.join(' ')}`);
    }
    const resourcesFlag = args.find((a) => a.startsWith('--sidecar-resources='));
    assert.deepEqual(JSON.parse(resourcesFlag!.slice('--sidecar-resources='.length)), {
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { memory: '512Mi' },
    });

    assert.equal(pod.metadata.labels['airlock.dev/inject'], 'false');
    assert.equal(pod.spec.serviceAccountName, OPERATOR);
    assert.deepEqual(pod.spec.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(pod.spec.containers[0].securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    // A rollout never drops below the current ready count; a drain keeps one replica.
    assert.deepEqual(deployment.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
    const pdb = only(objects, 'PodDisruptionBudget', OPERATOR);
    assert.equal(pdb.spec.maxUnavailable, 1);
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(pod.metadata.labels[k], v);
    for (const [k, v] of Object.entries(only(objects, 'Service').spec.selector))
      assert.equal(pod.metadata.labels[k], v);
  });

  it('every flag the chart passes is one `airlock operator` accepts', async () => {
    const args = operatorArgs(await render());
    // --help after the chart's flags: parseArgs (strict) rejects an unknown flag before help is printed.
    const r = await new Promise<{ code: number | null; stderr: string }>((res) => {
      execFile(process.execPath, [join(repo, 'bin', 'airlock.ts'), ...args, '--help'], (err, _out, stderr) =>
        res({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
  });

  it('passes sidecar.metrics.enabled to the operator as --sidecar-metrics, a flag it accepts', async () => {
    const args = operatorArgs(await render('sidecar.metrics.enabled=true'));
    assert.deepEqual(
      args.filter((a) => a.startsWith('--sidecar-metrics')),
      ['--sidecar-metrics=true'],
    );
    const r = await new Promise<{ code: number | null; stderr: string }>((res) => {
      execFile(process.execPath, [join(repo, 'bin', 'airlock.ts'), ...args, '--help'], (err, _out, stderr) =>
        res({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
  });

  it('grants least privilege: no wildcards, writes only to its own Secret, Lease and webhook configuration', async () => {
    const objects = await render();
    for (const role of objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
      for (const rule of role.rules) {
        for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames']) {
          assert.ok(!(rule[field] ?? []).includes('*'), `${role.kind} ${role.metadata.name} has * in ${field}`);
        }
      }
    }
    const cluster = only(objects, 'ClusterRole', OPERATOR);
    const writes = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
    // Cluster-wide writes are exactly these (anything else would be a privilege to justify here).
    const clusterWrites = cluster.rules
      .filter((r: { verbs: string[] }) => r.verbs.some((v) => writes.has(v)))
      .map(
        (r: { resources: string[]; verbs: string[]; resourceNames?: string[] }) =>
          `${r.resources.join(',')}:${r.verbs.filter((v) => writes.has(v)).join(',')}${r.resourceNames ? `@${r.resourceNames.join(',')}` : ''}`,
      );
    assert.deepEqual(clusterWrites, [
      'databasebindings/status,accesspolicies/status,accessrequests/status:update,patch',
      'accessrequests:create',
      'events:create,patch',
      'events:create,patch',
      'tokenreviews:create',
      'subjectaccessreviews:create',
      `mutatingwebhookconfigurations:update,patch@${WEBHOOK_CONFIG}`,
    ]);
    const role = only(objects, 'Role', OPERATOR);
    assert.equal(role.metadata.namespace, NS);
    assert.deepEqual(
      role.rules.map(
        (r: { resources: string[]; verbs: string[]; resourceNames?: string[] }) =>
          `${r.resources.join(',')}:${r.verbs.join(',')}${r.resourceNames ? `@${r.resourceNames.join(',')}` : ''}`,
      ),
      ['leases:create', `leases:get,update@${OPERATOR}`, 'secrets:create', 'secrets:update,patch@airlock-webhook-tls'],
    );
    assert.deepEqual(only(objects, 'ClusterRoleBinding').subjects, [
      { kind: 'ServiceAccount', name: OPERATOR, namespace: NS },
    ]);
    assert.deepEqual(only(objects, 'RoleBinding').subjects, [
      { kind: 'ServiceAccount', name: OPERATOR, namespace: NS },
    ]);
  });

  it('with certManager.enabled, lets cert-manager issue the certificate and inject the CA', async () => {
    const objects = await render('certManager.enabled=true');
    const issuer = only(objects, 'Issuer');
    assert.deepEqual(issuer.spec, { selfSigned: {} });
    const cert = only(objects, 'Certificate');
    assert.equal(cert.metadata.namespace, NS);
    assert.deepEqual(cert.spec.issuerRef, { name: issuer.metadata.name, kind: 'Issuer', group: 'cert-manager.io' });
    // The name the API server verifies is <service>.<namespace>.svc.
    assert.ok(cert.spec.dnsNames.includes(`${OPERATOR}.${NS}.svc`), cert.spec.dnsNames.join(', '));
    const config = only(objects, 'MutatingWebhookConfiguration', WEBHOOK_CONFIG);
    assert.equal(config.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NS}/${cert.metadata.name}`);
    const args = operatorArgs(objects);
    assert.ok(args.includes(`--webhook-cert-secret=${cert.spec.secretName}`), args.join(' '));
    assert.ok(args.includes('--manage-webhook-cert=false'), args.join(' '));
    // The operator no longer writes Secrets or the caBundle: cert-manager does.
    assert.ok(!only(objects, 'Role').rules.some((r: { resources: string[] }) => r.resources.includes('secrets')));
    const hook = only(objects, 'ClusterRole', OPERATOR).rules.find((r: { resources: string[] }) =>
      r.resources.includes('mutatingwebhookconfigurations'),
    );
    assert.deepEqual(hook.verbs, ['get', 'list', 'watch']);

    const external = await render(
      'certManager.enabled=true',
      'certManager.issuerRef={"name":"corp-ca","kind":"ClusterIssuer"}',
    );
    assert.equal(external.filter((o) => o.kind === 'Issuer').length, 0);
    assert.deepEqual(only(external, 'Certificate').spec.issuerRef, {
      name: 'corp-ca',
      kind: 'ClusterIssuer',
      group: 'cert-manager.io',
    });
  });

  it('renders the optional NetworkPolicy and ServiceMonitor against the right ports', async () => {
    const objects = await render(...EVERYTHING);
    const np = only(objects, 'NetworkPolicy', OPERATOR);
    assert.deepEqual(np.spec.policyTypes, ['Ingress']);
    assert.deepEqual(
      np.spec.ingress.map((r: { ports: { port: number }[] }) => r.ports[0]!.port),
      [9443, 9090, 8080],
    );
    assert.deepEqual(np.spec.ingress[2].from, [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
    const sm = only(objects, 'ServiceMonitor', OPERATOR);
    assert.equal(sm.spec.endpoints[0].port, 'metrics');
    // Without metricsFrom the metrics port is closed rather than open to all.
    const closed = only(await render('networkPolicy.enabled=true'), 'NetworkPolicy');
    assert.equal(closed.spec.ingress.length, 2);
  });

  it('carries no credentials: no Secret, key material or password in any rendering', async () => {
    for (const objects of [await render(), await render(...EVERYTHING)]) {
      for (const o of objects) {
        const where = `${o.kind} ${o.metadata.name}`;
        assert.notEqual(o.kind, 'Secret', where);
        assert.doesNotMatch(JSON.stringify(o), /-----BEGIN|PRIVATE KEY/, where);
        for (const [key, path] of keysOf(o, where)) {
          // (cert-manager's spec.privateKey is how to generate a key, not a key: it is not on this list.)
          assert.doesNotMatch(key, /^(password|passwd|token|caBundle|data|stringData|tls\.key|ca\.key)$/i, path);
        }
      }
    }
  });

  it("refuses bad values with helm's schema error", async () => {
    const cases: readonly (readonly [string, string, RegExp])[] = [
      ['negative replicas', 'replicas=-1', /at '\/replicas': minimum: got -1, want 1/],
      [
        'a failurePolicy Kubernetes does not know',
        'webhook.failurePolicy="Sometimes"',
        /at '\/webhook\/failurePolicy': value must be one of 'Fail', 'Ignore'/,
      ],
      [
        "a timeout above the API server's 30 s",
        'webhook.timeoutSeconds=31',
        /at '\/webhook\/timeoutSeconds': maximum: got 31, want 30/,
      ],
      ['a misspelt key', 'replica=3', /additional properties 'replica' not allowed/],
      ['a port out of range', 'operator.ports.grpc=70000', /at '\/operator\/ports\/grpc': maximum/],
      ['a non-sha256 digest', 'image.digest="latest"', /at '\/image\/digest'/],
      [
        'a string for a number',
        'webhook.timeoutSeconds="5"',
        /at '\/webhook\/timeoutSeconds': got string, want integer/,
      ],
      [
        'a string for a boolean',
        'sidecar.metrics.enabled="true"',
        /at '\/sidecar\/metrics\/enabled': got string, want boolean/,
      ],
    ];
    for (const [name, value, message] of cases) {
      const r = await helm('template', RELEASE, chart, '--namespace', NS, '--set-json', value);
      assert.notEqual(r.code, 0, `${name}: helm template accepted ${value}`);
      assert.match(r.stderr, /values don't meet the specifications of the schema/, `${name}:\n${r.stderr}`);
      assert.match(r.stderr, message, `${name}:\n${r.stderr}`);
    }
    for (const value of ['replicas=-1', 'webhook.failurePolicy="Sometimes"']) {
      const r = await helm('lint', chart, '--set-json', value);
      assert.notEqual(r.code, 0, `helm lint accepted ${value}`);
      assert.match(r.stdout + r.stderr, /values don't meet the specifications of the schema/);
    }
    // Not expressible in the schema: two replicas without leader election would both reconcile.
    const r = await helm('template', RELEASE, chart, '--set-json', 'leaderElection.enabled=false');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /leaderElection\.enabled must be true when replicas > 1/);
    await mustHelm(
      'template',
      RELEASE,
      chart,
      '--set-json',
      'leaderElection.enabled=false',
      '--set-json',
      'replicas=1',
    );
  });

  it('with operator.watchNamespaces: Roles in those namespaces, cluster-scoped APIs only in the ClusterRole, injection only there', async () => {
    const set = 'operator.watchNamespaces=["apps","ml"]';
    await mustHelm('lint', '--strict', chart, '--namespace', NS, '--set-json', set);
    const objects = await render(set);
    const rule = (r: { resources: string[]; verbs: string[]; resourceNames?: string[] }) =>
      `${r.resources.join(',')}:${r.verbs.join(',')}${r.resourceNames ? `@${r.resourceNames.join(',')}` : ''}`;
    // Nothing namespaced is granted cluster-wide: no pods, Secrets or airlock.dev objects outside the list.
    assert.deepEqual(only(objects, 'ClusterRole', OPERATOR).rules.map(rule), [
      'tokenreviews:create',
      'subjectaccessreviews:create',
      `mutatingwebhookconfigurations:get,list,watch,update,patch@${WEBHOOK_CONFIG}`,
    ]);
    const watched = objects.filter((o) => o.kind === 'Role' && o.metadata.name === `${OPERATOR}-watched`);
    assert.deepEqual(
      watched.map((o) => o.metadata.namespace),
      ['apps', 'ml'],
    );
    for (const role of watched) {
      assert.deepEqual(role.rules.map(rule), [
        'databasebindings,accesspolicies,accessrequests:get,list,watch',
        'databasebindings/status,accesspolicies/status,accessrequests/status:get,update,patch',
        'accessrequests:create',
        'pods:get,list,watch',
        'secrets:get,list,watch',
        'events:create,patch',
        'events:create,patch',
      ]);
    }
    const bindings = objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.name === `${OPERATOR}-watched`);
    assert.deepEqual(
      bindings.map((o) => [o.metadata.namespace, o.roleRef.name, o.subjects]),
      ['apps', 'ml'].map((ns) => [
        ns,
        `${OPERATOR}-watched`,
        [{ kind: 'ServiceAccount', name: OPERATOR, namespace: NS }],
      ]),
    );
    // Its certificate Secret is read by name in its own namespace (the watch carries fieldSelector metadata.name).
    assert.ok(only(objects, 'Role', OPERATOR).rules.map(rule).includes('secrets:get,list,watch@airlock-webhook-tls'));
    assert.ok(operatorArgs(objects).includes('--watch-namespaces=apps,ml'));
    const r = await new Promise<{ code: number | null; stderr: string }>((res) => {
      execFile(
        process.execPath,
        [join(repo, 'bin', 'airlock.ts'), ...operatorArgs(objects), '--help'],
        (err, _out, stderr) => res({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
    const w = only(objects, 'MutatingWebhookConfiguration', WEBHOOK_CONFIG).webhooks[0];
    assert.deepEqual(w.namespaceSelector.matchExpressions[1], {
      key: 'kubernetes.io/metadata.name',
      operator: 'In',
      values: ['apps', 'ml'],
    });
    // Not a namespace name: helm's schema error, nothing rendered.
    const bad = await helm(
      'template',
      RELEASE,
      chart,
      '--namespace',
      NS,
      '--set-json',
      'operator.watchNamespaces=["Bad_NS"]',
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /watchNamespaces\/0.*does not match pattern/);
  });

  it('documents every value in the README table', () => {
    const readme = readFileSync(join(chart, 'README.md'), 'utf8');
    const documented = new Set<string>();
    for (const line of readme.split('\n')) {
      const first = /^\| ([^|]+) \|/.exec(line)?.[1];
      for (const m of first?.matchAll(/`([A-Za-z][\w.]*)`/g) ?? []) documented.add(m[1]!);
    }
    const values = parseAllDocuments(readFileSync(join(chart, 'values.yaml'), 'utf8'))[0]!.toJS() as Record<
      string,
      unknown
    >;
    const missing: string[] = [];
    const walk = (value: unknown, path: string): void => {
      const parts = path.split('.');
      if (parts.some((_, i) => documented.has(parts.slice(0, i + 1).join('.')))) return;
      if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
        for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
      } else {
        missing.push(path);
      }
    };
    for (const [k, v] of Object.entries(values)) walk(v, k);
    assert.deepEqual(missing, [], 'values.yaml keys without a row in charts/airlock/README.md');
  });

  it('ships CRDs byte-identical to crds/ (run `cp crds/*.yaml charts/airlock/crds/` after scripts/gen-crds.ts)', async () => {
    const generated = readdirSync(join(repo, 'crds'))
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    const shipped = readdirSync(join(chart, 'crds')).sort();
    assert.ok(generated.length > 0, 'crds/ is empty');
    assert.deepEqual(shipped, generated, 'charts/airlock/crds/ must hold exactly the files of crds/');
    for (const f of generated) {
      assert.ok(
        readFileSync(join(chart, 'crds', f)).equals(readFileSync(join(repo, 'crds', f))),
        `charts/airlock/crds/${f} differs from crds/${f}: run cp crds/*.yaml charts/airlock/crds/`,
      );
    }
    const text = await mustHelm('template', RELEASE, chart, '--include-crds');
    const crdNames = parseAllDocuments(text)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o?.kind === 'CustomResourceDefinition')
      .map((o) => o.metadata.name)
      .sort();
    assert.deepEqual(crdNames, [
      'accesspolicies.airlock.dev',
      'accessrequests.airlock.dev',
      'databasebindings.airlock.dev',
    ]);
  });
});

describe('chart: on a real kube-apiserver', () => {
  let kube: Kube;
  before(async () => {
    kube = await startKube();
    await mustHelm(
      'install',
      RELEASE,
      chart,
      '--kubeconfig',
      kube.kubeconfigPath,
      '--namespace',
      NS,
      '--create-namespace',
    );
    // No controller-manager here, so no namespace gets its `default` ServiceAccount by itself, and the
    // ServiceAccount admission plugin refuses pods without one (test/support/kube.ts).
    for (const ns of [NS, 'kube-system']) {
      const r = await kube.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
        body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
      });
      assert.ok(r.status === 201 || r.status === 409, `create ${ns}/default: HTTP ${r.status}`);
    }
  });
  after(async () => {
    await kube?.stop();
  });

  const get = async (path: string): Promise<any> => {
    const r = await kube.request('GET', path);
    assert.equal(r.status, 200, `GET ${path}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const podIn = (namespace: string, labels: Record<string, string> = {}) =>
    kube.request('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'app', labels },
        spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
      },
    });

  it('installs the CRDs and every object, and the release is deployed', async () => {
    for (const crd of ['databasebindings', 'accesspolicies', 'accessrequests']) {
      const body = await get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}.airlock.dev`);
      assert.equal(body.spec.group, 'airlock.dev');
    }
    const deployment = await get(`/apis/apps/v1/namespaces/${NS}/deployments/${OPERATOR}`);
    assert.equal(deployment.spec.replicas, 2);
    await get(`/api/v1/namespaces/${NS}/services/${OPERATOR}`);
    await get(`/api/v1/namespaces/${NS}/serviceaccounts/${OPERATOR}`);
    await get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/${OPERATOR}`);
    const config = await get(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG}`);
    assert.equal(config.webhooks[0].failurePolicy, 'Fail');
    const list = JSON.parse(
      await mustHelm('list', '--kubeconfig', kube.kubeconfigPath, '--namespace', NS, '--output', 'json'),
    );
    assert.deepEqual(
      list.map((r: { name: string; status: string }) => [r.name, r.status]),
      [[RELEASE, 'deployed']],
    );
  });

  it('fails closed: with no operator answering, a covered pod is refused', async () => {
    await kube.createNamespace('apps');
    const r = await podIn('apps');
    assert.ok(r.status >= 400, `pod admitted without the webhook: HTTP ${r.status}`);
    // However the call fails here (no endpoints, or no route to the ClusterIP), the webhook is not answering.
    assert.match(String(r.body.message), /failed calling webhook "sidecar-injector\.airlock\.dev"/);
  });

  it('never calls the webhook for the operator namespace, kube-system or opted-out namespaces and pods', async () => {
    await kube.createNamespace('opted-out', { 'airlock.dev/inject': 'false' });
    await kube.createNamespace('apps-2');
    for (const [where, r] of [
      [NS, await podIn(NS)],
      ['kube-system', await podIn('kube-system')],
      ['a namespace labelled airlock.dev/inject=false', await podIn('opted-out')],
      ['a pod labelled airlock.dev/inject=false', await podIn('apps-2', { 'airlock.dev/inject': 'false' })],
    ] as const) {
      assert.equal(r.status, 201, `${where}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
    }
  });

  it('runs the operator pod under the Pod Security Standards "restricted" level', async () => {
    const patched = await kube.request('PATCH', `/api/v1/namespaces/${NS}`, {
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const template = (await get(`/apis/apps/v1/namespaces/${NS}/deployments/${OPERATOR}`)).spec.template;
    const r = await kube.request('POST', `/api/v1/namespaces/${NS}/pods?dryRun=All`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'operator', labels: template.metadata.labels },
        spec: template.spec,
      },
    });
    assert.equal(r.status, 201, `restricted PodSecurity refused the operator pod: ${JSON.stringify(r.body)}`);
  });

  it('gives the operator ServiceAccount what it needs and nothing more (SubjectAccessReview)', async () => {
    const cases: readonly (readonly [string, Record<string, string>, boolean])[] = [
      ['watch bindings everywhere', { verb: 'watch', group: 'airlock.dev', resource: 'databasebindings' }, true],
      [
        'patch policy status',
        { verb: 'patch', group: 'airlock.dev', resource: 'accesspolicies', subresource: 'status', namespace: 'apps' },
        true,
      ],
      [
        'create an AccessRequest',
        { verb: 'create', group: 'airlock.dev', resource: 'accessrequests', namespace: 'apps' },
        true,
      ],
      [
        "read a binding's credentials Secret",
        { verb: 'get', group: '', resource: 'secrets', namespace: 'apps', name: 'orders-airlock' },
        true,
      ],
      ['create a TokenReview', { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }, true],
      [
        'create a SubjectAccessReview',
        { verb: 'create', group: 'authorization.k8s.io', resource: 'subjectaccessreviews' },
        true,
      ],
      [
        'patch its own webhook configuration',
        {
          verb: 'patch',
          group: 'admissionregistration.k8s.io',
          resource: 'mutatingwebhookconfigurations',
          name: WEBHOOK_CONFIG,
        },
        true,
      ],
      [
        'renew its own certificate Secret',
        { verb: 'update', group: '', resource: 'secrets', namespace: NS, name: 'airlock-webhook-tls' },
        true,
      ],
      [
        'hold its Lease',
        { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: OPERATOR },
        true,
      ],
      ['create its Lease', { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: NS }, true],
      [
        'delete its Lease',
        { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: OPERATOR },
        false,
      ],
      [
        "change a policy's spec",
        { verb: 'update', group: 'airlock.dev', resource: 'accesspolicies', namespace: 'apps' },
        false,
      ],
      [
        'approve an AccessRequest itself',
        { verb: 'approve', group: 'airlock.dev', resource: 'accessrequests', namespace: 'apps' },
        false,
      ],
      [
        'patch another webhook configuration',
        {
          verb: 'patch',
          group: 'admissionregistration.k8s.io',
          resource: 'mutatingwebhookconfigurations',
          name: 'istio-sidecar-injector',
        },
        false,
      ],
      [
        'write a Secret in an app namespace',
        { verb: 'update', group: '', resource: 'secrets', namespace: 'apps', name: 'orders-airlock' },
        false,
      ],
      [
        'update another Secret in its namespace',
        { verb: 'update', group: '', resource: 'secrets', namespace: NS, name: 'sh.helm.release.v1.airlock.v1' },
        false,
      ],
      [
        'take another Lease',
        {
          verb: 'update',
          group: 'coordination.k8s.io',
          resource: 'leases',
          namespace: 'kube-system',
          name: 'kube-controller-manager',
        },
        false,
      ],
      ['delete pods', { verb: 'delete', group: '', resource: 'pods', namespace: 'apps' }, false],
      ['patch deployments', { verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'apps' }, false],
      ['edit RBAC', { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' }, false],
    ];
    for (const [what, resourceAttributes, want] of cases) {
      const r = await kube.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: OPERATOR_SA_USER,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
            resourceAttributes,
          },
        },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(
        r.body.status.allowed === true,
        want,
        `${what}: allowed=${r.body.status.allowed} (${r.body.status.reason ?? ''})`,
      );
    }
  });

  it('gives people requester and approver ClusterRoles to bind per namespace (SubjectAccessReview)', async () => {
    for (const [kind, name, role] of [
      ['User', 'alice@example.com', 'requester'],
      ['Group', 'dba', 'approver'],
    ] as const) {
      const r = await kube.request('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/apps/rolebindings', {
        body: {
          metadata: { name: `airlock-${role}` },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `airlock-${role}` },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind, name }],
        },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const ar = (verb: string, namespace = 'apps', subresource?: string) => ({
      verb,
      group: 'airlock.dev',
      resource: 'accessrequests',
      namespace,
      ...(subresource ? { subresource } : {}),
    });
    const cases: readonly (readonly [string, string, readonly string[], Record<string, string>, boolean])[] = [
      ['a requester asks for access', 'alice@example.com', [], ar('create'), true],
      ['a requester follows it', 'alice@example.com', [], ar('watch'), true],
      [
        'a requester writes status (the webhook lets them only revoke their own)',
        'alice@example.com',
        [],
        ar('update', 'apps', 'status'),
        true,
      ],
      ['a requester approves', 'alice@example.com', [], ar('approve'), false],
      ['an approver approves', 'bob@example.com', ['dba'], { ...ar('approve'), name: 'ar-1' }, true],
      ['an approver records the decision', 'bob@example.com', ['dba'], ar('update', 'apps', 'status'), true],
      ['an approver approves in a namespace not bound', 'bob@example.com', ['dba'], ar('approve', 'default'), false],
      ['an approver edits a request', 'bob@example.com', ['dba'], ar('update'), false],
      ['an approver deletes a request', 'bob@example.com', ['dba'], ar('delete'), false],
    ];
    for (const [what, user, groups, resourceAttributes, want] of cases) {
      const r = await kube.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user, groups: [...groups, 'system:authenticated'], resourceAttributes },
        },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(
        r.body.status.allowed === true,
        want,
        `${what}: allowed=${r.body.status.allowed} (${r.body.status.reason ?? ''})`,
      );
    }
  });

  it('fails closed for AccessRequests: with no operator answering, none is created', async () => {
    const r = await kube.request('POST', '/apis/airlock.dev/v1alpha1/namespaces/apps/accessrequests', {
      body: {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessRequest',
        metadata: { name: 'unchecked' },
        spec: { subject: { kind: 'User', name: 'alice@example.com' }, database: 'orders', statement: 'SELECT 1' },
      },
    });
    assert.ok(r.status >= 400, `AccessRequest admitted without the webhook: HTTP ${r.status}`);
    assert.match(String(r.body.message), /failed calling webhook "accessrequests\.airlock\.dev"/);
  });

  it("keeps the operator's caBundle across helm upgrade", async () => {
    // What the operator does once it has made its CA (self-managed mode).
    const caBundle = Buffer.from(kube.caPem).toString('base64');
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG}`;
    const patched = await kube.request('PATCH', path, {
      contentType: 'application/json-patch+json',
      body: [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: caBundle }],
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await mustHelm(
      'upgrade',
      RELEASE,
      chart,
      '--kubeconfig',
      kube.kubeconfigPath,
      '--namespace',
      NS,
      '--set-json',
      'webhook.timeoutSeconds=10',
    );
    const upgraded = await get(path);
    assert.equal(upgraded.webhooks[0].timeoutSeconds, 10, 'the upgrade did not apply');
    assert.equal(upgraded.webhooks[0].clientConfig.caBundle, caBundle, "helm upgrade dropped the operator's caBundle");
  });

  it("uninstalls cleanly, leaving the CRDs (and so every user's resources) in place", async () => {
    await mustHelm('uninstall', RELEASE, '--kubeconfig', kube.kubeconfigPath, '--namespace', NS);
    for (const path of [
      `/apis/apps/v1/namespaces/${NS}/deployments/${OPERATOR}`,
      `/api/v1/namespaces/${NS}/services/${OPERATOR}`,
      `/api/v1/namespaces/${NS}/serviceaccounts/${OPERATOR}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${OPERATOR}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${OPERATOR}`,
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/airlock-requester',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/airlock-approver',
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles/${OPERATOR}`,
      `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG}`,
    ]) {
      const r = await kube.request('GET', path);
      assert.equal(r.status, 404, `${path} still exists after helm uninstall`);
    }
    // Helm never deletes crds/ (deleting a CRD deletes every resource of its kind, cluster-wide).
    await get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/accesspolicies.airlock.dev');
    // With the webhook gone, pods are admitted again.
    assert.equal((await podIn('apps')).status, 201);
    const list = JSON.parse(
      await mustHelm('list', '--kubeconfig', kube.kubeconfigPath, '--namespace', NS, '--output', 'json'),
    );
    assert.deepEqual(list, []);
  });
});

// operator.watchNamespaces end to end: the chart's own RBAC, installed by helm, is all the real operator
// gets, and it must run with it — no list or watch outside the listed namespace, where a Role is all it has.
describe('chart: operator.watchNamespaces on a real kube-apiserver', () => {
  let kube: Kube;
  let op: Operator | null = null;
  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    const r = await kube.request(method, path, body === undefined ? {} : { body });
    assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  before(async () => {
    kube = await startKube();
    for (const ns of ['apps', 'elsewhere']) await kube.createNamespace(ns);
    await mustHelm(
      'install',
      RELEASE,
      chart,
      '--kubeconfig',
      kube.kubeconfigPath,
      '--namespace',
      NS,
      '--create-namespace',
      '--set-json',
      'operator.watchNamespaces=["apps"]',
      '--set',
      'replicas=1',
      '--set',
      'leaderElection.enabled=false',
    );
  });
  after(async () => {
    await op?.stop();
    await kube?.stop();
  });

  it('grants reads in the listed namespace only (SubjectAccessReview)', async () => {
    const cases: readonly (readonly [string, Record<string, string>, boolean])[] = [
      [
        'watch bindings in apps',
        { verb: 'watch', group: 'airlock.dev', resource: 'databasebindings', namespace: 'apps' },
        true,
      ],
      ['watch bindings everywhere', { verb: 'watch', group: 'airlock.dev', resource: 'databasebindings' }, false],
      [
        'watch bindings elsewhere',
        { verb: 'watch', group: 'airlock.dev', resource: 'databasebindings', namespace: 'elsewhere' },
        false,
      ],
      [
        'watch a Secret in apps',
        { verb: 'watch', group: '', resource: 'secrets', namespace: 'apps', name: 'orders-airlock' },
        true,
      ],
      ['list Secrets everywhere', { verb: 'list', group: '', resource: 'secrets' }, false],
      [
        'get a Secret elsewhere',
        { verb: 'get', group: '', resource: 'secrets', namespace: 'elsewhere', name: 'x' },
        false,
      ],
      ['list pods everywhere', { verb: 'list', group: '', resource: 'pods' }, false],
      [
        'watch its certificate Secret by name',
        { verb: 'watch', group: '', resource: 'secrets', namespace: NS, name: 'airlock-webhook-tls' },
        true,
      ],
      ['list every Secret of its namespace', { verb: 'list', group: '', resource: 'secrets', namespace: NS }, false],
      ['create a TokenReview', { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }, true],
    ];
    for (const [what, resourceAttributes, want] of cases) {
      const r = await call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: OPERATOR_SA_USER,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
          resourceAttributes,
        },
      });
      assert.equal(r.status.allowed === true, want, `${what}: allowed=${r.status.allowed} (${r.status.reason ?? ''})`);
    }
  });

  it('runs the operator with exactly that RBAC: bindings in apps are served, others are not seen', async () => {
    const token = await kube.serviceAccountToken(NS, OPERATOR);
    const kubeconfigPath = join(helmHome, 'operator.kubeconfig');
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
    const webhookPort = await freePort();
    op = new Operator(operatorOptions(KubeClient.fromFile(kubeconfigPath), webhookPort, { watchNamespaces: ['apps'] }));
    // Start lists and watches every cache: any cluster-wide request would be refused (403) and never sync.
    await op.start();
    const binding = (ns: string) => ({ ...databaseBinding('orders'), metadata: { name: 'orders', namespace: ns } });
    for (const ns of ['apps', 'elsewhere']) {
      await call('POST', `/api/v1/namespaces/${ns}/secrets`, credentialsSecret('airlock_app', 's3cret'));
      await call('POST', `/apis/airlock.dev/v1alpha1/namespaces/${ns}/databasebindings`, binding(ns));
    }
    const ready = await eventually('apps/orders Ready', async () => {
      const b = await call('GET', '/apis/airlock.dev/v1alpha1/namespaces/apps/databasebindings/orders');
      return b.status?.conditions?.find(
        (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
      );
    });
    assert.equal(ready.reason, 'Compiled');
    assert.deepEqual(
      op.caches.bindings.list().map((b) => `${b.metadata.namespace}/${b.metadata.name}`),
      ['apps/orders'],
    );
    const other = await call('GET', '/apis/airlock.dev/v1alpha1/namespaces/elsewhere/databasebindings/orders');
    assert.equal(other.status, undefined, 'a binding outside operator.watchNamespaces got a status');
  });
});
