// Decision table (style.md §9), NOTIFY (issue 11): sending a notification is a write to a channel other
// sessions read, so it needs a rule naming the channel, and a payload may carry no masked value. The
// fixtures are in testing-decide.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, selectFor } from './compile.ts';
import { decide } from './decide.ts';
import { makeIdentity } from './identity.ts';
import type { Access, SessionContext } from './types.ts';
import { SA, TRAINER, acc, allow, check, col, denyBy, facts, noRule, policy, run } from './testing-decide.ts';
import type { Case } from './testing-decide.ts';

const notify = (channel: string): Access => ({
  operation: 'NOTIFY',
  relation: { schema: null, name: channel },
  kind: 'channel',
});
const NOTIFIER = policy('notifier', {
  rules: [
    { name: 'not-secret', effect: 'deny', operations: ['NOTIFY'], channels: ['cache_secret'] },
    { name: 'invalidate', effect: 'allow', operations: ['NOTIFY'], channels: ['cache_*'] },
  ],
});

const cases: Case[] = [
  // NOTIFY (issue 11): sending a notification is a write to a channel other sessions read
  [
    'NOTIFY needs a rule: a read-only identity may not send',
    facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('jobs')] }),
    noRule('no rule allows NOTIFY on channel "jobs"'),
  ],
  [
    'pg_notify needs the same rule',
    facts({ accesses: [acc('CALL', 'pg_catalog.pg_notify', 'function'), notify('jobs')] }),
    noRule('no rule allows NOTIFY on channel "jobs"'),
  ],
  [
    'a rule listing tables reaches no channel, even with ALL',
    facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('scratch')] }),
    noRule('no rule allows NOTIFY on channel "scratch"'),
  ],
  [
    'a channels glob allows NOTIFY',
    facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('cache_orders')] }),
    allow('invalidate', 'ml/notifier'),
    { policies: [NOTIFIER] },
  ],
  [
    '… and nothing else',
    facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('jobs')] }),
    noRule('no rule allows NOTIFY on channel "jobs"'),
    { policies: [NOTIFIER] },
  ],
  [
    'channels compare exactly (no folding)',
    facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('Cache_orders')] }),
    noRule('no rule allows NOTIFY on channel "Cache_orders"'),
    { policies: [NOTIFIER] },
  ],
  [
    'a rule with no object lists reaches every channel',
    facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('jobs')] }),
    allow('everything', 'ml/admin'),
    { policies: [policy('admin', { rules: [{ name: 'everything', effect: 'allow', operations: ['ALL'] }] })] },
  ],
  [
    'a deny rule on channels wins',
    facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('cache_secret')] }),
    denyBy('ml/notifier', 'not-secret', 'NOTIFY on channel "cache_secret" is denied by rule "not-secret"'),
    { policies: [NOTIFIER] },
  ],
  [
    'a masked column may not flow into a payload',
    facts({
      accesses: [acc('SELECT', 'public.customers'), acc('CALL', 'pg_catalog.pg_notify', 'function'), notify('cache_x')],
      notified: [col('public.customers.ssn')],
    }),
    noRule(
      'it would send values of masked column public.customers.ssn in a notification payload, which listeners receive unmasked; masked values can be read, not sent',
    ),
    { policies: [TRAINER, NOTIFIER] },
  ],
  [
    'nor a value derived from one',
    facts({
      accesses: [acc('SELECT', 'public.customers'), acc('CALL', 'pg_catalog.pg_notify', 'function'), notify('cache_x')],
      notified: [{ kind: 'derived', from: [col('public.customers.email')] }],
    }),
    {
      verdict: 'deny',
      reason:
        'it would send values derived from masked column public.customers.email in a notification payload, which listeners receive unmasked; masked values can be read, not sent',
    },
    { policies: [TRAINER, NOTIFIER] },
  ],
  [
    'an unmasked column may',
    facts({
      accesses: [acc('SELECT', 'public.customers'), acc('CALL', 'pg_catalog.pg_notify', 'function'), notify('cache_x')],
      notified: [col('public.customers.id')],
    }),
    { verdict: 'allow' },
    { policies: [TRAINER, NOTIFIER] },
  ],
];

for (const [name, stmt, want, opts] of cases) test(name, () => check(run(stmt, opts), want));

test('channels: a rule from an operator that predates them reaches channels only when it names no objects', () => {
  const set = compile([TRAINER], 1);
  // what an older operator sends: no `channels` key at all
  const old = {
    ...set,
    policies: set.policies.map((p) => ({ ...p, rules: p.rules.map(({ channels: _c, ...r }) => r) })),
  };
  const identity = makeIdentity(SA, []);
  const ctx: SessionContext = {
    identity,
    database: 'orders',
    searchPath: ['public'],
    catalogRelations: new Set(),
    catalogFunctions: new Set(),
    grants: [],
  };
  const d = decide(selectFor(old, identity, 'orders'), ctx, facts({ accesses: [notify('jobs')] }));
  assert.equal(d.verdict, 'deny');
});
