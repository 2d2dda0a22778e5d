// Who is on the other end of a Watch stream: the sidecar's projected ServiceAccount token, checked with a
// TokenReview for audience `airlock` (design.md, "Sidecar injection"). Behind an interface so unit tests
// use a fixed map and integration tests the real apiserver.
import type { KubeClient } from '../kube.ts';
import { TOKEN_AUDIENCE } from '../pod.ts';

export interface ReviewedToken {
  /** Kubernetes user name, e.g. system:serviceaccount:ml:trainer. */
  readonly user: string;
  readonly groups: readonly string[];
  /** The ServiceAccount's namespace, or null when the token is not a ServiceAccount's. */
  readonly namespace: string | null;
  /** Set for pod-bound tokens (every projected volume token): the pod the token was issued for. */
  readonly podName: string | null;
  readonly podUid: string | null;
}

export interface TokenReviewer {
  /** null: not authenticated. Throws when the review itself could not be made (the caller says UNAVAILABLE). */
  review(token: string): Promise<ReviewedToken | null>;
}

const SA_PREFIX = 'system:serviceaccount:';

export function reviewed(
  user: string,
  groups: readonly string[] = [],
  extra: Readonly<Record<string, readonly string[]>> = {},
): ReviewedToken {
  let namespace: string | null = null;
  if (user.startsWith(SA_PREFIX)) {
    const rest = user.slice(SA_PREFIX.length);
    const colon = rest.indexOf(':');
    if (colon > 0 && colon < rest.length - 1) namespace = rest.slice(0, colon);
  }
  return {
    user,
    groups,
    namespace,
    podName: extra['authentication.kubernetes.io/pod-name']?.[0] ?? null,
    podUid: extra['authentication.kubernetes.io/pod-uid']?.[0] ?? null,
  };
}

/** For tests and local runs: a fixed token → identity map. */
export class StaticTokenReviewer implements TokenReviewer {
  readonly #tokens: ReadonlyMap<string, ReviewedToken>;
  constructor(tokens: ReadonlyMap<string, ReviewedToken>) {
    this.#tokens = tokens;
  }
  async review(token: string): Promise<ReviewedToken | null> {
    return this.#tokens.get(token) ?? null;
  }
}

/** POST authentication.k8s.io/v1 TokenReview with audiences [airlock]. */
export class KubeTokenReviewer implements TokenReviewer {
  readonly #kube: KubeClient;
  constructor(kube: KubeClient) {
    this.#kube = kube;
  }

  async review(token: string): Promise<ReviewedToken | null> {
    const r = await this.#kube.call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: [TOKEN_AUDIENCE] },
    });
    if (r.status !== 201 && r.status !== 200)
      throw new Error(`TokenReview failed: HTTP ${r.status}: ${r.body?.message ?? ''}`);
    const st = r.body?.status;
    // The apiserver answers with the audiences the token is valid for among those asked: require ours,
    // so a token minted for the apiserver itself (or any other audience) is refused.
    if (st?.authenticated !== true || !Array.isArray(st.audiences) || !st.audiences.includes(TOKEN_AUDIENCE))
      return null;
    if (typeof st.user?.username !== 'string') return null;
    return reviewed(st.user.username, Array.isArray(st.user.groups) ? st.user.groups : [], st.user.extra ?? {});
  }
}
