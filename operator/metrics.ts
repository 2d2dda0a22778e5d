// Prometheus metrics of the operator, served as text at GET /metrics on `--metrics-port` (bin/operator.ts),
// beside /healthz and /readyz. A Registry of its own, not prom-client's global one: two Operators in one
// process (tests) or a library user's own metrics never collide. Gauges that mirror state somebody else
// owns (queue depth, open sidecar streams, leadership) are read at scrape time through collect(), so no
// code path has to remember to update them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type ReconcileResult = 'success' | 'error';
/**
 * patched: allowed with a JSONPatch; unchanged: allowed as it came; refused: allowed=false (InjectError);
 * malformed: HTTP 400/413, not an AdmissionReview of a Pod; error: HTTP 500, a bug (failurePolicy applies).
 */
export type AdmissionResult = 'patched' | 'unchanged' | 'refused' | 'malformed' | 'error';

/** What the gauges read at scrape time; each may be set later (the Operator sets them in start()). */
export interface GaugeSources {
  queueDepth?: () => number;
  sidecarStreams?: () => number;
  isLeader?: () => boolean;
}

export interface OperatorMetrics {
  readonly registry: Registry;
  readonly sources: GaugeSources;
  /** One operator action (operator/record.ts): airlock_operator_actions_total{action}. */
  action(action: string): void;
  reconciled(kind: string, result: ReconcileResult, seconds: number): void;
  snapshotPublished(): void;
  admission(result: AdmissionResult, seconds: number): void;
  /** A watch restarted (controllers/informers.ts): airlock_operator_watch_restarts_total{kind,reason}. */
  watchRestarted(kind: string, reason: 'silent' | 'error'): void;
}

export interface MetricsOptions {
  /** prom-client's process_* and nodejs_* metrics. Default true; tests with several registries turn it off. */
  readonly defaultMetrics?: boolean;
}

export function createOperatorMetrics(opts: MetricsOptions = {}): OperatorMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const sources: GaugeSources = {};
  const actions = new Counter({
    name: 'airlock_operator_actions_total',
    help: 'Actions the operator recorded as Events and spans, by action.',
    labelNames: ['action'] as const,
    registers: [registry],
  });
  const reconciles = new Counter({
    name: 'airlock_operator_reconcile_total',
    help: 'Reconciles run, by kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  // Reconciles read caches and write at most one status patch: milliseconds usually, an apiserver round trip
  // at worst; the 10 s bucket is the KubeClient call timeout.
  const reconcileSeconds = new Histogram({
    name: 'airlock_operator_reconcile_duration_seconds',
    help: 'Reconcile duration, by kind.',
    labelNames: ['kind'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'airlock_operator_queue_depth',
    help: 'Reconcile keys waiting in the work queue.',
    registers: [registry],
    collect() {
      this.set(sources.queueDepth?.() ?? 0);
    },
  });
  new Gauge({
    name: 'airlock_operator_sidecar_streams',
    help: 'Open PolicyDistribution gRPC streams (sidecars connected to this replica).',
    registers: [registry],
    collect() {
      this.set(sources.sidecarStreams?.() ?? 0);
    },
  });
  const published = new Counter({
    name: 'airlock_operator_snapshots_published_total',
    help: 'Policy snapshots published to sidecar streams (one per changed binding).',
    registers: [registry],
  });
  const admissions = new Counter({
    name: 'airlock_operator_webhook_admissions_total',
    help: 'Pod admission reviews answered, by result.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  // design.md: webhook p99 ≤ 20 ms, so the buckets are fine below that.
  const admissionSeconds = new Histogram({
    name: 'airlock_operator_webhook_duration_seconds',
    help: 'Time from an admission request arriving to its answer.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  new Gauge({
    name: 'airlock_operator_leader',
    help: '1 while this replica holds the leader Lease (writes status and Events), else 0.',
    registers: [registry],
    collect() {
      this.set((sources.isLeader?.() ?? true) ? 1 : 0);
    },
  });
  // reason=silent: nothing, not even a bookmark, arrived for the quiet threshold (a dead network path);
  // reason=error: the watch or its LIST failed. Either is followed by a relist or a resumed watch.
  const watchRestarts = new Counter({
    name: 'airlock_operator_watch_restarts_total',
    help: 'Watches restarted, by kind and reason (silent: no event or bookmark within the quiet threshold; error: the watch or its list failed).',
    labelNames: ['kind', 'reason'] as const,
    registers: [registry],
  });
  return {
    registry,
    sources,
    action(a) {
      actions.inc({ action: a });
    },
    reconciled(kind, result, seconds) {
      reconciles.inc({ kind, result });
      reconcileSeconds.observe({ kind }, seconds);
    },
    snapshotPublished() {
      published.inc();
    },
    admission(result, seconds) {
      admissions.inc({ result });
      admissionSeconds.observe(seconds);
    },
    watchRestarted(kind, reason) {
      watchRestarts.inc({ kind, reason });
    },
  };
}

/**
 * Answers GET /metrics from the registry; returns false for any other request, so the caller's server can
 * serve its own paths (bin/operator.ts: /healthz, /readyz).
 */
export function serveMetrics(registry: Registry, req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url?.split('?')[0] !== '/metrics') return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' }).end('GET only\n');
    return true;
  }
  registry.metrics().then(
    (text) => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text);
    },
    (e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${(e as Error).message}\n`);
    },
  );
  return true;
}
