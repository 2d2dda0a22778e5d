// Sidecar mode (operator/DESIGN.md): `airlock proxy --operator ADDR --binding NS/NAME …`, as the webhook
// injects it (operator/webhook/inject.ts). Policy, endpoint and credentials come from the operator over
// one PolicyDistribution Watch stream (distribution/client.ts); each update is swapped in whole with
// Proxy.reload(), the path local mode's file reload takes, so revocation ends idle sessions the same way.
//
// Before the first snapshot the database port does NOT listen: clients get ECONNREFUSED. Every driver
// and pool treats a refused connection as transient and retries; a login refused with a SQLSTATE (42501)
// is classed as permanent by some (Npgsql's IsTransient, for one) and could make a pool give up. There is
// also nothing to log in to yet: endpoint and credentials arrive with the snapshot. /readyz reports
// not-ready until then, so a native sidecar's startup probe holds the app back anyway (Kubernetes ≥ 1.29).
// After that, a disconnect keeps the last good policy (style.md §5); `shutdown` ends the process with 0.
import { readFileSync } from 'node:fs';
import type { Identity } from '../policy/types.ts';
import { makeIdentity, parseServiceAccount } from '../policy/identity.ts';
import { watchPolicy } from '../distribution/client.ts';
import type { PolicyWatch, WatchOptions, WatchState } from '../distribution/client.ts';
import type { DistributedPolicy } from '../distribution/types.ts';
import { policyState } from './enforce/gate.ts';
import type { Analyzer, PolicyState } from './enforce/gate.ts';
import {
  auditSettings,
  collectStartupGarbage,
  DRAIN_TIMEOUT_MS_DEFAULT,
  openAudit,
  parseListen,
  proxyLimits,
} from './run.ts';
import type { ConnectionLimits } from './run.ts';
import type { AuditSink } from '../audit/types.ts';
import type { AuditExporter } from '../audit/index.ts';
import type { ProxyMetrics } from './metrics.ts';
import { startProxy } from './server.ts';
import type { Proxy } from './server.ts';
import type { Approvals, UpstreamTarget } from './session/shared.ts';
import { startViolationReporter, ViolationCounter } from './violations.ts';
import type { ViolationReporter } from './violations.ts';

// node:http through process.getBuiltinModule, not `import`: an ES import of a built-in reads every export to
// build its namespace, and node:http's lazy WebSocket/CloseEvent/MessageEvent getters then load undici and web
// streams, ~3 MiB of the idle sidecar (docs/performance.md, "Memory of the sidecar"; sidecar-at-rest.test.ts).
const http = process.getBuiltinModule('node:http');

/** A report that takes longer is abandoned and its counts merged into the next one. */
const VIOLATION_REPORT_TIMEOUT_MS = 5000;
/** RequestAccess: the operator creates one object; a slow answer still leaves the rest of holdTimeout. */
const APPROVAL_REQUEST_TIMEOUT_MS = 10_000;

export interface SidecarOptions extends ConnectionLimits {
  /** host:port of the operator's PolicyDistribution service. */
  readonly operator: string;
  /** NS/NAME of the DatabaseBinding. */
  readonly binding: string;
  /** Default 127.0.0.1:6432; loopback only, so no other pod can borrow this pod's identity. */
  readonly listen?: string;
  /** HOST:PORT of the /readyz and /healthz server; none when absent. */
  readonly healthListen?: string;
  /**
   * Serve Prometheus GET /metrics (proxy/metrics.ts, the series local mode serves) on the health listener,
   * which must then be given. Off by default: prom-client is imported only when this is set, because its
   * registry and histograms cost idle memory in every injected pod (design.md: ≤ 80 MiB idle RSS).
   */
  readonly metrics?: boolean;
  /** Projected ServiceAccount token (audience `airlock`), re-read at every connect. */
  readonly tokenFile: string;
  /** PEM of the operator's CA (env AIRLOCK_OPERATOR_CA); absent = plaintext gRPC (tests, local runs). */
  readonly operatorCaPem?: string;
  readonly auditEndpoint?: string;
  readonly auditSpool?: string;
  readonly maxStatementBytes?: number;
  readonly watch?: WatchOptions;
}

export interface SidecarProxy {
  /** Null until the first snapshot. */
  proxy(): Proxy | null;
  readonly identity: Identity;
  /** The health server's address, when --health-listen was given. */
  readonly health: { readonly host: string; readonly port: number } | null;
  /**
   * Resolves once the sidecar has stopped on its own: code 0 when the operator sent `shutdown` (reason is
   * its message), 1 when the proxy could not start. The proxy is closed by then.
   */
  readonly done: Promise<{ readonly code: number; readonly reason: string }>;
  stop(): Promise<void>;
}

export function parseBindingRef(s: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(s);
  if (m === null) throw new Error(`--binding ${JSON.stringify(s)}: expected NAMESPACE/NAME of a DatabaseBinding`);
  return { namespace: m[1]!, name: m[3]! };
}

/**
 * The pod's identity from its own token's `sub` claim. Not verified here — the operator verifies the
 * same token with a TokenReview before it sends anything, and only for the pod the token is bound to.
 */
export function identityFromToken(token: string): Identity {
  const payload = token.trim().split('.')[1];
  let sub: unknown;
  try {
    sub = (JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as { sub?: unknown }).sub;
  } catch {
    sub = undefined;
  }
  if (typeof sub !== 'string' || parseServiceAccount(sub) === null) {
    throw new Error(
      'the token file does not hold a ServiceAccount token (no "sub: system:serviceaccount:NS:NAME" claim)',
    );
  }
  return makeIdentity(sub);
}

const TLS_MODES = new Set(['disable', 'require', 'verify-full']);

/** The upstream a snapshot names; throws (the update is then ignored, the last good one stays) when unusable. */
export function targetOf(p: DistributedPolicy): UpstreamTarget {
  if (p.credentials === null) throw new Error('the snapshot carries no database credentials');
  if (!TLS_MODES.has(p.endpoint.tlsMode))
    throw new Error(`unknown endpoint tls mode ${JSON.stringify(p.endpoint.tlsMode)}`);
  return {
    binding: p.binding.name,
    database: p.endpoint.database,
    host: p.endpoint.host,
    port: p.endpoint.port,
    tlsMode: p.endpoint.tlsMode as UpstreamTarget['tlsMode'],
    user: p.credentials.username,
    password: p.credentials.password,
    ...(p.endpoint.caPem === null ? {} : { ca: p.endpoint.caPem }),
  };
}

export async function runSidecarProxy(
  opts: SidecarOptions,
  analyzer: Analyzer,
  log: (m: string) => void,
): Promise<SidecarProxy> {
  const ref = parseBindingRef(opts.binding);
  const listen = parseListen(opts.listen ?? '127.0.0.1:6432');
  const healthAt = opts.healthListen === undefined ? null : parseListen(opts.healthListen, '--health-listen');
  if (opts.metrics === true && healthAt === null)
    throw new Error('airlock: --metrics serves /metrics on the health listener: give --health-listen HOST:PORT too');
  let token: string;
  try {
    token = readFileSync(opts.tokenFile, 'utf8');
  } catch (e) {
    throw new Error(`airlock: cannot read --token-file ${opts.tokenFile}: ${(e as Error).message}`);
  }
  const identity = identityFromToken(token);
  // Wired as local mode wires it (proxy/local.ts): the analyzer timed on cache misses, the audit sink
  // counted, the generation set on every policy swap. Dynamic import: no prom-client without --metrics.
  const metricsModule = opts.metrics === true ? await import('./metrics.ts') : null;
  const metrics: ProxyMetrics | null = metricsModule?.createProxyMetrics() ?? null;
  if (metrics !== null) analyzer = metrics.wrapAnalyzer(analyzer);

  // warn/observe staging counters, reported to the operator every second over the watch's channel.
  const violations = new ViolationCounter();
  let reporter: ViolationReporter | null = null;
  let proxy: Proxy | null = null;
  let starting: Promise<void> | null = null;
  let pending: DistributedPolicy | null = null;
  let stopped = false;
  let finish!: (r: { code: number; reason: string }) => void;
  const done = new Promise<{ code: number; reason: string }>((r) => {
    finish = r;
  });

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (expiryTimer !== null) clearTimeout(expiryTimer);
    log('airlock: stopping the sidecar proxy');
    await starting?.catch(() => {});
    await reporter?.stop(); // the last counts, before the channel closes
    watch?.close();
    if (health !== null)
      await new Promise<void>((r) => {
        health!.closeAllConnections();
        health!.close(() => r());
      });
    await proxy?.close(opts.drainTimeoutMs ?? DRAIN_TIMEOUT_MS_DEFAULT);
  };

  // Grants (approved AccessRequests) are named "namespace/name" here, as audit spans and messages show them.
  const stateOf = (p: DistributedPolicy): PolicyState =>
    policyState(
      p.policySet,
      analyzer,
      undefined,
      p.grants.map((g) => ({
        request: `${p.binding.namespace}/${g.request}`,
        subject: g.subject,
        rules: g.rules,
        statement: g.statement,
        expiresAtMs: g.expiresAtMs,
      })),
    );
  const endedOf = (p: DistributedPolicy): Map<string, string> =>
    new Map(p.revoked.map((r) => [`${p.binding.namespace}/${r.request}`, r.reason]));
  // A grant expires on the sidecar's own clock too, not only when the operator says so: at the earliest
  // expiry the state is rebuilt without it (and sessions that used it end).
  let expiryTimer: NodeJS.Timeout | null = null;
  const armGrantExpiry = (p: DistributedPolicy, target: UpstreamTarget): void => {
    if (expiryTimer !== null) {
      clearTimeout(expiryTimer);
      expiryTimer = null;
    }
    const now = Date.now();
    const next = Math.min(...p.grants.map((g) => g.expiresAtMs).filter((t) => t > now));
    if (!Number.isFinite(next)) return;
    expiryTimer = setTimeout(
      () => {
        expiryTimer = null;
        if (stopped || proxy === null || watch.last() !== p) return; // a newer update re-armed it
        const ended = endedOf(p);
        for (const g of p.grants)
          if (g.expiresAtMs <= Date.now()) ended.set(`${p.binding.namespace}/${g.request}`, 'Expired');
        proxy.reload(stateOf(p), target, ended);
        armGrantExpiry(p, target);
      },
      Math.min(next - now + 5, 2 ** 31 - 1),
    );
    expiryTimer.unref();
  };
  const approvals: Approvals = {
    request: async (intent) => {
      try {
        const r = await watch.call<{ namespace: string; name: string }>(
          'requestAccess',
          { namespace: ref.namespace, binding: ref.name, ...intent },
          APPROVAL_REQUEST_TIMEOUT_MS,
        );
        return { namespace: r.namespace, name: r.name };
      } catch (e) {
        throw new Error(
          `the operator refused the AccessRequest: ${(e as { details?: string }).details || (e as Error).message}`,
        );
      }
    },
  };

  // The binding's audit settings arrive with every update; a change applies to the running sink (same spool).
  let auditSink: AuditSink | null = null;
  let auditKey = '';
  const applyAudit = (p: DistributedPolicy): void => {
    const a = auditSettings(opts, { metadata: ref, spec: p.binding.spec });
    const key = JSON.stringify(a);
    if (key === auditKey || auditSink === null) return;
    auditKey = key;
    const sink = auditSink as Partial<AuditExporter>;
    if (typeof sink.reconfigure !== 'function') {
      log(
        "airlock: the binding's audit settings changed, but this sidecar runs without an audit spool; they apply after a restart",
      );
      return;
    }
    sink.reconfigure(a.endpoint, a.protocol, a.onFailure);
    log(`airlock: audit settings changed: endpoint ${a.endpoint ?? '(none: spool only)'}, onFailure ${a.onFailure}`);
  };

  const apply = (p: DistributedPolicy): void => {
    if (stopped) return;
    if (p.shutdown !== null) {
      // Deny everything first (ends live sessions as a revocation would), then leave.
      log(`airlock: the operator says stop: ${p.shutdown}`);
      // No policy: what compile([], generation) yields, built here so the sidecar does not load the validator.
      proxy?.reload(policyState({ generation: p.policySet.generation, policies: [] }, analyzer));
      const reason = p.shutdown;
      void stop().finally(() => finish({ code: 0, reason }));
      return;
    }
    let target: UpstreamTarget;
    try {
      target = targetOf(p);
    } catch (e) {
      log(
        `airlock: ignoring policy update ${p.version} from the operator, keeping the last good one: ${(e as Error).message}`,
      );
      return;
    }
    if (p.binding.namespace !== ref.namespace || p.binding.name !== ref.name) {
      log(
        `airlock: ignoring policy update for ${p.binding.namespace}/${p.binding.name}: this sidecar serves ${opts.binding}`,
      );
      return;
    }
    const state = stateOf(p);
    if (proxy !== null) {
      applyAudit(p);
      proxy.reload(state, target, endedOf(p));
      metrics?.setPolicyGeneration(p.policySet.generation);
      armGrantExpiry(p, target);
      log(`airlock: policy generation ${p.policySet.generation} from the operator (update ${p.version})`);
      return;
    }
    // First snapshot: open the audit sink (its settings are in the binding) and start listening. Later
    // updates that race the start are kept in `pending` and applied once it is up.
    if (starting !== null) {
      pending = p;
      return;
    }
    starting = (async () => {
      const audit = await openAudit(
        opts,
        { metadata: { namespace: ref.namespace, name: ref.name }, spec: p.binding.spec },
        log,
      );
      auditSink = audit;
      auditKey = JSON.stringify(auditSettings(opts, { metadata: ref, spec: p.binding.spec }));
      // The raw sink stays in auditSink: applyAudit reconfigures it; the wrapper only counts and forwards.
      const started = await startProxy({
        listen,
        target,
        identity,
        state,
        audit: metrics === null ? audit : metrics.wrapAudit(audit),
        log,
        violations,
        approvals,
        limits: proxyLimits(opts, opts.maxStatementBytes),
      });
      if (stopped) {
        await started.close();
        return;
      }
      proxy = started;
      metrics?.watchErrors(started.events);
      metrics?.setPolicyGeneration(p.policySet.generation);
      armGrantExpiry(p, target);
      reporter = startViolationReporter(
        violations,
        (deltas) =>
          watch
            .call(
              'reportViolations',
              {
                namespace: ref.namespace,
                binding: ref.name,
                violations: deltas.map((d) => ({
                  policy: d.policy,
                  rule: d.rule,
                  count: d.count,
                  lastStatement: d.lastStatement,
                  lastSeenMs: d.lastSeenMs,
                })),
              },
              VIOLATION_REPORT_TIMEOUT_MS,
            )
            .then(() => {}),
        log,
      );
      const { host, port } = started.address;
      log(
        `airlock: policy generation ${p.policySet.generation} from the operator; listening on ${host.includes(':') ? `[${host}]` : host}:${port} as ${identity.user}`,
      );
      collectStartupGarbage();
      const next = pending;
      pending = null;
      if (next !== null) apply(next);
    })();
    starting.catch((e: unknown) => {
      // Cannot listen (port taken) or open the spool: fail loudly; the kubelet restarts the container.
      log(`airlock: cannot start the proxy: ${(e as Error).message}`);
      void stop().finally(() => finish({ code: 1, reason: (e as Error).message }));
    });
  };

  const onState = (s: WatchState): void => {
    if (s.state === 'backoff')
      log(
        `airlock: policy stream from ${opts.operator} ended (${s.code ?? '-'}: ${s.message}); retrying in ${s.delayMs} ms${proxy === null ? '' : ', keeping the last good policy'}`,
      );
    else if (s.state === 'invalid-update')
      log(`airlock: ignoring an update the operator sent, keeping the last good one: ${s.message}`);
    else if (s.state === 'connected') log(`airlock: connected to the operator at ${opts.operator}`);
  };

  const health =
    healthAt === null
      ? null
      : http.createServer((req, res) => {
          if (metrics !== null && metricsModule!.handleMetrics(metrics, req, res)) return;
          // Ready = listening and holding a policy (DESIGN.md "Probes"); live = the process answers. Anything
          // else (/metrics without --metrics too) is 404, so a scrape of a sidecar without metrics says so.
          const ok = req.url === '/healthz' || (req.url === '/readyz' && proxy !== null && !stopped);
          res
            .writeHead(ok ? 200 : req.url === '/readyz' ? 503 : 404, { 'content-type': 'text/plain' })
            .end(ok ? 'ok\n' : req.url === '/readyz' ? 'no policy received from the operator yet\n' : 'not found\n');
        });
  let healthAddr: { host: string; port: number } | null = null;
  if (health !== null && healthAt !== null) {
    await new Promise<void>((resolve, reject) => {
      health.once('error', reject);
      health.listen(healthAt.port, healthAt.host, () => resolve());
    });
    const a = health.address() as { address: string; port: number };
    healthAddr = { host: a.address, port: a.port };
  }

  const watch: PolicyWatch = watchPolicy(opts.operator, ref, opts.tokenFile, apply, onState, {
    ...opts.watch,
    ...(opts.operatorCaPem === undefined ? {} : { caPem: opts.operatorCaPem }),
  });

  return { proxy: () => proxy, identity, health: healthAddr, done, stop };
}
