// Status conditions, as k8s.io/apimachinery/pkg/api/meta/conditions.go SetStatusCondition: one entry
// per type; lastTransitionTime changes only when status does, so "since when is it broken?" stays true.
import { kubeTime } from '../../policy/identity.ts';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export function setCondition(
  conditions: readonly Condition[],
  c: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const old = conditions.find((x) => x.type === c.type);
  const next: Condition = {
    ...c,
    lastTransitionTime: old !== undefined && old.status === c.status ? old.lastTransitionTime : kubeTime(now),
  };
  return [...conditions.filter((x) => x.type !== c.type), next].sort((a, b) =>
    a.type < b.type ? -1 : a.type > b.type ? 1 : 0,
  );
}

/** Messages go to status where `kubectl describe` shows them: bound them (a long issue list stays readable). */
export function boundedMessage(lines: readonly string[], maxBytes = 4096): string {
  let out = '';
  for (const [i, l] of lines.entries()) {
    const next = out === '' ? l : `${out}; ${l}`;
    if (next.length > maxBytes) return `${out}; … and ${lines.length - i} more`;
    out = next;
  }
  return out;
}

/**
 * Ready reasons that resolve by themselves once something else appears (a Secret synced by another
 * tool a moment later): kstatus reads them as in progress (Reconciling=True). Every other Ready=False
 * needs a person to change a spec, so it is Stalled=True, which kstatus (and so Flux's `wait`, kpt,
 * cli-utils' apply) reads as Failed at once instead of waiting for a timeout.
 */
export const WAITING_REASONS: ReadonlySet<string> = new Set(['SecretNotFound']);

/**
 * Ready plus the abnormal-true conditions kstatus reads (sigs.k8s.io/cli-utils/pkg/kstatus, "Reconciling"
 * and "Stalled"): present only while they are True, as that convention asks, so a healthy object carries
 * Ready alone. Each mirrors Ready's reason, message and observedGeneration.
 */
export function setReady(
  conditions: readonly Condition[],
  ready: Omit<Condition, 'lastTransitionTime' | 'type'>,
  now: Date,
): Condition[] {
  let next = setCondition(conditions, { ...ready, type: 'Ready' }, now);
  const progress = ready.status === 'True' ? null : WAITING_REASONS.has(ready.reason) ? 'Reconciling' : 'Stalled';
  for (const type of ['Reconciling', 'Stalled']) {
    if (type === progress) next = setCondition(next, { ...ready, type, status: 'True' }, now);
    else next = next.filter((c) => c.type !== type);
  }
  return next;
}
