// Local mode (design.md "Local mode"): `airlock proxy --config FILE --identity SUBJECT …`.
// Reads the multi-document FILE (DatabaseBinding, AccessPolicy, Secret), starts the proxy, and reloads
// FILE when it changes, keeping the last good policy when a new version does not validate.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { AccessPolicy, CompiledPolicySet, DatabaseBinding, Identity } from '../policy/types.ts';
import { parseConfig, resolveCredentials } from '../policy/config.ts';
import { compile, PolicyCompileError } from '../policy/compile.ts';
import { makeIdentity } from '../policy/identity.ts';
import { policyState } from './enforce/gate.ts';
import type { Analyzer } from './enforce/gate.ts';
import { collectStartupGarbage, DRAIN_TIMEOUT_MS_DEFAULT, openAudit, parseListen, proxyLimits } from './run.ts';
import type { ConnectionLimits } from './run.ts';
import { startProxy } from './server.ts';
import type { Proxy } from './server.ts';
import type { UpstreamTarget } from './session/shared.ts';

export { parseListen };

export interface LocalOptions extends ConnectionLimits {
  readonly config: string;
  readonly identity: string;
  readonly groups?: readonly string[];
  /** HOST:PORT, default 127.0.0.1:6432. */
  readonly listen?: string;
  /** postgres://[user[:password]@]host[:port]/database — overrides the binding's endpoint. */
  readonly upstream?: string;
  /** Which DatabaseBinding, when FILE holds several. */
  readonly binding?: string;
  readonly auditEndpoint?: string;
  readonly auditSpool?: string;
  readonly maxStatementBytes?: number;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** HOST:PORT for Prometheus metrics (GET /metrics); off when absent. */
  readonly metricsListen?: string;
  /** Poll interval of the FILE watch (fs.watchFile survives editors' rename-on-save). Default 250 ms. */
  readonly watchIntervalMs?: number;
}

/** The proxy as configured by one version of FILE. */
export interface LocalConfig {
  readonly binding: DatabaseBinding;
  readonly target: UpstreamTarget;
  readonly policies: AccessPolicy[];
  readonly set: CompiledPolicySet;
}

export type LoadResult = { ok: true; config: LocalConfig } | { ok: false; errors: string[] };

/** An --upstream URL: host, port, database, and credentials (used only when the Secret is absent). */
export function parseUpstream(url: string): {
  host: string;
  port: number;
  database: string | null;
  user: string | null;
  password: string | null;
} {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--upstream ${JSON.stringify(url)} is not a URL; expected postgres://host:port/database`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new Error(`--upstream must be a postgres:// URL, got ${u.protocol}`);
  if (u.hostname === '') throw new Error('--upstream needs a host: postgres://host:port/database');
  const port = u.port === '' ? 5432 : Number(u.port);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    database: db === '' ? null : db,
    user: u.username === '' ? null : decodeURIComponent(u.username),
    password: u.password === '' ? null : decodeURIComponent(u.password),
  };
}

/** Parse, validate, pick the binding, resolve credentials, compile. Every problem is reported. */
export function loadLocalConfig(
  text: string,
  source: string,
  opts: { binding?: string; upstream?: string },
  generation: number,
): LoadResult {
  const parsed = parseConfig(text, source);
  if (!parsed.ok) return { ok: false, errors: parsed.errors };
  const errors: string[] = [];
  let binding: DatabaseBinding | undefined;
  if (opts.binding !== undefined) {
    binding = parsed.bindings.find((b) => b.metadata.name === opts.binding);
    if (binding === undefined)
      errors.push(
        `${source}: no DatabaseBinding named "${opts.binding}" (found: ${parsed.bindings.map((b) => b.metadata.name).join(', ') || 'none'})`,
      );
  } else if (parsed.bindings.length === 1) {
    binding = parsed.bindings[0];
  } else if (parsed.bindings.length === 0) {
    errors.push(`${source}: no DatabaseBinding document; the proxy needs one to know where to connect`);
  } else {
    errors.push(
      `${source}: ${parsed.bindings.length} DatabaseBindings (${parsed.bindings.map((b) => b.metadata.name).join(', ')}); choose one with --binding NAME`,
    );
  }
  if (binding === undefined) return { ok: false, errors };
  let up: ReturnType<typeof parseUpstream> | null = null;
  if (opts.upstream !== undefined) {
    try {
      up = parseUpstream(opts.upstream);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const creds = resolveCredentials(binding, parsed.secrets);
  let user: string;
  let password: string;
  if (creds.ok) {
    user = creds.username;
    password = creds.password;
  } else if (up !== null && up.user !== null) {
    // Documented: credentials in --upstream are used only when the binding's Secret is absent.
    user = up.user;
    password = up.password ?? '';
  } else {
    errors.push(
      `${source}: DatabaseBinding ${binding.metadata.namespace ?? ''}${binding.metadata.namespace === undefined ? '' : '/'}${binding.metadata.name}: credentialsSecretRef: ${creds.error}`,
    );
    return { ok: false, errors };
  }
  // A policy's `databases` names bindings in its own namespace.
  const ns = binding.metadata.namespace;
  const policies = parsed.policies.filter((p) => p.metadata.namespace === ns);
  let set: CompiledPolicySet;
  try {
    set = compile(policies, generation);
  } catch (e) {
    if (e instanceof PolicyCompileError) errors.push(...e.issues);
    else errors.push(`${source}: ${(e as Error).message}`);
    return { ok: false, errors };
  }
  if (errors.length > 0) return { ok: false, errors };
  const ep = binding.spec.endpoint;
  const tls = binding.spec.tls ?? { mode: 'require' as const };
  const target: UpstreamTarget = {
    binding: binding.metadata.name,
    database: up?.database ?? ep.database,
    host: up?.host ?? ep.host,
    port: up?.port ?? ep.port ?? 5432,
    tlsMode: tls.mode,
    user,
    password,
  };
  if (tls.mode === 'verify-full' && tls.caSecretRef !== undefined) {
    const caSecret = parsed.secrets.find(
      (s) => s.metadata.name === tls.caSecretRef!.name && s.metadata.namespace === ns,
    );
    const ca =
      caSecret?.stringData?.['ca.crt']
      ?? (caSecret?.data?.['ca.crt'] === undefined
        ? undefined
        : Buffer.from(caSecret.data['ca.crt'], 'base64').toString('utf8'));
    if (ca === undefined)
      return {
        ok: false,
        errors: [
          `${source}: DatabaseBinding ${binding.metadata.name}: tls.caSecretRef: no Secret "${tls.caSecretRef.name}" with key ca.crt`,
        ],
      };
    (target as { ca?: string }).ca = ca;
  }
  return { ok: true, config: { binding, target, policies, set } };
}

export interface LocalProxy {
  readonly proxy: Proxy;
  readonly identity: Identity;
  /** The configuration in force (the last good one). */
  current(): LocalConfig;
  stop(): Promise<void>;
}

/**
 * Start the proxy from FILE. Rejects with an Error whose message lists every problem when FILE is bad at
 * start. Later bad versions are logged (`log`) and the last good policy stays in force.
 */
export async function runLocalProxy(
  opts: LocalOptions,
  analyzer: Analyzer,
  log: (m: string) => void,
): Promise<LocalProxy> {
  let text: string;
  try {
    text = readFileSync(opts.config, 'utf8');
  } catch (e) {
    throw new Error(`airlock: cannot read --config ${opts.config}: ${(e as NodeJS.ErrnoException).message}`);
  }
  let generation = 1;
  const first = loadLocalConfig(text, opts.config, opts, generation);
  if (!first.ok)
    throw new Error(`airlock: ${opts.config} is not valid:\n${first.errors.map((e) => `  ${e}`).join('\n')}`);
  let current = first.config;
  const identity = makeIdentity(opts.identity, opts.groups ?? []);
  const listen = parseListen(opts.listen ?? '127.0.0.1:6432');
  // prom-client is loaded only when metrics are asked for: the sidecar's idle memory is a target (design.md).
  const metricsModule = opts.metricsListen === undefined ? null : await import('./metrics.ts');
  const metrics = metricsModule === null ? null : metricsModule.createProxyMetrics();
  if (metrics !== null) analyzer = metrics.wrapAnalyzer(analyzer); // airlock_analysis_seconds, cache misses only
  const audit =
    metrics === null
      ? await openAudit(opts, current.binding, log)
      : metrics.wrapAudit(await openAudit(opts, current.binding, log));
  metrics?.setPolicyGeneration(generation);
  const metricsServer =
    metrics === null
      ? null
      : await (async () => {
          const at = parseListen(opts.metricsListen!, '--metrics-listen');
          return metricsModule!.serveMetrics(metrics, at.host, at.port);
        })();
  const tls = opts.tlsCert !== undefined || opts.tlsKey !== undefined ? readTls(opts) : undefined;
  const proxy = await startProxy({
    listen,
    target: current.target,
    identity,
    state: policyState(current.set, analyzer),
    audit,
    log,
    ...(tls === undefined ? {} : { tls }),
    limits: proxyLimits(opts, opts.maxStatementBytes),
  });

  metrics?.watchErrors(proxy.events);
  collectStartupGarbage();

  let lastText = text;
  let timer: NodeJS.Timeout | null = null;
  const reload = (): void => {
    timer = null;
    let t: string;
    try {
      t = readFileSync(opts.config, 'utf8');
    } catch (e) {
      log(`airlock: reload of ${opts.config} failed, keeping the last good policy: ${(e as Error).message}`);
      return;
    }
    if (t === lastText) return;
    lastText = t;
    const next = loadLocalConfig(t, opts.config, opts, generation + 1);
    if (!next.ok) {
      log(
        `airlock: ${opts.config} changed but is not valid; keeping the last good policy (generation ${generation}):\n${next.errors.map((e) => `  ${e}`).join('\n')}`,
      );
      return;
    }
    generation++;
    current = next.config;
    proxy.reload(policyState(next.config.set, analyzer), next.config.target);
    metrics?.setPolicyGeneration(generation);
    log(`airlock: reloaded ${opts.config} (policy generation ${generation})`);
  };
  const interval = opts.watchIntervalMs ?? 250;
  // watchFile polls stat(): it survives editors that save by rename, where fs.watch loses the inode.
  watchFile(opts.config, { interval, persistent: true }, () => {
    // Debounce: an editor may write in several steps.
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(reload, 50);
  });
  return {
    proxy,
    identity,
    current: () => current,
    async stop() {
      unwatchFile(opts.config);
      if (timer !== null) clearTimeout(timer);
      await proxy.close(opts.drainTimeoutMs ?? DRAIN_TIMEOUT_MS_DEFAULT);
      if (metricsServer !== null) await new Promise((resolve) => metricsServer.close(resolve));
    },
  };
}

function readTls(opts: LocalOptions): { cert: Buffer; key: Buffer } {
  if (opts.tlsCert === undefined || opts.tlsKey === undefined)
    throw new Error('airlock: --tls-cert and --tls-key go together');
  return { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey) };
}
