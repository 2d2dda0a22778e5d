// The webhook's TLS: a self-signed CA and a serving certificate the operator makes itself with
// @peculiar/x509 over node:crypto's WebCrypto (node:crypto parses X.509 but cannot issue it), kept in a
// Secret (keys tls.crt, tls.key, ca.crt, ca.key) and the CA written into the MutatingWebhookConfiguration's
// caBundle. With cert-manager (chart: certManager.enabled) none of this runs.
//
// Lifetimes and renewal (checked at start and hourly):
//   CA: 10 years, replaced when < 1 year is left. The caBundle then holds old and new CA until the old
//     expires, so the apiserver trusts both serving certificates during the switch.
//   Serving certificate: 1 year, renewed when < 1/3 of its life (~121 days) is left, or when its DNS
//     names differ from what the Service needs. Replicas pick up the Secret on their hourly check.
// Keys are EC P-256, signatures ECDSA with SHA-256, private keys PKCS#8 PEM — what the `openssl` CLI made
// before, so Secrets written by earlier versions read the same.
// @peculiar/x509 resolves its ASN.1 serializers through tsyringe, which needs the Reflect metadata API:
// the polyfill is imported first, as the library's README requires.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import type { KubeClient } from '../kube.ts';

const DAY_MS = 86_400_000;
export const CA_DAYS = 3650;
export const CA_RENEW_BEFORE_DAYS = 365;
export const SERVING_DAYS = 365;
/** Renew when less than this fraction of the serving certificate's lifetime remains. */
export const SERVING_RENEW_FRACTION = 1 / 3;

export interface CertBundle {
  readonly caPem: string;
  readonly caKeyPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Every CA the apiserver should trust (the current one, plus the previous one during a CA switch). */
  readonly caBundlePem: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const crypto = webcrypto;

/** 128 random bits with the top one clear: positive and unique, as RFC 5280 §4.1.2.2 asks (≤ 20 octets). */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  return b.toString('hex');
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** The certificate's validity: from now (second resolution, as X.509 stores it) for `days`. */
function validity(days: number): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

/** A new EC P-256 CA. */
export async function makeCA(commonName: string, days = CA_DAYS): Promise<{ certPem: string; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: [{ CN: [commonName] }],
      ...validity(days),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: (await pkcs8Pem(keys.privateKey)) + '\n' };
}

/** A serving certificate for `dnsNames` (and IP addresses written as such) signed by the CA. */
export async function issueServing(
  ca: { certPem: string; keyPem: string },
  names: readonly string[],
  days = SERVING_DAYS,
): Promise<{ certPem: string; keyPem: string }> {
  if (names.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP address');
  const caCert = new x509.X509Certificate(ca.certPem);
  // Through node:crypto, so any PEM form of the CA key reads (PKCS#8 or SEC1 "EC PRIVATE KEY").
  const caKey = createPrivateKey(ca.keyPem).toCryptoKey(EC_P256, false, ['sign']);
  const keys = await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: [{ CN: [names[0]!] }],
      issuer: caCert.subject,
      ...validity(days),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.SubjectAlternativeNameExtension(
          names.map((n) =>
            /^[0-9.]+$|:/.test(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n },
          ),
        ),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: (await pkcs8Pem(keys.privateKey)) + '\n' };
}

export type CertAction = 'keep' | 'renew-serving' | 'renew-all';

/** What to do with the stored bundle at `nowMs`. Pure: the thresholds above, in one place. */
export function certAction(stored: CertBundle | null, names: readonly string[], nowMs: number): CertAction {
  if (stored === null) return 'renew-all';
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(stored.caPem);
    cert = new X509Certificate(stored.certPem);
  } catch {
    return 'renew-all';
  }
  if (Date.parse(ca.validTo) - nowMs < CA_RENEW_BEFORE_DAYS * DAY_MS) return 'renew-all';
  if (!cert.verify(ca.publicKey)) return 'renew-serving';
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (to - nowMs < (to - from) * SERVING_RENEW_FRACTION) return 'renew-serving';
  const san = cert.subjectAltName ?? '';
  const have = new Set(san.split(', ').map((s) => s.replace(/^(DNS|IP Address):/, '')));
  if (!names.every((n) => have.has(n))) return 'renew-serving';
  return 'keep';
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}
function unb64(s: unknown): string {
  return typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '';
}

/** Keeps only the certificates of a PEM bundle that are still valid at `nowMs`. */
function validCAs(pem: string, nowMs: number): string[] {
  const out: string[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g)) {
    try {
      if (Date.parse(new X509Certificate(m[0]).validTo) > nowMs) out.push(m[0].endsWith('\n') ? m[0] : `${m[0]}\n`);
    } catch {
      /* drop */
    }
  }
  return out;
}

export interface EnsureCertOptions {
  readonly namespace: string;
  readonly secretName: string;
  readonly webhookConfigName: string;
  /** e.g. airlock-operator.airlock-system.svc, …svc.cluster.local, or 127.0.0.1 in tests. */
  readonly names: readonly string[];
  readonly nowMs: number;
}

/**
 * Reads the Secret, renews what certAction says, writes the Secret back (create, or update with its
 * resourceVersion so two replicas racing cannot both win), and patches the caBundle of every webhook
 * of the configuration when it differs. Returns the bundle to serve.
 */
export async function ensureWebhookCert(kube: KubeClient, o: EnsureCertOptions): Promise<CertBundle> {
  const path = `/api/v1/namespaces/${o.namespace}/secrets/${o.secretName}`;
  const got = await kube.call('GET', path);
  if (got.status !== 200 && got.status !== 404)
    throw new Error(`GET Secret ${o.namespace}/${o.secretName}: HTTP ${got.status}`);
  const d = got.status === 200 ? (got.body.data ?? {}) : null;
  const stored: CertBundle | null =
    d === null
      ? null
      : {
          caPem: unb64(d['ca.crt']),
          caKeyPem: unb64(d['ca.key']),
          certPem: unb64(d['tls.crt']),
          keyPem: unb64(d['tls.key']),
          caBundlePem: unb64(d['ca-bundle.crt']) || unb64(d['ca.crt']),
        };
  const action = certAction(stored, o.names, o.nowMs);
  let bundle = stored as CertBundle;
  if (action !== 'keep') {
    const ca =
      action === 'renew-all' || stored === null
        ? await makeCA('airlock-webhook-ca')
        : { certPem: stored.caPem, keyPem: stored.caKeyPem };
    const serving = await issueServing(ca, o.names);
    const previous =
      stored === null ? [] : validCAs(stored.caBundlePem, o.nowMs).filter((p) => p.trim() !== ca.certPem.trim());
    bundle = {
      caPem: ca.certPem,
      caKeyPem: ca.keyPem,
      certPem: serving.certPem,
      keyPem: serving.keyPem,
      caBundlePem: [ca.certPem, ...previous].join(''),
    };
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: o.secretName,
        namespace: o.namespace,
        ...(got.status === 200 ? { resourceVersion: got.body.metadata.resourceVersion } : {}),
      },
      data: {
        'tls.crt': b64(bundle.certPem),
        'tls.key': b64(bundle.keyPem),
        'ca.crt': b64(bundle.caPem),
        'ca.key': b64(bundle.caKeyPem),
        'ca-bundle.crt': b64(bundle.caBundlePem),
      },
    };
    const w =
      got.status === 200
        ? await kube.call('PUT', path, secret)
        : await kube.call('POST', `/api/v1/namespaces/${o.namespace}/secrets`, secret);
    if (w.status === 409) return ensureWebhookCert(kube, o); // another replica wrote first: use theirs
    if (w.status < 200 || w.status >= 300)
      throw new Error(`writing Secret ${o.namespace}/${o.secretName}: HTTP ${w.status}: ${w.body?.message ?? ''}`);
  }
  await patchCABundle(kube, o.webhookConfigName, bundle.caBundlePem);
  return bundle;
}

async function patchCABundle(kube: KubeClient, name: string, caBundlePem: string): Promise<void> {
  const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`;
  const cfg = await kube.must('GET', path);
  const want = b64(caBundlePem);
  const hooks = (cfg.webhooks ?? []) as { clientConfig?: { caBundle?: string } }[];
  const ops = hooks.flatMap((h, i) =>
    h.clientConfig?.caBundle === want ? [] : [{ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want }],
  );
  if (ops.length === 0) return;
  // The resourceVersion test makes a concurrent edit fail (and be retried next hour) instead of being overwritten.
  await kube.must(
    'PATCH',
    path,
    [{ op: 'test', path: '/metadata/resourceVersion', value: cfg.metadata.resourceVersion }, ...ops],
    'application/json-patch+json',
  );
}
