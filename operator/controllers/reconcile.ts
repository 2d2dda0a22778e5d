// The reconcilers, one per Kind, level-based (style.md §5): read everything from the caches, compute,
// write status once, and only when it differs. Throw → retried with backoff by the work queue (queue.ts).
import type { AccessPolicy, AccessRequest, DatabaseBinding, Secret } from '../../policy/types.ts';
import type { DistributionServer } from '../distribution/server.ts';
import type { Snapshot } from '../../distribution/types.ts';
import type { KubeClient } from '../kube.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { Recorder } from '../record.ts';
import { ANNOTATION_INJECTED } from '../pod.ts';
import type { Pod } from '../pod.ts';
import type { Watched } from './informers.ts';
import type { SecretCache } from './secrets.ts';
import { boundedMessage, setReady } from './conditions.ts';
import type { Condition } from './conditions.ts';
import { computeSnapshot } from './snapshot.ts';
import { policyProblems } from './validity.ts';

export interface Caches {
  readonly bindings: Watched<
    DatabaseBinding & { status?: { conditions?: Condition[]; observedGeneration?: number; injectedPods?: number } }
  >;
  readonly policies: Watched<
    AccessPolicy & { status?: { conditions?: Condition[]; observedGeneration?: number; compiledRules?: number } }
  >;
  readonly requests: Watched<AccessRequest>;
  /** Only the Secrets bindings name, each watched by name (secrets.ts). */
  readonly secrets: SecretCache;
  readonly pods: Watched<Pod & { metadata: { name: string; namespace: string } }>;
}

export interface ReconcileDeps {
  readonly caches: Caches;
  readonly kube: KubeClient;
  readonly distribution: DistributionServer;
  readonly log: Logger;
  readonly now: () => Date;
  /** JSON of the last snapshot published per binding: republish only on change. */
  readonly published: Map<string, string>;
  /**
   * True on the replica holding the leader-election Lease (always, when election is off). Only it writes
   * to the apiserver (status, Events); every replica still computes and publishes snapshots to the
   * sidecars connected to it. operator/DESIGN.md, "Leader election".
   */
  readonly isLeader: () => boolean;
  /** Events and spans of the operator's actions (record.ts); leader-only, like status. Absent: none. */
  readonly recorder?: Recorder;
  readonly metrics?: Pick<OperatorMetrics, 'snapshotPublished'>;
}

const GROUP_PATH = '/apis/airlock.dev/v1alpha1';

/** True when the status was written (false: not the leader, or the object is gone). */
async function patchStatus(
  deps: ReconcileDeps,
  plural: string,
  ns: string,
  name: string,
  status: Record<string, unknown>,
): Promise<boolean> {
  if (!deps.isLeader()) return false; // the leader writes; on taking over it re-enqueues everything
  const r = await deps.kube.call(
    'PATCH',
    `${GROUP_PATH}/namespaces/${ns}/${plural}/${name}/status`,
    { status },
    'application/merge-patch+json',
  );
  if (r.status === 404) return false; // deleted meanwhile: nothing to report on
  if (r.status < 200 || r.status >= 300)
    throw new Error(`PATCH ${plural} ${ns}/${name} status: HTTP ${r.status}: ${r.body?.message ?? ''}`);
  return true;
}

function sameConditions(a: readonly Condition[] | undefined, b: readonly Condition[]): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b);
}

export async function reconcileBinding(deps: ReconcileDeps, ns: string, name: string): Promise<void> {
  const ref = { namespace: ns, name };
  const key = `${ns}/${name}`;
  const b = deps.caches.bindings.get(name, ns);
  if (b === undefined) {
    deps.caches.secrets.untrack(`binding/${key}`);
    if (deps.published.delete(key)) deps.distribution.remove(ref, `DatabaseBinding ${key} was deleted`);
    return;
  }
  // The Secrets this binding names, and only those, are watched (by name) from now on.
  const names = [b.spec.credentialsSecretRef?.name ?? '', b.spec.tls?.caSecretRef?.name ?? ''];
  await deps.caches.secrets.track(`binding/${key}`, ns, names);
  const secrets: Secret[] = [];
  for (const n of names) {
    const s = n === '' ? undefined : deps.caches.secrets.get(n, ns);
    if (s !== undefined) secrets.push(s);
  }
  const result = computeSnapshot({
    binding: b,
    policies: deps.caches.policies.list(ns),
    secrets,
    requests: deps.caches.requests.list(ns),
    nowMs: deps.now().getTime(),
  });
  if ('snapshot' in result) {
    const json = JSON.stringify(result.snapshot);
    if (deps.published.get(key) !== json) {
      deps.published.set(key, json);
      const sent = deps.distribution.publish(ref, result.snapshot as Snapshot);
      const policies = result.snapshot.policySet.policies.length;
      deps.log.info('Published policy', { kind: 'DatabaseBinding', binding: key, policies });
      deps.metrics?.snapshotPublished();
      // Every replica publishes to its own streams; the leader alone says so, counting only its streams.
      if (deps.isLeader()) {
        deps.recorder?.action({
          action: 'PolicyPushed',
          type: 'Normal',
          note: `Published policy version ${sent.version} (${policies} AccessPolicies) to ${sent.streams} sidecar stream(s)`,
          regarding: {
            apiVersion: 'airlock.dev/v1alpha1',
            kind: 'DatabaseBinding',
            namespace: ns,
            name,
            ...(b.metadata.uid ? { uid: b.metadata.uid } : {}),
          },
          attributes: {
            'airlock.policies': policies,
            'airlock.version': sent.version,
            'airlock.sidecar_streams': sent.streams,
          },
        });
      }
    }
  }
  const prefix = `${name}@`;
  const injectedPods = deps.caches.pods
    .list(ns)
    .filter((p) =>
      (p.metadata.annotations?.[ANNOTATION_INJECTED] ?? '').split(',').some((x) => x.startsWith(prefix)),
    ).length;
  const gen = b.metadata.generation ?? 0;
  const conditions = setReady(
    b.status?.conditions ?? [],
    'problem' in result
      ? {
          status: 'False',
          reason: result.problem.reason,
          message: boundedMessage(result.problem.lines),
          observedGeneration: gen,
        }
      : { status: 'True', reason: 'Compiled', message: 'Binding compiled and distributed', observedGeneration: gen },
    deps.now(),
  );
  if (
    sameConditions(b.status?.conditions, conditions)
    && b.status?.observedGeneration === gen
    && b.status?.injectedPods === injectedPods
  )
    return;
  await patchStatus(deps, 'databasebindings', ns, name, { conditions, observedGeneration: gen, injectedPods });
}

export async function reconcilePolicy(deps: ReconcileDeps, ns: string, name: string): Promise<void> {
  const p = deps.caches.policies.get(name, ns);
  if (p === undefined) return;
  const problems = policyProblems(p);
  const gen = p.metadata.generation ?? 0;
  const conditions = setReady(
    p.status?.conditions ?? [],
    problems.length > 0
      ? { status: 'False', reason: 'InvalidSpec', message: boundedMessage(problems), observedGeneration: gen }
      : { status: 'True', reason: 'Compiled', message: 'Policy compiled', observedGeneration: gen },
    deps.now(),
  );
  const compiledRules = problems.length > 0 ? 0 : p.spec.rules.length;
  if (
    sameConditions(p.status?.conditions, conditions)
    && p.status?.observedGeneration === gen
    && p.status?.compiledRules === compiledRules
  )
    return;
  // status.violations count what *this* version would deny (staging): the write that observes a new
  // generation starts them from zero (merge patch: null removes). controllers/violations.ts holds its
  // deltas until the generation is observed, so none are added to the old version's counts.
  const reset = p.status?.observedGeneration !== gen ? { violations: null } : {};
  const written = await patchStatus(deps, 'accesspolicies', ns, name, {
    conditions,
    observedGeneration: gen,
    compiledRules,
    ...reset,
  });
  // Only on a transition (Ready's status or observed generation changed), so a resync or a status-only
  // change never repeats the Event; record.ts folds any repeat that gets through anyway.
  const before = p.status?.conditions?.find((c) => c.type === 'Ready');
  if (!written || (before?.status === (problems.length > 0 ? 'False' : 'True') && before.observedGeneration === gen))
    return;
  deps.recorder?.action({
    ...(problems.length > 0
      ? { action: 'PolicyRejected', type: 'Warning', note: boundedMessage(problems, 1024) }
      : { action: 'PolicyCompiled', type: 'Normal', note: `Compiled ${compiledRules} rule(s) of generation ${gen}` }),
    regarding: {
      apiVersion: 'airlock.dev/v1alpha1',
      kind: 'AccessPolicy',
      namespace: ns,
      name,
      ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
    },
    attributes: { 'airlock.generation': gen, 'airlock.rules': compiledRules, 'airlock.mode': p.spec.mode ?? 'enforce' },
  });
}
