// `airlock operator`: flags exactly as charts/airlock/templates/deployment.yaml passes them (that file is
// the contract; test/chart renders it). Builds the Operator (operator/operator.ts), serves /healthz and
// /readyz on --metrics-port for the chart's probes, and stops gracefully on SIGTERM/SIGINT.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../operator/kube.ts';
import { jsonLogger } from '../operator/log.ts';
import type { Logger } from '../operator/log.ts';
import { Operator } from '../operator/operator.ts';
import type { ResourceRequirements } from '../operator/webhook/inject.ts';

export const OPERATOR_HELP = `usage: airlock operator [options]

Runs the controllers, the sidecar-injection webhook and the PolicyDistribution gRPC server.

  --namespace NS                   the operator's namespace (default: env POD_NAMESPACE): never injected,
                                   holds the webhook certificate Secret
  --kubeconfig FILE                default: in-cluster when running in a pod, else env KUBECONFIG
  --webhook-port N                 HTTPS admission webhook (default 9443)
  --grpc-port N                    PolicyDistribution gRPC (default 9090)
  --metrics-port N                 /healthz and /readyz over HTTP (default 8080)
  --webhook-config-name NAME       MutatingWebhookConfiguration whose caBundle the operator keeps
                                   (default airlock-sidecar-injector)
  --webhook-service NAME           Service in front of the operator: the serving certificate names
                                   NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local (default airlock-operator)
  --webhook-cert-secret NAME       Secret holding the serving certificate (default airlock-webhook-tls)
  --manage-webhook-cert BOOL       true: the operator issues and renews it; false: cert-manager does and
                                   the operator reads tls.crt/tls.key from the Secret (default true)
  --grpc-address HOST:PORT         what injected sidecars dial (required)
  --sidecar-image IMAGE            image of the injected proxy (required)
  --sidecar-image-pull-policy P    imagePullPolicy of the injected proxy
  --sidecar-resources JSON         resources of the injected proxy, e.g. {"requests":{"cpu":"50m"}}
  --log-level LEVEL                debug | info | warn | error (default info)
  --leader-elect BOOL, --leader-election-id NAME
                                   accepted; leader election is NOT implemented yet: run one replica
`;

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

function bool(flag: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`--${flag} must be true or false, got ${JSON.stringify(v)}`);
}

function port(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${flag} must be a port number, got ${JSON.stringify(v)}`);
  return n;
}

function leveled(level: string, base: Logger): Logger {
  const at = LEVELS.indexOf(level as typeof LEVELS[number]);
  if (at < 0) throw new Error(`--log-level must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  return {
    info: at <= 1 ? base.info : () => {},
    warn: at <= 2 ? base.warn : () => {},
    error: base.error,
  };
}

/** In-cluster when the kubelet gave us a ServiceAccount; else --kubeconfig or KUBECONFIG. */
function kubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  const path = file ?? process.env['KUBECONFIG'];
  if (path !== undefined && path !== '') {
    try { kc.loadFromFile(path); } catch (e) { throw new Error(`cannot load kubeconfig ${path}: ${(e as Error).message}`); }
  }
  else if (process.env['KUBERNETES_SERVICE_HOST'] !== undefined) kc.loadFromCluster();
  else throw new Error('no Kubernetes configuration: not in a pod (KUBERNETES_SERVICE_HOST unset) and neither --kubeconfig nor KUBECONFIG given');
  return kc;
}

export async function operatorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: {
      namespace: { type: 'string' }, kubeconfig: { type: 'string' },
      'webhook-port': { type: 'string' }, 'grpc-port': { type: 'string' }, 'metrics-port': { type: 'string' },
      'leader-elect': { type: 'string' }, 'leader-election-id': { type: 'string' },
      'webhook-config-name': { type: 'string' }, 'webhook-service': { type: 'string' }, 'webhook-cert-secret': { type: 'string' },
      'manage-webhook-cert': { type: 'string' }, 'grpc-address': { type: 'string' },
      'sidecar-image': { type: 'string' }, 'sidecar-image-pull-policy': { type: 'string' }, 'sidecar-resources': { type: 'string' },
      'log-level': { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help === true) { process.stdout.write(OPERATOR_HELP); return 0; }
  const namespace = values.namespace ?? process.env['POD_NAMESPACE'];
  const missing = [namespace === undefined ? '--namespace NS (or env POD_NAMESPACE)' : null,
    values['grpc-address'] === undefined ? '--grpc-address HOST:PORT' : null,
    values['sidecar-image'] === undefined ? '--sidecar-image IMAGE' : null].filter((x) => x !== null);
  if (missing.length > 0) { process.stderr.write(`airlock operator: missing ${missing.join(', ')}\n\n${OPERATOR_HELP}`); return 2; }
  const log = leveled(values['log-level'] ?? 'info', jsonLogger());
  const leaderElect = bool('leader-elect', values['leader-elect'], false);
  const manageCert = bool('manage-webhook-cert', values['manage-webhook-cert'], true);
  let resources: ResourceRequirements | undefined;
  if (values['sidecar-resources'] !== undefined) {
    try { resources = JSON.parse(values['sidecar-resources']) as ResourceRequirements; } catch (e) {
      throw new Error(`--sidecar-resources is not JSON: ${(e as Error).message}`);
    }
    if (typeof resources !== 'object' || resources === null || Array.isArray(resources)) throw new Error('--sidecar-resources must be a JSON object like {"requests":{"cpu":"50m"}}');
  }
  if (leaderElect) {
    // Said loudly rather than ignored: with replicas > 1 every replica reconciles and writes status.
    log.warn('Leader election is not implemented yet; this replica reconciles as if it were the leader', { leaderElectionId: values['leader-election-id'] ?? null });
  }
  const ns = namespace!;
  const service = values['webhook-service'] ?? 'airlock-operator';
  const secretName = values['webhook-cert-secret'] ?? 'airlock-webhook-tls';
  const kube = new KubeClient(kubeConfig(values.kubeconfig));
  let tls: { certPem: string; keyPem: string } | undefined;
  if (!manageCert) {
    // cert-manager's Certificate writes a kubernetes.io/tls Secret; read it once (renewals: restart — not yet watched).
    const s = await kube.must('GET', `/api/v1/namespaces/${ns}/secrets/${secretName}`) as { data?: Record<string, string> };
    const cert = s.data?.['tls.crt'];
    const key = s.data?.['tls.key'];
    if (cert === undefined || key === undefined) throw new Error(`Secret ${ns}/${secretName} has no tls.crt and tls.key`);
    tls = { certPem: Buffer.from(cert, 'base64').toString('utf8'), keyPem: Buffer.from(key, 'base64').toString('utf8') };
    log.warn('Serving certificate renewal by cert-manager is not watched yet; restart the operator after a renewal', { secret: `${ns}/${secretName}` });
  }

  let ready = false;
  const health = http.createServer((req, res) => {
    // Readiness never depends on the Lease (deployment.yaml): caches synced and certificate loaded.
    const ok = req.url === '/healthz' || (req.url === '/readyz' && ready);
    res.writeHead(ok ? 200 : req.url === '/readyz' ? 503 : 404, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
  });
  const metricsPort = port('metrics-port', values['metrics-port'], 8080);
  await new Promise<void>((resolve, reject) => { health.once('error', reject); health.listen(metricsPort, '0.0.0.0', () => resolve()); });
  log.info('Started health server; /metrics is not implemented yet', { port: metricsPort });

  const op = new Operator({
    kube, namespace: ns, log,
    webhook: {
      host: '0.0.0.0', port: port('webhook-port', values['webhook-port'], 9443),
      configName: values['webhook-config-name'] ?? 'airlock-sidecar-injector', secretName,
      names: [service, `${service}.${ns}`, `${service}.${ns}.svc`, `${service}.${ns}.svc.cluster.local`],
      manageCert, ...(tls === undefined ? {} : { tls }),
    },
    grpc: { host: '0.0.0.0', port: port('grpc-port', values['grpc-port'], 9090) },
    sidecar: {
      image: values['sidecar-image']!, operatorAddress: values['grpc-address']!,
      ...(values['sidecar-image-pull-policy'] === undefined ? {} : { imagePullPolicy: values['sidecar-image-pull-policy'] }),
      ...(resources === undefined ? {} : { resources }),
    },
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => (stopping ??= (async () => {
    ready = false;
    log.info('Stopping operator', {});
    await op.stop().catch((e: unknown) => log.error('Failed to stop cleanly', { error: (e as Error).message }));
    health.closeAllConnections();
    await new Promise<void>((r) => health.close(() => r()));
  })());
  const signalled = new Promise<void>((resolve) => {
    const on = (): void => { void stop().then(resolve); };
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
