// Decision table (style.md §9), session effects: SET, RESET, DISCARD, transactions and LISTEN, which need no
// rule, and the settings that are not allowed through Airlock at all. The fixtures are in testing-decide.ts.
import { test } from 'node:test';
import { IMPLICIT_RULE_NAME } from './decide.ts';
import { allow, check, effect, facts, noRule, run, select } from './testing-decide.ts';
import type { Case } from './testing-decide.ts';

const cases: Case[] = [
  // session effects
  [
    'SET ROLE',
    effect({ kind: 'role' }),
    noRule(
      'SET ROLE and SET SESSION AUTHORIZATION are not allowed through Airlock: they would change the database role the policy is enforced for',
    ),
  ],
  [
    'SET search_path',
    effect({ kind: 'set', name: 'search_path', local: false }),
    noRule(
      'changing search_path is not allowed through Airlock: unqualified names are resolved against the search_path the proxy knows; changing it could reach relations the policy does not allow',
    ),
  ],
  [
    'SET standard_conforming_strings',
    effect({ kind: 'set', name: 'standard_conforming_strings', local: true }),
    { verdict: 'deny', rule: null },
  ],
  // Neutralised, not denied: every enforcement-critical setting is pinned to its default already (decide.ts).
  ['RESET ALL', effect({ kind: 'reset', name: null }, 'RESET'), allow(IMPLICIT_RULE_NAME)],
  ['RESET statement_timeout', effect({ kind: 'reset', name: 'statement_timeout' }, 'RESET'), allow(IMPLICIT_RULE_NAME)],
  // Found by the privilege oracle: settings PostgreSQL lets only superusers change, through a superuser binding.
  [
    'SET session_replication_role (switches off triggers and FK checks)',
    effect({ kind: 'set', name: 'session_replication_role', local: false }),
    noRule(
      'changing session_replication_role is not allowed through Airlock: PostgreSQL lets only superusers change it, and the binding may be a superuser',
    ),
  ],
  [
    'SET LOCAL log_statement',
    effect({ kind: 'set', name: 'LOG_STATEMENT', local: true }),
    { verdict: 'deny', rule: null },
  ],
  [
    'RESET log_min_duration_statement',
    effect({ kind: 'reset', name: 'log_min_duration_statement' }, 'RESET'),
    noRule(
      'resetting log_min_duration_statement is not allowed through Airlock: PostgreSQL lets only superusers change it, and the binding may be a superuser',
    ),
  ],
  [
    'SET work_mem is a user setting',
    effect({ kind: 'set', name: 'work_mem', local: false }),
    allow(IMPLICIT_RULE_NAME),
  ],
  [
    'pg_settings needs exact naming (a superuser sees hidden settings)',
    select('pg_catalog.pg_settings'),
    { verdict: 'deny', rule: null },
  ],
  [
    'SET application_name needs no rule',
    effect({ kind: 'set', name: 'application_name', local: false }),
    allow(IMPLICIT_RULE_NAME),
  ],
  [
    'SET client_encoding without a known value',
    effect({ kind: 'set', name: 'client_encoding', local: false }),
    noRule('client_encoding other than UTF8 is not allowed through Airlock: statements are analyzed as UTF-8'),
  ],
  [
    'SET client_encoding UTF8',
    effect({ kind: 'set', name: 'client_encoding', local: false, value: 'UTF8' }),
    allow(IMPLICIT_RULE_NAME),
  ],
  [
    'SET client_encoding LATIN1',
    effect({ kind: 'set', name: 'client_encoding', local: false, value: 'LATIN1' }),
    { verdict: 'deny' },
  ],
  ['DISCARD ALL', effect({ kind: 'discard' }, 'DISCARD ALL'), allow(IMPLICIT_RULE_NAME)],
  ['DISCARD PLANS', effect({ kind: 'discard' }, 'DISCARD PLANS'), allow(IMPLICIT_RULE_NAME)],
  [
    'BEGIN needs no rule',
    facts({ tag: 'TransactionStmt', command: 'BEGIN', transaction: true }),
    allow(IMPLICIT_RULE_NAME),
  ],
  [
    'LISTEN needs no rule',
    facts({ tag: 'ListenStmt', command: 'LISTEN', effects: [{ kind: 'listen' }] }),
    allow(IMPLICIT_RULE_NAME),
  ],
  [
    'BEGIN without any matching policy',
    facts({ command: 'BEGIN', transaction: true }),
    { verdict: 'deny', policy: null },
    { user: 'nobody' },
  ],
];

for (const [name, stmt, want, opts] of cases) test(name, () => check(run(stmt, opts), want));
