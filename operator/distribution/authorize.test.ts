// Who may receive a binding's credentials: rows of (token, pod) → verdict (style.md §9, decisions as data).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseBinding } from '../../policy/types.ts';
import { inject } from '../webhook/inject.ts';
import type { Pod } from '../pod.ts';
import { reviewed } from './auth.ts';
import { authorizeWatch } from './authorize.ts';

const IMAGE = 'ghcr.io/airlock-dev/airlock:0.1.0';
const binding: DatabaseBinding = {
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'DatabaseBinding',
  metadata: { name: 'orders', namespace: 'ml', generation: 1 },
  spec: {
    engine: 'postgres',
    endpoint: { host: 'pg', database: 'orders' },
    credentialsSecretRef: { name: 's' },
    workloadSelector: { matchLabels: { app: 'trainer' } },
  },
};
const plain: Pod = {
  metadata: { name: 'trainer-0', namespace: 'ml', uid: 'u1', labels: { app: 'trainer' } },
  spec: { serviceAccountName: 'trainer', containers: [{ name: 'app', image: 'app:1' }] },
};
const injected = inject(plain, [binding], {
  image: IMAGE,
  operatorAddress: 'op:9090',
  operatorNamespace: 'airlock-system',
  kubernetesMinor: 31,
}) as Pod;
const sneaky = structuredClone(injected);
(sneaky.spec!.containers[0] as Record<string, unknown>)['volumeMounts'] = [{ name: 'airlock-token', mountPath: '/t' }];
const lookalike = structuredClone(injected);
lookalike.spec!.initContainers![0]!.image = 'evil:1';
const unselected = structuredClone(injected);
unselected.metadata!.labels = { app: 'web' };

const SA = { 'authentication.kubernetes.io/pod-name': ['trainer-0'], 'authentication.kubernetes.io/pod-uid': ['u1'] };
const trainer = reviewed('system:serviceaccount:ml:trainer', [], SA);
const ref = { namespace: 'ml', name: 'orders' };

const rows: [string, ReturnType<typeof reviewed>, Pod | undefined, RegExp | null][] = [
  ['the injected sidecar of a selected pod', trainer, injected, null],
  ['a pod without the sidecar', trainer, plain, /has no airlock-proxy-orders sidecar/],
  ['a look-alike sidecar of another image', trainer, lookalike, /has no airlock-proxy-orders sidecar running/],
  [
    'an app container that mounts the airlock token',
    trainer,
    sneaky,
    /container app of pod trainer-0 mounts the airlock token volume/,
  ],
  ['a pod the binding does not select', trainer, unselected, /does not select pod trainer-0/],
  ['a token not bound to a pod', reviewed('system:serviceaccount:ml:trainer'), injected, /not bound to a pod/],
  [
    'a token of an earlier pod of the same name',
    reviewed('system:serviceaccount:ml:trainer', [], { ...SA, 'authentication.kubernetes.io/pod-uid': ['u0'] }),
    injected,
    /was replaced/,
  ],
  [
    'another ServiceAccount of the namespace',
    reviewed('system:serviceaccount:ml:other', [], SA),
    injected,
    /runs as ServiceAccount trainer/,
  ],
  ['a pod not in the cache', trainer, undefined, /not known/],
];
for (const [name, who, pod, want] of rows) {
  test(name, () => {
    const v = authorizeWatch(who, ref, [binding], pod, IMAGE);
    if (want === null) assert.deepEqual(v, { ok: true });
    else {
      assert.equal(v.ok, false);
      assert.match((v as { message: string }).message, want);
    }
  });
}
