// Who a session is, and whether an RBAC-style subject names it. Conventions are Kubernetes':
// https://kubernetes.io/docs/reference/access-authn-authz/authentication/#users-in-kubernetes and
// https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects
import type { Identity, Subject } from './types.ts';

const SA_PREFIX = 'system:serviceaccount:';

/** `system:serviceaccount:NS:NAME` → { namespace, name }; anything else → null. */
export function parseServiceAccount(user: string): { namespace: string; name: string } | null {
  if (!user.startsWith(SA_PREFIX)) return null;
  const rest = user.slice(SA_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1 || rest.indexOf(':', colon + 1) !== -1) return null;
  return { namespace: rest.slice(0, colon), name: rest.slice(colon + 1) };
}

/**
 * The identity as the apiserver would authenticate it. A ServiceAccount user is also in the groups
 * `system:serviceaccounts`, `system:serviceaccounts:NS` and `system:authenticated`; every
 * authenticated user is in `system:authenticated`. Explicit groups are kept, duplicates dropped.
 */
export function makeIdentity(user: string, groups: readonly string[] = []): Identity {
  const all = new Set(groups);
  const sa = parseServiceAccount(user);
  if (sa !== null) {
    all.add('system:serviceaccounts');
    all.add(`system:serviceaccounts:${sa.namespace}`);
  }
  all.add('system:authenticated');
  return Object.freeze({ user, groups: Object.freeze([...all]) });
}

/**
 * Does `subject` name `identity`? ServiceAccount: namespace and name (a subject without a namespace
 * takes `defaultNamespace`, the policy's own, as RoleBindings do); User: the exact user name;
 * Group: one of identity.groups. The implicit ServiceAccount groups count even when the caller built
 * the identity by hand.
 */
export function subjectMatches(subject: Subject, identity: Identity, defaultNamespace?: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === identity.user;
    case 'ServiceAccount': {
      const sa = parseServiceAccount(identity.user);
      const ns = subject.namespace ?? defaultNamespace;
      return sa !== null && ns !== undefined && sa.namespace === ns && sa.name === subject.name;
    }
    case 'Group': {
      if (identity.groups.includes(subject.name)) return true;
      const sa = parseServiceAccount(identity.user);
      if (subject.name === 'system:authenticated') return true;
      return (
        sa !== null
        && (subject.name === 'system:serviceaccounts' || subject.name === `system:serviceaccounts:${sa.namespace}`)
      );
    }
    default:
      return false; // unknown kind: never matches (fail closed)
  }
}

/**
 * The Kubernetes user name a ServiceAccount or User subject is (a ServiceAccount without a namespace takes
 * `defaultNamespace`, as in RoleBindings); null for a Group, which is no single user.
 */
export function subjectUserName(s: Subject, defaultNamespace: string | undefined): string | null {
  if (s.kind === 'ServiceAccount') return `${SA_PREFIX}${s.namespace ?? defaultNamespace}:${s.name}`;
  return s.kind === 'User' ? s.name : null;
}

/** RFC 3339 in whole seconds, as the apiserver writes every timestamp. */
export function kubeTime(d: Date | number): string {
  return (typeof d === 'number' ? new Date(d) : d).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** For messages: `ServiceAccount ml/trainer`, `User alice@example.com`, `Group dba`. */
export function describeSubject(s: Subject): string {
  return s.kind === 'ServiceAccount' && s.namespace !== undefined
    ? `${s.kind} ${s.namespace}/${s.name}`
    : `${s.kind} ${s.name}`;
}
