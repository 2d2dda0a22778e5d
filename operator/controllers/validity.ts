// Whether a cached object is valid, as the apiserver's admission would judge it: shared by the binding
// snapshot (snapshot.ts), the binding reconciler and the AccessRequest reconciler (requests.ts); its own module
// so that requests.ts and snapshot.ts do not import each other. Pure.
import { formatIssues, validate } from '../../policy/validate.ts';
import type { AccessPolicy } from '../../policy/types.ts';

/** The fields validation reads: the apiserver adds uid, managedFields, … and status, which are not ours to judge. */
export function forValidation<
  T extends { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec: unknown },
>(o: T): unknown {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: o.metadata.name,
      ...(o.metadata.namespace === undefined ? {} : { namespace: o.metadata.namespace }),
    },
    spec: o.spec,
  };
}

export function policyProblems(p: AccessPolicy): string[] {
  const doc = forValidation(p);
  return formatIssues('', doc, validate(doc));
}
