// The AccessRequest admission rules, one AdmissionReview at a time, with a fake SubjectAccessReview.
// test/operator/accessrequest.test.ts runs the same webhook behind a real apiserver.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessRequest, AccessRequestApproval } from '../../policy/types.ts';
import { MAX_COMMENT_CHARS, reviewAccessRequest } from './accessrequest.ts';
import type { AccessRequestReviewDeps, UserInfo } from './accessrequest.ts';

const OPERATOR = 'system:serviceaccount:airlock-system:airlock-operator';
const NOW = new Date('2030-01-02T03:04:05.678Z');
const ALICE: UserInfo = {
  username: 'alice@example.com',
  uid: 'alice-uid',
  groups: ['data-oncall', 'system:authenticated'],
};
const BOB: UserInfo = {
  username: 'bob@example.com',
  uid: 'bob-uid',
  groups: ['dba', 'system:authenticated'],
  extra: { scopes: ['x'] },
};
const CAROL: UserInfo = { username: 'carol@example.com', groups: ['system:authenticated'] };
const OP: UserInfo = { username: OPERATOR, groups: ['system:serviceaccounts'] };

const request = (spec: Partial<AccessRequest['spec']> = {}, status?: AccessRequest['status']): AccessRequest => ({
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AccessRequest',
  metadata: { name: 'ar-7f3c', namespace: 'ml' },
  spec: {
    subject: { kind: 'User', name: 'alice@example.com' },
    database: 'orders',
    statement: 'DELETE FROM orders WHERE id = $1',
    requestedBy: 'alice@example.com',
    ...spec,
  },
  ...(status === undefined ? {} : { status }),
});
const entry = (
  approver: string,
  decision: AccessRequestApproval['decision'],
  extra: Partial<AccessRequestApproval> = {},
): AccessRequestApproval => ({ approver, groups: ['dba'], decision, at: '2030-01-01T00:00:00Z', ...extra });

function reviewOf(
  operation: string,
  user: UserInfo,
  object: unknown,
  oldObject?: unknown,
  subResource?: string,
): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'uid-1',
      kind: { group: 'airlock.dev', version: 'v1alpha1', kind: 'AccessRequest' },
      resource: { group: 'airlock.dev', version: 'v1alpha1', resource: 'accessrequests' },
      ...(subResource === undefined ? {} : { subResource }),
      namespace: 'ml',
      name: 'ar-7f3c',
      operation,
      userInfo: user,
      object,
      ...(oldObject === undefined ? {} : { oldObject }),
    },
  });
}

interface Answer {
  readonly allowed: boolean;
  readonly message?: string;
  readonly patch?: { op: string; path: string; value: any }[];
}

/** A fake SubjectAccessReview: who may `approve`, and every question asked. */
function deps(approvers: readonly string[] | Error = ['bob@example.com', 'carol-approver@example.com']) {
  const asked: [UserInfo, string, string, string][] = [];
  const d: AccessRequestReviewDeps = {
    selfUser: OPERATOR,
    now: () => NOW,
    sar: async (user, verb, ns, name) => {
      asked.push([user, verb, ns, name]);
      if (approvers instanceof Error) throw approvers;
      return verb === 'approve' && approvers.includes(user.username);
    },
  };
  return { d, asked };
}

async function answer(text: string, d = deps().d): Promise<Answer> {
  const r = await reviewAccessRequest(text, d);
  assert.equal(r.status, 200, r.body);
  const resp = JSON.parse(r.body).response;
  assert.equal(resp.uid, 'uid-1');
  return {
    allowed: resp.allowed,
    ...(resp.status?.message === undefined ? {} : { message: resp.status.message }),
    ...(resp.patch === undefined ? {} : { patch: JSON.parse(Buffer.from(resp.patch, 'base64').toString()) }),
  };
}

/** An UPDATE of accessrequests/status from `old` to `old` with `approvals` appended (or status replaced). */
function statusUpdate(user: UserInfo, old: AccessRequest, next: object): string {
  return reviewOf('UPDATE', user, { ...old, status: { ...(old.status ?? {}), ...next } }, old, 'status');
}
const appended = (old: AccessRequest, ...entries: unknown[]) => ({
  approvals: [...(old.status?.approvals ?? []), ...entries],
});

describe('AccessRequest webhook: CREATE', () => {
  test('stamps spec.requestedBy with the authenticated user, overwriting a forged value', async () => {
    const a = await answer(reviewOf('CREATE', ALICE, request({ requestedBy: 'bob@example.com' })));
    assert.deepEqual(a, {
      allowed: true,
      patch: [{ op: 'add', path: '/spec/requestedBy', value: 'alice@example.com' }],
    });
    const b = await answer(reviewOf('CREATE', ALICE, request({ requestedBy: undefined })));
    assert.deepEqual(b.patch, [{ op: 'add', path: '/spec/requestedBy', value: 'alice@example.com' }]);
  });

  test('no patch when requestedBy already names the user', async () => {
    assert.deepEqual(await answer(reviewOf('CREATE', ALICE, request())), { allowed: true });
  });

  test('the operator creates requests for sidecars and names their user itself', async () => {
    const r = request({
      subject: { kind: 'ServiceAccount', name: 'trainer' },
      requestedBy: 'system:serviceaccount:ml:trainer',
    });
    assert.deepEqual(await answer(reviewOf('CREATE', OP, r)), { allowed: true });
  });

  test('a create without a spec object is refused', async () => {
    const a = await answer(
      reviewOf('CREATE', ALICE, { apiVersion: 'airlock.dev/v1alpha1', kind: 'AccessRequest', metadata: {}, spec: 'x' }),
    );
    assert.deepEqual(a, { allowed: false, message: 'AccessRequest spec must be an object with subject and database' });
  });

  test("main-resource UPDATEs pass (the CRD's CEL rule keeps spec immutable)", async () => {
    const old = request();
    assert.deepEqual(
      await answer(reviewOf('UPDATE', CAROL, { ...old, metadata: { ...old.metadata, labels: { a: 'b' } } }, old)),
      { allowed: true },
    );
  });
});

describe('AccessRequest webhook: approvals through the status subresource', () => {
  const pending = request({}, { phase: 'Pending' });

  test('stamps approver, groups and time over forged values; keeps decision and comment; asks RBAC as the user', async () => {
    const { d, asked } = deps();
    const a = await answer(
      statusUpdate(
        BOB,
        pending,
        appended(pending, {
          approver: 'mallory@example.com',
          groups: ['system:masters'],
          decision: 'Approve',
          at: '1999-01-01T00:00:00Z',
          comment: 'ok for the migration',
          extra: 'dropped',
        }),
      ),
      d,
    );
    assert.deepEqual(a, {
      allowed: true,
      patch: [
        {
          op: 'replace',
          path: '/status/approvals/0',
          value: {
            approver: 'bob@example.com',
            groups: ['dba', 'system:authenticated'],
            decision: 'Approve',
            at: '2030-01-02T03:04:05Z',
            comment: 'ok for the migration',
          },
        },
      ],
    });
    assert.deepEqual(asked, [[BOB, 'approve', 'ml', 'ar-7f3c']]);
  });

  test('a request the controller has not reconciled yet (no phase) counts as Pending', async () => {
    const fresh = request();
    const a = await answer(statusUpdate(BOB, fresh, appended(fresh, { decision: 'Deny' })));
    assert.equal(a.allowed, true);
    assert.equal(a.patch?.[0]?.value.decision, 'Deny');
    assert.equal(a.patch?.[0]?.value.comment, undefined);
  });

  test('a second approver appends after the first', async () => {
    const one = request({}, { phase: 'Pending', approvals: [entry('bob@example.com', 'Approve')] });
    const a = await answer(
      statusUpdate(
        { username: 'carol-approver@example.com', groups: ['dba'] },
        one,
        appended(one, { decision: 'Approve' }),
      ),
    );
    assert.equal(a.patch?.[0]?.path, '/status/approvals/1');
    assert.equal(a.patch?.[0]?.value.approver, 'carol-approver@example.com');
  });

  test('a status write that changes nothing passes without a SubjectAccessReview', async () => {
    const { d, asked } = deps();
    assert.deepEqual(await answer(statusUpdate(CAROL, pending, {}), d), { allowed: true });
    assert.equal(asked.length, 0);
  });

  test("the operator's own status writes pass unchanged, unchecked", async () => {
    const { d, asked } = deps();
    const a = await answer(
      statusUpdate(OP, pending, { phase: 'Approved', expiresAt: '2030-01-02T04:04:05Z', message: 'approved by bob' }),
      d,
    );
    assert.deepEqual(a, { allowed: true });
    assert.equal(asked.length, 0);
  });

  const one = request({}, { phase: 'Pending', approvals: [entry('bob@example.com', 'Approve')] });
  const approved = request(
    {},
    { phase: 'Approved', expiresAt: '2030-01-02T04:00:00Z', approvals: [entry('bob@example.com', 'Approve')] },
  );
  const W = 'AccessRequest ml/ar-7f3c';
  const HOW = 'append one entry to status.approvals (airlock request approve|deny|revoke)';
  const RBAC =
    'RBAC does not allow them verb "approve" on accessrequests.airlock.dev in namespace ml; ask a cluster admin to bind the Airlock approver ClusterRole to them in that namespace';
  // [what, user, old, new status fields, the refusal]
  const refusals: readonly (readonly [string, UserInfo, AccessRequest, object, string])[] = [
    [
      'the requester approving their own request',
      ALICE,
      pending,
      appended(pending, { decision: 'Approve' }),
      `alice@example.com may not approve ${W}: they requested it; ask another approver`,
    ],
    [
      'the requester denying it (they should revoke)',
      ALICE,
      pending,
      appended(pending, { decision: 'Deny' }),
      `alice@example.com may not deny ${W}: they requested it; to withdraw it, revoke it (airlock request revoke ar-7f3c)`,
    ],
    [
      'the requester approving under a forged approver name',
      ALICE,
      pending,
      appended(pending, { approver: 'bob@example.com', decision: 'Approve' }),
      `alice@example.com may not approve ${W}: they requested it; ask another approver`,
    ],
    [
      'the subject approving a request someone else made for them',
      { username: 'dave@example.com', groups: ['dba'] },
      request({ subject: { kind: 'User', name: 'dave@example.com' } }, { phase: 'Pending' }),
      { approvals: [{ decision: 'Approve' }] },
      `dave@example.com may not approve ${W}: it grants them access; ask another approver`,
    ],
    [
      'a ServiceAccount subject approving for itself',
      { username: 'system:serviceaccount:ml:trainer', groups: ['system:serviceaccounts'] },
      request({ subject: { kind: 'ServiceAccount', name: 'trainer' }, requestedBy: OPERATOR }, { phase: 'Pending' }),
      { approvals: [{ decision: 'Approve' }] },
      `system:serviceaccount:ml:trainer may not approve ${W}: it grants them access; ask another approver`,
    ],
    [
      'a member of the Group subject',
      BOB,
      request({ subject: { kind: 'Group', name: 'dba' } }, { phase: 'Pending' }),
      { approvals: [{ decision: 'Approve' }] },
      `bob@example.com may not approve ${W}: they are in group dba, which it grants access; ask another approver`,
    ],
    [
      'a user RBAC does not allow to approve',
      CAROL,
      pending,
      appended(pending, { decision: 'Approve' }),
      `carol@example.com may not approve ${W}: ${RBAC}`,
    ],
    [
      'a user RBAC does not allow to deny',
      CAROL,
      pending,
      appended(pending, { decision: 'Deny' }),
      `carol@example.com may not deny ${W}: ${RBAC}`,
    ],
    [
      'an approver deciding twice',
      BOB,
      one,
      appended(one, { decision: 'Deny' }),
      `bob@example.com may not deny ${W}: they already approved it at 2030-01-01T00:00:00Z; each approver decides once`,
    ],
    [
      'approving a request that is already Approved',
      { username: 'carol-approver@example.com' },
      approved,
      appended(approved, { decision: 'Approve' }),
      `carol-approver@example.com may not approve ${W}: it is already Approved; decisions are closed (revoke it to end access, or create a new request)`,
    ],
    [
      'approving a Denied request',
      BOB,
      request({}, { phase: 'Denied' }),
      { approvals: [{ decision: 'Approve' }] },
      `bob@example.com may not approve ${W}: it is already Denied; decisions are closed (revoke it to end access, or create a new request)`,
    ],
    [
      'revoking an Expired request',
      ALICE,
      request({}, { phase: 'Expired' }),
      { approvals: [{ decision: 'Revoke' }] },
      `${W} is already Expired; there is nothing to revoke`,
    ],
    [
      'revoking by someone with no stake and no RBAC',
      CAROL,
      approved,
      appended(approved, { decision: 'Revoke' }),
      `carol@example.com may not revoke ${W}: they neither requested it nor does it grant them access, and ${RBAC}`,
    ],
    [
      'two entries appended at once',
      BOB,
      pending,
      appended(pending, { decision: 'Approve' }, { decision: 'Approve' }),
      `bob@example.com may not append 2 entries to status.approvals of ${W} at once; append exactly one`,
    ],
    [
      'an existing entry edited',
      CAROL,
      one,
      { approvals: [entry('bob@example.com', 'Deny'), { decision: 'Approve' }] },
      `carol@example.com may not change or remove existing status.approvals entries of ${W}: entries are permanent; ${HOW}`,
    ],
    [
      'an existing entry removed',
      BOB,
      one,
      { approvals: [] },
      `bob@example.com may not change or remove existing status.approvals entries of ${W}: entries are permanent; ${HOW}`,
    ],
    [
      'the phase changed by a non-operator',
      BOB,
      pending,
      { phase: 'Approved' },
      `bob@example.com may not change status.phase of ${W}: only the Airlock operator sets it; ${HOW}`,
    ],
    [
      'the phase changed alongside an approval',
      BOB,
      pending,
      { ...appended(pending, { decision: 'Approve' }), phase: 'Approved' },
      `bob@example.com may not change status.phase of ${W}: only the Airlock operator sets it; ${HOW}`,
    ],
    [
      'expiresAt moved',
      ALICE,
      approved,
      { expiresAt: '2099-01-01T00:00:00Z' },
      `alice@example.com may not change status.expiresAt of ${W}: only the Airlock operator sets it; ${HOW}`,
    ],
    [
      'an unknown decision',
      BOB,
      pending,
      appended(pending, { decision: 'Approved' }),
      `status.approvals[0].decision of ${W} must be one of Approve, Deny, Revoke; got "Approved"`,
    ],
    [
      'a missing decision',
      BOB,
      pending,
      appended(pending, { comment: 'hm' }),
      `status.approvals[0].decision of ${W} must be one of Approve, Deny, Revoke; got null`,
    ],
    [
      'a comment over the limit',
      BOB,
      pending,
      appended(pending, { decision: 'Approve', comment: 'x'.repeat(MAX_COMMENT_CHARS + 1) }),
      `status.approvals[0].comment of ${W} is 1025 characters; at most 1024`,
    ],
    [
      'an entry that is not an object',
      BOB,
      pending,
      appended(pending, 'Approve'),
      `status.approvals[0] of ${W} must be an object { decision, comment? }`,
    ],
  ];
  for (const [what, user, old, next, message] of refusals) {
    test(`refuses ${what}`, async () => {
      assert.deepEqual(await answer(statusUpdate(user, old, next)), { allowed: false, message });
    });
  }

  test('a comment of exactly the limit is kept', async () => {
    const a = await answer(
      statusUpdate(BOB, pending, appended(pending, { decision: 'Approve', comment: 'x'.repeat(MAX_COMMENT_CHARS) })),
    );
    assert.equal(a.patch?.[0]?.value.comment.length, MAX_COMMENT_CHARS);
  });

  test('fails closed when the SubjectAccessReview cannot be made', async () => {
    const { d } = deps(new Error('POST /apis/authorization.k8s.io/v1/subjectaccessreviews: HTTP 403: forbidden'));
    const a = await answer(statusUpdate(BOB, pending, appended(pending, { decision: 'Approve' })), d);
    assert.deepEqual(a, {
      allowed: false,
      message:
        'could not check permission of bob@example.com to approve AccessRequest ml/ar-7f3c: '
        + 'POST /apis/authorization.k8s.io/v1/subjectaccessreviews: HTTP 403: forbidden; retry',
    });
  });

  test('the requester and the subject may revoke without RBAC; others need `approve`', async () => {
    for (const [who, old] of [
      [ALICE, approved],
      [ALICE, pending],
      [
        { username: 'dave@example.com' },
        request({ subject: { kind: 'User', name: 'dave@example.com' } }, { phase: 'Approved' }),
      ],
    ] as const) {
      const { d, asked } = deps([]);
      const a = await answer(statusUpdate(who, old, appended(old, { decision: 'Revoke', comment: 'done' })), d);
      assert.equal(a.allowed, true, a.message);
      assert.equal(a.patch?.[0]?.value.approver, who.username);
      assert.equal(a.patch?.[0]?.value.decision, 'Revoke');
      assert.equal(asked.length, 0, "no SubjectAccessReview for the request's own side");
    }
    const { d, asked } = deps();
    const a = await answer(statusUpdate(BOB, approved, appended(approved, { decision: 'Revoke' })), d);
    assert.equal(a.allowed, true);
    assert.deepEqual(
      asked.map((x) => x[1]),
      ['approve'],
    );
  });
});

describe('AccessRequest webhook: malformed reviews', () => {
  const cases: readonly (readonly [string, string, RegExp])[] = [
    ['not JSON', '{', /body is not JSON/],
    [
      'not an AdmissionReview',
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }),
      /expected apiVersion admission\.k8s\.io\/v1/,
    ],
    [
      'a Pod review',
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid: 'u', kind: { group: '', kind: 'Pod' } },
      }),
      /AccessRequests only/,
    ],
    ['no userInfo', reviewOf('CREATE', { username: '' }, request()), /userInfo\.username is missing/],
    ['an UPDATE without oldObject', reviewOf('UPDATE', BOB, request(), undefined, 'status'), /oldObject is missing/],
  ];
  for (const [what, body, message] of cases) {
    test(`answers HTTP 400 to ${what}`, async () => {
      const r = await reviewAccessRequest(body, deps().d);
      assert.equal(r.status, 400);
      assert.match(r.body, message);
    });
  }
});
