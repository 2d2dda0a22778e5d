// Informers on @kubernetes/client-node's ListWatch, hardened (issue 15 item 7). A watch can end with an
// error (then it restarts after a backoff) or die silently (kubernetes-client/javascript#596, #958): a
// dropped network path leaves the socket open and nothing ever arrives again. client-node 1.4.0's Watch
// cannot tell that from a quiet namespace: it asks for no bookmarks, sets no timeoutSeconds and bounds
// nothing (its 30 s AbortSignal.timeout is overwritten before use). So the WATCH request is ours
// (LiveWatch below). Each asks the apiserver for `timeoutSeconds` (default 60): the server ends a healthy
// watch then and it resumes at once from its resourceVersion — a new request, no relist — so a healthy
// watch shows a sign of life (response headers, an event, a BOOKMARK) at least that often however quiet
// its namespace. It also asks for `allowWatchBookmarks=true`: bookmarks keep the resourceVersion fresh
// across quiet periods (fewer 410s on resume), but they are no heartbeat to rely on: kube-apiserver 1.37
// sent the first periodic one on a quiet resource after ~120 s, not the nominal 60. A watch that showed
// nothing for `quietMs` (default 150 s: two timeouts and 30 s of margin) is dead: it is aborted and the
// cache relisted. The LIST is bounded by KubeClient's call timeout (10 s). lastEventMs (events and
// bookmarks) says whether the caches are alive.
import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import { createInterface } from 'node:readline';
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { Backoff } from '../../lib/backoff.ts';
import type { KubeClient } from '../kube.ts';
import type { Logger } from '../log.ts';

/** timeoutSeconds of each watch request (default 60): how often a healthy watch is renewed by the server. */
export const WATCH_TIMEOUT_SECONDS = 60;
/** A watch silent this long is dead (default 150 s): two WATCH_TIMEOUT_SECONDS renewals missed, and 30 s of margin. */
export const WATCH_QUIET_MS = 150_000;
/** How often each open watch is checked against quietMs (default 15 s): a dead one is found within quietMs + this. */
export const WATCH_CHECK_MS = 15_000;
/** Restart delays after a failed watch or list: 250 ms, 1 s, 4 s, then every 15 s; reset by any event. */
const RESTART_BACKOFF = { initialMs: 250, maxMs: 15_000, factor: 4 } as const;

/** Why a watch was restarted: `silent` — nothing arrived for quietMs; `error` — the watch or its list failed. */
export type RestartReason = 'silent' | 'error';

/** Liveness of the operator's watches (Operator option `watch`). */
export interface WatchOptions {
  /** Nothing (event, bookmark, headers) for this long: the watch is dead, aborted, and the cache relisted. Default WATCH_QUIET_MS. */
  readonly quietMs?: number;
  /** How often each watch is checked. Default WATCH_CHECK_MS. */
  readonly checkMs?: number;
  /**
   * timeoutSeconds asked of the apiserver per watch request: it ends the watch then, and the watch resumes
   * from its resourceVersion (no relist). Keep it well under quietMs. Default WATCH_TIMEOUT_SECONDS.
   */
  readonly timeoutSeconds?: number;
  /** Every restart, for airlock_operator_watch_restarts_total. */
  readonly onRestart?: (kind: string, reason: RestartReason) => void;
}

/** The liveness decision: true when an open watch whose last sign of life was at `lastActivityMs` is to be taken for dead. */
export function watchIsDead(nowMs: number, lastActivityMs: number, quietMs: number): boolean {
  return nowMs - lastActivityMs >= quietMs;
}

/** A ListWatch's restart-from-scratch signal: on a 410 it forgets its resourceVersion and relists. */
function relistError(message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode: 410 });
}

/**
 * client-node's Watch with liveness: timeoutSeconds and bookmarks requested, response headers and every
 * line (event or bookmark) counted as a sign of life, and a request silent for quietMs aborted and
 * reported to ListWatch as a 410, so it relists (after a partition of minutes, what the watch missed may
 * be older than the server's history anyway; a relist needs nothing of it).
 * An abort by ListWatch itself (stop) ends the request without calling `done`: client-node's Watch calls
 * it with an AbortError, which makes a stopping ListWatch report an error and abort its next request.
 */
class LiveWatch extends Watch {
  readonly #quietMs: number;
  readonly #checkMs: number;
  readonly #timeoutSeconds: number;
  readonly #alive: () => void;
  readonly #silent: (silentMs: number) => void;

  constructor(
    config: KubeConfig,
    o: {
      quietMs: number;
      checkMs: number;
      timeoutSeconds: number;
      alive: () => void;
      silent: (silentMs: number) => void;
    },
  ) {
    super(config);
    this.#quietMs = o.quietMs;
    this.#checkMs = o.checkMs;
    this.#timeoutSeconds = o.timeoutSeconds;
    this.#alive = o.alive;
    this.#silent = o.silent;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    const opts: RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
    try {
      const cluster = this.config.getCurrentCluster();
      if (cluster === null) throw new Error('No currently active cluster');
      const url = new URL(cluster.server + path);
      url.searchParams.set('watch', 'true');
      url.searchParams.set('allowWatchBookmarks', 'true');
      url.searchParams.set('timeoutSeconds', String(this.#timeoutSeconds));
      for (const [k, v] of Object.entries(queryParams ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
      Object.assign(opts, {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
      });
      await this.config.applyToHTTPSOptions(opts);
    } catch (e) {
      // ListWatch awaits this from its done handler, where a rejection would go unhandled: report it
      // through `done` instead (after ListWatch has taken the controller), which restarts with backoff.
      setImmediate(() => done(e));
      return controller;
    }
    let last = Date.now();
    let over = false;
    const finish = (err: unknown, report: boolean): void => {
      if (over) return;
      over = true;
      clearInterval(timer);
      req.destroy();
      if (report) done(err);
    };
    const timer = setInterval(() => {
      const now = Date.now();
      if (!watchIsDead(now, last, this.#quietMs)) return;
      this.#silent(now - last);
      finish(relistError(`watch ${path} silent for ${now - last} ms`), true);
    }, this.#checkMs);
    timer.unref();
    controller.signal.addEventListener('abort', () => finish(null, false), { once: true });
    const req = request(opts, (res) => {
      // Headers say this request got through; only a line (event, bookmark) says the watch is healthy
      // (alive() also resets the restart backoff, which a 403 answered at once must not).
      last = Date.now();
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8').slice(0, 300);
          finish(
            Object.assign(new Error(`watch ${path}: HTTP ${res.statusCode}: ${text}`), { statusCode: res.statusCode }),
            true,
          );
        });
        res.on('error', (e) => finish(e, true));
        return;
      }
      res.on('error', (e) => finish(e, true));
      res.on('close', () => finish(null, true));
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      // readline re-emits its input's errors (a reset mid-response): unhandled, they would crash the process.
      lines.on('error', (e) => finish(e, true));
      lines.on('line', (line) => {
        let ev: { type?: unknown; object?: unknown };
        try {
          ev = JSON.parse(line);
        } catch {
          return;
        }
        last = Date.now();
        this.#alive();
        if (typeof ev.type === 'string' && typeof ev.object === 'object' && ev.object !== null)
          callback(ev.type, ev.object, ev);
      });
    });
    req.on('error', (e) => finish(e, true));
    req.end();
    return controller;
  }
}

export interface Watched<T> {
  list(namespace?: string): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /** Resolves after the first full list (the webhook answers only after every cache has synced). */
  readonly synced: Promise<void>;
  lastEventMs(): number;
  stop(): Promise<void>;
}

/**
 * Narrows a watch to what the operator needs (issue 11, class 6): Pods by label, a Secret by name
 * (`metadata.name=…`, also what lets RBAC's resourceNames authorize a list/watch). Applied to the LIST
 * and to the WATCH alike, so the cache never holds an object outside the selection.
 */
export interface Selectors {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

function withSelectors(path: string, sel: Selectors): string {
  const q = new URLSearchParams();
  if (sel.labelSelector !== undefined) q.set('labelSelector', sel.labelSelector);
  if (sel.fieldSelector !== undefined) q.set('fieldSelector', sel.fieldSelector);
  const qs = q.toString();
  return qs === '' ? path : `${path}?${qs}`;
}

export function watch<T extends KubernetesObject>(
  kube: KubeClient,
  path: string,
  onChange: (obj: T, verb: 'add' | 'update' | 'delete') => void,
  log: Logger,
  kind: string,
  sel: Selectors = {},
  wo: WatchOptions = {},
): Watched<T> {
  // Items of a LIST carry no kind/apiVersion (watch events do); code that checks `kind` (resolveCredentials)
  // would miss every object that existed before the operator started. Stamp them as the list names them.
  // (ListWatch rather than makeInformer: the latter passes no field selector to the watch.)
  const listPath = withSelectors(path, sel);
  let last = Date.now();
  let stopped = false;
  const restarts = new Backoff(RESTART_BACKOFF);
  const quietMs = wo.quietMs ?? WATCH_QUIET_MS;
  const live = new LiveWatch(kube.config, {
    quietMs,
    checkMs: wo.checkMs ?? WATCH_CHECK_MS,
    timeoutSeconds: wo.timeoutSeconds ?? WATCH_TIMEOUT_SECONDS,
    alive: () => {
      last = Date.now();
      restarts.reset();
    },
    silent: (silentMs) => {
      log.warn('Restarting silent watch', { kind, path, silentMs, quietMs });
      wo.onRestart?.(kind, 'silent');
    },
  });
  const inf = new ListWatch<T>(
    path,
    live,
    async () => {
      const l = await kube.must('GET', listPath);
      const items = (Array.isArray(l?.items) ? l.items : []) as { kind?: string; apiVersion?: string }[];
      for (const i of items) {
        i.kind ??= kind;
        if (typeof l.apiVersion === 'string') i.apiVersion ??= l.apiVersion;
      }
      return l;
    },
    false,
    sel.labelSelector,
    sel.fieldSelector,
  );
  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => {
    resolveSynced = r;
  });
  const touch = (): void => {
    last = Date.now();
    restarts.reset();
  };
  inf.on('add', (o) => {
    touch();
    onChange(o, 'add');
  });
  inf.on('update', (o) => {
    touch();
    onChange(o, 'update');
  });
  inf.on('delete', (o) => {
    touch();
    onChange(o, 'delete');
  });
  // 'connect' fires before the list; start() resolves after it whether or not it failed (errors go to
  // the ERROR callbacks): a resourceVersion is what says the list arrived and the cache is filled.
  const started = (): void => {
    if (inf.latestResourceVersion() !== '') {
      touch();
      resolveSynced();
    }
  };
  let pending = false;
  const restart = (err: unknown): void => {
    if (stopped || pending) return;
    pending = true;
    const delay = restarts.next();
    log.warn('Restarting watch', { kind, error: String((err as Error)?.message ?? err), delayMs: delay });
    wo.onRestart?.(kind, 'error');
    setTimeout(() => {
      pending = false;
      if (!stopped) inf.start().then(started, restart);
    }, delay).unref();
  };
  inf.on('error', restart);
  inf.start().then(started, restart);
  return {
    list: (ns) => inf.list(ns),
    get: (name, ns) => inf.get(name, ns),
    synced,
    lastEventMs: () => last,
    stop: async () => {
      stopped = true;
      await inf.stop();
    },
  };
}

/**
 * One watch per namespace when the operator is restricted to `namespaces` (chart value
 * operator.watchNamespaces: Roles in those namespaces, no cluster-wide list), one cluster-wide watch when
 * null; read as one cache either way. `pathIn(ns)` is the collection path in a namespace (null: all).
 */
export function watchIn<T extends KubernetesObject>(
  kube: KubeClient,
  namespaces: readonly string[] | null,
  pathIn: (ns: string | null) => string,
  onChange: (obj: T, verb: 'add' | 'update' | 'delete') => void,
  log: Logger,
  kind: string,
  sel: Selectors = {},
  wo: WatchOptions = {},
): Watched<T> {
  if (namespaces === null) return watch(kube, pathIn(null), onChange, log, kind, sel, wo);
  const by = new Map<string, Watched<T>>();
  for (const ns of namespaces) if (!by.has(ns)) by.set(ns, watch(kube, pathIn(ns), onChange, log, kind, sel, wo));
  const all = [...by.values()];
  return {
    list: (ns) => (ns === undefined ? all.flatMap((w) => w.list()) : (by.get(ns)?.list(ns) ?? [])),
    get: (name, ns) => (ns === undefined ? undefined : by.get(ns)?.get(name, ns)),
    synced: Promise.all(all.map((w) => w.synced)).then(() => undefined),
    // Readiness asks whether the caches are alive: the quietest watch decides.
    lastEventMs: () => all.reduce((m, w) => Math.min(m, w.lastEventMs()), Number.POSITIVE_INFINITY),
    stop: async () => {
      await Promise.all(all.map((w) => w.stop()));
    },
  };
}
