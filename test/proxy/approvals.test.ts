// Approval holds in the proxy: a statement an `approve` rule governs is held (nothing of it reaches
// PostgreSQL) while its AccessRequest is decided; a grant arriving in a policy update lets it run, the
// hold timing out denies it with the request's name, and a revoked grant ends the sessions that used it.
// The operator's side (RequestAccess, phases, approvals) is test/operator/approvals-e2e.test.ts; here the
// proxy's Approvals hook records the intents the operator would get.
import { test, before, after } from 'node:test';
import net from 'node:net';
import { cancelRequest } from '../../proxy/wire/startup.ts';
import assert from 'node:assert/strict';
import { startHarness, failure, eventually, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';
import { RawClient } from './raw-client.ts';
import { parse, bind, execute, SYNC } from '../../proxy/wire/messages.ts';
import { policyState } from '../../proxy/enforce/gate.ts';
import type { SubjectGrant } from '../../proxy/enforce/gate.ts';
import { loadAnalyzer } from '../../proxy/enforce/analyzer.ts';
import { IDENTITY } from './harness.ts';

const APPROVE = `${POLICY.replace(
  '    - { name: no-deletes, effect: deny, operations: [DELETE], tables: ["public.customers"] }',
  `    - { name: no-deletes, effect: deny, operations: [DELETE], tables: ["public.customers"] }
    - { name: fix-secrets, effect: approve, operations: [UPDATE, SELECT], tables: ["public.secrets"] }`,
).trimEnd()}
  approval: { approvers: [{ kind: Group, name: dba }], holdTimeout: 1500ms }
`;

const intents: { statement: string; policy: string; rule: string }[] = [];
let answer: () => Promise<{ namespace: string; name: string }> = async () => ({ namespace: 'team', name: 'ar-1' });
let h: Harness;
before(async () => {
  h = await startHarness({
    policy: APPROVE,
    proxy: {
      approvals: {
        request: async (i) => {
          intents.push(i);
          return answer();
        },
      },
    },
  });
});
after(async () => {
  await h?.stop();
});

async function grant(g: Partial<SubjectGrant>, ended?: Map<string, string>): Promise<void> {
  const full: SubjectGrant = {
    request: 'team/ar-1',
    subject: IDENTITY,
    rules: null,
    statement: null,
    expiresAtMs: Date.now() + 60_000,
    ...g,
  };
  h.proxy.reload(policyState(h.config.set, await loadAnalyzer(), undefined, [full]), undefined, ended);
}
async function noGrants(ended?: Map<string, string>): Promise<void> {
  h.proxy.reload(policyState(h.config.set, await loadAnalyzer()), undefined, ended);
}

test('held until the grant arrives, then run once; audited as approve with the request', async () => {
  intents.length = 0;
  const c = await h.client();
  const sql = "UPDATE public.secrets SET v = 'rotated-7431' WHERE id = 1";
  const running = c.query(sql);
  await eventually(() => intents.length === 1, 3000, 'the RequestAccess intent');
  assert.deepEqual(intents[0], { statement: sql, policy: 'team/trainer', rule: 'fix-secrets' });
  assert.equal(h.logged('rotated-7431').length, 0, 'nothing of a held statement reaches PostgreSQL');
  await grant({ statement: sql });
  const r = await running;
  assert.equal(r.rowCount, 1);
  assert.equal((await h.admin('SELECT v FROM public.secrets WHERE id = 1')).rows[0].v, 'rotated-7431');
  const rec = h.audit.records.at(-1)!;
  assert.deepEqual([rec.decision, rec.accessRequest, rec.rule], ['approve', 'team/ar-1', 'fix-secrets']);
  // A statement grant is for that text: another literal is a new request.
  const other = failure(c.query("UPDATE public.secrets SET v = 'other-5120' WHERE id = 1"));
  await eventually(() => intents.length === 2, 3000, 'the second intent');
  const e = await other;
  assert.equal(e.code, '42501');
  assert.equal(h.logged('other-5120').length, 0);
  await noGrants();
});

test('hold times out: 42501 naming the AccessRequest and how to approve it; the session stays usable', async () => {
  answer = async () => ({ namespace: 'team', name: 'ar-slow' });
  const c = await h.client();
  const e = await failure(c.query("UPDATE public.secrets SET v = 'late-9912' WHERE id = 1"));
  assert.equal(e.code, '42501');
  assert.match(e.message, /AccessPolicy "team\/trainer", rule "fix-secrets" requires an approved AccessRequest/);
  assert.match(
    e.detail ?? '',
    /team\/ar-slow was not approved within 2 s \(holdTimeout\)\. An approver runs `airlock request approve ar-slow -n team`/,
  );
  assert.equal(h.logged('late-9912').length, 0);
  assert.equal((await c.query('SELECT count(*)::int AS n FROM public.orders')).rows[0].n, 20);
  assert.equal(h.audit.records.at(-2)!.accessRequest, 'team/ar-slow');
});

test('a CancelRequest while held answers 57014 at once, and the statement never runs', async () => {
  answer = async () => ({ namespace: 'team', name: 'ar-cancel' });
  const c = await h.client();
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  const key = Buffer.alloc(4);
  key.writeInt32BE(secretKey);
  const n = intents.length;
  const held = failure(c.query("UPDATE public.secrets SET v = 'cancelled-6627' WHERE id = 1"));
  await eventually(() => intents.length > n, 3000, 'the intent');
  await new Promise<void>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: h.port }, () => s.end(cancelRequest(processID, key)));
    s.on('close', () => resolve());
    s.on('error', reject);
  });
  const e = await held;
  assert.equal(e.code, '57014');
  assert.equal(h.logged('cancelled-6627').length, 0);
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('the operator refusing the request denies at once with its reason', async () => {
  answer = async () => {
    throw new Error('the operator refused the AccessRequest: 20 pending');
  };
  const c = await h.client();
  const t0 = Date.now();
  const e = await failure(c.query("UPDATE public.secrets SET v = 'x' WHERE id = 1"));
  assert.equal(e.code, '42501');
  assert.match(e.detail ?? '', /none could be requested: the operator refused the AccessRequest: 20 pending/);
  assert.ok(Date.now() - t0 < 1500, 'not held for the whole holdTimeout');
});

test('extended protocol: a held Parse runs after the grant', async () => {
  answer = async () => ({ namespace: 'team', name: 'ar-2' });
  const c = await RawClient.connect(h.port);
  const sql = 'SELECT v FROM public.secrets WHERE id = 1';
  c.send(parse('', sql), bind({}), execute(), SYNC);
  await eventually(() => intents.some((i) => i.statement === sql), 3000, 'the intent');
  await grant({
    request: 'team/ar-2',
    rules: [{ name: 'jit', effect: 'allow', operations: ['SELECT'], tables: ['public.secrets'], functions: null }],
  });
  const ms = await c.readies(1);
  assert.equal(ms.map((m) => m.type).join(''), '12DCZ');
  c.close();
  await noGrants();
});

test('revoking a grant ends the sessions that used it, and only those', async () => {
  answer = async () => ({ namespace: 'team', name: 'ar-3' });
  const used = await RawClient.connect(h.port);
  const other = await RawClient.connect(h.port);
  await grant({
    request: 'team/ar-3',
    rules: [{ name: 'jit', effect: 'allow', operations: ['SELECT'], tables: ['public.secrets'], functions: null }],
  });
  used.send(parse('', 'SELECT v FROM public.secrets'), bind({}), execute(), SYNC);
  assert.equal((await used.readies(1)).map((m) => m.type).join(''), '12DCZ');
  await noGrants(new Map([['team/ar-3', 'Revoked']]));
  const ms = await used.until((m) => m.type === 'E');
  assert.match(ms.find((m) => m.type === 'E')!.message!, /access revoked: AccessRequest team\/ar-3 was revoked/);
  await eventually(() => used.closed, 2000, 'the session that used the grant to close');
  other.send(parse('', 'SELECT 1'), bind({}), execute(), SYNC);
  assert.equal((await other.readies(1)).map((m) => m.type).join(''), '12DCZ');
  other.close();
});

test('local mode (no operator): denied at once, saying approvals need the operator', async () => {
  const local = await startHarness({ policy: APPROVE });
  try {
    const c = await local.client();
    const e = await failure(c.query("UPDATE public.secrets SET v = 'y' WHERE id = 1"));
    assert.equal(e.code, '42501');
    assert.match(e.detail ?? '', /runs without the operator \(local mode\)/);
  } finally {
    await local.stop();
  }
});
