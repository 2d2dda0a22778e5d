import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { certAction, issueServing, makeCA } from './certs.ts';

const DAY = 86_400_000;

test('issues a serving certificate for DNS names and IPs, signed by the CA, and decides renewals', async () => {
  const ca = await makeCA('test-ca');
  const names = ['airlock-operator.airlock-system.svc', '127.0.0.1'];
  const s = await issueServing(ca, names);
  const cert = new X509Certificate(s.certPem);
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  assert.match(cert.subjectAltName ?? '', /DNS:airlock-operator\.airlock-system\.svc/);
  assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  const bundle = {
    caPem: ca.certPem,
    caKeyPem: ca.keyPem,
    certPem: s.certPem,
    keyPem: s.keyPem,
    caBundlePem: ca.certPem,
  };
  const now = Date.now();
  assert.equal(certAction(null, names, now), 'renew-all');
  assert.equal(certAction(bundle, names, now), 'keep');
  assert.equal(
    certAction(bundle, [...names, 'airlock-operator.airlock-system.svc.cluster.local'], now),
    'renew-serving',
    'a new name',
  );
  assert.equal(certAction(bundle, names, now + 250 * DAY), 'renew-serving', 'less than a third of the year left');
  assert.equal(certAction(bundle, names, now + 9.5 * 365 * DAY), 'renew-all', 'CA within a year of expiry');
  const other = await makeCA('other');
  assert.equal(
    certAction({ ...bundle, caPem: other.certPem, caKeyPem: other.keyPem }, names, now),
    'renew-serving',
    'not signed by the stored CA',
  );
  assert.equal(certAction({ ...bundle, certPem: 'garbage' }, names, now), 'renew-all');
});

test('the serving certificate validates against the CA with node:crypto: issuer, signature, SANs, validity, key', async () => {
  const ca = await makeCA('airlock-webhook-ca');
  const names = ['airlock-operator', 'airlock-operator.airlock-system.svc', '10.0.0.1', '::1'];
  const before = Date.now();
  const s = await issueServing(ca, names, 30);
  const caCert = new X509Certificate(ca.certPem);
  const cert = new X509Certificate(s.certPem);
  assert.equal(caCert.ca, true);
  assert.ok(caCert.checkIssued(caCert) && caCert.verify(caCert.publicKey), 'the CA is self-signed');
  assert.equal(cert.ca, false);
  assert.ok(cert.checkIssued(caCert), 'issuer and key identifiers name the CA');
  assert.ok(cert.verify(caCert.publicKey), 'signed by the CA key');
  assert.equal(
    cert.subjectAltName,
    'DNS:airlock-operator, DNS:airlock-operator.airlock-system.svc, IP Address:10.0.0.1, IP Address:0:0:0:0:0:0:0:1',
  );
  assert.equal(cert.checkHost('airlock-operator.airlock-system.svc'), 'airlock-operator.airlock-system.svc');
  assert.equal(cert.checkIP('10.0.0.1'), '10.0.0.1');
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth');
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  assert.ok(from <= Date.now() && from >= before - 1000, `valid from now (${cert.validFrom})`);
  assert.equal(to - from, 30 * DAY);
  assert.equal(Date.parse(caCert.validTo) - Date.parse(caCert.validFrom), 3650 * DAY);
  assert.ok(cert.checkPrivateKey(createPrivateKey(s.keyPem)), 'tls.key belongs to tls.crt');
  const key = createPrivateKey(s.keyPem);
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match(s.keyPem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8, as the openssl CLI wrote it');
  assert.notEqual(
    cert.serialNumber,
    new X509Certificate((await issueServing(ca, names)).certPem).serialNumber,
    'a fresh serial each time',
  );
});

test('a CA key stored as SEC1 ("EC PRIVATE KEY") still signs', async () => {
  const ca = await makeCA('old-ca');
  const sec1 = createPrivateKey(ca.keyPem).export({ type: 'sec1', format: 'pem' }) as string;
  assert.match(sec1, /BEGIN EC PRIVATE KEY/);
  const s = await issueServing({ certPem: ca.certPem, keyPem: sec1 }, ['127.0.0.1']);
  assert.ok(new X509Certificate(s.certPem).verify(new X509Certificate(ca.certPem).publicKey));
});
