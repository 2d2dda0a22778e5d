// Prometheus metrics of the proxy (design.md "Observability"), served as text on `--metrics-listen HOST:PORT`
// at /metrics. Statement counts and upstream time come from the audit records the session already builds
// (one StatementRecord per completed statement, proxy/session/backend.ts auditRun): wrapping the AuditSink
// costs the session one preallocated counter-child increment and one histogram observe per statement, with no
// label lookup or allocation, and needs no change to the session.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditDecision, AuditSink, SessionRecord, StatementRecord } from '../audit/types.ts';
import type { AuditMetrics } from '../audit/sink.ts';
import type { Analyzer } from './enforce/gate.ts';
import type { LogLimiter } from './log-limiter.ts';

export interface ProxyMetrics {
  readonly registry: Registry;
  /** The sink the session should use: counts each statement, then hands it on unchanged. */
  wrapAudit(inner: AuditSink): AuditSink;
  /** Analysis time of a statement-cache miss (the analyzer ran), in seconds. */
  observeAnalysis(seconds: number): void;
  /**
   * The analyzer the proxy should use: times each analyze() into airlock_analysis_seconds. Gate.check
   * calls analyze() only after both decision-cache lookups missed, so a hit costs nothing here.
   */
  wrapAnalyzer(inner: Analyzer): Analyzer;
  setPolicyGeneration(generation: number): void;
  /** airlock_errors_total{kind}: the proxy's rate-limited errors (proxy/log-limiter.ts), read at scrape time. */
  watchErrors(events: LogLimiter): void;
}

// Not an `import` of node:http: that loads undici (proxy/sidecar.ts says why).
const { createServer } = process.getBuiltinModule('node:http');

const DECISIONS: readonly AuditDecision[] = ['allow', 'deny', 'approve', 'warn'];

function hasMetrics(s: AuditSink): s is AuditSink & { metrics(): AuditMetrics } {
  return typeof (s as { metrics?: unknown }).metrics === 'function';
}

export function createProxyMetrics(): ProxyMetrics {
  const registry = new Registry();
  const statements = new Counter({
    name: 'airlock_statements_total',
    help: 'Statements that reached the proxy, by audit decision.',
    labelNames: ['decision'] as const,
    registers: [registry],
  });
  // Children resolved once: the per-statement path indexes this table by the record's decision string.
  const byDecision: Record<string, { inc(): void }> = {};
  for (const d of DECISIONS) byDecision[d] = statements.labels(d);
  const analysis = new Histogram({
    name: 'airlock_analysis_seconds',
    help: 'Statement analysis time (parse + facts), statement-cache misses only.',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [registry],
  });
  const upstream = new Histogram({
    name: 'airlock_upstream_seconds',
    help: 'Time from a statement reaching the proxy to its completion.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const connections = new Gauge({ name: 'airlock_connections', help: 'Client sessions open.', registers: [registry] });
  const generation = new Gauge({
    name: 'airlock_policy_generation',
    help: 'Generation of the policy in force.',
    registers: [registry],
  });
  let sink: (AuditSink & { metrics(): AuditMetrics }) | null = null;
  // Audit spool figures are read from the sink at scrape time (collect), not pushed per record.
  new Gauge({
    name: 'airlock_audit_spool_bytes',
    help: 'Audit spool bytes on disk plus records not yet written.',
    registers: [registry],
    collect() {
      this.set(sink === null ? 0 : sink.metrics().airlock_audit_spool_bytes);
    },
  });
  new Counter({
    name: 'airlock_audit_dropped_total',
    help: 'Audit records dropped (spool full).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sink === null ? 0 : sink.metrics().airlock_audit_dropped_total);
    },
  });
  new Counter({
    name: 'airlock_audit_export_failures_total',
    help: 'Failed OTLP export attempts.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sink === null ? 0 : sink.metrics().airlock_audit_export_failures_total);
    },
  });

  let events: LogLimiter | null = null;
  new Counter({
    name: 'airlock_errors_total',
    labelNames: ['kind'] as const,
    registers: [registry],
    help: 'Errors by kind (upstream_failed, upstream_timeout, upstream_login_refused, too_many_clients, startup_timeout, startup_evicted); the log shows one line per kind every 10 s.',
    collect() {
      this.reset();
      if (events !== null) for (const [kind, c] of events.counts()) this.labels(kind).inc(c.total);
    },
  });

  return {
    registry,
    watchErrors(e) {
      events = e;
    },
    wrapAudit(inner) {
      if (hasMetrics(inner)) sink = inner;
      return {
        sessionStarted(s: SessionRecord) {
          connections.inc();
          inner.sessionStarted(s);
        },
        statement(r: StatementRecord) {
          byDecision[r.decision]?.inc();
          upstream.observe(r.durationMs > 0 ? r.durationMs / 1000 : 0);
          return inner.statement(r);
        },
        sessionEnded(id: string, endTimeMs: number) {
          connections.dec();
          inner.sessionEnded(id, endTimeMs);
        },
        accepting: () => inner.accepting(),
        close: () => inner.close(),
      };
    },
    observeAnalysis(seconds) {
      analysis.observe(seconds);
    },
    wrapAnalyzer(inner) {
      const wrapped: Analyzer = {
        analyze(sql, normalized) {
          const t0 = performance.now();
          try {
            return inner.analyze(sql, normalized);
          } finally {
            analysis.observe((performance.now() - t0) / 1000);
          }
        },
      };
      // normalize is the shape-cache lookup key, part of the hit path: passed through untimed.
      const normalize = inner.normalize;
      if (normalize !== undefined) wrapped.normalize = (sql) => normalize.call(inner, sql);
      return wrapped;
    },
    setPolicyGeneration(g) {
      generation.set(g);
    },
  };
}

/** Serves GET /metrics (Prometheus text format); everything else is 404. Resolves once listening. */
/**
 * Answers `GET /metrics` (true) or leaves the request to the caller (false): the local-mode server below and
 * the sidecar's health listener (proxy/sidecar.ts) serve it the same way.
 */
export function handleMetrics(m: ProxyMetrics, req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return false;
  m.registry.metrics().then(
    (text) => {
      res.writeHead(200, { 'content-type': m.registry.contentType }).end(text);
    },
    (e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${(e as Error).message}\n`);
    },
  );
  return true;
}

export async function serveMetrics(m: ProxyMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (!handleMetrics(m, req, res))
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
