// Issue 15 item 7: a watch that dies silently. The operator talks to a real kube-apiserver through a TCP
// relay (test/support/relay.ts) that is cut — bytes dropped, no FIN, no RST — for longer than the quiet
// threshold, then restored with the cut connections left open and silent for good (a lost NAT/conntrack
// entry: only new connections get through). An AccessPolicy changed after that must reach the operator
// (its status observes the new generation) within a bound. With detection effectively off (quietMs of an
// hour) the same change never arrives in that time: the operator sits on a dead watch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  G,
  MERGE_PATCH,
  READ_ALL,
  accessPolicy,
  eventually,
  installCrds,
  kubeApi,
  operatorOptions,
  operatorServiceAccount,
  registerWebhooks,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { startRelay } from '../support/relay.ts';
import type { Relay } from '../support/relay.ts';
import { KubeClient } from '../../operator/kube.ts';
import type { Logger } from '../../operator/log.ts';
import { createOperatorMetrics } from '../../operator/metrics.ts';
import type { OperatorMetrics } from '../../operator/metrics.ts';
import { Operator } from '../../operator/operator.ts';
import type { OperatorOptions } from '../../operator/operator.ts';

// Seconds, not the production 60 s / 150 s / 15 s: the same mechanism at test speed.
const FAST = { timeoutSeconds: 1, quietMs: 4000, checkMs: 250 };
const CUT_MS = 6000;
// After the restore: the relist may first wait out a LIST started during the cut (KubeClient's 10 s call
// timeout), then a backoff; the change must have arrived well within this (measured: ~8 s).
const ARRIVE_WITHIN_MS = 20_000;

describe('operator watches that die silently', () => {
  let kube: Kube;
  let kubeconfigPath = '';
  let webhookPort = 0;
  const { must } = kubeApi(() => kube);

  before(async () => {
    kube = await startKube();
    await installCrds(kube);
    await kube.createNamespace('airlock-system');
    await kube.createNamespace('ml');
    const account = await operatorServiceAccount(kube);
    webhookPort = await freePort();
    await registerWebhooks(kube, webhookPort, { pods: true });
    await must('POST', `${G}/namespaces/ml/accesspolicies`, accessPolicy('trainer'));
    kubeconfigPath = account.kubeconfigPath;
  });
  after(async () => {
    await kube?.stop();
  });

  /** An Operator whose every apiserver connection goes through a relay of its own. */
  async function operatorBehindRelay(
    watch: OperatorOptions['watch'],
  ): Promise<{ op: Operator; relay: Relay; metrics: OperatorMetrics; warnings: string[] }> {
    const relay = await startRelay({ host: '127.0.0.1', port: Number(new URL(kube.server).port) });
    const cfg = JSON.parse(readFileSync(kubeconfigPath, 'utf8'));
    cfg.clusters[0].cluster.server = `https://127.0.0.1:${relay.port}`;
    const path = join(kube.dir, `operator-relay-${relay.port}.kubeconfig`);
    writeFileSync(path, JSON.stringify(cfg), { mode: 0o600 });
    const warnings: string[] = [];
    const log: Logger = {
      info() {},
      error() {},
      warn: (msg, kv) => {
        warnings.push(`${msg} ${JSON.stringify(kv)}`);
      },
    };
    const metrics = createOperatorMetrics({ defaultMetrics: false });
    const op = new Operator(
      operatorOptions(KubeClient.fromFile(path), webhookPort, { log, metrics, ...(watch ? { watch } : {}) }),
    );
    await op.start();
    return { op, relay, metrics, warnings };
  }

  async function restarts(metrics: OperatorMetrics, kind: string, reason: string): Promise<number> {
    const m = await metrics.registry.getSingleMetric('airlock_operator_watch_restarts_total')!.get();
    return m.values.find((v) => v.labels.kind === kind && v.labels.reason === reason)?.value ?? 0;
  }

  /** Changes the policy's rules (a new generation); returns that generation. */
  async function changePolicy(rules: number): Promise<number> {
    const p = await must(
      'PATCH',
      `${G}/namespaces/ml/accesspolicies/trainer`,
      { spec: { rules: Array.from({ length: rules }, (_, i) => ({ ...READ_ALL, name: `read-${i}` })) } },
      { contentType: MERGE_PATCH },
    );
    return p.metadata.generation;
  }
  const observed = async (gen: number): Promise<boolean> => {
    const p = await must('GET', `${G}/namespaces/ml/accesspolicies/trainer`);
    return p.status?.observedGeneration === gen;
  };

  async function cutAndRestore(relay: Relay): Promise<void> {
    relay.cut();
    await new Promise((r) => setTimeout(r, CUT_MS));
    relay.restore({ endCut: false });
  }

  test('without detection, a change after a silent cut never reaches the operator', async () => {
    const { op, relay, metrics } = await operatorBehindRelay({ quietMs: 3_600_000, checkMs: 250 });
    try {
      await eventually('policy status written', () => observed(1).then((ok) => (ok ? true : undefined)), 30_000);
      await cutAndRestore(relay);
      const gen = await changePolicy(2);
      const end = Date.now() + ARRIVE_WITHIN_MS;
      while (Date.now() < end) {
        assert.equal(await observed(gen), false, 'the change arrived although the watch was black-holed');
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(
        op.caches.policies.get('trainer', 'ml')?.metadata.generation,
        1,
        'the cache still holds the old generation',
      );
      assert.equal(await restarts(metrics, 'AccessPolicy', 'silent'), 0);
    } finally {
      await op.stop();
      await relay.close();
    }
  });

  test('a quiet healthy watch is not relisted; a silent one is restarted, relisted, counted, and the change arrives', async () => {
    const { op, relay, metrics, warnings } = await operatorBehindRelay(FAST);
    try {
      // The previous test left generation 2 unobserved; this operator lists it at start.
      const p = await must('GET', `${G}/namespaces/ml/accesspolicies/trainer`);
      await eventually(
        'policy status caught up',
        () => observed(p.metadata.generation).then((ok) => (ok ? true : undefined)),
        30_000,
      );
      // Quiet for three thresholds: the server ends each watch every second and it resumes, so nothing is
      // taken for dead.
      await new Promise((r) => setTimeout(r, 3 * FAST.quietMs));
      assert.equal(
        await restarts(metrics, 'AccessPolicy', 'silent'),
        0,
        `no silent restart while healthy: ${warnings.join('\n')}`,
      );

      await cutAndRestore(relay);
      const t0 = Date.now();
      const gen = await changePolicy(3);
      // The watch's part: the cache holds the new generation; then the reconcile writes the status.
      await eventually(
        'the change reached the cache',
        () => (op.caches.policies.get('trainer', 'ml')?.metadata.generation === gen ? true : undefined),
        ARRIVE_WITHIN_MS,
        100,
      );
      const cachedMs = Date.now() - t0;
      await eventually(
        'the change reached the status',
        () => observed(gen).then((ok) => (ok ? true : undefined)),
        ARRIVE_WITHIN_MS,
        200,
      );
      const tookMs = Date.now() - t0;
      assert.ok((await restarts(metrics, 'AccessPolicy', 'silent')) >= 1, 'the silent restart is counted');
      assert.ok(
        warnings.some((w) => w.startsWith('Restarting silent watch') && w.includes('"kind":"AccessPolicy"')),
        `logged: ${warnings.join('\n')}`,
      );
      process.stdout.write(
        `# after the restore, the change reached the cache in ${cachedMs} ms, the status in ${tookMs} ms\n`,
      );
    } finally {
      await op.stop();
      await relay.close();
    }
  });
});
