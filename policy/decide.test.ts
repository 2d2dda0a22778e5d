// Decision table (style.md §9): one row per case, StatementFacts written by hand (the analyzer is
// tested on its own; here the facts are the input).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, selectFor } from './compile.ts';
import { decide, DEFAULT_DENY_RULE, IMPLICIT_RULE_NAME, UNFILTERED_WRITE_RULE } from './decide.ts';
import { makeIdentity } from './identity.ts';
import { buildInvokerViews } from './invoker.ts';
import type { InvokerViews } from './invoker.ts';
import type {
  Access, AccessPolicy, AccessPolicySpec, ColumnSource, ConcreteOperation, Decision, Grant, RelName,
  SessionContext, SessionEffect, StatementFacts,
} from './types.ts';

const policy = (name: string, spec: Partial<AccessPolicySpec>, ns = 'ml'): AccessPolicy => ({
  apiVersion: 'airlock.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace: ns },
  spec: { subjects: [{ kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' }], databases: ['orders'], rules: [], ...spec },
});

const TRAINER = policy('trainer', {
  subjects: [{ kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' }, { kind: 'User', name: 'alice@example.com' }],
  rules: [
    { name: 'read-app-tables', effect: 'allow', operations: ['SELECT', 'COPY_TO'], tables: ['public.*'] },
    { name: 'write-orders', effect: 'allow', operations: ['INSERT', 'UPDATE'], tables: ['public.orders'] },
    { name: 'no-destructive', effect: 'deny', operations: ['DROP', 'TRUNCATE'] },
    { name: 'approve-deletes', effect: 'approve', operations: ['DELETE'], tables: ['public.orders'] },
    { name: 'call-calc', effect: 'allow', operations: ['CALL'], functions: ['public.calc_*'] },
    { name: 'scratch', effect: 'allow', operations: ['ALL'], tables: ['scratch.*'] },
  ],
  masking: [
    { columns: ['public.customers.email'], strategy: 'partial' },
    { columns: ['public.customers.ssn'], strategy: 'redact' },
    { columns: ['public.customers.phone'], strategy: 'hash' },
  ],
  guardrails: { blockUnfilteredWrites: true, maxAffectedRows: 1000 },
  approval: { approvers: [{ kind: 'Group', name: 'dba' }], holdTimeout: '30s' },
});

const SA = 'system:serviceaccount:ml:trainer';
const rel = (q: string): RelName => {
  const i = q.indexOf('.');
  return i === -1 ? { schema: null, name: q } : { schema: q.slice(0, i), name: q.slice(i + 1) };
};
const acc = (operation: ConcreteOperation, q: string, kind: Access['kind'] = 'relation'): Access => ({ operation, relation: rel(q), kind });
const notify = (channel: string): Access => ({ operation: 'NOTIFY', relation: { schema: null, name: channel }, kind: 'channel' });
const col = (q: string): ColumnSource => {
  const i = q.lastIndexOf('.');
  return { kind: 'column', relation: rel(q.slice(0, i)), column: q.slice(i + 1) };
};

function facts(f: Partial<StatementFacts>): StatementFacts {
  return {
    tag: 'SelectStmt', command: 'SELECT', accesses: [], unsupported: [], effects: [], unfilteredWrite: false,
    writes: false, outputs: [], copyTo: null, transaction: false, executes: null, prepares: null, ...f,
  };
}
const select = (...tables: string[]) => facts({ accesses: tables.map((t) => acc('SELECT', t)) });
const effect = (e: SessionEffect | Record<string, unknown>, command = 'SET') =>
  facts({ tag: 'VariableSetStmt', command, effects: [e as SessionEffect] });

interface Opts {
  policies?: AccessPolicy[];
  user?: string;
  groups?: string[];
  database?: string;
  searchPath?: string[];
  grants?: Grant[];
  text?: string;
  invoker?: InvokerViews;
}
function run(stmt: StatementFacts, o: Opts = {}): Decision {
  const set = compile(o.policies ?? [TRAINER], 7);
  const identity = makeIdentity(o.user ?? SA, o.groups ?? []);
  const database = o.database ?? 'orders';
  const ctx: SessionContext = {
    identity, database, searchPath: o.searchPath ?? ['public'],
    catalogRelations: new Set(['pg_class', 'pg_type', 'pg_stats']),
    catalogFunctions: new Set(['now', 'lower', 'pg_read_file', 'set_config', 'pg_sleep']),
    grants: o.grants ?? [],
    ...(o.invoker === undefined ? {} : { invoker: o.invoker }),
  };
  return decide(selectFor(set, identity, database), ctx, stmt, o.text);
}

type Want = Partial<Record<'verdict' | 'policy' | 'rule' | 'reason' | 'holdTimeoutMs', unknown>> & {
  wouldDeny?: unknown; outputs?: unknown; needsRowDescription?: boolean; refuse?: unknown; maxAffectedRows?: unknown; grant?: unknown;
};
const allow = (rule: string, policyName = 'ml/trainer'): Want => ({ verdict: 'allow', policy: policyName, rule });
const denyBy = (policyName: string | null, rule: string | null, reason: string): Want => ({ verdict: 'deny', policy: policyName, rule, reason });
const noRule = (reason: string): Want => denyBy(null, null, reason);

function pick(d: Decision): Want {
  const w: Want = { verdict: d.verdict, policy: d.policy, rule: d.rule };
  if (d.verdict === 'deny') w.reason = d.reason;
  if (d.verdict === 'approve') w.holdTimeoutMs = d.holdTimeoutMs;
  if (d.verdict === 'allow' || d.verdict === 'warn') {
    w.wouldDeny = d.wouldDeny;
    w.grant = d.grant;
    w.outputs = d.masks.outputs;
    w.needsRowDescription = d.masks.needsRowDescription;
    w.refuse = d.masks.refuse;
    w.maxAffectedRows = d.guardrails;
  }
  return w;
}
function check(d: Decision, want: Want): void {
  const got = pick(d);
  const subset: Record<string, unknown> = {};
  for (const k of Object.keys(want)) subset[k] = (got as Record<string, unknown>)[k];
  assert.deepStrictEqual(subset, want);
}

const WARN_DENY = policy('staging', { mode: 'warn', rules: [
  { name: 'no-orders-read', effect: 'deny', operations: ['SELECT'], tables: ['public.orders'] },
  { name: 'read-public', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] }] });
const OBSERVE_DENY = policy('watch', { mode: 'observe', rules: [
  { name: 'no-orders-read', effect: 'deny', operations: ['SELECT'], tables: ['public.orders'] },
  { name: 'read-public', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] }] });
const WARN_ONLY_CUSTOMERS = policy('new', { mode: 'warn',
  rules: [{ name: 'read-customers', effect: 'allow', operations: ['SELECT'], tables: ['public.customers'] }],
  masking: [{ columns: ['public.customers.name'], strategy: 'null' }] });
const ORDERS_GRANT: Grant = { request: 'ml/del-1', statement: null, expiresAtMs: 0,
  rules: [{ name: 'jit', effect: 'allow', operations: ['DELETE'], tables: ['public.orders'], functions: null }] };
const READ_FILE = policy('ops', { rules: [
  { name: 'read-logs', effect: 'allow', operations: ['CALL'], functions: ['pg_catalog.pg_read_file'] }] });
const READ_ALL_FNS = policy('ops', { rules: [
  { name: 'all-catalog', effect: 'allow', operations: ['CALL'], functions: ['pg_catalog.*', '*'] }] });
const GROUP_POLICY = policy('oncall', { subjects: [{ kind: 'Group', name: 'data-oncall' }],
  rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.orders'] }] });
const SA_NS_POLICY = policy('ns-wide', { subjects: [{ kind: 'Group', name: 'system:serviceaccounts:ml' }],
  rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.orders'] }] });
const STRICT_ROWS = policy('strict', { rules: [{ name: 'any', effect: 'allow', operations: ['SELECT'] }],
  guardrails: { maxAffectedRows: 10 } });
const NOTIFIER = policy('notifier', { rules: [
  { name: 'not-secret', effect: 'deny', operations: ['NOTIFY'], channels: ['cache_secret'] },
  { name: 'invalidate', effect: 'allow', operations: ['NOTIFY'], channels: ['cache_*'] }] });
const ALL_DBS = policy('everywhere', { databases: ['*'], rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'] }] });

const cases: [string, StatementFacts, Want, Opts?][] = [
  // allow / deny / approve
  ['select on an allowed table', select('public.orders'), allow('read-app-tables')],
  ['unqualified name resolved via search_path', select('orders'), allow('read-app-tables')],
  ['insert on the write table', facts({ accesses: [acc('INSERT', 'public.orders')], writes: true }), allow('write-orders')],
  ['insert elsewhere is default-denied', facts({ accesses: [acc('INSERT', 'public.customers')] }),
    noRule('no rule allows INSERT on public.customers')],
  ['deny rule without tables covers every relation', facts({ accesses: [acc('DROP', 'public.orders')] }),
    denyBy('ml/trainer', 'no-destructive', 'DROP on public.orders is denied by rule "no-destructive"')],
  ['TRUNCATE hidden after a SELECT: deny wins', facts({ accesses: [acc('SELECT', 'public.orders'), acc('TRUNCATE', 'public.orders')] }),
    denyBy('ml/trainer', 'no-destructive', 'TRUNCATE on public.orders is denied by rule "no-destructive"')],
  ['DELETE hidden in a CTE of a SELECT', facts({ accesses: [acc('SELECT', 'public.orders'), acc('DELETE', 'public.customers')] }),
    noRule('no rule allows DELETE on public.customers')],
  ['approve rule without a grant', facts({ accesses: [acc('DELETE', 'public.orders')], writes: true }),
    { verdict: 'approve', policy: 'ml/trainer', rule: 'approve-deletes', holdTimeoutMs: 30_000 }],
  ['approve rule with a covering rule grant', facts({ accesses: [acc('DELETE', 'public.orders')], writes: true }),
    { ...allow('approve-deletes'), grant: 'ml/del-1' }, { grants: [ORDERS_GRANT] }],
  ['approve rule with a statement grant and matching text', facts({ accesses: [acc('DELETE', 'public.orders')] }),
    { ...allow('approve-deletes'), grant: 'ml/r' }, { grants: [{ request: 'ml/r', rules: null, statement: 'DELETE FROM orders WHERE id = $1', expiresAtMs: 0 }], text: 'DELETE FROM orders WHERE id = $1' }],
  ['statement grant for another statement does not cover', facts({ accesses: [acc('DELETE', 'public.orders')] }),
    { verdict: 'approve', rule: 'approve-deletes' }, { grants: [{ request: 'ml/r', rules: null, statement: 'DELETE FROM orders WHERE id = 1', expiresAtMs: 0 }], text: 'DELETE FROM orders' }],
  ['a grant never overrides a deny rule', facts({ accesses: [acc('DROP', 'public.orders')] }),
    { verdict: 'deny', rule: 'no-destructive' }, { grants: [{ ...ORDERS_GRANT, rules: [{ name: 'x', effect: 'allow', operations: ['DROP'], tables: null, functions: null }] }] }],
  ['other schema is default-denied', select('secret.keys'), noRule('no rule allows SELECT on secret.keys')],
  ['ALL in a rule matches DDL', facts({ accesses: [acc('DDL', 'scratch.tmp')] }), allow('scratch')],
  ['ALL in a rule matches DELETE (guardrail aside)', facts({ accesses: [acc('DELETE', 'scratch.tmp')], writes: true }), allow('scratch')],
  ['deny rule in one policy beats allow in another', select('public.orders'),
    denyBy('ml/lockdown', 'no-orders', 'SELECT on public.orders is denied by rule "no-orders"'),
    { policies: [TRAINER, policy('lockdown', { rules: [{ name: 'no-orders', effect: 'deny', operations: ['ALL'], tables: ['public.orders'] }] })] }],
  // subjects and databases
  ['unknown subject', select('public.orders'),
    noRule('no AccessPolicy matches subject system:serviceaccount:ml:other for database orders'), { user: 'system:serviceaccount:ml:other' }],
  ['same name in another namespace is another ServiceAccount', select('public.orders'),
    { verdict: 'deny', policy: null }, { user: 'system:serviceaccount:prod:trainer' }],
  ['policy for another database does not apply', select('public.orders'),
    noRule('no AccessPolicy matches subject system:serviceaccount:ml:trainer for database billing'), { database: 'billing' }],
  ['databases "*" applies to every binding', select('public.orders'), allow('read', 'ml/everywhere'), { policies: [ALL_DBS], database: 'billing' }],
  ['User subject by exact name', select('public.orders'), allow('read-app-tables'), { user: 'alice@example.com' }],
  ['User subject is case-sensitive', select('public.orders'), { verdict: 'deny', policy: null }, { user: 'Alice@example.com' }],
  ['Group subject via identity groups', select('public.orders'), allow('read', 'ml/oncall'),
    { policies: [GROUP_POLICY], user: 'bob@example.com', groups: ['data-oncall'] }],
  ['Group subject without the group', select('public.orders'), { verdict: 'deny', policy: null },
    { policies: [GROUP_POLICY], user: 'bob@example.com', groups: ['other'] }],
  ['ServiceAccount is in system:serviceaccounts:NS', select('public.orders'), allow('read', 'ml/ns-wide'),
    { policies: [SA_NS_POLICY], user: 'system:serviceaccount:ml:etl' }],
  ['ServiceAccount of another namespace is not', select('public.orders'), { verdict: 'deny', policy: null },
    { policies: [SA_NS_POLICY], user: 'system:serviceaccount:prod:etl' }],
  // not understood
  ['unsupported statement is denied whatever the policy', facts({ accesses: [acc('SELECT', 'public.orders')], unsupported: ['unknown statement CreateForeignServerStmt'] }),
    noRule('unknown statement CreateForeignServerStmt')],
  ['unsupported is denied in observe mode too', facts({ unsupported: ['could not parse: syntax error at or near "SELEC"'] }),
    noRule('could not parse: syntax error at or near "SELEC"'), { policies: [OBSERVE_DENY] }],
  // functions
  ['pg_catalog function needs no rule', facts({ accesses: [acc('CALL', 'now', 'function')] }), allow(IMPLICIT_RULE_NAME)],
  ['server file read', facts({ accesses: [acc('CALL', 'pg_read_file', 'function')] }),
    noRule('pg_catalog.pg_read_file is a server filesystem function; it is allowed only by a rule whose functions lists "pg_catalog.pg_read_file" exactly')],
  ['server file read named exactly', facts({ accesses: [acc('CALL', 'pg_catalog.pg_read_file', 'function')] }),
    allow('read-logs', 'ml/ops'), { policies: [READ_FILE] }],
  ['server file read unqualified, named exactly', facts({ accesses: [acc('CALL', 'pg_read_file', 'function')] }),
    allow('read-logs', 'ml/ops'), { policies: [READ_FILE] }],
  ['a glob never allows a dangerous function', facts({ accesses: [acc('CALL', 'pg_catalog.pg_sleep', 'function')] }),
    noRule('pg_catalog.pg_sleep is a sleep function; it is allowed only by a rule whose functions lists "pg_catalog.pg_sleep" exactly'),
    { policies: [READ_ALL_FNS] }],
  ['dblink in an extension schema', facts({ accesses: [acc('CALL', 'public.dblink_exec', 'function')] }),
    noRule('public.dblink_exec is a network function (dblink); it is allowed only by a rule whose functions lists "public.dblink_exec" exactly')],
  // issue 12: set_config(name, …) is decided as SET name (its effect), not as a dangerous function
  ['set_config of a harmless setting needs no rule (asyncpg turns jit off)',
    facts({ accesses: [acc('CALL', 'set_config', 'function')], effects: [{ kind: 'set', name: 'jit', local: false, value: 'off' }] }),
    allow(IMPLICIT_RULE_NAME)],
  ['set_config of search_path is denied as SET search_path is',
    facts({ accesses: [acc('CALL', 'set_config', 'function')], effects: [{ kind: 'set', name: 'search_path', local: false, value: 'evil' }] }),
    noRule('changing search_path is not allowed through Airlock: unqualified names are resolved against the search_path the proxy knows; changing it could reach relations the policy does not allow')],
  ['user function allowed by a functions glob', facts({ accesses: [acc('CALL', 'public.calc_tax', 'function')] }), allow('call-calc')],
  ['user function without a rule', facts({ accesses: [acc('CALL', 'public.wipe', 'function')] }),
    noRule('no rule allows CALL on public.wipe')],
  ['unqualified user function resolved via search_path', facts({ accesses: [acc('CALL', 'calc_total', 'function')] }), allow('call-calc')],
  // catalog and name resolution
  ['catalog read needs no rule', select('pg_class'), allow(IMPLICIT_RULE_NAME)],
  ['information_schema read needs no rule', select('information_schema.tables'), allow(IMPLICIT_RULE_NAME)],
  ['information_schema helper function needs no rule', facts({ accesses: [acc('CALL', 'information_schema._pg_expandarray', 'function')] }), allow(IMPLICIT_RULE_NAME)],
  ['writing a catalog relation needs a rule', facts({ accesses: [acc('UPDATE', 'pg_catalog.pg_class')] }), noRule('no rule allows UPDATE on pg_catalog.pg_class')],
  ['pg_stats needs exact naming (it leaks column values)', select('pg_stats'),
    noRule('pg_catalog.pg_stats exposes data beyond table privileges (column statistics, other sessions\' statements or credentials); SELECT on it needs a rule whose tables lists "pg_catalog.pg_stats" exactly')],
  // Found by the privilege oracle (test/oracle): catalog objects PUBLIC may not use, allowed before as built-ins.
  ['pg_hba_file_rules() is a server internals function', facts({ accesses: [acc('CALL', 'pg_catalog.pg_hba_file_rules', 'function')] }),
    noRule('pg_catalog.pg_hba_file_rules is a server internals function; it is allowed only by a rule whose functions lists "pg_catalog.pg_hba_file_rules" exactly')],
  ['pg_current_logfile() is a server internals function', facts({ accesses: [acc('CALL', 'pg_catalog.pg_current_logfile', 'function')] }), { verdict: 'deny', rule: null }],
  ['pg_nextoid() checks for a superuser at run time: dangerous', facts({ accesses: [acc('CALL', 'pg_catalog.pg_nextoid', 'function')] }), { verdict: 'deny', rule: null }],
  ['pg_stat_get_activity() shows every session\'s statements to a superuser', facts({ accesses: [acc('CALL', 'pg_catalog.pg_stat_get_activity', 'function')] }), { verdict: 'deny', rule: null }],
  ['pg_config needs exact naming (PUBLIC may not read it)', select('pg_catalog.pg_config'), { verdict: 'deny', rule: null }],
  ['pg_shmem_allocations needs exact naming', select('pg_catalog.pg_shmem_allocations'), { verdict: 'deny', rule: null }],
  ['information_schema._pg_user_mappings needs exact naming (user mapping passwords)', select('information_schema._pg_user_mappings'),
    noRule('information_schema._pg_user_mappings exposes data beyond table privileges (column statistics, other sessions\' statements or credentials); SELECT on it needs a rule whose tables lists "information_schema._pg_user_mappings" exactly')],
  ['information_schema.user_mapping_options needs exact naming', select('information_schema.user_mapping_options'), { verdict: 'deny', rule: null }],
  ['every search_path candidate must be allowed', select('orders'),
    noRule('no rule allows SELECT on orders (as app.orders via search_path)'), { searchPath: ['app', 'public'] }],
  ['empty search_path cannot resolve', select('orders'),
    noRule('cannot resolve unqualified relation orders for SELECT: the search_path has no existing schema'), { searchPath: [] }],
  // guardrails
  ['UPDATE without WHERE', facts({ command: 'UPDATE', accesses: [acc('UPDATE', 'public.orders')], unfilteredWrite: true, writes: true }),
    denyBy('ml/trainer', UNFILTERED_WRITE_RULE, 'UPDATE without a WHERE clause is blocked by guardrails.blockUnfilteredWrites; add a WHERE clause naming the rows to change')],
  ['maxAffectedRows from the policy', facts({ accesses: [acc('UPDATE', 'public.orders')], writes: true }),
    { ...allow('write-orders'), maxAffectedRows: { maxAffectedRows: 1000, policy: 'ml/trainer' } }],
  ['the smallest maxAffectedRows wins', facts({ accesses: [acc('UPDATE', 'public.orders')], writes: true }),
    { verdict: 'allow', maxAffectedRows: { maxAffectedRows: 10, policy: 'ml/strict' } }, { policies: [TRAINER, STRICT_ROWS] }],
  // session effects
  ['SET ROLE', effect({ kind: 'role' }), noRule('SET ROLE and SET SESSION AUTHORIZATION are not allowed through Airlock: they would change the database role the policy is enforced for')],
  ['SET search_path', effect({ kind: 'set', name: 'search_path', local: false }),
    noRule('changing search_path is not allowed through Airlock: unqualified names are resolved against the search_path the proxy knows; changing it could reach relations the policy does not allow')],
  ['SET standard_conforming_strings', effect({ kind: 'set', name: 'standard_conforming_strings', local: true }), { verdict: 'deny', rule: null }],
  // Neutralised, not denied: every enforcement-critical setting is pinned to its default already (decide.ts).
  ['RESET ALL', effect({ kind: 'reset', name: null }, 'RESET'), allow(IMPLICIT_RULE_NAME)],
  ['RESET statement_timeout', effect({ kind: 'reset', name: 'statement_timeout' }, 'RESET'), allow(IMPLICIT_RULE_NAME)],
  // Found by the privilege oracle: settings PostgreSQL lets only superusers change, through a superuser binding.
  ['SET session_replication_role (switches off triggers and FK checks)', effect({ kind: 'set', name: 'session_replication_role', local: false }),
    noRule('changing session_replication_role is not allowed through Airlock: PostgreSQL lets only superusers change it, and the binding may be a superuser')],
  ['SET LOCAL log_statement', effect({ kind: 'set', name: 'LOG_STATEMENT', local: true }), { verdict: 'deny', rule: null }],
  ['RESET log_min_duration_statement', effect({ kind: 'reset', name: 'log_min_duration_statement' }, 'RESET'),
    noRule('resetting log_min_duration_statement is not allowed through Airlock: PostgreSQL lets only superusers change it, and the binding may be a superuser')],
  ['SET work_mem is a user setting', effect({ kind: 'set', name: 'work_mem', local: false }), allow(IMPLICIT_RULE_NAME)],
  ['pg_settings needs exact naming (a superuser sees hidden settings)', select('pg_catalog.pg_settings'), { verdict: 'deny', rule: null }],
  ['SET application_name needs no rule', effect({ kind: 'set', name: 'application_name', local: false }), allow(IMPLICIT_RULE_NAME)],
  ['SET client_encoding without a known value', effect({ kind: 'set', name: 'client_encoding', local: false }),
    noRule('client_encoding other than UTF8 is not allowed through Airlock: statements are analyzed as UTF-8')],
  ['SET client_encoding UTF8', effect({ kind: 'set', name: 'client_encoding', local: false, value: 'UTF8' }), allow(IMPLICIT_RULE_NAME)],
  ['SET client_encoding LATIN1', effect({ kind: 'set', name: 'client_encoding', local: false, value: 'LATIN1' }), { verdict: 'deny' }],
  ['DISCARD ALL', effect({ kind: 'discard' }, 'DISCARD ALL'), allow(IMPLICIT_RULE_NAME)],
  ['DISCARD PLANS', effect({ kind: 'discard' }, 'DISCARD PLANS'), allow(IMPLICIT_RULE_NAME)],
  ['BEGIN needs no rule', facts({ tag: 'TransactionStmt', command: 'BEGIN', transaction: true }), allow(IMPLICIT_RULE_NAME)],
  ['LISTEN needs no rule', facts({ tag: 'ListenStmt', command: 'LISTEN', effects: [{ kind: 'listen' }] }), allow(IMPLICIT_RULE_NAME)],
  ['BEGIN without any matching policy', facts({ command: 'BEGIN', transaction: true }), { verdict: 'deny', policy: null }, { user: 'nobody' }],
  // modes
  ['warn policy alone: warn with wouldDeny', select('public.orders'),
    { verdict: 'warn', policy: 'ml/staging', rule: 'no-orders-read',
      wouldDeny: [{ policy: 'ml/staging', rule: 'no-orders-read', reason: 'SELECT on public.orders is denied by rule "no-orders-read"' }] },
    { policies: [WARN_DENY] }],
  ['observe policy alone: allow with wouldDeny', select('public.orders'),
    { verdict: 'allow', policy: 'ml/watch', rule: 'no-orders-read',
      wouldDeny: [{ policy: 'ml/watch', rule: 'no-orders-read', reason: 'SELECT on public.orders is denied by rule "no-orders-read"' }] },
    { policies: [OBSERVE_DENY] }],
  ['warn policy default deny: every staged policy counts it', select('secret.keys'),
    { verdict: 'warn', rule: DEFAULT_DENY_RULE, wouldDeny: [{ policy: 'ml/staging', rule: null, reason: 'no rule allows SELECT on secret.keys' }] },
    { policies: [WARN_DENY] }],
  ['enforce allows, warn denies: warn', select('public.orders'), { verdict: 'warn', policy: 'ml/staging', rule: 'no-orders-read' },
    { policies: [TRAINER, WARN_DENY] }],
  ['enforce allows, observe denies: allow, counted', select('public.orders'),
    { verdict: 'allow', policy: 'ml/watch', wouldDeny: [{ policy: 'ml/watch', rule: 'no-orders-read', reason: 'SELECT on public.orders is denied by rule "no-orders-read"' }] },
    { policies: [TRAINER, OBSERVE_DENY] }],
  ['enforce denies, warn allows: deny', select('secret.keys'), noRule('no rule allows SELECT on secret.keys'),
    { policies: [TRAINER, policy('more', { mode: 'warn', rules: [{ name: 'all', effect: 'allow', operations: ['ALL'] }] })] }],
  ['an allow staged in warn mode grants nothing', select('public.customers'), { verdict: 'deny' },
    { policies: [policy('base', { rules: [{ name: 'r', effect: 'allow', operations: ['SELECT'], tables: ['public.orders'] }] }), WARN_ONLY_CUSTOMERS] }],
  ['enforce and warn both allow: allow, nothing counted', select('public.orders'), { ...allow('read-app-tables'), wouldDeny: [] },
    { policies: [TRAINER, WARN_ONLY_CUSTOMERS] }],
  ['warn approve rule without a grant: warn', facts({ accesses: [acc('DELETE', 'public.orders')] }),
    { verdict: 'warn', rule: 'later', wouldDeny: [{ policy: 'ml/stage-approve', rule: 'later', reason: 'ml/stage-approve rule "later" requires an approved AccessRequest' }] },
    { policies: [policy('stage-approve', { mode: 'warn', rules: [{ name: 'later', effect: 'approve', operations: ['DELETE'] }] })] }],
  // masking
  ['masked column passes its strategy', facts({ accesses: [acc('SELECT', 'public.customers')], outputs: [col('public.customers.id'), col('public.customers.email')] }),
    { ...allow('read-app-tables'), outputs: [null, 'partial'], needsRowDescription: false, refuse: null }],
  ['unqualified masked column', facts({ accesses: [acc('SELECT', 'customers')], outputs: [col('customers.ssn')] }), { outputs: ['redact'] }],
  ['whole row takes the strictest strategy', facts({ accesses: [acc('SELECT', 'public.customers')], outputs: [{ kind: 'row', relation: rel('public.customers') }] }),
    { outputs: ['redact'] }],
  ['derived from masked sources takes the strictest', facts({ accesses: [acc('SELECT', 'public.customers')],
    outputs: [{ kind: 'derived', from: [col('public.customers.email'), col('public.customers.phone')] }, { kind: 'derived', from: [col('public.customers.id')] }] }),
    { outputs: ['hash', null] }],
  ['star over a masked relation needs RowDescription', facts({ accesses: [acc('SELECT', 'public.customers')], outputs: [{ kind: 'star', relations: [rel('public.customers')] }] }),
    { outputs: [null], needsRowDescription: true }],
  ['star over an unmasked relation', facts({ accesses: [acc('SELECT', 'public.orders')], outputs: [{ kind: 'star', relations: [rel('public.orders')] }] }),
    { outputs: [null], needsRowDescription: false }],
  ['opaque output beside a masked relation is redacted', facts({ accesses: [acc('SELECT', 'public.customers'), acc('CALL', 'public.calc_x', 'function')], outputs: [{ kind: 'opaque' }] }),
    { outputs: ['redact'] }],
  ['opaque output without masked relations passes', facts({ accesses: [acc('SELECT', 'public.orders')], outputs: [{ kind: 'opaque' }] }), { outputs: [null] }],
  ['masks come from enforce-mode policies only', facts({ accesses: [acc('SELECT', 'public.customers')], outputs: [col('public.customers.name')] }),
    { verdict: 'allow', outputs: [null] }, { policies: [TRAINER, WARN_ONLY_CUSTOMERS] }],
  ['COPY binary of a masked table is refused', facts({ tag: 'CopyStmt', command: 'COPY', accesses: [acc('COPY_TO', 'public.customers')],
    copyTo: { relation: rel('public.customers'), columns: null, format: 'binary', optionsDefault: true } }),
    { verdict: 'allow', refuse: 'COPY of public.customers in binary format cannot be masked (masked: public.customers.email, public.customers.ssn, public.customers.phone); use COPY (SELECT … FROM public.customers) TO STDOUT (FORMAT binary), or text or csv format' }],
  ['COPY text of a masked table is masked, not refused', facts({ tag: 'CopyStmt', command: 'COPY', accesses: [acc('COPY_TO', 'public.customers')],
    copyTo: { relation: rel('public.customers'), columns: null, format: 'text', optionsDefault: true } }), { verdict: 'allow', refuse: null }],
  ['COPY binary of unmasked columns only', facts({ tag: 'CopyStmt', command: 'COPY', accesses: [acc('COPY_TO', 'public.customers')],
    copyTo: { relation: rel('public.customers'), columns: ['id'], format: 'binary', optionsDefault: true } }), { verdict: 'allow', refuse: null }],
  ['COPY csv with non-default options', facts({ tag: 'CopyStmt', command: 'COPY', accesses: [acc('COPY_TO', 'public.customers')],
    copyTo: { relation: rel('public.customers'), columns: ['ssn'], format: 'csv', optionsDefault: false } }),
    { refuse: 'COPY of public.customers with options other than FORMAT, HEADER, DELIMITER, QUOTE, ESCAPE, NULL and FORCE_QUOTE cannot be masked (masked: public.customers.ssn); use only those options (none with FORMAT binary)' }],
  // NOTIFY (issue 11): sending a notification is a write to a channel other sessions read
  ['NOTIFY needs a rule: a read-only identity may not send', facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('jobs')] }),
    noRule('no rule allows NOTIFY on channel "jobs"')],
  ['pg_notify needs the same rule', facts({ accesses: [acc('CALL', 'pg_catalog.pg_notify', 'function'), notify('jobs')] }),
    noRule('no rule allows NOTIFY on channel "jobs"')],
  ['a rule listing tables reaches no channel, even with ALL', facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('scratch')] }),
    noRule('no rule allows NOTIFY on channel "scratch"')],
  ['a channels glob allows NOTIFY', facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('cache_orders')] }),
    allow('invalidate', 'ml/notifier'), { policies: [NOTIFIER] }],
  ['… and nothing else', facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('jobs')] }),
    noRule('no rule allows NOTIFY on channel "jobs"'), { policies: [NOTIFIER] }],
  ['channels compare exactly (no folding)', facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('Cache_orders')] }),
    noRule('no rule allows NOTIFY on channel "Cache_orders"'), { policies: [NOTIFIER] }],
  ['a rule with no object lists reaches every channel', facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('jobs')] }),
    allow('everything', 'ml/admin'), { policies: [policy('admin', { rules: [{ name: 'everything', effect: 'allow', operations: ['ALL'] }] })] }],
  ['a deny rule on channels wins', facts({ tag: 'NotifyStmt', command: 'NOTIFY', accesses: [notify('cache_secret')] }),
    denyBy('ml/notifier', 'not-secret', 'NOTIFY on channel "cache_secret" is denied by rule "not-secret"'), { policies: [NOTIFIER] }],
  ['a masked column may not flow into a payload', facts({ accesses: [acc('SELECT', 'public.customers'), acc('CALL', 'pg_catalog.pg_notify', 'function'), notify('cache_x')],
    notified: [col('public.customers.ssn')] }),
    noRule('it would send values of masked column public.customers.ssn in a notification payload, which listeners receive unmasked; masked values can be read, not sent'),
    { policies: [TRAINER, NOTIFIER] }],
  ['nor a value derived from one', facts({ accesses: [acc('SELECT', 'public.customers'), acc('CALL', 'pg_catalog.pg_notify', 'function'), notify('cache_x')],
    notified: [{ kind: 'derived', from: [col('public.customers.email')] }] }),
    { verdict: 'deny', reason: 'it would send values derived from masked column public.customers.email in a notification payload, which listeners receive unmasked; masked values can be read, not sent' },
    { policies: [TRAINER, NOTIFIER] }],
  ['an unmasked column may', facts({ accesses: [acc('SELECT', 'public.customers'), acc('CALL', 'pg_catalog.pg_notify', 'function'), notify('cache_x')],
    notified: [col('public.customers.id')] }), { verdict: 'allow' }, { policies: [TRAINER, NOTIFIER] }],
  ['COPY csv with HEADER and DELIMITER is masked, not refused', facts({ tag: 'CopyStmt', command: 'COPY', accesses: [acc('COPY_TO', 'public.customers')],
    copyTo: { relation: rel('public.customers'), columns: ['ssn'], format: 'csv', optionsDefault: false, textOptions: { header: true, delimiter: ';' } } }),
    { refuse: null }],
  // issue 12: the proxy describes a COPY (query) and masks its output, binary included
  ['COPY (query) binary of a masked column is masked, not refused', facts({ tag: 'CopyStmt', command: 'COPY',
    accesses: [acc('SELECT', 'public.customers'), acc('COPY_TO', 'public.customers')], outputs: [{ kind: 'star', relations: [rel('public.customers')] }],
    copyTo: { relation: null, columns: null, format: 'binary', optionsDefault: true, query: 'SELECT * FROM public.customers' } }), { verdict: 'allow', refuse: null }],
  ['COPY (query) with an option the masker cannot follow is refused', facts({ tag: 'CopyStmt', command: 'COPY',
    accesses: [acc('SELECT', 'public.customers'), acc('COPY_TO', 'public.customers')], outputs: [col('public.customers.ssn')],
    copyTo: { relation: null, columns: null, format: 'csv', optionsDefault: false, query: 'SELECT ssn FROM public.customers' } }),
    { refuse: 'COPY (query) with options other than FORMAT, HEADER, DELIMITER, QUOTE, ESCAPE, NULL and FORCE_QUOTE cannot be masked because its result includes masked columns; use only those options (none with FORMAT binary)' }],
];

for (const [name, stmt, want, opts] of cases) test(name, () => check(run(stmt, opts), want));

test('channels: a rule from an operator that predates them reaches channels only when it names no objects', () => {
  const set = compile([TRAINER], 1);
  // what an older operator sends: no `channels` key at all
  const old = { ...set, policies: set.policies.map((p) => ({ ...p, rules: p.rules.map(({ channels: _c, ...r }) => r) })) };
  const identity = makeIdentity(SA, []);
  const ctx: SessionContext = { identity, database: 'orders', searchPath: ['public'], catalogRelations: new Set(), catalogFunctions: new Set(), grants: [] };
  const d = decide(selectFor(old, identity, 'orders'), ctx, facts({ accesses: [notify('jobs')] }));
  assert.equal(d.verdict, 'deny');
});

test('the table has at least 40 rows', () => assert.ok(cases.length >= 40, `${cases.length}`));

test('the compiled set is plain JSON', () => {
  const set = compile([TRAINER, WARN_DENY], 3);
  assert.deepStrictEqual(JSON.parse(JSON.stringify(set)), set);
  const p = set.policies[0];
  assert.equal(p?.name, 'ml/trainer');
  assert.deepStrictEqual(p?.rules.find((r) => r.name === 'scratch')?.operations.length, 13);
  assert.equal(p?.approval?.holdTimeoutMs, 30_000);
  assert.deepStrictEqual(p?.masking, { 'public.customers.email': 'partial', 'public.customers.ssn': 'redact', 'public.customers.phone': 'hash' });
});

test('compile refuses an invalid policy with every issue', () => {
  const bad = policy('bad', { rules: [{ name: 'x', effect: 'allow', operations: ['DELTE' as 'DELETE'], tables: ['orders'] }] });
  assert.throws(() => compile([bad], 1), (e: Error) => e.message.includes('AccessPolicy ml/bad: spec.rules[0].operations[0]: unknown operation "DELTE"')
    && e.message.includes('spec.rules[0].tables[0]: "orders" is not a schema.table glob'));
});

test('MaskPlan.columns lists every masked column of enforce policies', () => {
  const d = run(select('public.orders'));
  assert.equal(d.verdict, 'allow');
  if (d.verdict === 'allow') assert.deepStrictEqual(d.masks.columns, { 'public.customers.email': 'partial', 'public.customers.ssn': 'redact', 'public.customers.phone': 'hash' });
});

test('an opaque output makes positions untrustworthy (it may stand for several columns)', () => {
  const d = run(facts({ accesses: [acc('SELECT', 'public.customers')], outputs: [{ kind: 'opaque' }, col('public.customers.email')] }));
  assert.equal(d.verdict, 'allow');
  if (d.verdict === 'allow') { assert.equal(d.masks.hasStar, true); assert.deepEqual(d.masks.outputs, ['redact', 'partial']); }
});

test('without a star or opaque output, positions are trusted', () => {
  const d = run(facts({ accesses: [acc('SELECT', 'public.customers')], outputs: [col('public.customers.id'), col('public.customers.email')] }));
  if (d.verdict !== 'allow') assert.fail(d.verdict);
  assert.equal(d.masks.hasStar, false);
});

// Regression (found by the proxy's disguise corpus): the analyzer reports `DO $$…$$` as CALL of
// pg_catalog.do, and built-in pg_catalog functions need no rule — so a DO block was allowed.
test('a DO block is denied unless a rule names pg_catalog.do exactly', () => {
  const doBlock = facts({ tag: 'DoStmt', command: 'DO', accesses: [acc('CALL', 'pg_catalog.do', 'function')] });
  const d = run(doBlock);
  assert.equal(d.verdict, 'deny');
  if (d.verdict === 'deny') assert.match(d.reason, /anonymous code block \(DO\).*pg_catalog\.do/);
  const glob = policy('glob', { rules: [{ name: 'all-fns', effect: 'allow', operations: ['CALL'], functions: ['pg_catalog.*'] }] });
  assert.equal(run(doBlock, { policies: [glob] }).verdict, 'deny');
  const named = policy('named', { rules: [{ name: 'do', effect: 'allow', operations: ['CALL'], functions: ['pg_catalog.do'] }] });
  assert.equal(run(doBlock, { policies: [named] }).verdict, 'allow');
});

// Masking launders if a masked value can be stored somewhere unmasked and read back (found by probing the
// demo: INSERT INTO orders … SELECT length(ssn) FROM customers). One row per way of storing a value.
const storing: readonly (readonly [string, StatementFacts, 'deny' | 'allow'])[] = [
  ['INSERT … SELECT of a masked column', facts({ tag: 'InsertStmt', command: 'INSERT', writes: true,
    accesses: [acc('INSERT', 'public.orders'), acc('SELECT', 'public.customers')], written: [col('public.customers.email')] }), 'deny'],
  ['a value derived from a masked column', facts({ tag: 'InsertStmt', command: 'INSERT', writes: true,
    accesses: [acc('INSERT', 'public.orders'), acc('SELECT', 'public.customers')],
    written: [{ kind: 'derived', from: [col('public.customers.ssn')] }] }), 'deny'],
  ['UPDATE SET from a masked column of the same table', facts({ tag: 'UpdateStmt', command: 'UPDATE', writes: true,
    accesses: [acc('UPDATE', 'public.orders'), acc('SELECT', 'public.customers')], written: [col('public.customers.phone')] }), 'deny'],
  ['SELECT * INTO a new table', facts({ accesses: [acc('DDL', 'scratch.t'), acc('SELECT', 'public.customers')],
    written: [{ kind: 'star', relations: [rel('public.customers')] }] }), 'deny'],
  ['an untraceable value in a statement that reads masked columns', facts({ tag: 'InsertStmt', command: 'INSERT', writes: true,
    accesses: [acc('INSERT', 'public.orders'), acc('SELECT', 'public.customers')], written: [{ kind: 'opaque' }] }), 'deny'],
  ['storing an unmasked column of a masked table is fine', facts({ tag: 'InsertStmt', command: 'INSERT', writes: true,
    accesses: [acc('INSERT', 'public.orders'), acc('SELECT', 'public.customers')], written: [col('public.customers.id')] }), 'allow'],
  ['constants are fine', facts({ tag: 'UpdateStmt', command: 'UPDATE', writes: true,
    accesses: [acc('UPDATE', 'public.orders')], written: [{ kind: 'derived', from: [] }] }), 'allow'],
];
for (const [name, stmt, want] of storing) {
  test(`storing values: ${name}`, () => {
    const d = run(stmt);
    assert.equal(d.verdict, want, d.verdict === 'deny' ? d.reason : '');
    if (d.verdict === 'deny') assert.match(d.reason, /could be read back unmasked/);
  });
}

// Found by probing the demo: split_part(email, '@', 1) under `partial` showed the end of the local part.
test('partial on a computed value becomes redact; on the column itself (or a cast) it stays partial', () => {
  const d = run(facts({ accesses: [acc('SELECT', 'public.customers')], outputs: [
    col('public.customers.email'),
    { kind: 'derived', from: [col('public.customers.email')] },
    { kind: 'derived', from: [col('public.customers.phone')] },
  ] }));
  if (d.verdict !== 'allow') assert.fail(d.verdict);
  assert.deepEqual(d.masks.outputs, ['partial', 'redact', 'hash']);
});

// Found by probing the demo: FETCH from a cursor over lower(email) returned the raw value.
test('a cursor over values computed from masked columns is refused; over the columns themselves it is not', () => {
  const declare = (outputs: ColumnSource[]) => facts({ tag: 'DeclareCursorStmt', command: 'DECLARE CURSOR', accesses: [acc('SELECT', 'public.customers')], outputs });
  const computed = run(declare([{ kind: 'derived', from: [col('public.customers.email')] }]));
  if (computed.verdict !== 'allow') assert.fail(computed.verdict);
  assert.match(computed.masks.refuse ?? '', /cursor over values computed from masked columns/);
  const direct = run(declare([col('public.customers.email'), { kind: 'derived', from: [col('public.customers.id')] }]));
  if (direct.verdict !== 'allow') assert.fail(direct.verdict);
  assert.equal(direct.masks.refuse, null);
});

test('a denial names the denied pair, qualified as it resolved, or the session change (issue 12)', () => {
  const what = (d: Decision): string | undefined => (d.verdict === 'deny' ? d.what : undefined);
  // the first access is allowed; the denied one is named, with its search_path schema
  assert.equal(what(run(facts({ accesses: [acc('SELECT', 'public.orders'), acc('DDL', 'x')] }))), 'DDL on public.x');
  assert.equal(what(run(facts({ accesses: [acc('CALL', 'now', 'function'), acc('CALL', 'pg_read_file', 'function')] }))),
    'CALL of function pg_catalog.pg_read_file');
  assert.equal(what(run(facts({ accesses: [acc('CALL', 'set_config', 'function')], effects: [{ kind: 'set', name: 'Search_Path', local: false, value: 'x' }] }))),
    'SET search_path');
  assert.equal(what(run(effect({ kind: 'reset', name: 'search_path' }, 'RESET'))), 'RESET search_path');
  // about the statement as a whole: nothing named, the proxy says which statement
  assert.equal(what(run(facts({ accesses: [acc('SELECT', 'public.orders')], unsupported: ['x is not supported'] }))), undefined);
});

test('MaskPlan.touched: the masked columns whose values a message about the statement could echo (issue 12)', () => {
  const touched = (f: StatementFacts): readonly string[] | undefined => {
    const d = run(f);
    return d.verdict === 'allow' || d.verdict === 'warn' ? d.masks.touched : undefined;
  };
  const customers = ['public.customers.email', 'public.customers.ssn', 'public.customers.phone'];
  assert.deepEqual([...touched(select('public.customers'))!].sort(), [...customers].sort());
  assert.deepEqual([...touched(select('customers'))!].sort(), [...customers].sort(), 'unqualified: via search_path');
  assert.deepEqual(touched(select('public.orders')), []);
  assert.deepEqual(touched(facts({ accesses: [acc('CALL', 'public.calc_tax', 'function')] })), [], 'a function alone touches nothing');
  // a masked output whose relation the accesses do not name (a view resolved to its base): every masked column
  assert.deepEqual([...touched(facts({ accesses: [acc('SELECT', 'public.orders')], outputs: [col('public.customers.email')] }))!].sort(), [...customers].sort());
});

test('security_invoker views: what the view reads is checked as the caller, as PostgreSQL does', () => {
  const VIEWER = policy('viewer', { rules: [
    { name: 'views', effect: 'allow', operations: ['SELECT'], tables: ['public.v_*'] },
    { name: 'orders', effect: 'allow', operations: ['SELECT', 'UPDATE'], tables: ['public.orders'] },
    { name: 'write-view', effect: 'allow', operations: ['UPDATE', 'INSERT', 'TRUNCATE'], tables: ['public.v_orders', 'public.v_secret'] },
  ] });
  const invoker = buildInvokerViews([
    { schema: 'public', name: 'v_secret', reads: [['private', 'secrets']] },
    { schema: 'public', name: 'v_orders', reads: [['public', 'orders']] },
    { schema: 'public', name: 'v_outer', reads: [['public', 'v_secret'], ['public', 'orders']] },
  ]);
  // nested security_invoker views are followed; a relation read twice is listed once
  assert.deepEqual(invoker.reads.get('public\u0000v_outer'), [
    { schema: 'public', name: 'v_secret' }, { schema: 'private', name: 'secrets' }, { schema: 'public', name: 'orders' }]);
  const o = { policies: [VIEWER], invoker };
  const rows: [string, StatementFacts, Opts, Want & { what?: string }][] = [
    ['a view whose base table no rule allows', select('public.v_secret'), o,
      { ...noRule('no rule allows SELECT on private.secrets (read through the security_invoker view public.v_secret, whose reads PostgreSQL checks against the caller)'), what: 'SELECT on private.secrets' }],
    ['unqualified, through the search_path', select('v_secret'), o, { verdict: 'deny', what: 'SELECT on private.secrets' }],
    ['nested: the inner view\'s base table', select('public.v_outer'), o, { verdict: 'deny', what: 'SELECT on private.secrets' }],
    ['COPY (query) reads it too', facts({ accesses: [acc('COPY_TO', 'public.v_secret')] }), { ...o, policies: [policy('viewer', { rules: [
      { name: 'copy', effect: 'allow', operations: ['COPY_TO'], tables: ['public.v_*'] }] })] }, { verdict: 'deny', what: 'SELECT on private.secrets' }],
    ['a base table a rule allows', select('public.v_orders'), o, allow('views', 'ml/viewer')],
    ['a write through the view is the same write on its base table', facts({ tag: 'UpdateStmt', command: 'UPDATE', writes: true,
      accesses: [acc('UPDATE', 'public.v_orders')] }), o, allow('write-view', 'ml/viewer')],
    ['…refused where the base table\'s write is not allowed', facts({ tag: 'InsertStmt', command: 'INSERT', writes: true,
      accesses: [acc('INSERT', 'public.v_orders')] }), o, { verdict: 'deny', what: 'INSERT on public.orders' }],
    ['TRUNCATE implies nothing (PostgreSQL refuses it on a view)', facts({ tag: 'TruncateStmt', command: 'TRUNCATE', writes: true,
      accesses: [acc('TRUNCATE', 'public.v_secret')] }), o, allow('write-view', 'ml/viewer')],
    ['without the catalog fact the view alone decides (the hole this closes)', select('public.v_secret'), { policies: [VIEWER] }, allow('views', 'ml/viewer')],
  ];
  for (const [name, f, opts, want] of rows) {
    const d = run(f, opts);
    const { what, ...rest } = want;
    check(d, rest);
    if (what !== undefined) assert.equal(d.verdict === 'deny' ? d.what : undefined, what, name);
  }
});
