// KubeClient's bound on a call: a black-holed path to the apiserver — a connect that never completes, or a
// connection accepted by a middlebox that then forwards nothing (a TLS handshake that never ends) — fails
// the call after its timeout instead of holding the caller (an informer's LIST, a status write) for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { startBlackhole } from '../test/support/blackhole.ts';
import { KubeClient } from './kube.ts';

function clientFor(port: number): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'k', server: `https://127.0.0.1:${port}`, skipTLSVerify: false }],
    users: [{ name: 'u', token: 'not-used' }],
    contexts: [{ name: 'c', cluster: 'k', user: 'u' }],
    currentContext: 'c',
  });
  return new KubeClient(kc);
}

async function timeToFail(kube: KubeClient, timeoutMs: number): Promise<{ ms: number; error: Error }> {
  const t0 = performance.now();
  const error = await kube.call('GET', '/api/v1/namespaces/ml/secrets', undefined, 'application/json', timeoutMs).then(
    () => assert.fail('the call answered'),
    (e: Error) => e,
  );
  return { ms: performance.now() - t0, error };
}

test('a connection accepted but never answered (TLS handshake stalls) fails after the timeout, not twice that', async () => {
  // Before the headers deadline, the socket idle timeout alone fired only after 2 × timeoutMs here (the
  // agent's and the request's timeouts on a TLS socket still connecting): a LIST into a cut relay took
  // 20 s to fail instead of 10.
  const held: net.Socket[] = [];
  const server = net.createServer((s) => {
    held.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const { ms, error } = await timeToFail(clientFor((server.address() as net.AddressInfo).port), 1000);
    assert.match(error.message, /GET \/api\/v1\/namespaces\/ml\/secrets: no answer in 1000 ms/);
    assert.ok(ms >= 990 && ms < 1800, `failed after ${ms} ms`);
  } finally {
    for (const s of held) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

test('a connect that never completes (SYNs dropped) fails after the timeout', async () => {
  const hole = await startBlackhole();
  try {
    const { ms, error } = await timeToFail(clientFor(hole.port), 400);
    assert.match(error.message, /no answer in 400 ms/);
    assert.ok(ms < 1500, `failed after ${ms} ms`);
  } finally {
    hole.close();
  }
});
