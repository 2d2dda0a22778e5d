// The operator's registry and its /metrics handler on a real HTTP server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOperatorMetrics, serveMetrics } from './metrics.ts';

async function withServer<T>(handler: http.RequestListener, f: (base: string) => Promise<T>): Promise<T> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    return await f(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** One sample's value from the exposition text, e.g. sample(text, 'x_total{a="b"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('every operator metric family is exposed, gauges read their sources at scrape time', async () => {
  const m = createOperatorMetrics();
  let depth = 3;
  let leader = false;
  m.sources.queueDepth = () => depth;
  m.sources.sidecarStreams = () => 7;
  m.sources.isLeader = () => leader;
  m.action('PolicyCompiled');
  m.action('PolicyCompiled');
  m.reconciled('binding', 'success', 0.002);
  m.reconciled('binding', 'error', 0.3);
  m.reconciled('policy', 'success', 0.001);
  m.snapshotPublished();
  m.admission('patched', 0.004);
  m.admission('refused', 0.001);
  m.watchRestarted('AccessPolicy', 'silent');
  m.watchRestarted('AccessPolicy', 'silent');
  m.watchRestarted('Secret', 'error');
  await withServer(
    (req, res) => {
      if (!serveMetrics(m.registry, req, res)) res.writeHead(404).end();
    },
    async (base) => {
      const r = await fetch(`${base}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await r.text();
      for (const family of [
        'airlock_operator_actions_total',
        'airlock_operator_reconcile_total',
        'airlock_operator_reconcile_duration_seconds',
        'airlock_operator_queue_depth',
        'airlock_operator_sidecar_streams',
        'airlock_operator_snapshots_published_total',
        'airlock_operator_webhook_admissions_total',
        'airlock_operator_webhook_duration_seconds',
        'airlock_operator_leader',
        'airlock_operator_watch_restarts_total',
        'process_cpu_seconds_total',
        'nodejs_heap_size_used_bytes',
      ]) {
        assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), family);
      }
      assert.equal(sample(text, 'airlock_operator_actions_total{action="PolicyCompiled"}'), 2);
      assert.equal(sample(text, 'airlock_operator_reconcile_total{kind="binding",result="error"}'), 1);
      assert.equal(sample(text, 'airlock_operator_reconcile_duration_seconds_count{kind="binding"}'), 2);
      assert.equal(sample(text, 'airlock_operator_reconcile_duration_seconds_bucket{le="0.0025",kind="binding"}'), 1);
      assert.equal(sample(text, 'airlock_operator_queue_depth'), 3);
      assert.equal(sample(text, 'airlock_operator_sidecar_streams'), 7);
      assert.equal(sample(text, 'airlock_operator_snapshots_published_total'), 1);
      assert.equal(sample(text, 'airlock_operator_webhook_admissions_total{result="patched"}'), 1);
      assert.equal(sample(text, 'airlock_operator_webhook_duration_seconds_count'), 2);
      assert.equal(sample(text, 'airlock_operator_leader'), 0);
      assert.equal(sample(text, 'airlock_operator_watch_restarts_total{kind="AccessPolicy",reason="silent"}'), 2);
      assert.equal(sample(text, 'airlock_operator_watch_restarts_total{kind="Secret",reason="error"}'), 1);
      depth = 0;
      leader = true;
      const again = await (await fetch(`${base}/metrics`)).text();
      assert.equal(sample(again, 'airlock_operator_queue_depth'), 0);
      assert.equal(sample(again, 'airlock_operator_leader'), 1);
      assert.equal((await fetch(`${base}/other`)).status, 404, 'other paths are left to the caller');
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
    },
  );
});

test('registries are separate: two operators in one process do not share series', async () => {
  const a = createOperatorMetrics({ defaultMetrics: false });
  const b = createOperatorMetrics({ defaultMetrics: false });
  a.snapshotPublished();
  assert.match(await a.registry.metrics(), /^airlock_operator_snapshots_published_total 1$/m);
  assert.match(await b.registry.metrics(), /^airlock_operator_snapshots_published_total 0$/m);
  assert.match(await b.registry.metrics(), /^airlock_operator_leader 1$/m, 'no leader source: a single replica leads');
});
