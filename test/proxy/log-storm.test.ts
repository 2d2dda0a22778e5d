// Issue 15, item 5: a burst of failing connections (an upstream outage, a connection storm) used to write one
// log line per connection. Repeated errors are now logged once per kind and window with a count, first and last
// time, and counted in airlock_errors_total{kind}.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient } from './raw-client.ts';
import { configYaml, eventually } from './harness.ts';
import { freePort } from '../support/ports.ts';
import { policyState } from '../../proxy/enforce/gate.ts';
import { loadAnalyzer } from '../../proxy/enforce/analyzer.ts';
import { loadLocalConfig } from '../../proxy/local.ts';
import { startProxy } from '../../proxy/server.ts';
import { LogLimiter } from '../../proxy/log-limiter.ts';
import { createProxyMetrics } from '../../proxy/metrics.ts';
import { makeIdentity } from '../../policy/identity.ts';

test('issue 15: 200 logins against a refusing upstream write one line and one summary, and count 200 in airlock_errors_total', async () => {
  const deadPort = await freePort(); // nothing listens: every upstream connect is refused
  const loaded = loadLocalConfig(
    configYaml({ host: '127.0.0.1', port: deadPort, database: 'shop' }, { user: 'app', password: 'pw' }),
    'test.yaml',
    {},
    1,
  );
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const lines: string[] = [];
  const log = (m: string): void => {
    lines.push(m);
  };
  const proxy = await startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    target: loaded.config.target,
    identity: makeIdentity('system:serviceaccount:team:trainer'),
    state: policyState(loaded.config.set, await loadAnalyzer()),
    log,
    events: new LogLimiter(log, 1000),
  });
  const metrics = createProxyMetrics();
  metrics.watchErrors(proxy.events);
  try {
    for (let batch = 0; batch < 10; batch++) {
      const clients = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(proxy.address.port)));
      for (const c of clients) assert.equal(c.startup.find((m) => m.type === 'E')?.code, '08006');
    }
    const failures = lines.filter((l) => l.includes(`upstream 127.0.0.1:${deadPort} failed`));
    assert.equal(failures.length, 1, `expected one line for the first failure, got ${failures.length}`);
    await eventually(
      () =>
        lines.some((l) =>
          /199 more upstream_failed event\(s\) in 1 s, first \S+, last \S+ \(200 since start\); the last: airlock: upstream 127\.0\.0\.1:\d+ failed/.test(
            l,
          ),
        ),
      5000,
      'the summary line',
    );
    assert.ok(lines.length <= 3, `log lines: ${lines.length}\n${lines.join('\n')}`);
    const text = await metrics.registry.metrics();
    assert.match(text, /^airlock_errors_total\{kind="upstream_failed"\} 200$/m);
  } finally {
    await proxy.close();
  }
});
