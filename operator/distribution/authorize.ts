// May this token watch this binding? Pure. The credentials the operator sends let their holder bypass the
// proxy, so "any ServiceAccount of the namespace" is not enough (operator/DESIGN.md): the token must be bound to a
// pod the binding selects, that pod must run this binding's sidecar, and no other container of the pod
// may mount an `airlock`-audience token — else the application could ask for the credentials itself.
import type { DatabaseBinding } from '../../policy/types.ts';
import { TOKEN_AUDIENCE, matchingBindings, sidecarName } from '../pod.ts';
import type { Container, Pod } from '../pod.ts';
import type { ReviewedToken } from './auth.ts';
import type { BindingRef } from '../../distribution/types.ts';

export type Verdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: 'PERMISSION_DENIED' | 'NOT_FOUND'; readonly message: string };

const OK: Verdict = { ok: true };
const deny = (message: string): Verdict => ({ ok: false, code: 'PERMISSION_DENIED', message });

/**
 * `bindings`: the DatabaseBindings of the namespace (the informer cache). `pod`: the token's pod from the
 * informer cache (undefined: not in the cache), or `null` when pod checks are off (unit tests of the
 * transport only; the operator always passes the pod). `sidecarImage`: the image the webhook injects —
 * a container merely *named* like a sidecar does not count.
 */
export function authorizeWatch(
  who: ReviewedToken,
  ref: BindingRef,
  bindings: readonly DatabaseBinding[],
  pod: Pod | undefined | null,
  sidecarImage: string,
): Verdict {
  if (who.namespace === null)
    return deny(`${who.user} is not a ServiceAccount; only injected sidecars may watch policies`);
  if (who.namespace !== ref.namespace) {
    return deny(
      `ServiceAccount ${who.user} may only watch DatabaseBindings in namespace ${who.namespace}, not ${ref.namespace}`,
    );
  }
  const binding = bindings.find((b) => b.metadata.namespace === ref.namespace && b.metadata.name === ref.name);
  if (binding === undefined)
    return { ok: false, code: 'NOT_FOUND', message: `DatabaseBinding ${ref.namespace}/${ref.name} does not exist` };
  if (pod === null) return OK;
  if (who.podName === null)
    return deny(`the token of ${who.user} is not bound to a pod; use the projected token the webhook mounts`);
  if (pod === undefined) return deny(`pod ${ref.namespace}/${who.podName} is not known (yet); retry`);
  if (who.podUid !== null && pod.metadata?.['uid'] !== who.podUid)
    return deny(`pod ${ref.namespace}/${who.podName} was replaced; the token belongs to an earlier pod`);
  const sa = typeof pod.spec?.['serviceAccountName'] === 'string' ? pod.spec['serviceAccountName'] : 'default';
  if (who.user !== `system:serviceaccount:${ref.namespace}:${sa}`)
    return deny(`pod ${ref.namespace}/${who.podName} runs as ServiceAccount ${sa}, not ${who.user}`);
  const selecting = matchingBindings(
    pod,
    bindings.filter((b) => b.metadata.namespace === ref.namespace),
  );
  if (!selecting.includes(binding))
    return deny(`DatabaseBinding ${ref.namespace}/${ref.name} does not select pod ${who.podName}`);
  const sidecars = new Set(selecting.map((b) => sidecarName(b.metadata.name)));
  const containers: Container[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const isSidecar = (c: Container): boolean => sidecars.has(c.name) && c.image === sidecarImage;
  const mine = sidecarName(ref.name);
  if (!containers.some((c) => c.name === mine && isSidecar(c)))
    return deny(`pod ${who.podName} has no ${mine} sidecar running ${sidecarImage}`);
  const tokenVolumes = new Set((pod.spec?.volumes ?? []).filter(projectsAirlockToken).map((v) => v.name));
  for (const c of containers) {
    if (isSidecar(c)) continue;
    const mounts = Array.isArray(c['volumeMounts']) ? (c['volumeMounts'] as { name?: unknown }[]) : [];
    const leaked = mounts.find((m) => typeof m.name === 'string' && tokenVolumes.has(m.name));
    if (leaked !== undefined)
      return deny(
        `container ${c.name} of pod ${who.podName} mounts the airlock token volume ${String(leaked.name)}; only the sidecar may`,
      );
  }
  return OK;
}

function projectsAirlockToken(v: { [k: string]: unknown }): boolean {
  const sources = (v['projected'] as { sources?: unknown } | undefined)?.sources;
  if (!Array.isArray(sources)) return false;
  // Only a token for audience `airlock` passes the operator's TokenReview, so only such a volume matters.
  return sources.some(
    (s) =>
      (s as { serviceAccountToken?: { audience?: unknown } } | null)?.serviceAccountToken?.audience === TOKEN_AUDIENCE,
  );
}
