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
import { DistributionServer } from './distribution/server.ts';
import { watch } from './controllers/informers.ts';
import { reconcileBinding, reconcilePolicy } from './controllers/reconcile.ts';
import type { Caches, ReconcileDeps } from './controllers/reconcile.ts';
import { ensureWebhookCert } from './webhook/certs.ts';
import type { CertBundle } from './webhook/certs.ts';
import type { ResourceRequirements } from './webhook/inject.ts';
import { createWebhookServer } from './webhook/server.ts';

export interface OperatorOptions {
  readonly kube: KubeClient;
  /** The operator's own namespace: never injected; holds the webhook certificate Secret. */
  readonly namespace: string;
  readonly webhook: {
    readonly host: string; readonly port: number;
    readonly configName: string; readonly secretName: string;
    /** DNS names / IPs the serving certificate must carry. */
    readonly names: readonly string[];
    /** false with cert-manager: then `tls` must be given. */
    readonly manageCert: boolean;
    readonly tls?: { certPem: string; keyPem: string };
  };
  readonly grpc: { readonly host: string; readonly port: number; readonly credentials?: grpc.ServerCredentials };
  readonly sidecar: { readonly image: string; readonly imagePullPolicy?: string; readonly resources?: ResourceRequirements; readonly operatorAddress: string };
  /** Overrides the apiserver's /version (tests). */
  readonly kubernetesMinor?: number;
  readonly reviewer?: TokenReviewer;
  readonly log?: Logger;
  /** Every binding is reconciled this often even without events (AccessRequest expiry). Default 30 s. */
  readonly resyncMs?: number;
}

/** Serialised work queue: one reconcile per key at a time, failures retried with capped backoff. */
class Queue {
  private readonly pending = new Set<string>();
  private readonly failures = new Map<string, number>();
  private running = false;
  private readonly work: (key: string) => Promise<void>;
  private readonly log: Logger;
  private stopped = false;
  constructor(work: (key: string) => Promise<void>, log: Logger) { this.work = work; this.log = log; }
  add(key: string): void {
    if (this.stopped) return;
    this.pending.add(key);
    if (!this.running) { this.running = true; setImmediate(() => void this.drain()); }
  }
  stop(): void { this.stopped = true; this.pending.clear(); }
  private async drain(): Promise<void> {
    while (this.pending.size > 0 && !this.stopped) {
      const key = this.pending.values().next().value as string;
      this.pending.delete(key);
      try {
        await this.work(key);
        this.failures.delete(key);
      } catch (e) {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        const delay = Math.min(30_000, 100 * 2 ** n);
        this.log.warn('Failed to reconcile', { key, error: (e as Error).message, retryInMs: delay });
        setTimeout(() => this.add(key), delay).unref();
      }
    }
    this.running = false;
  }
}

export class Operator {
  readonly opts: OperatorOptions;
  readonly log: Logger;
  readonly distribution: DistributionServer;
  caches!: Caches;
  private webhookServer: HttpsServer | null = null;
  private timers: NodeJS.Timeout[] = [];
  private queue!: Queue;
  private cert: CertBundle | null = null;
  private shutdownSent = new Set<string>();

  constructor(opts: OperatorOptions) {
    this.opts = opts;
    this.log = opts.log ?? jsonLogger();
    this.distribution = new DistributionServer({
      reviewer: opts.reviewer ?? new KubeTokenReviewer(opts.kube),
      log: this.log,
      authorize: (who, ref) => authorizeWatch(who, ref, this.caches.bindings.list(ref.namespace),
        who.podName === null ? undefined : this.caches.pods.get(who.podName, ref.namespace), opts.sidecar.image),
      // (pods are always looked up: a token without a pod is refused by authorizeWatch)
    });
  }

  /** Starts everything; resolves once caches are synced and both servers listen. */
  async start(): Promise<{ webhookPort: number; grpcPort: number; caBundlePem: string | null }> {
    const { kube } = this.opts;
    const minor = this.opts.kubernetesMinor ?? Number(String((await kube.must('GET', '/version')).minor).replace(/\D/g, ''));
    const deps = (): ReconcileDeps => ({ caches: this.caches, kube, distribution: this.distribution, log: this.log, now: () => new Date(), published });
    const published = new Map<string, string>();
    this.queue = new Queue(async (key) => {
      const [kind, ns, name] = key.split('/') as [string, string, string];
      if (kind === 'binding') await reconcileBinding(deps(), ns, name);
      else await reconcilePolicy(deps(), ns, name);
    }, this.log);
    const bindingsOf = (ns: string): void => { for (const b of this.caches.bindings.list(ns)) this.queue.add(`binding/${ns}/${b.metadata.name}`); };
    const nsOf = (o: { metadata?: { namespace?: string } }): string => o.metadata?.namespace ?? '';
    const g = '/apis/airlock.dev/v1alpha1';
    this.caches = {
      bindings: watch(kube, `${g}/databasebindings`, (b, verb) => {
        this.queue.add(`binding/${nsOf(b)}/${b.metadata?.name}`);
        if (verb === 'delete') this.log.info('Deleted DatabaseBinding', { binding: `${nsOf(b)}/${b.metadata?.name}` });
      }, this.log, 'DatabaseBinding'),
      policies: watch(kube, `${g}/accesspolicies`, (p) => { this.queue.add(`policy/${nsOf(p)}/${p.metadata?.name}`); bindingsOf(nsOf(p)); }, this.log, 'AccessPolicy'),
      requests: watch(kube, `${g}/accessrequests`, (r) => bindingsOf(nsOf(r)), this.log, 'AccessRequest'),
      secrets: watch(kube, '/api/v1/secrets', (s) => {
        const ns = nsOf(s);
        const name = s.metadata?.name;
        for (const b of this.caches.bindings.list(ns)) {
          if (b.spec.credentialsSecretRef.name === name || b.spec.tls?.caSecretRef?.name === name) this.queue.add(`binding/${ns}/${b.metadata.name}`);
        }
      }, this.log, 'Secret'),
      pods: watch(kube, '/api/v1/pods', (p, verb) => this.onPod(p, verb), this.log, 'Pod'),
    } as Caches;
    await Promise.all(Object.values(this.caches).map((c) => c.synced));
    this.log.info('Synced caches', {});
    this.timers.push(setInterval(() => { for (const b of this.caches.bindings.list()) this.queue.add(`binding/${b.metadata.namespace}/${b.metadata.name}`); }, this.opts.resyncMs ?? 30_000));

    const w = this.opts.webhook;
    if (w.manageCert) {
      this.cert = await ensureWebhookCert(kube, { namespace: this.opts.namespace, secretName: w.secretName, webhookConfigName: w.configName, names: w.names, nowMs: Date.now() });
    }
    const tls = this.cert ?? w.tls;
    if (tls === undefined) throw new Error('webhook: manageCert is false and no certificate was given');
    // gRPC carries database credentials: TLS with the same certificate as the webhook (the same Service
    // names both) unless the caller chose credentials (tests). Sidecars verify it with AIRLOCK_OPERATOR_CA.
    const grpcCreds = this.opts.grpc.credentials
      ?? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }], false);
    const grpcPort = await this.distribution.listen(`${this.opts.grpc.host}:${this.opts.grpc.port}`, grpcCreds);

    // The webhook listens only now: with empty caches it would admit matching pods without their sidecar.
    const byNs = (ns: string): readonly DatabaseBinding[] => this.caches.bindings.list(ns);
    this.webhookServer = createWebhookServer(tls, {
      bindingsIn: byNs, log: this.log,
      inject: { image: this.opts.sidecar.image, imagePullPolicy: this.opts.sidecar.imagePullPolicy, resources: this.opts.sidecar.resources,
        operatorAddress: this.opts.sidecar.operatorAddress, operatorNamespace: this.opts.namespace, kubernetesMinor: minor,
        ...(this.opts.grpc.credentials === undefined && this.cert !== null ? { operatorCaPem: this.cert.caPem } : {}) },
    });
    const server = this.webhookServer;
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(w.port, w.host, () => resolve()); });
    if (w.manageCert) {
      this.timers.push(setInterval(() => {
        ensureWebhookCert(kube, { namespace: this.opts.namespace, secretName: w.secretName, webhookConfigName: w.configName, names: w.names, nowMs: Date.now() })
          .then((c) => { if (c.certPem !== this.cert?.certPem) { this.cert = c; server.setSecureContext({ cert: c.certPem, key: c.keyPem }); this.log.info('Renewed webhook certificate', {}); } })
          .catch((e: unknown) => this.log.error('Failed to renew webhook certificate', { error: (e as Error).message }));
      }, 3_600_000));
    }
    for (const t of this.timers) t.unref();
    this.log.info('Started operator', { webhookPort: (server.address() as AddressInfo).port, grpcPort, kubernetesMinor: minor });
    return { webhookPort: (server.address() as AddressInfo).port, grpcPort, caBundlePem: this.cert?.caBundlePem ?? null };
  }

  private onPod(p: Caches['pods'] extends { list(): readonly (infer P)[] } ? P : never, verb: string): void {
    const ns = p.metadata.namespace;
    const names = (p.metadata.annotations?.['airlock.dev/injected'] ?? '').split(',').filter((x) => x !== '').map((x) => x.slice(0, x.lastIndexOf('@')));
    for (const n of names) this.queue?.add(`binding/${ns}/${n}`);              // injectedPods count
    const key = `${ns}/${p.metadata.name}/${p.metadata.uid ?? ''}`;
    if (verb === 'delete') { this.shutdownSent.delete(key); return; }
    if (!this.shutdownSent.has(key) && appContainersDone(p)) {
      if (this.distribution.shutdownPod(ns, p.metadata.name, 'application containers have terminated') > 0) {
        this.shutdownSent.add(key);
        this.log.info('Told sidecars of finished pod to exit', { pod: `${ns}/${p.metadata.name}` });
      }
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.queue?.stop();
    await this.distribution.close();
    if (this.webhookServer !== null) {
      const s = this.webhookServer;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await Promise.all(Object.values(this.caches ?? {}).map((c) => c.stop()));
  }
}

export { KubeClient };
