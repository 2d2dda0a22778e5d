// Prometheus metrics scraped over HTTP after real statements through the proxy (test/proxy/harness.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createProxyMetrics, serveMetrics } from './metrics.ts';
import { NULL_AUDIT } from '../audit/types.ts';
import type { SessionContext } from '../policy/types.ts';
import { startHarness, failure } from '../test/proxy/harness.ts';

function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

test('statements are counted by decision, connections and upstream time are visible on /metrics', async () => {
  const m = createProxyMetrics();
  m.setPolicyGeneration(7);
  const h = await startHarness({ proxy: { audit: m.wrapAudit(NULL_AUDIT) } });
  const server = await serveMetrics(m, '127.0.0.1', 0);
  try {
    const c = await h.client();
    await c.query('SELECT 1 FROM public.orders');
    await c.query('SELECT id FROM public.customers');
    await c.query('SELECT 2');
    assert.equal((await failure(c.query('DROP TABLE public.orders'))).code, '42501');
    assert.equal((await failure(c.query('DELETE FROM public.customers WHERE id = 1'))).code, '42501');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let text = await (await fetch(`${url}/metrics`)).text();
    assert.equal(sample(text, 'airlock_statements_total{decision="allow"}'), 3, text);
    assert.equal(sample(text, 'airlock_statements_total{decision="deny"}'), 2);
    assert.equal(sample(text, 'airlock_connections'), 1);
    assert.equal(sample(text, 'airlock_upstream_seconds_count'), 5);
    assert.equal(sample(text, 'airlock_policy_generation'), 7);
    assert.equal(sample(text, 'airlock_audit_dropped_total'), 0);
    await c.end();
    const deadline = Date.now() + 5000;
    while (sample(text, 'airlock_connections') !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      text = await (await fetch(`${url}/metrics`)).text();
    }
    assert.equal(sample(text, 'airlock_connections'), 0, 'the session end is counted');
    assert.equal((await fetch(`${url}/other`)).status, 404);
  } finally {
    server.close();
    await h.stop();
  }
});

test('airlock_analysis_seconds observes a decision-cache miss once and a hit not at all', async () => {
  const { loadAnalyzer } = await import('./enforce/analyzer.ts');
  const { Gate, policyState } = await import('./enforce/gate.ts');
  const { compile } = await import('../policy/compile.ts');
  const { makeIdentity } = await import('../policy/identity.ts');
  const m = createProxyMetrics();
  const state = policyState(compile([], 1), m.wrapAnalyzer(await loadAnalyzer()));
  const ctx: SessionContext = {
    identity: makeIdentity('system:serviceaccount:team:trainer'),
    database: 'shop',
    searchPath: ['public'],
    catalogRelations: new Set(),
    catalogFunctions: new Set(),
    grants: [],
  };
  const gate = new Gate(state, ctx);
  const count = async () => sample(await m.registry.metrics(), 'airlock_analysis_seconds_count');
  assert.equal(await count(), 0);
  gate.check('SELECT id FROM public.orders WHERE id = 1', new Map());
  assert.equal(await count(), 1, 'a miss runs the analyzer');
  gate.check('SELECT id FROM public.orders WHERE id = 1', new Map());
  assert.equal(await count(), 1, 'an exact-text hit does not');
  gate.check('SELECT id FROM public.orders WHERE id = 2', new Map());
  assert.equal(await count(), 1, 'a normalized-shape hit does not');
});
