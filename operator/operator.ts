// The operator process: informers → reconcilers → status and policy pushes; the admission webhook and the
// PolicyDistribution gRPC server answer from the same caches. `airlock operator` (bin/airlock.ts) runs this.
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { DatabaseBinding } from '../policy/types.ts';
import { KubeClient } from './kube.ts';
import type { Logger } from './log.ts';
import { jsonLogger } from './log.ts';
import { KubeTokenReviewer } from './distribution/auth.ts';
import type { TokenReviewer } from './distribution/auth.ts';
import { authorizeWatch } from './distribution/authorize.ts';
import { appContainersDone } from './distribution/lifecycle.ts';
import { DistributionServer, RpcError } from './distribution/server.ts';
import { watchIn } from './controllers/informers.ts';
import type { WatchOptions } from './controllers/informers.ts';
import { SecretCache } from './controllers/secrets.ts';
import { reconcileBinding, reconcilePolicy } from './controllers/reconcile.ts';
import { IntentError, reconcileRequest, requestAccessFor } from './controllers/requests.ts';
import type { RequestDeps } from './controllers/requests.ts';
import type { Caches, ReconcileDeps } from './controllers/reconcile.ts';
import { ensureWebhookCert } from './webhook/certs.ts';
import type { CertBundle } from './webhook/certs.ts';
import { LABEL_SIDECAR_SELECTOR } from './pod.ts';
import type { ResourceRequirements } from './pod.ts';
import { createWebhookServer } from './webhook/server.ts';
import { LeaderElector } from './leader.ts';
import { ViolationRecorder } from './controllers/violations.ts';
import { ServingIdentityProvider, reloadableServerCredentials, servingFromSecret } from './cert-reload.ts';
import type { ServingPair } from './cert-reload.ts';
import { subjectAccessReview } from './webhook/accessrequest.ts';
import { createOperatorMetrics } from './metrics.ts';
import type { OperatorMetrics } from './metrics.ts';
import { createRecorder, NULL_RECORDER } from './record.ts';
import { WorkQueue } from './queue.ts';
import { backoffMs } from '../lib/backoff.ts';
import type { OtlpOptions, Recorder } from './record.ts';

export interface OperatorOptions {
  readonly kube: KubeClient;
  /** The operator's own namespace: never injected; holds the webhook certificate Secret. */
  readonly namespace: string;
  readonly webhook: {
    readonly host: string;
    readonly port: number;
    readonly configName: string;
    readonly secretName: string;
    /** DNS names / IPs the serving certificate must carry. */
    readonly names: readonly string[];
    /** false with cert-manager: then `tls` must be given. */
    readonly manageCert: boolean;
    /** With cert-manager: the serving certificate, and the CA injected sidecars verify the gRPC server with. */
    readonly tls?: { certPem: string; keyPem: string; caPem?: string };
  };
  readonly grpc: { readonly host: string; readonly port: number; readonly credentials?: grpc.ServerCredentials };
  readonly sidecar: {
    readonly image: string;
    readonly imagePullPolicy?: string;
    readonly resources?: ResourceRequirements;
    readonly operatorAddress: string;
    /** Injected sidecars serve Prometheus /metrics on their health port (`--sidecar-metrics`). Default false. */
    readonly metrics?: boolean;
  };
  /** Overrides the apiserver's /version (tests). */
  readonly kubernetesMinor?: number;
  readonly reviewer?: TokenReviewer;
  /**
   * The operator's own Kubernetes user, system:serviceaccount:<namespace>:<sa>. The AccessRequest webhook
   * lets its status writes and sidecar-requested creates through unchanged. Default: ServiceAccount
   * airlock-operator in `namespace`.
   */
  readonly selfUser?: string;
  readonly log?: Logger;
  /** Every binding is reconciled this often even without events (AccessRequest expiry). Default 30 s. */
  readonly resyncMs?: number;
  /**
   * Reconciles of different objects that may run at once (flag --max-concurrent-reconciles; chart
   * operator.maxConcurrentReconciles); one object is never reconciled twice at once (queue.ts). Default 4.
   */
  readonly maxConcurrentReconciles?: number;
  /**
   * Namespaces the operator works in (flag --watch-namespaces; chart operator.watchNamespaces): one watch
   * per namespace, so Roles there suffice. Unset or null: the whole cluster (ClusterRole).
   */
  readonly watchNamespaces?: readonly string[] | null;
  /**
   * Liveness of every watch (controllers/informers.ts): each watch request asks the apiserver to end it
   * after `timeoutSeconds` (default 60) and resumes; one that shows no sign of life (headers, event,
   * bookmark) for `quietMs` (default 150 s) is aborted and relisted; checked every `checkMs` (default
   * 15 s). Restarts count in airlock_operator_watch_restarts_total{kind,reason}.
   */
  readonly watch?: Omit<WatchOptions, 'onRestart'>;
  /**
   * Leader election on Lease `id` in `namespace` (operator/leader.ts; defaults 15 s / 10 s / 2 s). Absent:
   * this replica always acts as leader (one replica, or tests).
   */
  readonly leaderElection?: {
    readonly id: string;
    readonly identity?: string;
    readonly leaseDurationMs?: number;
    readonly renewDeadlineMs?: number;
    readonly retryPeriodMs?: number;
  };
  /** How often every replica re-reads the serving certificate Secret besides its watch events. Default 30 s. */
  readonly certReloadMs?: number;
  /** Prometheus registry (metrics.ts); default: one of its own, read through `operator.metrics`. */
  readonly metrics?: OperatorMetrics;
  /** Where the operator's actions go (record.ts); default: Events, plus spans when `otlp` is given. */
  readonly recorder?: Recorder;
  /** OTLP export of action spans (`--otlp-endpoint`); null or absent: no spans. */
  readonly otlp?: OtlpOptions | null;
}

/**
 * Webhook certificate bootstrap after a lost race with another replica: 200 ms, 400 ms, 800 ms, 1.6 s,
 * each up to half again at random so racing replicas come apart.
 */
const CERT_RETRY = { initialMs: 200, maxMs: 1600, jitter: [1, 1.5] } as const;

export class Operator {
  readonly opts: OperatorOptions;
  readonly log: Logger;
  readonly distribution: DistributionServer;
  readonly #violations: ViolationRecorder;
  caches!: Caches;
  /** The Lease elector, or null when election is off (then isLeader() is always true). Metrics read it. */
  readonly leader: LeaderElector | null;
  readonly metrics: OperatorMetrics;
  /** Events + spans of the operator's actions; set in start(). Leader-only, like status writes. */
  recorder: Recorder = NULL_RECORDER;
  #ownRecorder = false;
  /** Pods listed at start were injected in an earlier life of the operator: only later adds are PodInjected. */
  #podsSynced = false;
  #webhookServer: HttpsServer | null = null;
  /** The serving certificate in use by the webhook and gRPC servers; replaced from the Secret. */
  #serving: ServingPair | null = null;
  #grpcIdentity: ServingIdentityProvider | null = null;
  #servingProblem = '';
  #timers: NodeJS.Timeout[] = [];
  #queue!: WorkQueue;
  #cert: CertBundle | null = null;
  #shutdownSent = new Set<string>();
  /** One timer per AccessRequest whose status changes by itself at a known time (expiry, pending TTL). */
  #requeues = new Map<string, { atMs: number; timer: NodeJS.Timeout }>();

  /** What the AccessRequest reconciler and RequestAccess need (operator/controllers/requests.ts). */
  #requestDeps(): RequestDeps {
    return {
      requests: this.caches.requests,
      policies: this.caches.policies,
      kube: this.opts.kube,
      log: this.log,
      now: () => new Date(),
      isLeader: () => this.isLeader(),
      recorder: this.recorder,
      requeueAt: (ns, name, atMs) => {
        const key = `request/${ns}/${name}`;
        const prev = this.#requeues.get(key);
        if (prev !== undefined && prev.atMs === atMs) return;
        if (prev !== undefined) clearTimeout(prev.timer);
        // setTimeout's limit is 2^31-1 ms (~24.8 days); a longer wait is re-armed by the periodic resync.
        const delay = Math.min(Math.max(0, atMs - Date.now()) + 50, 2 ** 31 - 1);
        const timer = setTimeout(() => {
          this.#requeues.delete(key);
          this.#queue.add(key);
        }, delay);
        timer.unref();
        this.#requeues.set(key, { atMs, timer });
      },
    };
  }

  constructor(opts: OperatorOptions) {
    this.opts = opts;
    this.log = opts.log ?? jsonLogger();
    this.metrics = opts.metrics ?? createOperatorMetrics();
    this.metrics.sources.sidecarStreams = () => this.distribution.connections;
    this.metrics.sources.queueDepth = () => this.#queue?.depth ?? 0;
    this.metrics.sources.isLeader = () => this.isLeader();
    const le = opts.leaderElection;
    this.leader =
      le === undefined
        ? null
        : new LeaderElector({
            kube: opts.kube,
            namespace: opts.namespace,
            name: le.id,
            log: this.log,
            ...(le.identity === undefined ? {} : { identity: le.identity }),
            ...(le.leaseDurationMs === undefined ? {} : { leaseDurationMs: le.leaseDurationMs }),
            ...(le.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: le.renewDeadlineMs }),
            ...(le.retryPeriodMs === undefined ? {} : { retryPeriodMs: le.retryPeriodMs }),
          });
    this.#violations = new ViolationRecorder({ kube: opts.kube, log: this.log });
    this.distribution = new DistributionServer({
      reviewer: opts.reviewer ?? new KubeTokenReviewer(opts.kube),
      log: this.log,
      authorize: (who, ref) =>
        authorizeWatch(
          who,
          ref,
          this.caches.bindings.list(ref.namespace),
          who.podName === null ? undefined : this.caches.pods.get(who.podName, ref.namespace),
          opts.sidecar.image,
        ),
      // (pods are always looked up: a token without a pod is refused by authorizeWatch)
      // Any replica takes violation counts (additive deltas; controllers/violations.ts), leader or not.
      onViolations: async (_who, ref, report) => {
        this.#violations.report(ref, report);
      },
      onRequestAccess: async (who, ref, intent) => {
        try {
          return await requestAccessFor(this.#requestDeps(), who.user, who.podName, ref, intent);
        } catch (e) {
          if (e instanceof IntentError)
            throw new RpcError(
              e.kind === 'invalid' ? grpc.status.INVALID_ARGUMENT : grpc.status.RESOURCE_EXHAUSTED,
              e.message,
            );
          throw e;
        }
      },
    });
  }

  /** Starts everything; resolves once caches are synced and both servers listen. */
  async start(): Promise<{ webhookPort: number; grpcPort: number; caBundlePem: string | null }> {
    const { kube } = this.opts;
    if (this.opts.recorder !== undefined) this.recorder = this.opts.recorder;
    else if (!this.#ownRecorder) {
      this.recorder = await createRecorder({
        kube,
        log: this.log,
        metrics: this.metrics,
        otlp: this.opts.otlp ?? null,
      });
      this.#ownRecorder = true;
    }
    const minor =
      this.opts.kubernetesMinor ?? Number(String((await kube.must('GET', '/version')).minor).replace(/\D/g, ''));
    const deps = (): ReconcileDeps => ({
      caches: this.caches,
      kube,
      distribution: this.distribution,
      log: this.log,
      now: () => new Date(),
      published,
      isLeader: () => this.isLeader(),
      recorder: this.recorder,
      metrics: this.metrics,
    });
    const published = new Map<string, string>();
    this.#queue = new WorkQueue(
      async (key) => {
        const [kind, ns, name] = key.split('/') as [string, string, string];
        if (kind === 'binding') await reconcileBinding(deps(), ns, name);
        else if (kind === 'request') await reconcileRequest(this.#requestDeps(), ns, name);
        else await reconcilePolicy(deps(), ns, name);
      },
      {
        log: this.log,
        ...(this.opts.maxConcurrentReconciles === undefined ? {} : { concurrency: this.opts.maxConcurrentReconciles }),
        observe: (key, ok, seconds) =>
          this.metrics.reconciled(key.slice(0, key.indexOf('/')), ok ? 'success' : 'error', seconds),
      },
    );
    const bindingsOf = (ns: string): void => {
      for (const b of this.caches.bindings.list(ns)) this.#queue.add(`binding/${ns}/${b.metadata.name}`);
    };
    const nsOf = (o: { metadata?: { namespace?: string } }): string => o.metadata?.namespace ?? '';
    // Pending requests are judged against the policies: a policy change may decide them.
    const requestsOf = (ns: string): void => {
      for (const r of this.caches.requests.list(ns))
        if ((r.status?.phase ?? 'Pending') === 'Pending') this.#queue.add(`request/${ns}/${r.metadata.name}`);
    };
    const g = '/apis/airlock.dev/v1alpha1';
    const only = this.opts.watchNamespaces ?? null;
    const crd =
      (plural: string) =>
      (ns: string | null): string =>
        ns === null ? `${g}/${plural}` : `${g}/namespaces/${ns}/${plural}`;
    // Secrets: only those bindings name, each watched by name (controllers/secrets.ts); the webhook's
    // serving certificate is one of them, owned by the operator itself.
    const wo: WatchOptions = {
      ...this.opts.watch,
      onRestart: (kind, reason) => this.metrics.watchRestarted(kind, reason),
    };
    const secrets = new SecretCache(
      kube,
      this.log,
      (s) => {
        const ns = nsOf(s);
        const name = s.metadata?.name;
        for (const b of this.caches.bindings.list(ns)) {
          if (b.spec.credentialsSecretRef.name === name || b.spec.tls?.caSecretRef?.name === name)
            this.#queue.add(`binding/${ns}/${b.metadata.name}`);
        }
        if (ns === this.opts.namespace && name === this.opts.webhook.secretName) this.#reloadServingCert();
      },
      wo,
    );
    this.caches = {
      bindings: watchIn(
        kube,
        only,
        crd('databasebindings'),
        (b, verb) => {
          this.#queue.add(`binding/${nsOf(b)}/${b.metadata?.name}`);
          if (verb === 'delete')
            this.log.info('Deleted DatabaseBinding', { binding: `${nsOf(b)}/${b.metadata?.name}` });
        },
        this.log,
        'DatabaseBinding',
        {},
        wo,
      ),
      policies: watchIn(
        kube,
        only,
        crd('accesspolicies'),
        (p) => {
          this.#queue.add(`policy/${nsOf(p)}/${p.metadata?.name}`);
          bindingsOf(nsOf(p));
          requestsOf(nsOf(p));
        },
        this.log,
        'AccessPolicy',
        {},
        wo,
      ),
      requests: watchIn(
        kube,
        only,
        crd('accessrequests'),
        (r, verb) => {
          if (verb !== 'delete') this.#queue.add(`request/${nsOf(r)}/${r.metadata?.name}`);
          bindingsOf(nsOf(r));
        },
        this.log,
        'AccessRequest',
        {},
        wo,
      ),
      secrets,
      // Pods with a sidecar only (the webhook labels them): not every pod of the cluster.
      pods: watchIn(
        kube,
        only,
        (ns) => (ns === null ? '/api/v1/pods' : `/api/v1/namespaces/${ns}/pods`),
        (p, verb) => this.#onPod(p, verb),
        this.log,
        'Pod',
        { labelSelector: LABEL_SIDECAR_SELECTOR },
        wo,
      ),
    } as Caches;
    await secrets.track('operator', this.opts.namespace, [this.opts.webhook.secretName]);
    await Promise.all(Object.values(this.caches).map((c) => c.synced));
    this.log.info('Synced caches', {});
    this.#podsSynced = true;
    this.#timers.push(
      setInterval(() => {
        for (const b of this.caches.bindings.list())
          this.#queue.add(`binding/${b.metadata.namespace}/${b.metadata.name}`);
      }, this.opts.resyncMs ?? 30_000),
    );

    const w = this.opts.webhook;
    if (w.manageCert) {
      // Every replica runs this once at start. Replicas starting together (a fresh install) race: the
      // Secret write is guarded by its resourceVersion, the caBundle patch by a resourceVersion test that
      // fails the loser with 422. Both are safe to redo, so a few quick retries instead of a crash-loop.
      for (let attempt = 1; ; attempt++) {
        try {
          this.#cert = await ensureWebhookCert(kube, {
            namespace: this.opts.namespace,
            secretName: w.secretName,
            webhookConfigName: w.configName,
            names: w.names,
            nowMs: Date.now(),
          });
          break;
        } catch (e) {
          if (attempt >= 5) throw e;
          this.log.warn('Failed to ensure webhook certificate; retrying', { error: (e as Error).message, attempt });
          await new Promise((r) => setTimeout(r, backoffMs(CERT_RETRY, attempt)));
        }
      }
    }
    const tls = this.#cert ?? w.tls;
    if (tls === undefined) throw new Error('webhook: manageCert is false and no certificate was given');
    this.#serving = { certPem: tls.certPem, keyPem: tls.keyPem };
    // gRPC carries database credentials: TLS with the same certificate as the webhook (the same Service
    // names both) unless the caller chose credentials (tests). Sidecars verify it with AIRLOCK_OPERATOR_CA.
    // The provider lets a renewed certificate replace it without a restart (reloadServingCert).
    if (this.opts.grpc.credentials === undefined) this.#grpcIdentity = new ServingIdentityProvider(this.#serving);
    const grpcCreds = this.opts.grpc.credentials ?? reloadableServerCredentials(this.#grpcIdentity!);
    const grpcPort = await this.distribution.listen(`${this.opts.grpc.host}:${this.opts.grpc.port}`, grpcCreds);

    // The webhook listens only now: with empty caches it would admit matching pods without their sidecar.
    const byNs = (ns: string): readonly DatabaseBinding[] => this.caches.bindings.list(ns);
    this.#webhookServer = createWebhookServer(tls, {
      bindingsIn: byNs,
      log: this.log,
      metrics: this.metrics,
      accessRequests: {
        selfUser: this.opts.selfUser ?? `system:serviceaccount:${this.opts.namespace}:airlock-operator`,
        sar: subjectAccessReview(kube),
        now: () => new Date(),
        log: this.log,
      },
      inject: {
        image: this.opts.sidecar.image,
        imagePullPolicy: this.opts.sidecar.imagePullPolicy,
        resources: this.opts.sidecar.resources,
        operatorAddress: this.opts.sidecar.operatorAddress,
        operatorNamespace: this.opts.namespace,
        kubernetesMinor: minor,
        ...(this.opts.sidecar.metrics === true ? { sidecarMetrics: true } : {}),
        ...(this.opts.grpc.credentials === undefined && (this.#cert?.caPem ?? w.tls?.caPem) !== undefined
          ? { operatorCaPem: (this.#cert?.caPem ?? w.tls?.caPem)! }
          : {}),
      },
    });
    const server = this.#webhookServer;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(w.port, w.host, () => resolve());
    });
    if (w.manageCert) {
      // Renewal writes the Secret and the caBundle: the leader's job. Every replica (this one too) then
      // picks the new certificate up from the Secret.
      this.#timers.push(
        setInterval(() => {
          if (!this.isLeader()) return;
          ensureWebhookCert(kube, {
            namespace: this.opts.namespace,
            secretName: w.secretName,
            webhookConfigName: w.configName,
            names: w.names,
            nowMs: Date.now(),
          })
            .then((c) => {
              if (c.certPem !== this.#cert?.certPem) {
                this.#cert = c;
                this.log.info('Renewed webhook certificate', { secret: `${this.opts.namespace}/${w.secretName}` });
              }
              this.#reloadServingCert();
            })
            .catch((e: unknown) =>
              this.log.error('Failed to renew webhook certificate', { error: (e as Error).message }),
            );
        }, 3_600_000),
      );
    }
    // The watch event is the fast path; the timer covers a watch that ended silently (informers.ts).
    this.#timers.push(setInterval(() => this.#reloadServingCert(), this.opts.certReloadMs ?? 30_000));
    for (const t of this.#timers) t.unref();
    if (this.leader !== null) {
      // A new leader brings every status up to date: the previous one may have died between a change and
      // its status write, and a replica that was not leading skipped its writes (reconcile.ts patchStatus).
      this.leader.onChange((leading) => {
        if (leading) this.#enqueueAll();
      });
      this.leader.start();
    }
    this.log.info('Started operator', {
      webhookPort: (server.address() as AddressInfo).port,
      grpcPort,
      kubernetesMinor: minor,
    });
    return {
      webhookPort: (server.address() as AddressInfo).port,
      grpcPort,
      caBundlePem: this.#cert?.caBundlePem ?? null,
    };
  }

  /** True when this replica may write to the apiserver: it holds the Lease, or election is off. */
  isLeader(): boolean {
    return this.leader === null || this.leader.isLeader();
  }

  #enqueueAll(): void {
    for (const b of this.caches.bindings.list()) this.#queue.add(`binding/${b.metadata.namespace}/${b.metadata.name}`);
    for (const p of this.caches.policies.list()) this.#queue.add(`policy/${p.metadata.namespace}/${p.metadata.name}`);
    for (const r of this.caches.requests.list()) this.#queue.add(`request/${r.metadata.namespace}/${r.metadata.name}`);
  }

  /** Serves tls.crt/tls.key of the certificate Secret (from the informer cache) if they changed and are valid. */
  #reloadServingCert(): void {
    const server = this.#webhookServer;
    if (server === null || this.#serving === null) return; // not serving yet: start() reads it
    const {
      namespace,
      webhook: { secretName },
    } = this.opts;
    const got = servingFromSecret(this.caches.secrets.get(secretName, namespace), `${namespace}/${secretName}`);
    if (typeof got === 'string') {
      if (got !== this.#servingProblem)
        this.log.error('Failed to load serving certificate; kept the current one', { error: got });
      this.#servingProblem = got; // logged once, not every 30 s
      return;
    }
    this.#servingProblem = '';
    if (got.certPem === this.#serving.certPem && got.keyPem === this.#serving.keyPem) return;
    try {
      server.setSecureContext({ cert: got.certPem, key: got.keyPem, minVersion: 'TLSv1.2' });
    } catch (e) {
      this.log.error('Failed to load serving certificate; kept the current one', { error: (e as Error).message });
      return;
    }
    this.#serving = got;
    this.#grpcIdentity?.set(got);
    this.log.info('Loaded renewed serving certificate', { secret: `${namespace}/${secretName}` });
  }

  #onPod(p: Caches['pods'] extends { list(): readonly (infer P)[] } ? P : never, verb: string): void {
    const ns = p.metadata.namespace;
    const names = (p.metadata.annotations?.['airlock.dev/injected'] ?? '')
      .split(',')
      .filter((x) => x !== '')
      .map((x) => x.slice(0, x.lastIndexOf('@')));
    for (const n of names) this.#queue?.add(`binding/${ns}/${n}`); // injectedPods count
    const key = `${ns}/${p.metadata.name}/${p.metadata.uid ?? ''}`;
    if (verb === 'delete') {
      this.#shutdownSent.delete(key);
      return;
    }
    if (verb === 'add' && this.#podsSynced && names.length > 0 && this.isLeader()) this.#recordInjected(p);
    if (!this.#shutdownSent.has(key) && appContainersDone(p)) {
      if (this.distribution.shutdownPod(ns, p.metadata.name, 'application containers have terminated') > 0) {
        this.#shutdownSent.add(key);
        this.log.info('Told sidecars of finished pod to exit', { pod: `${ns}/${p.metadata.name}` });
      }
    }
  }

  /**
   * PodInjected, once per binding named in airlock.dev/injected, when the pod informer first sees the pod:
   * the pod exists then. The webhook does not record it — a dry-run request, or a pod that fails to be
   * created after admission, would make it a lie.
   */
  #recordInjected(p: Caches['pods'] extends { list(): readonly (infer P)[] } ? P : never): void {
    const ns = p.metadata.namespace;
    for (const entry of (p.metadata.annotations?.['airlock.dev/injected'] ?? '').split(',').filter((x) => x !== '')) {
      const at = entry.lastIndexOf('@');
      const name = at < 0 ? entry : entry.slice(0, at);
      const generation = at < 0 ? '' : entry.slice(at + 1);
      const uid = this.caches.bindings.get(name, ns)?.metadata.uid;
      this.recorder.action({
        action: 'PodInjected',
        type: 'Normal',
        note: `Injected the proxy sidecar into Pod ${ns}/${p.metadata.name}${generation === '' ? '' : ` (binding generation ${generation})`}`,
        regarding: {
          apiVersion: 'airlock.dev/v1alpha1',
          kind: 'DatabaseBinding',
          namespace: ns,
          name,
          ...(uid ? { uid } : {}),
        },
        attributes: {
          'k8s.pod.name': p.metadata.name,
          ...(typeof p.metadata.uid === 'string' ? { 'k8s.pod.uid': p.metadata.uid } : {}),
        },
      });
    }
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    for (const r of this.#requeues.values()) clearTimeout(r.timer);
    this.#queue?.stop();
    // Before the servers close: the other replica takes over (and starts writing) at once.
    await this.leader?.stop();
    await this.distribution.close();
    await this.#violations.stop();
    if (this.#webhookServer !== null) {
      const s = this.#webhookServer;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await Promise.all(Object.values(this.caches ?? {}).map((c) => c.stop()));
    if (this.#ownRecorder) {
      await this.recorder.close();
      this.#ownRecorder = false;
      this.recorder = NULL_RECORDER;
    }
  }
}

export { KubeClient };
