// The Secrets the operator reads: only those a DatabaseBinding names (credentialsSecretRef,
// tls.caSecretRef) and its own webhook certificate, never every Secret of the cluster (issue 11, class 6).
//
// Each referenced Secret gets a watch of its own, narrowed by `fieldSelector=metadata.name=<name>` in its
// namespace — the kubelet's strategy for the Secrets its pods mount. A LIST+WATCH of one name holds one
// object in memory, a rotation reaches the sidecars at once (the watch event re-reconciles the bindings
// naming it), and a Secret created after its binding is seen as soon as it exists. A watch lives while
// some binding names its Secret: reconcileBinding declares what a binding needs (track), a deleted
// binding releases it (untrack), and the last owner gone stops the watch and forgets the object.
//
// The alternative, a label every credentials Secret must carry (one label-selected watch), would make
// users relabel existing Secrets and fail bindings whose Secret is managed by another tool; and RBAC
// cannot restrict list/watch by label anyway, so it buys no privilege reduction that per-name watches
// do not. See operator/DESIGN.md, "What the operator reads".
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Secret } from '../../policy/types.ts';
import type { KubeClient } from '../kube.ts';
import type { Logger } from '../log.ts';
import { watch } from './informers.ts';
import type { Watched, WatchOptions } from './informers.ts';

/** How long a binding's reconcile waits for a new Secret watch's first LIST before it is retried. */
export const SECRET_SYNC_TIMEOUT_MS = 10_000;

interface Entry {
  readonly watched: Watched<Secret>;
  readonly owners: Set<string>;
}

export class SecretCache implements Watched<Secret> {
  readonly #kube: KubeClient;
  readonly #log: Logger;
  readonly #onChange: (s: Secret, verb: 'add' | 'update' | 'delete') => void;
  /** "ns/name" → its watch and the owners ("binding/ns/name", "operator") that need it. */
  readonly #entries = new Map<string, Entry>();
  /** "owner" → the "ns/name" keys it holds. */
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #watchOptions: WatchOptions;
  #stopped = false;

  constructor(
    kube: KubeClient,
    log: Logger,
    onChange: (s: Secret, verb: 'add' | 'update' | 'delete') => void,
    watchOptions: WatchOptions = {},
  ) {
    this.#kube = kube;
    this.#log = log;
    this.#onChange = onChange;
    this.#watchOptions = watchOptions;
  }

  /**
   * `owner` needs exactly these Secrets of namespace `ns` from now on (earlier ones it no longer names
   * are released). Resolves once each is listed, so a missing Secret is reported only after the
   * apiserver said so; rejects when a list did not complete within SECRET_SYNC_TIMEOUT_MS (the caller's
   * queue retries with backoff).
   */
  async track(owner: string, ns: string, names: readonly string[]): Promise<void> {
    if (this.#stopped) return;
    const want = new Set(names.filter((n) => n !== '').map((n) => `${ns}/${n}`));
    const had = this.#byOwner.get(owner) ?? new Set<string>();
    for (const k of had) if (!want.has(k)) this.#release(owner, k);
    const waits: Promise<void>[] = [];
    for (const k of want) {
      let e = this.#entries.get(k);
      if (e === undefined) {
        const name = k.slice(ns.length + 1);
        // (policy/types.ts's Secret keeps metadata as YAML has it; the informer's KubernetesObject types
        // creationTimestamp as a Date: the cast is about that field only, which nothing here reads.)
        const w = watch<KubernetesObject>(
          this.#kube,
          `/api/v1/namespaces/${ns}/secrets`,
          this.#onChange as (o: KubernetesObject, v: 'add' | 'update' | 'delete') => void,
          this.#log,
          'Secret',
          { fieldSelector: `metadata.name=${name}` },
          this.#watchOptions,
        );
        e = { watched: w as unknown as Watched<Secret>, owners: new Set() };
        this.#entries.set(k, e);
      }
      e.owners.add(owner);
      waits.push(e.watched.synced);
    }
    if (want.size === 0) this.#byOwner.delete(owner);
    else this.#byOwner.set(owner, want);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`Secret watch in namespace ${ns} did not list within ${SECRET_SYNC_TIMEOUT_MS / 1000} s`)),
        SECRET_SYNC_TIMEOUT_MS,
      );
      timer.unref();
    });
    try {
      await Promise.race([Promise.all(waits), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** `owner` needs none of its Secrets any more (its binding was deleted). */
  untrack(owner: string): void {
    for (const k of this.#byOwner.get(owner) ?? []) this.#release(owner, k);
    this.#byOwner.delete(owner);
  }

  #release(owner: string, key: string): void {
    const e = this.#entries.get(key);
    if (e === undefined) return;
    e.owners.delete(owner);
    if (e.owners.size > 0) return;
    this.#entries.delete(key);
    void e.watched.stop().catch(() => {});
  }

  /** Secrets held now ("ns/name" keys), for tests and debugging. */
  keys(): string[] {
    return [...this.#entries.keys()].sort();
  }

  get(name: string, namespace?: string): Secret | undefined {
    if (namespace === undefined) return undefined;
    return this.#entries.get(`${namespace}/${name}`)?.watched.get(name, namespace);
  }

  list(namespace?: string): readonly Secret[] {
    const out: Secret[] = [];
    for (const [k, e] of this.#entries) {
      if (namespace !== undefined && !k.startsWith(`${namespace}/`)) continue;
      out.push(...e.watched.list(namespace));
    }
    return out;
  }

  /** Nothing to list before a binding names a Secret: synced from the start. */
  readonly synced: Promise<void> = Promise.resolve();

  lastEventMs(): number {
    let m = Date.now();
    for (const e of this.#entries.values()) m = Math.min(m, e.watched.lastEventMs());
    return m;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const all = [...this.#entries.values()];
    this.#entries.clear();
    this.#byOwner.clear();
    await Promise.all(all.map((e) => e.watched.stop()));
  }
}
