// decide(): one statement's verdict under the policies selected for a session. Pure; the caller
// turns a deny into ErrorResponse 42501 and an audit span, so reasons are written for the person
// reading that error. Semantics: design.md "Decision semantics"; details and their reasons in doc.md.
import { matchersOf } from './select.ts';
import type { OpRules, RuleRef, Selected, View } from './select.ts';
import {
  dangerousFunction,
  SENSITIVE_CATALOG_RELATIONS,
  SENSITIVE_INFORMATION_SCHEMA_RELATIONS,
  SUPERUSER_SETTINGS,
} from './dangerous.ts';
import { invokerAccesses } from './invoker.ts';
import { nameMatches } from './glob.ts';
import { eachCandidate, pairText, resolvedPair } from './decide-names.ts';
import { maskPlan, storedMaskedValue } from './decide-mask.ts';
import type { NameMatcher } from './glob.ts';
import type {
  Access,
  ConcreteOperation,
  Decision,
  Grant,
  SessionContext,
  SessionEffect,
  StatementFacts,
} from './types.ts';

// What explain.ts and proxy/enforce/denial.ts take from here lives beside it now.
export { eachCandidate, pairText, resolvedPair } from './decide-names.ts';
export { maskPlan } from './decide-mask.ts';

type Deny = Extract<Decision, { verdict: 'deny' }>;
type Approve = Extract<Decision, { verdict: 'approve' }>;
type WouldDeny = { readonly policy: string; readonly rule: string | null; readonly reason: string };

/** Rule name reported when a statement needed no rule (SELECT 1, SHOW, BEGIN, pg_catalog reads). */
export const IMPLICIT_RULE_NAME = '(implicit)';
/** Rule name reported for the unfiltered-write guardrail. */
export const UNFILTERED_WRITE_RULE = 'guardrails.blockUnfilteredWrites';
/** Rule name reported in wouldDeny/warn decisions when no rule allowed a pair. */
export const DEFAULT_DENY_RULE = '(default deny)';

const deny = (policy: string | null, rule: string | null, reason: string, what?: string): Deny =>
  what === undefined ? { verdict: 'deny', policy, rule, reason } : { verdict: 'deny', policy, rule, reason, what };

// ---------------------------------------------------------------------------------------------
// Session effects (SET, RESET, DISCARD, …): decided before any rule, whatever the mode, because a
// changed search_path, role or string syntax would make every later decision wrong.

const PROTECTED_SETTINGS: Readonly<Record<string, string>> = {
  search_path:
    'unqualified names are resolved against the search_path the proxy knows; changing it could reach relations the policy does not allow',
  role: 'it would change the database role the policy is enforced for',
  session_authorization: 'it would change the database role the policy is enforced for',
  standard_conforming_strings:
    'the statement analysis assumes standard_conforming_strings stays on (backslashes in strings are literal)',
  track_counts: 'maxAffectedRows counts the rows a statement changed with the statistics counters it turns off',
};
const UTF8_NAMES = new Set(['utf8', 'unicode']);
const SUPERUSER_ONLY = 'PostgreSQL lets only superusers change it, and the binding may be a superuser';

function effectDenial(stmt: StatementFacts): Deny | null {
  for (const e of stmt.effects) {
    const r = effectReason(e);
    if (r !== null) return deny(null, null, r, effectText(e, stmt));
  }
  return null;
}
/** The session change a denial names: `SET search_path`, `RESET ALL`, `SET ROLE`, `DISCARD ALL`. */
function effectText(e: SessionEffect, stmt: StatementFacts): string {
  switch (e.kind) {
    case 'set':
      return `SET ${e.name.toLowerCase()}`;
    case 'reset':
      return e.name === null ? 'RESET ALL' : `RESET ${e.name.toLowerCase()}`;
    case 'role':
      return stmt.command === '' ? 'SET ROLE' : stmt.command;
    case 'discard':
      return 'DISCARD ALL';
    default:
      return stmt.command;
  }
}
function effectReason(e: SessionEffect): string | null {
  switch (e.kind) {
    case 'role':
      return 'SET ROLE and SET SESSION AUTHORIZATION are not allowed through Airlock: they would change the database role the policy is enforced for';
    case 'set': {
      const name = e.name.toLowerCase();
      const why = PROTECTED_SETTINGS[name];
      if (why !== undefined) return `changing ${name} is not allowed through Airlock: ${why}`;
      if (SUPERUSER_SETTINGS.has(name)) return `changing ${name} is not allowed through Airlock: ${SUPERUSER_ONLY}`;
      if (name === 'client_encoding' || name === 'names') {
        // types.ts's SessionEffect carries no value; an analyzer that adds `value` lets UTF8 through.
        const v = (e as { value?: unknown }).value;
        const norm = typeof v === 'string' ? v.toLowerCase().replace(/[-_'"\s]/g, '') : null;
        if (norm === null || !UTF8_NAMES.has(norm)) {
          // The value is a literal of the statement: not quoted in a reason (reasons reach the audit trail).
          return 'client_encoding other than UTF8 is not allowed through Airlock: statements are analyzed as UTF-8';
        }
      }
      return null;
    }
    case 'reset': {
      // RESET ALL (and DISCARD ALL) is neutralised, not denied (design.md): every setting enforcement relies on
      // is pinned to its session default already — SET of search_path, role, session_authorization,
      // standard_conforming_strings, track_counts and superuser settings is refused, client_encoding is UTF8
      // from the startup packet, and a ParameterStatus changing either of the last two ends the session — so
      // resetting to defaults changes none of them; the session re-reads search_path after it all the same
      // (gate.ts changesResolution). Poolers reset connections this way (asyncpg's Pool, PgBouncer's
      // server_reset_query, Npgsql).
      if (e.name === null) return null;
      const name = e.name.toLowerCase();
      const why = PROTECTED_SETTINGS[name] ?? (SUPERUSER_SETTINGS.has(name) ? SUPERUSER_ONLY : undefined);
      return why === undefined ? null : `resetting ${name} is not allowed through Airlock: ${why}`;
    }
    case 'discard':
      return null; // DISCARD ALL = RESET ALL (above) + DEALLOCATE ALL + UNLISTEN * + CLOSE ALL + DISCARD TEMP/PLANS/SEQUENCES
    default:
      return null; // PREPARE, DEALLOCATE, LISTEN, UNLISTEN; NOTIFY is decided as a NOTIFY pair on its channel
  }
}

// ---------------------------------------------------------------------------------------------
// Rules and grants: which covers a pair. Names resolve to their candidates in decide-names.ts.

type Kind = Access['kind'];

function anyMatch(ms: readonly NameMatcher[] | null, schema: string, name: string): boolean {
  if (ms === null) return true;
  for (const m of ms) if (nameMatches(m, schema, name)) return true;
  return false;
}
function matchersFor(
  r: {
    readonly tables: readonly NameMatcher[] | null;
    readonly functions: readonly NameMatcher[] | null;
    readonly channels: readonly NameMatcher[] | null;
  },
  kind: Kind,
): readonly NameMatcher[] | null {
  return kind === 'relation' ? r.tables : kind === 'function' ? r.functions : r.channels;
}
export function ruleMatches(r: RuleRef, kind: Kind, schema: string, name: string): boolean {
  return anyMatch(matchersFor(r, kind), schema, name);
}
function firstMatch(rules: readonly RuleRef[], kind: Kind, schema: string, name: string): RuleRef | null {
  for (const r of rules) if (ruleMatches(r, kind, schema, name)) return r;
  return null;
}

function grantCovers(
  grants: readonly Grant[],
  op: ConcreteOperation,
  kind: Kind,
  schema: string,
  name: string,
  text: string | undefined,
): string | null {
  for (const g of grants) {
    if (g.statement !== null && text !== undefined && g.statement.trim() === text.trim()) return g.request;
    if (g.rules === null) continue;
    for (const r of g.rules) {
      if (r.effect === 'deny' || !r.operations.includes(op)) continue;
      const m = matchersOf(r);
      if (kind === 'function' && dangerousFunction(name) !== null) {
        if (m.exactFunctions.has(`${schema}.${name}`)) return g.request;
      } else if (anyMatch(matchersFor(m, kind), schema, name)) return g.request;
    }
  }
  return null;
}

// Result of evaluating one (operation, object) pair against one view.
export type PairResult =
  | { readonly kind: 'allow'; readonly ref: RuleRef | null; readonly grant?: string }
  | { readonly kind: 'approve'; readonly ref: RuleRef }
  | { readonly kind: 'deny'; readonly policy: string | null; readonly rule: string | null; readonly reason: string };

/** The pair evalCandidate decided, as the client's error names it. */
const candidatePair = (a: Access, schema: string, name: string): string => pairText(a.operation, a.kind, schema, name);

function target(op: ConcreteOperation, a: Access, schema: string, name: string): string {
  if (a.kind === 'channel') return `${op} on channel ${JSON.stringify(name)}`;
  const q = `${schema}.${name}`;
  return a.relation.schema === null && schema !== 'pg_catalog'
    ? `${op} on ${a.relation.name} (as ${q} via search_path)`
    : `${op} on ${q}`;
}

/** One (operation, object) pair at one resolved name, against one view's rules (exported for policy/explain.ts). */
export function evalCandidate(
  rules: OpRules,
  a: Access,
  schema: string,
  name: string,
  ctx: SessionContext,
  text: string | undefined,
): PairResult {
  const op = a.operation;
  const kind = a.kind;
  const d = firstMatch(rules.deny, kind, schema, name);
  if (d !== null)
    return {
      kind: 'deny',
      policy: d.policy,
      rule: d.rule,
      reason: `${target(op, a, schema, name)} is denied by rule "${d.rule}"`,
    };

  if (kind === 'function') {
    const what = dangerousFunction(name);
    if (what !== null) {
      const key = `${schema}.${name}`;
      // Unqualified and not known to be in pg_catalog: PostgreSQL may still find it there, so the
      // rule must name the pg_catalog one too.
      const alsoCatalog = a.relation.schema === null && schema !== 'pg_catalog' ? `pg_catalog.${name}` : null;
      const named = (r: RuleRef) =>
        r.exactFunctions.has(key) && (alsoCatalog === null || r.exactFunctions.has(alsoCatalog));
      for (const r of rules.approve) if (named(r)) return approveOrGrant(r, op, kind, schema, name, ctx, text);
      for (const r of rules.allow) if (named(r)) return { kind: 'allow', ref: r };
      return {
        kind: 'deny',
        policy: null,
        rule: null,
        reason: `${key} is ${what}; it is allowed only by a rule whose functions lists "${key}" exactly`,
      };
    }
  }
  const ap = firstMatch(rules.approve, kind, schema, name);
  if (ap !== null) return approveOrGrant(ap, op, kind, schema, name, ctx, text);

  if (
    kind === 'relation'
    && ((schema === 'pg_catalog' && SENSITIVE_CATALOG_RELATIONS.has(name))
      || (schema === 'information_schema' && SENSITIVE_INFORMATION_SCHEMA_RELATIONS.has(name)))
  ) {
    const key = `${schema}.${name}`;
    for (const r of rules.allow) if (r.exactTables.has(key)) return { kind: 'allow', ref: r };
    return {
      kind: 'deny',
      policy: null,
      rule: null,
      reason: `${key} exposes data beyond table privileges (column statistics, other sessions' statements or credentials); ${op} on it needs a rule whose tables lists "${key}" exactly`,
    };
  }
  const al = firstMatch(rules.allow, kind, schema, name);
  if (al !== null) return { kind: 'allow', ref: al };
  // Built-ins need no rule: pg_catalog functions, and catalog reads drivers and psql make on connect.
  if (kind !== 'channel' && schema === 'pg_catalog' && (kind === 'function' || op === 'SELECT'))
    return { kind: 'allow', ref: null };
  if (kind !== 'channel' && schema === 'information_schema' && (kind === 'function' || op === 'SELECT'))
    return { kind: 'allow', ref: null };
  return { kind: 'deny', policy: null, rule: null, reason: `no rule allows ${target(op, a, schema, name)}` };
}

function approveOrGrant(
  r: RuleRef,
  op: ConcreteOperation,
  kind: Kind,
  schema: string,
  name: string,
  ctx: SessionContext,
  text: string | undefined,
): PairResult {
  const g = grantCovers(ctx.grants, op, kind, schema, name, text);
  return g !== null ? { kind: 'allow', ref: r, grant: g } : { kind: 'approve', ref: r };
}

// Whole-statement evaluation against one view: first denied pair wins; then the guardrail; then
// any pair needing approval; else allow, reporting the first rule that allowed something.
type ViewResult =
  | Deny
  | Approve
  | { readonly verdict: 'allow'; readonly policy: string; readonly rule: string; readonly grant?: string };

function evaluate(view: View, ctx: SessionContext, stmt: StatementFacts, text: string | undefined): ViewResult {
  let approve: RuleRef | null = null;
  let approveWhat: string | undefined;
  let allowedBy: RuleRef | null = null;
  let grant: string | null = null;
  // A security_invoker view's reads are checked against the caller, as PostgreSQL does (policy/invoker.ts).
  const via = ctx.invoker === undefined || ctx.invoker.reads.size === 0 ? null : new Map<Access, string>();
  const accesses =
    via === null
      ? stmt.accesses
      : invokerAccesses(
          stmt.accesses,
          ctx.invoker!,
          (a, visit) => {
            eachCandidate(a.relation, a.kind, ctx, visit);
          },
          via,
        );
  for (const a of accesses) {
    const rules = view.byOp[a.operation] as OpRules | undefined;
    if (rules === undefined)
      return deny(null, null, `unknown operation ${JSON.stringify(a.operation)} in the statement analysis`);
    let result: PairResult | null = null;
    let pair = '';
    const n = eachCandidate(a.relation, a.kind, ctx, (schema, name) => {
      const r = evalCandidate(rules, a, schema, name, ctx, text);
      if (r.kind === 'deny') {
        result = r;
        pair = candidatePair(a, schema, name);
        return false;
      }
      if (r.kind === 'approve') {
        if (result === null || result.kind === 'allow') {
          result = r;
          pair = candidatePair(a, schema, name);
        }
      } else if (result === null) result = r;
      return true;
    });
    if (n === 0) {
      return deny(
        null,
        null,
        `cannot resolve unqualified ${a.kind} ${a.relation.name} for ${a.operation}: the search_path has no existing schema`,
        pairText(a.operation, a.kind, null, a.relation.name),
      );
    }
    const r = result as PairResult | null;
    if (r === null) continue;
    if (r.kind === 'deny') {
      const view = via?.get(a);
      return deny(
        r.policy,
        r.rule,
        view === undefined
          ? r.reason
          : `${r.reason} (read through the security_invoker view ${view}, whose reads PostgreSQL checks against the caller)`,
        pair,
      );
    }
    if (r.kind === 'approve') {
      if (approve === null) {
        approve = r.ref;
        approveWhat = pair;
      }
    } else {
      if (grant === null && r.grant !== undefined) grant = r.grant;
      if (allowedBy === null && r.ref !== null) allowedBy = r.ref;
    }
  }
  if (stmt.unfilteredWrite && view.blockUnfilteredWrites !== null) {
    const target = stmt.accesses.find((a) => a.operation === 'UPDATE' || a.operation === 'DELETE');
    return deny(
      view.blockUnfilteredWrites,
      UNFILTERED_WRITE_RULE,
      `${stmt.command === '' ? 'an UPDATE or DELETE' : stmt.command} without a WHERE clause is blocked by ${UNFILTERED_WRITE_RULE}; add a WHERE clause naming the rows to change`,
      target === undefined ? undefined : resolvedPair(target, ctx),
    );
  }
  if (approve !== null) {
    return approveWhat === undefined || approveWhat === ''
      ? { verdict: 'approve', policy: approve.policy, rule: approve.rule, holdTimeoutMs: approve.holdTimeoutMs }
      : {
          verdict: 'approve',
          policy: approve.policy,
          rule: approve.rule,
          holdTimeoutMs: approve.holdTimeoutMs,
          what: approveWhat,
        };
  }
  if (grant !== null && allowedBy !== null)
    return { verdict: 'allow', policy: allowedBy.policy, rule: allowedBy.rule, grant };
  if (allowedBy !== null) return { verdict: 'allow', policy: allowedBy.policy, rule: allowedBy.rule };
  return { verdict: 'allow', policy: (view.policies[0] as { name: string }).name, rule: IMPLICIT_RULE_NAME };
}

/**
 * The verdict for one statement. `text` (exact or normalized statement text, as the proxy keys
 * AccessRequests) lets a grant for one statement apply; without it only rule grants count.
 */
export function decide(sel: Selected, ctx: SessionContext, stmt: StatementFacts, text?: string): Decision {
  if (sel.all === null) {
    return deny(null, null, `no AccessPolicy matches subject ${ctx.identity.user} for database ${ctx.database}`);
  }
  // Not understood → denied, in every mode: observe/warn stage policies, not the analyzer.
  if (stmt.unsupported.length > 0) return deny(null, null, stmt.unsupported.join('; '));
  const eff = effectDenial(stmt);
  if (eff !== null) return eff;

  const enforced = sel.enforce === null ? null : evaluate(sel.enforce, ctx, stmt, text);
  if (enforced !== null && enforced.verdict !== 'allow') return enforced;
  const overall = sel.staged ? evaluate(sel.all, ctx, stmt, text) : (enforced as ViewResult);

  const masks = maskPlan(sel, ctx, stmt);
  const stored = storedMaskedValue(sel, ctx, stmt, stmt.written);
  if (stored !== null) {
    const target = stmt.accesses.find((a) => a.kind === 'relation' && a.operation !== 'SELECT');
    return deny(
      null,
      null,
      `it would store ${stored} in a table, where it could be read back unmasked; masked values can be read, not copied`,
      target === undefined ? undefined : resolvedPair(target, ctx),
    );
  }
  const sent = storedMaskedValue(sel, ctx, stmt, stmt.notified);
  if (sent !== null) {
    return deny(
      null,
      null,
      `it would send ${sent} in a notification payload, which listeners receive unmasked; masked values can be read, not sent`,
    );
  }
  const guardrails =
    sel.enforce === null
      ? NO_GUARDRAILS
      : { maxAffectedRows: sel.enforce.maxAffectedRows, policy: sel.enforce.maxAffectedRowsPolicy };
  if (overall.verdict === 'allow') {
    // The grant an enforce-mode approve rule consulted (the audit's airlock.access_request).
    const grant = enforced !== null && enforced.verdict === 'allow' ? enforced.grant : overall.grant;
    return grant === undefined
      ? { verdict: 'allow', policy: overall.policy, rule: overall.rule, masks, wouldDeny: NONE, guardrails }
      : { verdict: 'allow', policy: overall.policy, rule: overall.rule, masks, wouldDeny: NONE, guardrails, grant };
  }
  // Only a warn/observe policy objects (an enforce-mode one would have decided above).
  const wouldDeny: WouldDeny[] = [];
  const reason =
    overall.verdict === 'deny'
      ? overall.reason
      : `${overall.policy} rule "${overall.rule}" requires an approved AccessRequest`;
  if (overall.policy !== null) wouldDeny.push({ policy: overall.policy, rule: overall.rule, reason });
  else
    for (const p of sel.policies)
      if (p.mode !== 'enforce') wouldDeny.push({ policy: p.name, rule: overall.rule, reason });
  const warn = wouldDeny.some((w) => sel.policies.some((p) => p.name === w.policy && p.mode === 'warn'));
  const first = wouldDeny[0] as WouldDeny;
  return {
    verdict: warn ? 'warn' : 'allow',
    policy: first.policy,
    rule: first.rule ?? DEFAULT_DENY_RULE,
    masks,
    wouldDeny,
    guardrails,
  };
}

const NONE: readonly WouldDeny[] = Object.freeze([]);
const NO_GUARDRAILS = Object.freeze({ maxAffectedRows: null, policy: null });
