// Informers on @kubernetes/client-node's makeInformer, hardened: a watch can end silently or with an
// error (kubernetes-client/javascript#596, #958), so an error restarts it after a backoff, and a timer
// relists when nothing arrived for RESYNC_MS (defenseunicorns/kubernetes-fluent-client watch.ts).
// lastEventMs feeds readiness.
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from '../kube.ts';
import type { Logger } from '../log.ts';

/** Relist when the watch has been quiet this long (documented default 5 min). */
export const RESYNC_MS = 5 * 60_000;
const RESTART_BACKOFF_MS = [250, 1000, 5000, 15_000];

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
export interface Selectors { readonly labelSelector?: string; readonly fieldSelector?: string }

function withSelectors(path: string, sel: Selectors): string {
  const q = new URLSearchParams();
  if (sel.labelSelector !== undefined) q.set('labelSelector', sel.labelSelector);
  if (sel.fieldSelector !== undefined) q.set('fieldSelector', sel.fieldSelector);
  const qs = q.toString();
  return qs === '' ? path : `${path}?${qs}`;
}

export function watch<T extends KubernetesObject>(kube: KubeClient, path: string, onChange: (obj: T, verb: 'add' | 'update' | 'delete') => void, log: Logger, kind: string, sel: Selectors = {}): Watched<T> {
  // Items of a LIST carry no kind/apiVersion (watch events do); code that checks `kind` (resolveCredentials)
  // would miss every object that existed before the operator started. Stamp them as the list names them.
  // (ListWatch rather than makeInformer: the latter passes no field selector to the watch.)
  const listPath = withSelectors(path, sel);
  const inf = new ListWatch<T>(path, new Watch(kube.config), async () => {
    const l = await kube.must('GET', listPath);
    const items = (Array.isArray(l?.items) ? l.items : []) as { kind?: string; apiVersion?: string }[];
    for (const i of items) { i.kind ??= kind; if (typeof l.apiVersion === 'string') i.apiVersion ??= l.apiVersion; }
    return l;
  }, false, sel.labelSelector, sel.fieldSelector);
  let last = Date.now();
  let stopped = false;
  let failures = 0;
  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => { resolveSynced = r; });
  const touch = (): void => { last = Date.now(); failures = 0; };
  inf.on('add', (o) => { touch(); onChange(o, 'add'); });
  inf.on('update', (o) => { touch(); onChange(o, 'update'); });
  inf.on('delete', (o) => { touch(); onChange(o, 'delete'); });
  // 'connect' fires before the list; start() resolves after it whether or not it failed (errors go to
  // the ERROR callbacks): a resourceVersion is what says the list arrived and the cache is filled.
  const started = (): void => { if ((inf as unknown as { latestResourceVersion(): string }).latestResourceVersion() !== '') { touch(); resolveSynced(); } };
  let pending = false;
  const restart = (err: unknown): void => {
    if (stopped || pending) return;
    pending = true;
    const delay = RESTART_BACKOFF_MS[Math.min(failures++, RESTART_BACKOFF_MS.length - 1)] as number;
    log.warn('Restarting watch', { kind, error: String((err as Error)?.message ?? err), delayMs: delay });
    setTimeout(() => {
      pending = false;
      if (!stopped) inf.start().then(started, restart);
    }, delay).unref();
  };
  inf.on('error', restart);
  const timer = setInterval(() => {
    if (stopped || Date.now() - last < RESYNC_MS) return;
    // Re-establishes the watch from the last resourceVersion; a 410 Gone there makes client-node relist.
    log.info('Restarted quiet watch', { kind });
    last = Date.now();
    void inf.stop().then(() => (stopped ? undefined : inf.start())).catch(restart);
  }, 30_000);
  timer.unref();
  inf.start().then(started, restart);
  return {
    list: (ns) => inf.list(ns),
    get: (name, ns) => inf.get(name, ns),
    synced,
    lastEventMs: () => last,
    stop: async () => { stopped = true; clearInterval(timer); await inf.stop(); },
  };
}

/**
 * One watch per namespace when the operator is restricted to `namespaces` (chart value
 * operator.watchNamespaces: Roles in those namespaces, no cluster-wide list), one cluster-wide watch when
 * null; read as one cache either way. `pathIn(ns)` is the collection path in a namespace (null: all).
 */
export function watchIn<T extends KubernetesObject>(kube: KubeClient, namespaces: readonly string[] | null, pathIn: (ns: string | null) => string,
  onChange: (obj: T, verb: 'add' | 'update' | 'delete') => void, log: Logger, kind: string, sel: Selectors = {}): Watched<T> {
  if (namespaces === null) return watch(kube, pathIn(null), onChange, log, kind, sel);
  const by = new Map<string, Watched<T>>();
  for (const ns of namespaces) if (!by.has(ns)) by.set(ns, watch(kube, pathIn(ns), onChange, log, kind, sel));
  const all = [...by.values()];
  return {
    list: (ns) => (ns === undefined ? all.flatMap((w) => w.list()) : by.get(ns)?.list(ns) ?? []),
    get: (name, ns) => (ns === undefined ? undefined : by.get(ns)?.get(name, ns)),
    synced: Promise.all(all.map((w) => w.synced)).then(() => undefined),
    // Readiness asks whether the caches are alive: the quietest watch decides.
    lastEventMs: () => all.reduce((m, w) => Math.min(m, w.lastEventMs()), Number.POSITIVE_INFINITY),
    stop: async () => { await Promise.all(all.map((w) => w.stop())); },
  };
}
