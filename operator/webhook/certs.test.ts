import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
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
  const bundle = { caPem: ca.certPem, caKeyPem: ca.keyPem, certPem: s.certPem, keyPem: s.keyPem, caBundlePem: ca.certPem };
  const now = Date.now();
  assert.equal(certAction(null, names, now), 'renew-all');
  assert.equal(certAction(bundle, names, now), 'keep');
  assert.equal(certAction(bundle, [...names, 'airlock-operator.airlock-system.svc.cluster.local'], now), 'renew-serving', 'a new name');
  assert.equal(certAction(bundle, names, now + 250 * DAY), 'renew-serving', 'less than a third of the year left');
  assert.equal(certAction(bundle, names, now + 9.5 * 365 * DAY), 'renew-all', 'CA within a year of expiry');
  const other = await makeCA('other');
  assert.equal(certAction({ ...bundle, caPem: other.certPem, caKeyPem: other.keyPem }, names, now), 'renew-serving', 'not signed by the stored CA');
  assert.equal(certAction({ ...bundle, certPem: 'garbage' }, names, now), 'renew-all');
});
