// Serving-certificate pickup without a restart, on every replica: the leader renews the certificate
// Secret (webhook/certs.ts) or cert-manager does (--manage-webhook-cert=false); each replica reads tls.crt
// and tls.key from the Secret (informer event, plus a periodic re-read) and swaps them into the webhook's
// HTTPS server (setSecureContext) and the gRPC server (a CertificateProvider, below).
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { experimental } from '@grpc/grpc-js';
import type { ServerCredentials } from '@grpc/grpc-js';

export interface ServingPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * tls.crt/tls.key of a kubernetes.io/tls Secret, checked: both present, the chain's first certificate
 * parses and the key is its key. A string is the problem; the caller keeps serving what it has (a
 * half-written or wrong Secret must not take TLS down).
 */
export function servingFromSecret(
  secret: { data?: Record<string, string> } | undefined,
  where: string,
): ServingPair | string {
  if (secret === undefined) return `Secret ${where} not found`;
  const cert = secret.data?.['tls.crt'];
  const key = secret.data?.['tls.key'];
  if (cert === undefined || key === undefined || cert === '' || key === '')
    return `Secret ${where} has no tls.crt and tls.key`;
  const certPem = Buffer.from(cert, 'base64').toString('utf8');
  const keyPem = Buffer.from(key, 'base64').toString('utf8');
  try {
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)))
      return `Secret ${where}: tls.key is not the key of tls.crt`;
  } catch (e) {
    return `Secret ${where}: tls.crt or tls.key does not parse: ${(e as Error).message}`;
  }
  return { certPem, keyPem };
}

type IdentityListener = Parameters<experimental.CertificateProvider['addIdentityCertificateListener']>[0];

/**
 * A grpc-js CertificateProvider (experimental API, grpc-js is pinned in package.json) whose identity we
 * set: the server calls setSecureContext on its listening socket when it changes, as for the webhook.
 * Listeners are told asynchronously: grpc-js registers ours only after it created the server from the
 * (then empty) options, and a synchronous first call would be lost — connections would be dropped.
 */
export class ServingIdentityProvider implements experimental.CertificateProvider {
  #pair: ServingPair;
  readonly #listeners = new Set<IdentityListener>();
  constructor(pair: ServingPair) {
    this.#pair = pair;
  }
  set(pair: ServingPair): void {
    this.#pair = pair;
    for (const l of this.#listeners) l(this.#update());
  }
  #update(): { certificate: Buffer; privateKey: Buffer } {
    return { certificate: Buffer.from(this.#pair.certPem), privateKey: Buffer.from(this.#pair.keyPem) };
  }
  addIdentityCertificateListener(l: IdentityListener): void {
    this.#listeners.add(l);
    queueMicrotask(() => {
      if (this.#listeners.has(l)) l(this.#update());
    });
  }
  removeIdentityCertificateListener(l: IdentityListener): void {
    this.#listeners.delete(l);
  }
  // No client certificates: sidecars authenticate with their ServiceAccount token, not mTLS.
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}
}

/** TLS server credentials that follow `provider`. */
export function reloadableServerCredentials(provider: ServingIdentityProvider): ServerCredentials {
  // The .d.ts names the first parameter caCertificateProvider, but grpc-js passes it on as the identity
  // (server certificate) provider; the second is the CA for client certificates, which we do not ask for.
  return experimental.createCertificateProviderServerCredentials(provider, null, false);
}
