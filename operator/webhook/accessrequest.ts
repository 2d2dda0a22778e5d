// Admission for AccessRequests, POST /mutate-accessrequests (operator/DESIGN.md, "Approvals"). Approving is
// modelled on the CSR approval subresource: an approver appends one entry to status.approvals through the
// status subresource, and this webhook — which sees the authenticated user in request.userInfo, the only
// place a user's identity is trustworthy — stamps who did it and checks that they may:
//
//   CREATE accessrequests          spec.requestedBy := userInfo.username (a client's value is overwritten),
//                                  except for the operator's own user, which creates requests for sidecars
//                                  and names the sidecar's ServiceAccount user itself.
//   UPDATE accessrequests/status   by the operator's user: unchanged (it writes phase/expiresAt/message).
//                                  By anyone else: exactly one entry appended, nothing else changed; the
//                                  entry's approver, groups and at are stamped; Approve/Deny need RBAC verb
//                                  `approve` (SubjectAccessReview), a Pending request, an approver who is
//                                  neither requester nor subject and has not decided before; Revoke is for
//                                  the requester, the subject, or anyone allowed to approve.
//   anything else                  unchanged (spec immutability is the CRD's CEL rule `self == oldSelf`).
//
// Unlike /mutate-pods this path calls the apiserver (the SubjectAccessReview): it is async, and its
// latency does not count against the pod webhook's p99. Every refusal says what to do instead.
import { isDeepStrictEqual } from 'node:util';
import { APPROVAL_DECISIONS } from '../../policy/types.ts';
import { kubeTime, subjectUserName } from '../../policy/identity.ts';
import type { AccessRequest, AccessRequestApproval, ApprovalDecision } from '../../policy/types.ts';
import type { KubeClient } from '../kube.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { BadReview, parseEnvelope } from './review.ts';

export const ACCESS_REQUEST_WEBHOOK_PATH = '/mutate-accessrequests';
/** The schema's limit too (crds/accessrequests.airlock.dev.yaml); checked here so the message is ours. */
export const MAX_COMMENT_CHARS = 1024;

/** AdmissionReview request.userInfo (authentication.k8s.io/v1 UserInfo). */
export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** May `user` do `verb` on accessrequests.airlock.dev `namespace/name`? Rejects when it cannot tell. */
export type AccessCheck = (user: UserInfo, verb: string, namespace: string, name: string) => Promise<boolean>;

export interface AccessRequestReviewDeps {
  /** The operator's own user, system:serviceaccount:<ns>:<sa>: its writes pass unchanged. */
  readonly selfUser: string;
  readonly sar: AccessCheck;
  readonly now: () => Date;
  readonly log?: Logger;
}

export interface AccessRequestReviewResult {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

interface Parsed {
  readonly uid: string;
  readonly operation: string;
  readonly subResource: string;
  readonly namespace: string;
  readonly name: string;
  readonly user: UserInfo;
  readonly object: any;
  readonly oldObject: any;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const stringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function parseReview(text: string): Parsed {
  const req = parseEnvelope(text);
  if (req.kind?.group !== 'airlock.dev' || req.kind?.kind !== 'AccessRequest') {
    throw new BadReview(
      `request.kind is ${JSON.stringify(req.kind)}; this webhook reviews airlock.dev AccessRequests only`,
    );
  }
  if (typeof req.operation !== 'string') throw new BadReview('request.operation is missing');
  if (typeof req.namespace !== 'string' || req.namespace === '') throw new BadReview('request.namespace is missing');
  const u = req.userInfo;
  // Every request the apiserver admits is authenticated (anonymous ones as system:anonymous).
  if (!isObject(u) || typeof u.username !== 'string' || u.username === '')
    throw new BadReview('request.userInfo.username is missing');
  if (u.groups !== undefined && !stringList(u.groups))
    throw new BadReview('request.userInfo.groups is not a list of strings');
  if (u.uid !== undefined && typeof u.uid !== 'string') throw new BadReview('request.userInfo.uid is not a string');
  if (u.extra !== undefined && !(isObject(u.extra) && Object.values(u.extra).every(stringList)))
    throw new BadReview('request.userInfo.extra is not a map of string lists');
  if ((req.operation === 'CREATE' || req.operation === 'UPDATE') && !isObject(req.object))
    throw new BadReview('request.object is missing');
  if (req.operation === 'UPDATE' && !isObject(req.oldObject)) throw new BadReview('request.oldObject is missing');
  return {
    uid: req.uid,
    operation: req.operation,
    subResource: typeof req.subResource === 'string' ? req.subResource : '',
    namespace: req.namespace,
    name: typeof req.name === 'string' ? req.name : '',
    user: u as unknown as UserInfo,
    object: req.object,
    oldObject: req.oldObject,
  };
}

/** What the webhook answers: allowed, possibly with a JSONPatch, or refused with a message. */
export type Verdict =
  | { readonly allowed: true; readonly patch?: readonly { op: 'add' | 'replace'; path: string; value: unknown }[] }
  | { readonly allowed: false; readonly message: string };

const ALLOW: Verdict = { allowed: true };
const refuse = (message: string): Verdict => ({ allowed: false, message });

/** The Kubernetes user a subject is, when it is one user (a ServiceAccount or User); null for a Group. */
export function subjectUser(r: Pick<AccessRequest, 'spec' | 'metadata'>): string | null {
  return subjectUserName(r.spec.subject, r.metadata.namespace);
}

const VERB: Record<ApprovalDecision, string> = { Approve: 'approve', Deny: 'deny', Revoke: 'revoke' };
const PAST: Record<ApprovalDecision, string> = { Approve: 'approved', Deny: 'denied', Revoke: 'revoked' };

/** Why `user` counts as the request's own side (requester or subject), or null. */
function ownSide(user: UserInfo, r: AccessRequest): string | null {
  if (r.spec.requestedBy !== undefined && user.username === r.spec.requestedBy) return 'they requested it';
  if (user.username === subjectUser(r)) return 'it grants them access';
  // A Group subject grants access to every member: a member approving it approves their own access.
  if (r.spec.subject.kind === 'Group' && (user.groups ?? []).includes(r.spec.subject.name)) {
    return `they are in group ${r.spec.subject.name}, which it grants access`;
  }
  return null;
}

/** The review of an UPDATE on accessrequests/status by someone other than the operator. */
async function reviewApproval(p: Parsed, deps: AccessRequestReviewDeps): Promise<Verdict> {
  const who = p.user.username;
  const what = `AccessRequest ${p.namespace}/${p.name}`;
  const old = p.oldObject as AccessRequest;
  const before: Record<string, unknown> = isObject(old.status) ? old.status : {};
  const after: Record<string, unknown> = isObject(p.object.status) ? p.object.status : {};
  if (isDeepStrictEqual(before, after)) return ALLOW; // a no-op write changes nothing to check
  const HOW = 'append one entry to status.approvals (airlock request approve|deny|revoke)';
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key !== 'approvals' && !isDeepStrictEqual(before[key], after[key])) {
      return refuse(`${who} may not change status.${key} of ${what}: only the Airlock operator sets it; ${HOW}`);
    }
  }
  const had = Array.isArray(before.approvals) ? (before.approvals as AccessRequestApproval[]) : [];
  const has = Array.isArray(after.approvals) ? (after.approvals as unknown[]) : [];
  if (has.length < had.length || !had.every((e, i) => isDeepStrictEqual(e, has[i]))) {
    return refuse(
      `${who} may not change or remove existing status.approvals entries of ${what}: entries are permanent; ${HOW}`,
    );
  }
  if (has.length !== had.length + 1) {
    return refuse(
      `${who} may not append ${has.length - had.length} entries to status.approvals of ${what} at once; append exactly one`,
    );
  }
  const entry = has[had.length];
  const at = `status.approvals[${had.length}]`;
  if (!isObject(entry)) return refuse(`${at} of ${what} must be an object { decision, comment? }`);
  const decision = entry.decision;
  if (typeof decision !== 'string' || !(APPROVAL_DECISIONS as readonly string[]).includes(decision)) {
    return refuse(
      `${at}.decision of ${what} must be one of ${APPROVAL_DECISIONS.join(', ')}; got ${JSON.stringify(decision ?? null)}`,
    );
  }
  const d = decision as ApprovalDecision;
  const comment = entry.comment;
  if (comment !== undefined && typeof comment !== 'string') return refuse(`${at}.comment of ${what} must be a string`);
  if (typeof comment === 'string' && comment.length > MAX_COMMENT_CHARS) {
    return refuse(`${at}.comment of ${what} is ${comment.length} characters; at most ${MAX_COMMENT_CHARS}`);
  }

  const phase = typeof before.phase === 'string' ? before.phase : 'Pending'; // not reconciled yet: Pending
  const own = ownSide(p.user, old);
  const rbac =
    `RBAC does not allow them verb "approve" on accessrequests.airlock.dev in namespace ${p.namespace}; `
    + `ask a cluster admin to bind the Airlock approver ClusterRole to them in that namespace`;
  const may = async (): Promise<boolean | string> => {
    try {
      return await deps.sar(p.user, 'approve', p.namespace, p.name);
    } catch (e) {
      (deps.log ?? silentLogger).error('Failed to check approval permission', {
        request: `${p.namespace}/${p.name}`,
        user: who,
        error: (e as Error).message,
      });
      return `could not check permission of ${who} to ${VERB[d]} ${what}: ${(e as Error).message}; retry`;
    }
  };
  if (d === 'Revoke') {
    if (phase !== 'Pending' && phase !== 'Approved')
      return refuse(`${what} is already ${phase}; there is nothing to revoke`);
    if (own === null) {
      const ok = await may();
      if (typeof ok === 'string') return refuse(ok);
      if (!ok)
        return refuse(
          `${who} may not revoke ${what}: they neither requested it nor does it grant them access, and ${rbac}`,
        );
    }
  } else {
    if (phase !== 'Pending') {
      return refuse(
        `${who} may not ${VERB[d]} ${what}: it is already ${phase}; decisions are closed (revoke it to end access, or create a new request)`,
      );
    }
    if (own !== null) {
      return refuse(
        `${who} may not ${VERB[d]} ${what}: ${own}; ${d === 'Approve' ? 'ask another approver' : `to withdraw it, revoke it (airlock request revoke ${p.name})`}`,
      );
    }
    const earlier = had.find((e) => e.approver === who && (e.decision === 'Approve' || e.decision === 'Deny'));
    if (earlier !== undefined) {
      return refuse(
        `${who} may not ${VERB[d]} ${what}: they already ${PAST[earlier.decision]} it at ${earlier.at}; each approver decides once`,
      );
    }
    const ok = await may();
    if (typeof ok === 'string') return refuse(ok);
    if (!ok) return refuse(`${who} may not ${VERB[d]} ${what}: ${rbac}`);
  }
  // Only these fields survive: approver, groups and at from the authenticated request, whatever was sent.
  const stamped: AccessRequestApproval = {
    approver: who,
    ...(p.user.groups === undefined ? {} : { groups: [...p.user.groups] }),
    decision: d,
    at: kubeTime(deps.now()),
    ...(comment === undefined ? {} : { comment }),
  };
  (deps.log ?? silentLogger).info('Recorded AccessRequest decision', {
    request: `${p.namespace}/${p.name}`,
    decision: d,
    approver: who,
  });
  return { allowed: true, patch: [{ op: 'replace', path: `/status/approvals/${had.length}`, value: stamped }] };
}

/** The decision for one parsed review. */
async function decideAccessRequest(p: Parsed, deps: AccessRequestReviewDeps): Promise<Verdict> {
  const self = p.user.username === deps.selfUser;
  if (p.operation === 'CREATE' && p.subResource === '') {
    if (self) return ALLOW; // requestedBy names the sidecar's user
    const spec = p.object.spec;
    if (!isObject(spec)) return refuse('AccessRequest spec must be an object with subject and database');
    if (spec.requestedBy === p.user.username) return ALLOW;
    // JSON Patch `add` on an object member replaces an existing value (RFC 6902 §4.1).
    return { allowed: true, patch: [{ op: 'add', path: '/spec/requestedBy', value: p.user.username }] };
  }
  if (p.operation === 'UPDATE' && p.subResource === 'status' && !self) return reviewApproval(p, deps);
  return ALLOW;
}

/** One AdmissionReview in, the HTTP answer out: 400 for a malformed review (fail closed), else 200. */
export async function reviewAccessRequest(
  text: string,
  deps: AccessRequestReviewDeps,
): Promise<AccessRequestReviewResult> {
  let parsed: Parsed;
  try {
    parsed = parseReview(text);
  } catch (e) {
    if (e instanceof BadReview)
      return {
        status: 400,
        contentType: 'text/plain; charset=utf-8',
        body: `malformed AdmissionReview: ${e.message}\n`,
      };
    throw e;
  }
  const v = await decideAccessRequest(parsed, deps);
  let response: Record<string, unknown>;
  if (!v.allowed) {
    (deps.log ?? silentLogger).info('Refused AccessRequest change', {
      request: `${parsed.namespace}/${parsed.name}`,
      user: parsed.user.username,
      reason: v.message,
    });
    response = { uid: parsed.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: v.message } };
  } else if (v.patch === undefined) {
    response = { uid: parsed.uid, allowed: true };
  } else {
    response = {
      uid: parsed.uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(v.patch)).toString('base64'),
    };
  }
  return {
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }),
  };
}

/**
 * The AccessCheck the operator uses: a SubjectAccessReview (authorization.k8s.io/v1) for the user as
 * authenticated — name, uid, groups and extra, so scoped tokens and impersonation are judged as the
 * apiserver judged the request itself.
 */
export function subjectAccessReview(kube: KubeClient): AccessCheck {
  return async (user, verb, namespace, name) => {
    const body = (await kube.must('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: user.username,
        ...(user.uid === undefined ? {} : { uid: user.uid }),
        ...(user.groups === undefined ? {} : { groups: user.groups }),
        ...(user.extra === undefined ? {} : { extra: user.extra }),
        resourceAttributes: {
          verb,
          group: 'airlock.dev',
          version: 'v1alpha1',
          resource: 'accessrequests',
          namespace,
          name,
        },
      },
    })) as { status?: { allowed?: boolean; denied?: boolean } };
    return body.status?.allowed === true && body.status.denied !== true;
  };
}
