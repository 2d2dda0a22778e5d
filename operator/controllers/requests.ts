// AccessRequest phases (design.md "AccessRequest — just-in-time access and approvals"). Pure: the request,
// the namespace's AccessPolicies and the time in; the status the request should have out. The reconciler
// (reconcileRequest, below) writes it; the binding reconciler turns Approved requests into grants.
//
// Who may append an approval at all is checked at admission (operator/webhook/accessrequest.ts: the entry's
// approver and groups are stamped from the authenticated user, the RBAC verb `approve` is checked with a
// SubjectAccessReview, requesters are refused). Here the entries are judged against the policies: an
// approval counts only when its approver is one of the governing policies' `approval.approvers`, and never
// when it is the requester's or the subject's own (checked again: status can be written by anyone with
// update on the subresource when the webhook is not installed).
import { compile } from '../../policy/compile.ts';
import { DEFAULT_MAX_DURATION_MS, selectFor } from '../../policy/compile.ts';
import { parseDuration } from '../../policy/duration.ts';
import {
  describeSubject,
  kubeTime,
  makeIdentity,
  parseServiceAccount,
  subjectMatches,
  subjectUserName,
} from '../../policy/identity.ts';
import type { KubeClient } from '../kube.ts';
import type { OperatorAction, Recorder } from '../record.ts';
import type { Logger } from '../log.ts';
import { policyProblems } from './validity.ts';
import { UNSTAMPED_APPROVER } from '../../policy/types.ts';
import type {
  AccessPolicy,
  AccessRequest,
  AccessRequestApproval,
  AccessRequestPhase,
  CompiledPolicy,
  Identity,
  Subject,
} from '../../policy/types.ts';

/** A request nobody decided on ends after this (auto-created requests must not pile up in etcd forever). */
export const PENDING_TTL_MS = 24 * 3_600_000;

export interface RequestStatus {
  readonly phase: AccessRequestPhase;
  readonly expiresAt: string | null;
  readonly message: string;
}

const TERMINAL: ReadonlySet<AccessRequestPhase> = new Set(['Denied', 'Expired', 'Revoked']);

/** The Kubernetes user a request's subject names (a Group subject: `group:<name>`, never a real user). */
export function requestSubjectUser(r: AccessRequest): string {
  return subjectUserName(r.spec.subject, r.metadata.namespace) ?? `group:${r.spec.subject.name}`;
}

function subjectIdentity(r: AccessRequest): Identity {
  const s = r.spec.subject;
  // A Group subject is a request on behalf of the group: select the policies that name the group.
  return s.kind === 'Group' ? makeIdentity(`group:${s.name}`, [s.name]) : makeIdentity(requestSubjectUser(r));
}

/**
 * The policies that govern approval of `r`: valid AccessPolicies of its namespace whose subjects match the
 * request's subject, whose databases include its database, and that have an `approve` rule. (A grant is
 * only ever consulted where such a rule asks for approval — policy/decide.ts — so it cannot widen access
 * beyond what these policies allow to be approved.)
 */
export function governingPolicies(r: AccessRequest, validPolicies: readonly AccessPolicy[]): readonly CompiledPolicy[] {
  const set = compile(
    validPolicies.filter((p) => p.metadata.namespace === r.metadata.namespace),
    0,
  );
  return selectFor(set, subjectIdentity(r), r.spec.database).policies.filter((p) =>
    p.rules.some((x) => x.effect === 'approve'),
  );
}

interface Rules {
  readonly approvers: readonly Subject[] | null;
  readonly minApprovals: number;
  readonly maxDurationMs: number;
}

/** Several governing policies: every one's approvers may approve, the strictest count and duration hold. */
function approvalRules(governing: readonly CompiledPolicy[]): Rules {
  let approvers: Subject[] | null = null;
  let min = 1;
  let max = Number.POSITIVE_INFINITY;
  for (const p of governing) {
    const a = p.approval;
    if (a === null) {
      max = Math.min(max, DEFAULT_MAX_DURATION_MS);
      continue;
    }
    (approvers ??= []).push(...a.approvers);
    min = Math.max(min, a.minApprovals);
    max = Math.min(max, a.maxDurationMs);
  }
  return { approvers, minApprovals: min, maxDurationMs: Number.isFinite(max) ? max : DEFAULT_MAX_DURATION_MS };
}

function describeApprovers(rules: Rules): string {
  return rules.approvers === null
    ? 'anyone allowed to approve AccessRequests'
    : rules.approvers.map(describeSubject).join(', ');
}

/** Why an approval entry does not count, or null when it does. */
function disqualified(a: AccessRequestApproval, r: AccessRequest, rules: Rules): string | null {
  if (a.approver === UNSTAMPED_APPROVER || a.approver === '')
    return 'an approval the admission webhook never stamped (is it installed?)';
  if (a.approver === r.spec.requestedBy || a.approver === requestSubjectUser(r)) return `${a.approver} requested it`;
  if (rules.approvers === null) return null;
  const who = makeIdentity(a.approver, a.groups ?? []);
  const ns = r.metadata.namespace;
  return rules.approvers.some((s) => subjectMatches(s, who, ns))
    ? null
    : `${a.approver} is not an approver of the governing AccessPolicy`;
}

export function computeRequestStatus(
  r: AccessRequest,
  validPolicies: readonly AccessPolicy[],
  nowMs: number,
): RequestStatus {
  const prev = r.status;
  const phase = prev?.phase ?? 'Pending';
  if (TERMINAL.has(phase)) return { phase, expiresAt: prev?.expiresAt ?? null, message: prev?.message ?? '' };
  const approvals = prev?.approvals ?? [];
  const revoke = approvals.find((a) => a.decision === 'Revoke');
  if (revoke !== undefined) {
    return {
      phase: 'Revoked',
      expiresAt: prev?.expiresAt ?? null,
      message: `revoked by ${revoke.approver} at ${revoke.at}${revoke.comment ? `: ${revoke.comment}` : ''}`,
    };
  }
  if (phase === 'Approved' && prev?.expiresAt !== undefined) {
    // Decided: the approval stands until it expires, whatever the policies say now (a policy that no
    // longer has the approve rule simply never consults the grant).
    const exp = Date.parse(prev.expiresAt);
    if (!(exp > nowMs)) return { phase: 'Expired', expiresAt: prev.expiresAt, message: `expired at ${prev.expiresAt}` };
    return { phase: 'Approved', expiresAt: prev.expiresAt, message: prev.message ?? '' };
  }
  const created = Date.parse(r.metadata.creationTimestamp ?? '') || nowMs;
  const governing = governingPolicies(r, validPolicies);
  if (governing.length === 0) {
    return {
      phase: 'Denied',
      expiresAt: null,
      message: `no AccessPolicy in ${r.metadata.namespace} has an approve rule for ${describeSubject(r.spec.subject)} on database "${r.spec.database}"; there is nothing to approve`,
    };
  }
  const rules = approvalRules(governing);
  const counted: AccessRequestApproval[] = [];
  const seen = new Set<string>();
  const ignored: string[] = [];
  for (const a of approvals) {
    const why = disqualified(a, r, rules);
    if (why !== null) {
      ignored.push(why);
      continue;
    }
    if (a.decision === 'Deny') {
      return {
        phase: 'Denied',
        expiresAt: null,
        message: `denied by ${a.approver} at ${a.at}${a.comment ? `: ${a.comment}` : ''}`,
      };
    }
    if (a.decision === 'Approve' && !seen.has(a.approver)) {
      seen.add(a.approver);
      counted.push(a);
    }
  }
  if (counted.length >= rules.minApprovals) {
    const decisive = [...counted].sort((x, y) => Date.parse(x.at) - Date.parse(y.at))[
      rules.minApprovals - 1
    ] as AccessRequestApproval;
    const asked = r.spec.duration === undefined ? null : parseDuration(r.spec.duration);
    const duration = Math.min(asked ?? rules.maxDurationMs, rules.maxDurationMs);
    const at = Date.parse(decisive.at);
    const exp = (Number.isFinite(at) ? at : nowMs) + duration;
    const capped =
      asked !== null && asked > rules.maxDurationMs ? ` (capped by maxDuration from ${r.spec.duration})` : '';
    if (!(exp > nowMs)) return { phase: 'Expired', expiresAt: kubeTime(exp), message: `expired at ${kubeTime(exp)}` };
    return {
      phase: 'Approved',
      expiresAt: kubeTime(exp),
      message: `approved by ${counted.map((a) => a.approver).join(', ')}; access until ${kubeTime(exp)}${capped}`,
    };
  }
  if (nowMs - created >= PENDING_TTL_MS) {
    return { phase: 'Expired', expiresAt: null, message: `not approved within ${PENDING_TTL_MS / 3_600_000} h` };
  }
  const need = rules.minApprovals - counted.length;
  const ign = ignored.length > 0 ? `; not counted: ${[...new Set(ignored)].join('; ')}` : '';
  return {
    phase: 'Pending',
    expiresAt: null,
    message: `waiting for ${need} more approval${need === 1 ? '' : 's'} from ${describeApprovers(rules)}${ign}`,
  };
}

/** When the status computed now changes by itself (expiry, pending TTL): the reconciler requeues then. */
export function nextChangeMs(r: AccessRequest, s: RequestStatus): number | null {
  if (s.phase === 'Approved' && s.expiresAt !== null) return Date.parse(s.expiresAt);
  if (s.phase === 'Pending') return (Date.parse(r.metadata.creationTimestamp ?? '') || Date.now()) + PENDING_TTL_MS;
  return null;
}

// ---------------------------------------------------------------------------------------------
// The reconciler, and RequestAccess (a sidecar asking for approval of one statement).

export interface RequestDeps {
  readonly requests: {
    get(name: string, ns?: string): AccessRequest | undefined;
    list(ns?: string): readonly AccessRequest[];
  };
  readonly policies: { list(ns?: string): readonly AccessPolicy[] };
  readonly kube: KubeClient;
  readonly log: Logger;
  readonly now: () => Date;
  /** Only the Lease holder writes status (operator/leader.ts); absent = always. */
  readonly isLeader?: () => boolean;
  readonly recorder?: Pick<Recorder, 'action'>;
  /** Reconcile this request again at that time (expiry, pending TTL). */
  readonly requeueAt: (ns: string, name: string, atMs: number) => void;
}

const ACTION_OF: Record<AccessRequestPhase, OperatorAction> = {
  Pending: 'AccessRequested',
  Approved: 'AccessGranted',
  Denied: 'AccessDenied',
  Revoked: 'AccessRevoked',
  Expired: 'AccessExpired',
};

export async function reconcileRequest(deps: RequestDeps, ns: string, name: string): Promise<void> {
  const r = deps.requests.get(name, ns);
  if (r === undefined) return;
  const nowMs = deps.now().getTime();
  const valid = deps.policies.list(ns).filter((p) => policyProblems(p).length === 0);
  const s = computeRequestStatus(r, valid, nowMs);
  const next = nextChangeMs(r, s);
  if (next !== null) deps.requeueAt(ns, name, next);
  const gen = r.metadata.generation ?? 0;
  const prev = r.status;
  if (
    prev?.phase === s.phase
    && (prev.expiresAt ?? null) === s.expiresAt
    && (prev.message ?? '') === s.message
    && prev.observedGeneration === gen
  )
    return;
  if (deps.isLeader !== undefined && !deps.isLeader()) return;
  const res = await deps.kube.call(
    'PATCH',
    `/apis/airlock.dev/v1alpha1/namespaces/${ns}/accessrequests/${name}/status`,
    { status: { phase: s.phase, expiresAt: s.expiresAt, message: s.message, observedGeneration: gen } },
    'application/merge-patch+json',
  );
  if (res.status === 404) return;
  if (res.status < 200 || res.status >= 300)
    throw new Error(`PATCH accessrequests ${ns}/${name} status: HTTP ${res.status}: ${res.body?.message ?? ''}`);
  if (prev?.phase !== s.phase) {
    deps.log.info('AccessRequest phase changed', {
      request: `${ns}/${name}`,
      from: prev?.phase ?? null,
      to: s.phase,
      message: s.message,
    });
    deps.recorder?.action({
      action: ACTION_OF[s.phase],
      type: s.phase === 'Denied' ? 'Warning' : 'Normal',
      note: s.message || `AccessRequest is ${s.phase}`,
      regarding: {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessRequest',
        namespace: ns,
        name,
        ...(r.metadata.uid === undefined ? {} : { uid: r.metadata.uid }),
      },
      attributes: {
        'airlock.subject': requestSubjectUser(r),
        'airlock.database': r.spec.database,
        ...(s.expiresAt === null ? {} : { 'airlock.expires_at': s.expiresAt }),
      },
    });
  }
}

/** Longest statement a sidecar may ask approval for: the AccessRequest must stay a small object. */
export const MAX_INTENT_STATEMENT_BYTES = 16 * 1024;
/** Open (Pending) requests one subject may have created through its sidecars, per namespace. */
export const MAX_PENDING_PER_SUBJECT = 20;

export class IntentError extends Error {
  readonly kind: 'invalid' | 'exhausted';
  constructor(kind: 'invalid' | 'exhausted', message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * RequestAccess: the AccessRequest for `statement` on behalf of the sidecar's ServiceAccount `user` —
 * the pending (or approved) one for the same statement when there is one, else a new one. The subject
 * is the token's ServiceAccount, never something the sidecar says.
 */
export async function requestAccessFor(
  deps: RequestDeps,
  user: string,
  pod: string | null,
  binding: { namespace: string; name: string },
  intent: { statement: string; policy: string; rule: string },
): Promise<{ namespace: string; name: string; phase: string }> {
  const sa = parseServiceAccount(user);
  if (sa === null || sa.namespace !== binding.namespace)
    throw new IntentError(
      'invalid',
      `only a ServiceAccount of namespace ${binding.namespace} may request access there`,
    );
  if (intent.statement.trim() === '') throw new IntentError('invalid', 'statement is empty');
  if (Buffer.byteLength(intent.statement) > MAX_INTENT_STATEMENT_BYTES)
    throw new IntentError(
      'invalid',
      `statement is longer than ${MAX_INTENT_STATEMENT_BYTES} bytes; ask for rules with \`airlock request create\` instead`,
    );
  const mine = deps.requests
    .list(binding.namespace)
    .filter((r) => r.spec.database === binding.name && requestSubjectUser(r) === user);
  const same = mine.find((r) => r.spec.statement === intent.statement && (r.status?.phase ?? 'Pending') === 'Pending');
  if (same !== undefined) return { namespace: binding.namespace, name: same.metadata.name, phase: 'Pending' };
  if (mine.filter((r) => (r.status?.phase ?? 'Pending') === 'Pending').length >= MAX_PENDING_PER_SUBJECT) {
    throw new IntentError(
      'exhausted',
      `${user} already has ${MAX_PENDING_PER_SUBJECT} pending AccessRequests for ${binding.name}; decide or delete some first`,
    );
  }
  const body = {
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'AccessRequest',
    metadata: {
      generateName: 'ar-',
      namespace: binding.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'airlock', 'airlock.dev/created-by': 'sidecar' },
      ...(pod === null ? {} : { annotations: { 'airlock.dev/pod': pod } }),
    },
    spec: {
      subject: { kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace },
      database: binding.name,
      statement: intent.statement,
      reason: `statement hit rule "${intent.rule}" of AccessPolicy ${intent.policy}${pod === null ? '' : ` in pod ${pod}`}`,
      requestedBy: user,
    },
  };
  const res = await deps.kube.call(
    'POST',
    `/apis/airlock.dev/v1alpha1/namespaces/${binding.namespace}/accessrequests`,
    body,
  );
  if (res.status < 200 || res.status >= 300)
    throw new Error(`create AccessRequest in ${binding.namespace}: HTTP ${res.status}: ${res.body?.message ?? ''}`);
  const created = res.body as AccessRequest;
  deps.log.info('Created AccessRequest for a sidecar', {
    request: `${binding.namespace}/${created.metadata.name}`,
    subject: user,
    pod,
    policy: intent.policy,
    rule: intent.rule,
  });
  return { namespace: binding.namespace, name: created.metadata.name, phase: 'Pending' };
}
