import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../pod.ts';
import { appContainersDone } from './lifecycle.ts';

const pod = (restartPolicy: string, states: Record<string, number | null>, native = false): Pod => ({
  metadata: { name: 'p', namespace: 'ml' },
  spec: {
    restartPolicy,
    containers: [
      { name: 'train', image: 'a' },
      { name: 'eval', image: 'b' },
      ...(native ? [] : [{ name: 'airlock-proxy-orders', image: 'airlock' }]),
    ],
    ...(native
      ? { initContainers: [{ name: 'airlock-proxy-orders', image: 'airlock', restartPolicy: 'Always' }] }
      : {}),
  },
  status: {
    containerStatuses: Object.entries(states).map(([name, code]) => ({
      name,
      state: code === null ? { running: {} } : { terminated: { exitCode: code } },
    })),
  },
});

const rows: [string, Pod, boolean][] = [
  ['Never, all app containers terminated', pod('Never', { train: 0, eval: 1, 'airlock-proxy-orders': null }), true],
  ['Never, one still running', pod('Never', { train: 0, eval: null }), false],
  ['Never, one not started (no status)', pod('Never', { train: 0 }), false],
  ['OnFailure, all succeeded', pod('OnFailure', { train: 0, eval: 0 }), true],
  ['OnFailure, one failed: it will be restarted', pod('OnFailure', { train: 0, eval: 2 }), false],
  ['Always (a Deployment): never', pod('Always', { train: 0, eval: 0 }), false],
  ['native sidecar: the kubelet handles it', pod('Never', { train: 0, eval: 0 }, true), false],
];
for (const [name, p, want] of rows) test(name, () => assert.equal(appContainersDone(p), want));
