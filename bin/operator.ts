// `airlock operator`: flags exactly as charts/airlock/templates/deployment.yaml passes them (that file is
// the contract; test/chart renders it). Builds the Operator (operator/operator.ts), serves /healthz and
// /readyz for the chart's probes and Prometheus /metrics (operator/metrics.ts) on --metrics-port, and stops
// gracefully on SIGTERM/SIGINT.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { kubeConfig } from './kubeconfig.ts';
import { KubeClient } from '../operator/kube.ts';
import { jsonLogger } from '../operator/log.ts';
import type { Logger } from '../operator/log.ts';
import { createOperatorMetrics, serveMetrics } from '../operator/metrics.ts';
import { Operator } from '../operator/operator.ts';
import type { ResourceRequirements } from '../operator/pod.ts';

export const OPERATOR_HELP = `usage: airlock operator [options]

Runs the controllers, the sidecar-injection webhook and the PolicyDistribution gRPC server.

  --namespace NS                   the operator's namespace (default: env POD_NAMESPACE): never injected,
                                   holds the webhook certificate Secret
  --kubeconfig FILE                default: in-cluster when running in a pod, else env KUBECONFIG
  --webhook-port N                 HTTPS admission webhook (default 9443)
  --grpc-port N                    PolicyDistribution gRPC (default 9090)
  --metrics-port N                 Prometheus /metrics, /healthz and /readyz over HTTP (default 8080)
  --otlp-endpoint URL              OTLP collector for the operator's action spans (service.name
                                   airlock-operator); gRPC, or OTLP/HTTP when the path is /v1/traces
                                   (default: env OTEL_EXPORTER_OTLP_ENDPOINT; neither: no spans)
  --otlp-spool-dir DIR             where spans wait for export (default: a fresh temp directory, removed
                                   at exit; give a directory that outlives the process to resend after a crash)
  --webhook-config-name NAME       MutatingWebhookConfiguration whose caBundle the operator keeps
                                   (default airlock-sidecar-injector)
  --webhook-service NAME           Service in front of the operator: the serving certificate names
                                   NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local (default airlock-operator)
  --webhook-cert-secret NAME       Secret holding the serving certificate (default airlock-webhook-tls)
  --service-account NAME           the operator's own ServiceAccount in --namespace (default airlock-operator):
                                   the AccessRequest webhook lets its status writes through unchanged
  --manage-webhook-cert BOOL       true: the operator issues and renews it; false: cert-manager does and
                                   the operator reads tls.crt/tls.key from the Secret (default true)
  --grpc-address HOST:PORT         what injected sidecars dial (required)
  --sidecar-image IMAGE            image of the injected proxy (required)
  --sidecar-image-pull-policy P    imagePullPolicy of the injected proxy
  --sidecar-resources JSON         resources of the injected proxy, e.g. {"requests":{"cpu":"50m"}}
  --sidecar-metrics BOOL           injected proxies serve Prometheus /metrics on their health port
                                   (sidecar flag --metrics; default false: prom-client costs idle memory)
  --log-level LEVEL                debug | info | warn | error (default info)
  --leader-elect BOOL              only the holder of a Lease writes status; every replica serves the
                                   webhook and gRPC (default false; the chart sets true)
  --leader-election-id NAME        the Lease's name in --namespace (default airlock-operator)
  --max-concurrent-reconciles N    objects reconciled at the same time, never one object twice at once
                                   (default 4; chart operator.maxConcurrentReconciles)
  --watch-namespaces NS[,NS…]      work only in these namespaces (one watch per namespace, so Roles
                                   there suffice; chart operator.watchNamespaces). Default: the cluster
`;

/** --watch-namespaces: DNS-1123 labels, comma separated; unset = the whole cluster. */
export function watchNamespaces(v: string | undefined): string[] | null {
  if (v === undefined) return null;
  const list = v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  const bad = list.filter((x) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(x));
  if (list.length === 0 || bad.length > 0) {
    throw new Error(
      `--watch-namespaces must be a comma-separated list of namespace names${bad.length > 0 ? `; not a namespace name: ${bad.map((x) => JSON.stringify(x)).join(', ')}` : ''}`,
    );
  }
  return [...new Set(list)];
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

function bool(flag: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`--${flag} must be true or false, got ${JSON.stringify(v)}`);
}

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new Error(`--${flag} must be a whole number from 1 to 1000, got ${JSON.stringify(v)}`);
  return n;
}

function port(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`--${flag} must be a port number, got ${JSON.stringify(v)}`);
  return n;
}

function leveled(level: string, base: Logger): Logger {
  const at = LEVELS.indexOf(level as (typeof LEVELS)[number]);
  if (at < 0) throw new Error(`--log-level must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  return {
    info: at <= 1 ? base.info : () => {},
    warn: at <= 2 ? base.warn : () => {},
    error: base.error,
  };
}

export async function operatorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: {
      namespace: { type: 'string' },
      kubeconfig: { type: 'string' },
      'webhook-port': { type: 'string' },
      'grpc-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      'leader-elect': { type: 'string' },
      'leader-election-id': { type: 'string' },
      'webhook-config-name': { type: 'string' },
      'webhook-service': { type: 'string' },
      'webhook-cert-secret': { type: 'string' },
      'manage-webhook-cert': { type: 'string' },
      'grpc-address': { type: 'string' },
      'sidecar-image': { type: 'string' },
      'sidecar-image-pull-policy': { type: 'string' },
      'sidecar-resources': { type: 'string' },
      'sidecar-metrics': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean' },
      'service-account': { type: 'string' },
      'otlp-endpoint': { type: 'string' },
      'otlp-spool-dir': { type: 'string' },
      'watch-namespaces': { type: 'string' },
      'max-concurrent-reconciles': { type: 'string' },
    },
  });
  if (values.help === true) {
    process.stdout.write(OPERATOR_HELP);
    return 0;
  }
  const namespace = values.namespace ?? process.env['POD_NAMESPACE'];
  const missing = [
    namespace === undefined ? '--namespace NS (or env POD_NAMESPACE)' : null,
    values['grpc-address'] === undefined ? '--grpc-address HOST:PORT' : null,
    values['sidecar-image'] === undefined ? '--sidecar-image IMAGE' : null,
  ].filter((x) => x !== null);
  if (missing.length > 0) {
    process.stderr.write(`airlock operator: missing ${missing.join(', ')}\n\n${OPERATOR_HELP}`);
    return 2;
  }
  const log = leveled(values['log-level'] ?? 'info', jsonLogger());
  const leaderElect = bool('leader-elect', values['leader-elect'], false);
  const manageCert = bool('manage-webhook-cert', values['manage-webhook-cert'], true);
  const onlyNamespaces = watchNamespaces(values['watch-namespaces']);
  const sidecarMetrics = bool('sidecar-metrics', values['sidecar-metrics'], false);
  const maxConcurrentReconciles = positiveInt('max-concurrent-reconciles', values['max-concurrent-reconciles']);
  let resources: ResourceRequirements | undefined;
  if (values['sidecar-resources'] !== undefined) {
    try {
      resources = JSON.parse(values['sidecar-resources']) as ResourceRequirements;
    } catch (e) {
      throw new Error(`--sidecar-resources is not JSON: ${(e as Error).message}`);
    }
    if (typeof resources !== 'object' || resources === null || Array.isArray(resources))
      throw new Error('--sidecar-resources must be a JSON object like {"requests":{"cpu":"50m"}}');
  }
  const ns = namespace!;
  const service = values['webhook-service'] ?? 'airlock-operator';
  const secretName = values['webhook-cert-secret'] ?? 'airlock-webhook-tls';
  const kube = new KubeClient(kubeConfig(values.kubeconfig));
  let tls: { certPem: string; keyPem: string; caPem: string } | undefined;
  if (!manageCert) {
    // cert-manager's Certificate writes a kubernetes.io/tls Secret; read here for the start, and its renewals
    // are picked up from the Secret by every replica (operator.ts reloadServingCert).
    const s = (await kube.must('GET', `/api/v1/namespaces/${ns}/secrets/${secretName}`)) as {
      data?: Record<string, string>;
    };
    const cert = s.data?.['tls.crt'];
    const key = s.data?.['tls.key'];
    if (cert === undefined || key === undefined)
      throw new Error(`Secret ${ns}/${secretName} has no tls.crt and tls.key`);
    // Injected sidecars verify the operator's gRPC certificate with this CA (AIRLOCK_OPERATOR_CA): without
    // it they could not connect at all, so refuse to start rather than inject sidecars that never get a policy.
    const ca = s.data?.['ca.crt'];
    if (ca === undefined || ca === '') {
      throw new Error(
        `Secret ${ns}/${secretName} has no ca.crt: use a cert-manager Issuer that records its CA (CA or self-signed issuer), so injected sidecars can verify the operator`,
      );
    }
    tls = {
      certPem: Buffer.from(cert, 'base64').toString('utf8'),
      keyPem: Buffer.from(key, 'base64').toString('utf8'),
      caPem: Buffer.from(ca, 'base64').toString('utf8'),
    };
  }

  const otlpEndpoint = values['otlp-endpoint'] ?? (process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] || undefined);
  if (otlpEndpoint !== undefined && !/^https?:\/\/[^/]/.test(otlpEndpoint)) {
    throw new Error(
      `--otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) must be an http:// or https:// URL such as http://otel-collector.observability:4317, got ${JSON.stringify(otlpEndpoint)}`,
    );
  }
  let ready = false;
  const metrics = createOperatorMetrics();
  const health = http.createServer((req, res) => {
    if (serveMetrics(metrics.registry, req, res)) return;
    // Readiness never depends on the Lease (deployment.yaml): caches synced and certificate loaded.
    const ok = req.url === '/healthz' || (req.url === '/readyz' && ready);
    res
      .writeHead(ok ? 200 : req.url === '/readyz' ? 503 : 404, { 'content-type': 'text/plain' })
      .end(ok ? 'ok\n' : 'not ready\n');
  });
  const metricsPort = port('metrics-port', values['metrics-port'], 8080);
  await new Promise<void>((resolve, reject) => {
    health.once('error', reject);
    health.listen(metricsPort, '0.0.0.0', () => resolve());
  });
  log.info('Started metrics and health server', { port: metricsPort, paths: '/metrics /healthz /readyz' });

  const op = new Operator({
    kube,
    namespace: ns,
    log,
    metrics,
    watchNamespaces: onlyNamespaces,
    ...(maxConcurrentReconciles === undefined ? {} : { maxConcurrentReconciles }),
    otlp:
      otlpEndpoint === undefined
        ? null
        : {
            endpoint: otlpEndpoint,
            ...(values['otlp-spool-dir'] === undefined ? {} : { spoolDir: values['otlp-spool-dir'] }),
          },
    selfUser: `system:serviceaccount:${ns}:${values['service-account'] ?? 'airlock-operator'}`,
    webhook: {
      host: '0.0.0.0',
      port: port('webhook-port', values['webhook-port'], 9443),
      configName: values['webhook-config-name'] ?? 'airlock-sidecar-injector',
      secretName,
      names: [service, `${service}.${ns}`, `${service}.${ns}.svc`, `${service}.${ns}.svc.cluster.local`],
      manageCert,
      ...(tls === undefined ? {} : { tls }),
    },
    grpc: { host: '0.0.0.0', port: port('grpc-port', values['grpc-port'], 9090) },
    // Identity: POD_NAME (the chart sets it) or the hostname, plus a random suffix (operator/leader.ts).
    ...(leaderElect ? { leaderElection: { id: values['leader-election-id'] ?? 'airlock-operator' } } : {}),
    sidecar: {
      image: values['sidecar-image']!,
      operatorAddress: values['grpc-address']!,
      ...(values['sidecar-image-pull-policy'] === undefined
        ? {}
        : { imagePullPolicy: values['sidecar-image-pull-policy'] }),
      ...(resources === undefined ? {} : { resources }),
      metrics: sidecarMetrics,
    },
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      ready = false;
      log.info('Stopping operator', {});
      await op.stop().catch((e: unknown) => log.error('Failed to stop cleanly', { error: (e as Error).message }));
      health.closeAllConnections();
      await new Promise<void>((r) => health.close(() => r()));
    })());
  const signalled = new Promise<void>((resolve) => {
    const on = (): void => {
      void stop().then(resolve);
    };
    process.once('SIGTERM', on);
    process.once('SIGINT', on);
  });
  try {
    await op.start();
  } catch (e) {
    log.error('Failed to start operator', { error: (e as Error).message });
    await stop();
    return 1;
  }
  ready = true;
  await signalled;
  return 0;
}
