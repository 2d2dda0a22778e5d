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

export function setCondition(conditions: readonly Condition[], c: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  const old = conditions.find((x) => x.type === c.type);
  const next: Condition = {
    ...c,
    lastTransitionTime: old !== undefined && old.status === c.status ? old.lastTransitionTime : kubeTime(now),
  };
  return [...conditions.filter((x) => x.type !== c.type), next].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
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
