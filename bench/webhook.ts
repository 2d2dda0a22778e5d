// Admission webhook latency (design.md target: p99 ≤ 20 ms): the real HTTPS server, AdmissionReviews of a
// Deployment-like pod, 200 DatabaseBindings in the cache (20 in the pod's namespace, one matching).
//   sh scripts/node24.sh bench/webhook.ts [--requests 5000] [--concurrency 4]
// Prints p50/p90/p99/max per request as the client sees it (TLS keep-alive, like the apiserver), and the
// in-process review() time alone.
import { Agent, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DatabaseBinding } from '../policy/types.ts';
import { issueServing, makeCA } from '../operator/webhook/certs.ts';
import { createWebhookServer, review, WEBHOOK_PATH } from '../operator/webhook/server.ts';
import type { WebhookDeps } from '../operator/webhook/server.ts';
import { toolArgs, usageError } from '../test/support/tool-args.ts';

const USAGE = `usage: sh scripts/node24.sh bench/webhook.ts [--requests 5000] [--concurrency 4]

Admission webhook latency (design.md target: p99 <= 20 ms) over TLS keep-alive, as the apiserver calls it, and
the in-process review() time alone.

  --requests N      AdmissionReviews to send (default 5000)
  --concurrency N   requests in flight (default 4)
  -h, --help        this text
`;
const { values } = toolArgs(USAGE, {
  options: { requests: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '4' } },
});
const N = Number(values.requests);
const C = Number(values.concurrency);
if (!Number.isInteger(N) || N <= 0 || !Number.isInteger(C) || C <= 0)
  usageError(USAGE, '--requests and --concurrency must be positive integers');

const bindings: DatabaseBinding[] = [];
for (let ns = 0; ns < 10; ns++) {
  for (let i = 0; i < 20; i++) {
    bindings.push({
      apiVersion: 'airlock.dev/v1alpha1',
      kind: 'DatabaseBinding',
      metadata: { name: `db-${i}`, namespace: `team-${ns}`, generation: 3 },
      spec: {
        engine: 'postgres',
        endpoint: { host: `pg-${i}.db.svc`, database: `db${i}` },
        credentialsSecretRef: { name: `db-${i}` },
        workloadSelector: {
          matchLabels: { app: `app-${i}` },
          matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'batch'] }],
        },
        sidecar: { port: 5432 },
      },
    });
  }
}
const byNs = new Map<string, DatabaseBinding[]>();
for (const b of bindings) {
  const ns = b.metadata.namespace as string;
  byNs.set(ns, [...(byNs.get(ns) ?? []), b]);
}
const deps: WebhookDeps = {
  bindingsIn: (ns) => byNs.get(ns) ?? [],
  inject: {
    image: 'ghcr.io/airlock-dev/airlock:0.1.0',
    operatorAddress: 'airlock-operator.airlock-system.svc:9090',
    operatorNamespace: 'airlock-system',
    kubernetesMinor: 31,
  },
};
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    generateName: 'app-7-5d8f9-',
    labels: { app: 'app-7', tier: 'web', 'pod-template-hash': '5d8f9' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'app-7-5d8f9', uid: 'u', controller: true }],
  },
  spec: {
    serviceAccountName: 'app-7',
    containers: [
      {
        name: 'app',
        image: 'registry.example.com/app:7',
        ports: [{ containerPort: 8080 }],
        env: Array.from({ length: 20 }, (_, i) => ({ name: `VAR_${i}`, value: `value-${i}` })),
        resources: { requests: { cpu: '100m', memory: '128Mi' } },
        volumeMounts: [
          { name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
        ],
      },
    ],
    volumes: [
      {
        name: 'kube-api-access-abcde',
        projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] },
      },
    ],
  },
};
const body = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'u-1',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'team-3',
    operation: 'CREATE',
    object: pod,
  },
});

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}
const fmt = (xs: number[]): string =>
  `p50 ${pct(xs, 50).toFixed(3)} ms  p90 ${pct(xs, 90).toFixed(3)} ms  p99 ${pct(xs, 99).toFixed(3)} ms  max ${Math.max(...xs).toFixed(3)} ms`;

// In-process: what the handler costs without HTTP and TLS.
const inproc: number[] = [];
for (let i = 0; i < N; i++) {
  const t = performance.now();
  review(body, deps);
  inproc.push(performance.now() - t);
}

const ca = await makeCA('bench');
const cert = await issueServing(ca, ['127.0.0.1']);
const server = createWebhookServer(cert, deps);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
const agent = new Agent({ keepAlive: true, maxSockets: C, ca: ca.certPem });
function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: WEBHOOK_PATH,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
for (let i = 0; i < 200; i++) await once(); // warm-up: JIT, TLS sessions
const lat: number[] = [];
let next = 0;
await Promise.all(
  Array.from({ length: C }, async () => {
    while (next++ < N) lat.push(await once());
  }),
);
agent.destroy();
server.close();
console.log(
  `webhook bench: ${N} AdmissionReviews, ${C} concurrent, ${bindings.length} bindings cached, Node ${process.version}`,
);
console.log(`  review() in process: ${fmt(inproc)}`);
console.log(`  HTTPS round trip:    ${fmt(lat)}`);
console.log(`  target p99 <= 20 ms: ${pct(lat, 99) <= 20 ? 'MET' : 'MISS'}`);
