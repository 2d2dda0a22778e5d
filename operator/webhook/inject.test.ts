// inject() cases the golden pods (test/webhook/) do not spell out: the opt-in sidecar metrics flag on
// every injected sidecar, native and regular alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseBinding } from '../../policy/types.ts';
import { drainSecondsFor, inject } from './inject.ts';
import type { InjectOptions } from './inject.ts';
import { SIDECAR_MALLOC_ARENA_MAX, SIDECAR_NODE_OPTIONS, sidecarName } from '../pod.ts';
import type { Container, Pod } from '../pod.ts';

const binding = (name: string, port: number): DatabaseBinding => ({
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'DatabaseBinding',
  metadata: { name, namespace: 'ml', generation: 1 },
  spec: {
    engine: 'postgres',
    endpoint: { host: 'pg', database: name },
    credentialsSecretRef: { name: 's' },
    workloadSelector: { matchLabels: { app: 'trainer' } },
    sidecar: { port },
  },
});
const BINDINGS = [binding('orders', 5432), binding('reports', 5433)];
const POD: Pod = {
  metadata: { namespace: 'ml', labels: { app: 'trainer' } },
  spec: { containers: [{ name: 'app', image: 'app:1' }] },
};
const OPTS: InjectOptions = {
  image: 'airlock:1',
  operatorAddress: 'op:9090',
  operatorNamespace: 'airlock-system',
  kubernetesMinor: 31,
};

function sidecars(pod: Pod | undefined): Container[] {
  assert.ok(pod?.spec !== undefined, 'the pod was injected');
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  return BINDINGS.map((b) => {
    const c = all.find((x) => x.name === sidecarName(b.metadata.name));
    assert.ok(c, `sidecar for ${b.metadata.name}`);
    return c;
  });
}

test('sidecarMetrics: every injected sidecar gets --metrics, served on its own health port', () => {
  for (const kubernetesMinor of [28, 31]) {
    const out = sidecars(inject(POD, BINDINGS, { ...OPTS, kubernetesMinor, sidecarMetrics: true }));
    for (const [i, c] of out.entries()) {
      const args = c.args as string[];
      assert.equal(
        args.filter((a) => a === '--metrics').length,
        1,
        `${c.name} on 1.${kubernetesMinor}: ${args.join(' ')}`,
      );
      // /metrics shares the health listener: the scrape target is the container's `health` port.
      assert.equal(args[args.indexOf('--health-listen') + 1], `0.0.0.0:${15400 + i}`);
      assert.deepEqual(c.ports, [{ name: 'health', containerPort: 15400 + i, protocol: 'TCP' }]);
    }
  }
});

test('sidecarMetrics off or absent: no --metrics (prom-client stays unloaded in the pod)', () => {
  for (const opts of [OPTS, { ...OPTS, sidecarMetrics: false }]) {
    for (const c of sidecars(inject(POD, BINDINGS, opts)))
      assert.ok(!(c.args as string[]).includes('--metrics'), c.name);
  }
});

test('the airlock.dev/sidecar label: set with the sidecar, taken back with it (the operator watches only that label)', () => {
  const injected = inject(POD, BINDINGS, OPTS)!;
  assert.deepEqual(injected.metadata?.labels, { app: 'trainer', 'airlock.dev/sidecar': 'true' });
  // No binding selects it any more (its label changed): the injection, label included, is stripped.
  const relabelled: Pod = {
    ...injected,
    metadata: { ...injected.metadata, labels: { ...injected.metadata!.labels, app: 'other' } },
  };
  const stripped = inject(relabelled, BINDINGS, OPTS)!;
  assert.deepEqual(stripped.metadata?.labels, { app: 'other' });
  assert.equal(stripped.metadata?.annotations, undefined);
});

test("drainSecondsFor: the pod's terminationGracePeriodSeconds less 5 s (30 by default), never below 0", () => {
  assert.equal(drainSecondsFor({ containers: [] }), 25);
  assert.equal(drainSecondsFor({ containers: [], terminationGracePeriodSeconds: 120 }), 115);
  assert.equal(drainSecondsFor({ containers: [], terminationGracePeriodSeconds: 3 }), 0);
  assert.equal(drainSecondsFor({ containers: [], terminationGracePeriodSeconds: 0 }), 0);
});

test('every injected sidecar carries the V8 heap settings in NODE_OPTIONS (the entry point is node itself: no room in args) and MALLOC_ARENA_MAX', () => {
  assert.match(SIDECAR_NODE_OPTIONS, /--max-semi-space-size=\d+/);
  assert.match(SIDECAR_NODE_OPTIONS, /--max-old-space-size=\d+/);
  assert.match(SIDECAR_NODE_OPTIONS, /--expose-gc/); // proxy/run.ts collectStartupGarbage
  for (const kubernetesMinor of [28, 31]) {
    for (const c of sidecars(inject(POD, BINDINGS, { ...OPTS, kubernetesMinor }))) {
      const env = (c.env ?? []).filter((e) => e.name === 'NODE_OPTIONS' || e.name === 'MALLOC_ARENA_MAX');
      assert.deepEqual(
        env,
        [
          { name: 'NODE_OPTIONS', value: SIDECAR_NODE_OPTIONS },
          { name: 'MALLOC_ARENA_MAX', value: SIDECAR_MALLOC_ARENA_MAX },
        ],
        `${c.name} on 1.${kubernetesMinor}`,
      );
    }
  }
  // The application's own containers are not given it.
  const app = inject(POD, BINDINGS, OPTS)!.spec!.containers.find((c) => c.name === 'app')!;
  assert.ok(!(app.env ?? []).some((e) => e.name === 'NODE_OPTIONS'));
});
