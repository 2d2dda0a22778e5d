// Kubernetes LabelSelector semantics (k8s.io/apimachinery/pkg/labels/selector.go), pure.
// matchLabels and every matchExpressions requirement are ANDed. A requirement this code does not
// understand (unknown operator, In/NotIn without values, Exists with values) matches nothing: the
// apiserver would have rejected such a selector, and an unclear selector must not widen injection.

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: unknown[];
}

function requirementMatches(req: unknown, labels: Readonly<Record<string, string>>): boolean {
  if (req === null || typeof req !== 'object') return false;
  const r = req as { key?: unknown; operator?: unknown; values?: unknown };
  if (typeof r.key !== 'string' || r.key === '') return false;
  const values = r.values === undefined ? [] : r.values;
  if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) return false;
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case 'In':
      return values.length > 0 && has && values.includes(labels[r.key] as string);
    // NotIn matches a pod without the label too (selector.go: `!ls.Has(r.key) || !r.values.Has(...)`).
    case 'NotIn':
      return values.length > 0 && (!has || !values.includes(labels[r.key] as string));
    case 'Exists':
      return values.length === 0 && has;
    case 'DoesNotExist':
      return values.length === 0 && !has;
    default:
      return false;
  }
}

/**
 * True when `labels` satisfy `selector`. `undefined` selects nothing (a DatabaseBinding without a
 * workloadSelector injects into no pod — injecting into a whole namespace must be asked for, with `{}`);
 * `{}` selects everything, as a Kubernetes LabelSelector does.
 */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (selector === undefined || selector === null) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    if (!requirementMatches(req, labels)) return false;
  }
  return true;
}
