// What one DatabaseBinding's sidecars get, computed from the informer caches. Pure: objects and the
// time in, a Snapshot or the reason there is none out. The binding reconciler publishes the first and
// writes the second to status.
import { compile, compileRule } from '../../policy/compile.ts';
import { formatIssues, validate } from '../../policy/validate.ts';
import { resolveCredentials } from '../../policy/config.ts';
import type { AccessPolicy, AccessRequest, DatabaseBinding, Secret } from '../../policy/types.ts';
import type { Snapshot } from '../../distribution/types.ts';
import { requestSubjectUser } from './requests.ts';
import { forValidation, policyProblems } from './validity.ts';

export interface Problem {
  readonly reason: string;
  readonly message: string;
  readonly lines: readonly string[];
}

/** Ended requests stay in `revoked` this long, so a sidecar that missed the moment still ends their sessions. */
export const REVOKED_RETENTION_MS = 10 * 60_000;

export interface SnapshotInputs {
  readonly binding: DatabaseBinding;
  /** AccessPolicies of the binding's namespace (all of them; the ones naming the binding are picked here). */
  readonly policies: readonly AccessPolicy[];
  /** The Secrets of the binding's namespace that it names (others may be present and are ignored). */
  readonly secrets: readonly Secret[];
  readonly requests: readonly AccessRequest[];
  readonly nowMs: number;
}

export function computeSnapshot(i: SnapshotInputs): { snapshot: Snapshot } | { problem: Problem } {
  const b = i.binding;
  const ns = b.metadata.namespace ?? '';
  const bdoc = forValidation(b);
  const bIssues = formatIssues('', bdoc, validate(bdoc));
  if (bIssues.length > 0) return { problem: { reason: 'InvalidSpec', message: bIssues.join('; '), lines: bIssues } };
  const creds = resolveCredentials(b, i.secrets);
  if (!creds.ok) {
    const reason = /^no Secret/.test(creds.error) ? 'SecretNotFound' : 'SecretInvalid';
    const m = `credentialsSecretRef: ${creds.error}`;
    return { problem: { reason, message: m, lines: [m] } };
  }
  let caPem: string | null = null;
  if (b.spec.tls?.mode === 'verify-full') {
    const ref = b.spec.tls.caSecretRef?.name ?? '';
    const s = i.secrets.find((x) => x.metadata.name === ref);
    const v =
      s?.stringData?.['ca.crt']
      ?? (s?.data?.['ca.crt'] === undefined ? undefined : Buffer.from(s.data['ca.crt'], 'base64').toString('utf8'));
    if (v === undefined || v === '') {
      const m = `tls.caSecretRef: Secret "${ref}" in namespace ${ns} has no key ca.crt`;
      return { problem: { reason: s === undefined ? 'SecretNotFound' : 'SecretInvalid', message: m, lines: [m] } };
    }
    caPem = v;
  }
  const mine = i.policies.filter((p) => p.spec.databases.includes(b.metadata.name) || p.spec.databases.includes('*'));
  // Fail closed: one invalid policy holds the whole set back. Dropping it could drop a deny rule and
  // widen access; sidecars keep their last good set meanwhile (design.md).
  const bad = mine.flatMap(policyProblems);
  if (bad.length > 0) {
    return {
      problem: {
        reason: 'PolicyInvalid',
        message: `sidecars keep their last good policy set: ${bad.join('; ')}`,
        lines: bad,
      },
    };
  }
  const sorted = [...mine].sort((a, c) =>
    a.metadata.name < c.metadata.name ? -1 : a.metadata.name > c.metadata.name ? 1 : 0,
  );
  // generation 0: the sidecar's client numbers generations (distribution/client.ts).
  const policySet = compile(sorted, 0);
  const forThis = i.requests.filter((r) => r.metadata.namespace === ns && r.spec.database === b.metadata.name);
  const grants = forThis
    .filter(
      (r) =>
        r.status?.phase === 'Approved' && r.status.expiresAt !== undefined && Date.parse(r.status.expiresAt) > i.nowMs,
    )
    .map((r) => ({
      request: r.metadata.name,
      subject: requestSubjectUser(r),
      rules: r.spec.rules === undefined ? null : r.spec.rules.map(compileRule),
      statement: r.spec.statement ?? null,
      expiresAtMs: Date.parse(r.status?.expiresAt as string),
    }));
  // When a request ended: its Revoke entry, else its expiry; unknown (e.g. denied while pending) = not listed.
  const endedAt = (r: AccessRequest): number => {
    const rv = r.status?.approvals?.find((a) => a.decision === 'Revoke');
    return Date.parse(rv?.at ?? r.status?.expiresAt ?? '');
  };
  const revoked = forThis
    .filter(
      (r) =>
        (r.status?.phase === 'Revoked'
          || r.status?.phase === 'Expired'
          || (r.status?.phase === 'Approved'
            && r.status.expiresAt !== undefined
            && Date.parse(r.status.expiresAt) <= i.nowMs))
        && endedAt(r) > i.nowMs - REVOKED_RETENTION_MS,
    )
    .map((r) => ({
      request: r.metadata.name,
      subject: requestSubjectUser(r),
      reason: r.status?.phase === 'Revoked' ? 'Revoked' : 'Expired',
    }));
  return {
    snapshot: {
      policySet,
      binding: { namespace: ns, name: b.metadata.name, generation: b.metadata.generation ?? 0, spec: b.spec },
      endpoint: {
        host: b.spec.endpoint.host,
        port: b.spec.endpoint.port ?? 5432,
        database: b.spec.endpoint.database,
        tlsMode: b.spec.tls?.mode ?? 'require',
        caPem,
      },
      credentials: { username: creds.username, password: creds.password },
      grants,
      revoked,
      shutdown: null,
    },
  };
}
