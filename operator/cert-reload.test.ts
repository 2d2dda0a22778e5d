import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issueServing, makeCA } from './webhook/certs.ts';
import { ServingIdentityProvider, servingFromSecret } from './cert-reload.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('servingFromSecret takes a matching tls.crt/tls.key and refuses anything else with the reason', async () => {
  const ca = await makeCA('test-ca');
  const a = await issueServing(ca, ['127.0.0.1']);
  const b = await issueServing(ca, ['127.0.0.1']);
  assert.deepEqual(servingFromSecret({ data: { 'tls.crt': b64(a.certPem), 'tls.key': b64(a.keyPem) } }, 'ns/s'), a);
  const cases: [string, { data?: Record<string, string> } | undefined, RegExp][] = [
    ['no Secret', undefined, /^Secret ns\/s not found$/],
    ['no keys', { data: {} }, /has no tls\.crt and tls\.key/],
    [
      'a key of another certificate (half-written renewal)',
      { data: { 'tls.crt': b64(a.certPem), 'tls.key': b64(b.keyPem) } },
      /tls\.key is not the key of tls\.crt/,
    ],
    ['not PEM', { data: { 'tls.crt': b64('garbage'), 'tls.key': b64(a.keyPem) } }, /does not parse/],
  ];
  for (const [name, secret, want] of cases) {
    const got = servingFromSecret(secret, 'ns/s');
    assert.equal(typeof got, 'string', name);
    assert.match(got as string, want, name);
  }
});

test('ServingIdentityProvider tells a new listener asynchronously, and every listener on set()', async () => {
  const pair = { certPem: 'c1', keyPem: 'k1' };
  const p = new ServingIdentityProvider(pair);
  const seen: string[] = [];
  const l = (u: { certificate: Buffer; privateKey: Buffer } | null): void => {
    seen.push(u === null ? 'null' : u.certificate.toString());
  };
  p.addIdentityCertificateListener(l);
  assert.deepEqual(seen, [], 'not synchronously: grpc-js registers its watcher only after this call returns');
  await Promise.resolve();
  assert.deepEqual(seen, ['c1']);
  p.set({ certPem: 'c2', keyPem: 'k2' });
  assert.deepEqual(seen, ['c1', 'c2']);
  p.removeIdentityCertificateListener(l);
  p.set({ certPem: 'c3', keyPem: 'k3' });
  assert.deepEqual(seen, ['c1', 'c2']);
});
