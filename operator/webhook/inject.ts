// The sidecar injection, pure: a pod and the DatabaseBindings of its namespace in, the mutated pod out
// (style.md §5; model: GoogleCloudPlatform/cloud-sql-proxy-operator internal/workload/podspec_updates.go).
// No client, clock or randomness here: the webhook (server.ts) supplies the bindings from its informer
// cache and turns the result into a JSON Patch (patch.ts). Decisions and their reasons:
// operator/DESIGN.md.
import type { DatabaseBinding } from '../../policy/types.ts';
import {
  LABEL_SIDECAR,
  SIDECAR_MALLOC_ARENA_MAX,
  SIDECAR_NODE_OPTIONS,
  TOKEN_AUDIENCE,
  ANNOTATION_INJECTED,
  labelName,
  matchingBindings,
  sidecarName,
  type Container,
  type EnvVar,
  type Pod,
  type PodSpec,
  type ResourceRequirements,
  type Volume,
} from '../pod.ts';

/** Which env vars injection added, per container, so a re-injection can take exactly those back. */
export const ANNOTATION_INJECTED_ENV = 'airlock.dev/injected-env';
export const LABEL_INJECT = 'airlock.dev/inject';
export const TOKEN_VOLUME = 'airlock-token';
export const TOKEN_DIR = '/var/run/secrets/airlock.dev/serviceaccount';
export const TOKEN_EXPIRATION_SECONDS = 3600;
export const SPOOL_DIR = '/var/lib/airlock/spool';
/** The audit spool's emptyDir cap: spans wait here while the collector is down (design.md, audit). */
export const SPOOL_SIZE_LIMIT = '256Mi';
/** Native sidecars (initContainers with restartPolicy: Always) are on by default from Kubernetes 1.29. */
export const NATIVE_SIDECAR_MINOR = 29;
/** Health endpoint port of the first sidecar; the i-th binding's sidecar uses base + i. */
export const DEFAULT_HEALTH_PORT_BASE = 15400;
/**
 * Defaults match charts/airlock/values.yaml `sidecar.resources`. No CPU limit: CFS throttling adds
 * latency to every statement on the hot path, and the request already reserves what the proxy needs idle.
 * The 128Mi request is what the sidecar uses once it has served statements (~90 MiB RSS at ready from the image;
 * docs/performance.md "Memory of the sidecar"), so the scheduler reserves what it really takes. The 512Mi limit
 * is measured, not guessed (test/proxy/memory.test.ts, docs/operations.md "Memory"): peak RSS is ~115–190 MiB
 * over 8 clients with audit on, which that test keeps under 230 MiB, and one statement near the 1 MiB statement
 * limit peaks near 420 MiB while it is parsed (bench/parser-memory.ts; the parser's memory is given back about a
 * second later, proxy/enforce/parser-instance.ts); before issue 15 the first statement alone peaked at ~670 MiB.
 */
export const DEFAULT_RESOURCES: ResourceRequirements = {
  requests: { cpu: '50m', memory: '128Mi' },
  limits: { memory: '512Mi' },
};
/** Kubernetes' default terminationGracePeriodSeconds. */
export const DEFAULT_TERMINATION_GRACE_SECONDS = 30;
/**
 * Of the pod's grace period, what the sidecar keeps after its drain for cancelling what is still running,
 * closing sessions and flushing audit before the kubelet's SIGKILL (README "Operations", shutdown order).
 */
export const DRAIN_MARGIN_SECONDS = 5;

/** The sidecar's --drain-timeout for this pod: its grace period less the margin (25 s by default). */
export function drainSecondsFor(spec: PodSpec): number {
  const grace =
    typeof spec.terminationGracePeriodSeconds === 'number' && spec.terminationGracePeriodSeconds >= 0
      ? spec.terminationGracePeriodSeconds
      : DEFAULT_TERMINATION_GRACE_SECONDS;
  return Math.max(0, Math.floor(grace) - DRAIN_MARGIN_SECONDS);
}

/** Sidecar UID: distroless `nonroot`; numeric so the kubelet can verify runAsNonRoot without reading the image. */
export const SIDECAR_UID = 65532;

export interface InjectOptions {
  /** The sidecar image: the `airlock` binary, whose entrypoint takes the `proxy` subcommand. */
  readonly image: string;
  readonly imagePullPolicy?: string;
  /** host:port of the operator's PolicyDistribution gRPC service. */
  readonly operatorAddress: string;
  /** Never injected: the operator's own pods must start while no webhook answers (failurePolicy Fail). */
  readonly operatorNamespace: string;
  /** Minor version of the apiserver (e.g. 29 for v1.29.3): picks native or regular sidecar. */
  readonly kubernetesMinor: number;
  readonly resources?: ResourceRequirements;
  readonly healthPortBase?: number;
  /**
   * PEM of the CA that signed the operator's gRPC certificate, given to the sidecar as env
   * AIRLOCK_OPERATOR_CA so it verifies the operator before trusting it with credentials. Public data.
   */
  readonly operatorCaPem?: string;
  /**
   * Give the sidecar `--metrics`: Prometheus GET /metrics on its `health` port, beside /readyz. Off by
   * default (operator flag `--sidecar-metrics`, chart `sidecar.metrics.enabled`): prom-client costs idle
   * memory in every injected pod.
   */
  readonly sidecarMetrics?: boolean;
}

/** The pod cannot be injected as asked (e.g. two bindings on one port): the webhook denies the pod. */
export class InjectError extends Error {
  override name = 'InjectError';
}

/** `orders@3,reports@1`: binding names in order with their generations; equal strings = up to date. */
export function injectedValue(bindings: readonly DatabaseBinding[]): string {
  return bindings.map((b) => `${b.metadata.name}@${b.metadata.generation ?? 0}`).join(',');
}

/** Bindings named in an `airlock.dev/injected` value (generations dropped). */
function injectedNames(value: string): string[] {
  return value
    .split(',')
    .map((x) => x.slice(0, x.lastIndexOf('@') < 0 ? x.length : x.lastIndexOf('@')))
    .filter((x) => x !== '');
}

function spoolVolumeName(binding: string): string {
  return labelName('airlock-spool-', binding);
}

/** `orders-db.v2` → `ORDERS_DB_V2`, for DATABASE_URL_<NAME>. */
function envSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

function sidecarPort(b: DatabaseBinding): number {
  return b.spec.sidecar?.port ?? 5432;
}

function databaseUrl(port: number, database: string): string {
  // No user, no password: the sidecar logs in upstream with the binding's Secret; the app may send anything.
  return `postgresql://127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

/**
 * Returns the injected pod, or undefined when nothing is to change: opted out, the operator's
 * namespace, no binding selects the pod and it carries no earlier injection, or the earlier injection
 * is up to date. Throws InjectError when the bindings cannot be honoured together. `pod` is not modified.
 */
export function inject(pod: Pod, bindings: readonly DatabaseBinding[], opts: InjectOptions): Pod | undefined {
  const meta = pod.metadata ?? {};
  if (pod.spec === undefined) return undefined;
  if (meta.labels?.[LABEL_INJECT] === 'false') return undefined;
  if (meta.namespace === undefined || meta.namespace === opts.operatorNamespace) return undefined;

  const matched = matchingBindings(pod, bindings);
  const want = injectedValue(matched);
  const have = meta.annotations?.[ANNOTATION_INJECTED];
  if (have === undefined && matched.length === 0) return undefined;
  if (have === want && upToDate(pod.spec, matched, opts.image)) return undefined;

  const out = structuredClone(pod) as Pod & { metadata: NonNullable<Pod['metadata']>; spec: PodSpec };
  out.metadata ??= {};
  if (have !== undefined) strip(out);
  if (matched.length === 0) return out; // an earlier injection no binding asks for any more
  add(out, matched, opts);
  return out;
}

function upToDate(spec: PodSpec, matched: readonly DatabaseBinding[], image: string): boolean {
  // The annotation alone is not trusted: a pod created with a hand-written annotation and no sidecar
  // (or a look-alike container of another image) must still get the real one.
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  return matched.every((b) => all.some((c) => c.name === sidecarName(b.metadata.name) && c.image === image));
}

/** Takes back what an earlier injection added, as recorded in the pod's annotations. */
function strip(pod: Pod & { metadata: NonNullable<Pod['metadata']>; spec: PodSpec }): void {
  const ann = pod.metadata.annotations ?? {};
  const names = injectedNames(ann[ANNOTATION_INJECTED] ?? '');
  const containers = new Set(names.map(sidecarName));
  const volumes = new Set([TOKEN_VOLUME, ...names.map(spoolVolumeName)]);
  pod.spec.containers = pod.spec.containers.filter((c) => !containers.has(c.name));
  if (pod.spec.initContainers !== undefined) {
    pod.spec.initContainers = pod.spec.initContainers.filter((c) => !containers.has(c.name));
    if (pod.spec.initContainers.length === 0) delete pod.spec.initContainers;
  }
  if (pod.spec.volumes !== undefined) {
    pod.spec.volumes = pod.spec.volumes.filter((v) => !volumes.has(v.name));
    if (pod.spec.volumes.length === 0) delete pod.spec.volumes;
  }
  // `app=PGHOST,PGPORT;worker=DATABASE_URL`
  const added = new Map<string, Set<string>>();
  for (const part of (ann[ANNOTATION_INJECTED_ENV] ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) added.set(part.slice(0, eq), new Set(part.slice(eq + 1).split(',')));
  }
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    const vars = added.get(c.name);
    if (vars === undefined || c.env === undefined) continue;
    c.env = c.env.filter((e) => !vars.has(e.name));
    if (c.env.length === 0) delete c.env;
  }
  delete ann[ANNOTATION_INJECTED];
  delete ann[ANNOTATION_INJECTED_ENV];
  if (pod.metadata.labels !== undefined) {
    delete pod.metadata.labels[LABEL_SIDECAR];
    if (Object.keys(pod.metadata.labels).length === 0) delete pod.metadata.labels;
  }
  if (Object.keys(ann).length === 0) delete pod.metadata.annotations;
}

function add(
  pod: Pod & { metadata: NonNullable<Pod['metadata']>; spec: PodSpec },
  matched: readonly DatabaseBinding[],
  opts: InjectOptions,
): void {
  const spec = pod.spec;
  const native = opts.kubernetesMinor >= NATIVE_SIDECAR_MINOR;
  const healthBase = opts.healthPortBase ?? DEFAULT_HEALTH_PORT_BASE;

  // Containers share the pod's network namespace: two listeners on one loopback port cannot both bind.
  const taken = new Map<number, string>();
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const p of c.ports ?? []) taken.set(p.containerPort, `container "${c.name}"`);
  }
  const claim = (port: number, who: string): void => {
    const other = taken.get(port);
    if (other !== undefined) {
      throw new InjectError(
        `${who} needs port ${port}, which ${other} already uses; `
          + `set a different spec.sidecar.port on the DatabaseBinding or opt the pod out with label ${LABEL_INJECT}: "false"`,
      );
    }
    taken.set(port, who);
  };

  const sidecars: Container[] = matched.map((b, i) => {
    const port = sidecarPort(b);
    const health = healthBase + i;
    claim(port, `DatabaseBinding "${b.metadata.name}"`);
    claim(health, `the health endpoint of DatabaseBinding "${b.metadata.name}"`);
    return sidecar(b, port, health, native, opts, drainSecondsFor(spec));
  });

  if (native) {
    // First, so that later init containers (migrations) already reach the database through it.
    spec.initContainers = [...sidecars, ...(spec.initContainers ?? [])];
  } else {
    // Last, so `kubectl logs`/`exec` keep defaulting to the application's first container.
    spec.containers = [...spec.containers, ...sidecars];
  }
  spec.volumes = [
    ...(spec.volumes ?? []),
    tokenVolume(),
    ...matched.map((b) => ({ name: spoolVolumeName(b.metadata.name), emptyDir: { sizeLimit: SPOOL_SIZE_LIMIT } })),
  ];

  // Environment for the application: PG* and DATABASE_URL name the first binding (by name); with more
  // than one binding each also gets DATABASE_URL_<NAME>. Explicit `env` entries win (never clobbered).
  const first = matched[0] as DatabaseBinding;
  const vars: EnvVar[] = [
    { name: 'PGHOST', value: '127.0.0.1' },
    { name: 'PGPORT', value: String(sidecarPort(first)) },
    { name: 'PGDATABASE', value: first.spec.endpoint.database },
    { name: 'DATABASE_URL', value: databaseUrl(sidecarPort(first), first.spec.endpoint.database) },
  ];
  if (matched.length > 1) {
    for (const b of matched)
      vars.push({
        name: `DATABASE_URL_${envSuffix(b.metadata.name)}`,
        value: databaseUrl(sidecarPort(b), b.spec.endpoint.database),
      });
  }
  const sidecarNames = new Set(sidecars.map((c) => c.name));
  // Init containers reach the proxy only when it is a native sidecar started before them.
  const apps = [...(native ? (spec.initContainers ?? []) : []), ...spec.containers].filter(
    (c) => !sidecarNames.has(c.name),
  );
  const record: string[] = [];
  for (const c of apps) {
    const set = new Set((c.env ?? []).map((e) => e.name));
    const mine = vars.filter((v) => !set.has(v.name));
    if (mine.length === 0) continue;
    c.env = [...(c.env ?? []), ...mine];
    record.push(`${c.name}=${mine.map((v) => v.name).join(',')}`);
  }

  pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), [ANNOTATION_INJECTED]: injectedValue(matched) };
  pod.metadata.labels = { ...(pod.metadata.labels ?? {}), [LABEL_SIDECAR]: 'true' };
  if (record.length > 0) pod.metadata.annotations[ANNOTATION_INJECTED_ENV] = record.join(';');
}

function tokenVolume(): Volume {
  // Audience `airlock`: the token is useless against the apiserver's default audience, and the
  // operator's TokenReview asks for exactly this audience. The kubelet rotates it at 80% of its life.
  return {
    name: TOKEN_VOLUME,
    projected: {
      sources: [
        {
          serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: TOKEN_EXPIRATION_SECONDS, path: 'token' },
        },
      ],
    },
  };
}

function sidecar(
  b: DatabaseBinding,
  port: number,
  health: number,
  native: boolean,
  opts: InjectOptions,
  drainSeconds: number,
): Container {
  const c: Container = {
    name: sidecarName(b.metadata.name),
    image: opts.image,
    ...(opts.imagePullPolicy === undefined ? {} : { imagePullPolicy: opts.imagePullPolicy }),
    args: [
      'proxy',
      '--operator',
      opts.operatorAddress,
      '--binding',
      `${b.metadata.namespace}/${b.metadata.name}`,
      '--listen',
      `127.0.0.1:${port}`,
      // Probes come from the kubelet over the pod IP, which a loopback-only listener never sees; the
      // database port itself stays on loopback so no other pod can borrow this pod's identity.
      '--health-listen',
      `0.0.0.0:${health}`,
      '--token-file',
      `${TOKEN_DIR}/token`,
      '--spool-dir',
      SPOOL_DIR,
      // SIGTERM: in-flight statements get the pod's grace period less a margin (drainSecondsFor).
      '--drain-timeout',
      String(drainSeconds),
      ...(opts.sidecarMetrics === true ? ['--metrics'] : []),
    ],
    // No credentials, ever: the sidecar gets them from the operator over the authenticated gRPC stream
    // (design.md, "Sidecar injection"), so they never appear in the pod spec, `kubectl get pod -o yaml`,
    // or the audit log of pod creations.
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ...(opts.operatorCaPem === undefined ? [] : [{ name: 'AIRLOCK_OPERATOR_CA', value: opts.operatorCaPem }]),
      // V8 heap settings for a small proxy (pod.ts SIDECAR_NODE_OPTIONS, measured in docs/performance.md).
      { name: 'NODE_OPTIONS', value: SIDECAR_NODE_OPTIONS },
      // Fewer glibc malloc arenas: 2-3 MiB less idle RSS (pod.ts SIDECAR_MALLOC_ARENA_MAX).
      { name: 'MALLOC_ARENA_MAX', value: SIDECAR_MALLOC_ARENA_MAX },
    ],
    ports: [{ name: 'health', containerPort: health, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/readyz', port: health }, periodSeconds: 2, failureThreshold: 3 },
    // With a native sidecar the kubelet starts the next init container once this passes: the proxy is
    // listening and holds a policy (it denies everything until it has one).
    startupProbe: { httpGet: { path: '/readyz', port: health }, periodSeconds: 1, failureThreshold: 60 },
    resources: structuredClone(opts.resources ?? DEFAULT_RESOURCES),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      runAsGroup: SIDECAR_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: spoolVolumeName(b.metadata.name), mountPath: SPOOL_DIR },
    ],
  };
  if (native) c.restartPolicy = 'Always';
  return c;
}
