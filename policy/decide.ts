// decide(): one statement's verdict under the policies selected for a session. Pure; the caller
// turns a deny into ErrorResponse 42501 and an audit span, so reasons are written for the person
// reading that error. Semantics: design.md "Decision semantics"; details and their reasons in doc.md.
import { matchersOf, stricter } from './compile.ts';
import type { OpRules, RuleRef, Selected, View } from './compile.ts';
import { dangerousFunction, SENSITIVE_CATALOG_RELATIONS, SENSITIVE_INFORMATION_SCHEMA_RELATIONS, SUPERUSER_SETTINGS } from './dangerous.ts';
import { derivedKey } from './derived.ts';
import type { DerivedObject } from './derived.ts';
import { invokerAccesses } from './invoker.ts';
import { nameMatches } from './glob.ts';
import { qualifiedName } from './analyze/names.ts';
import type { NameMatcher } from './glob.ts';
import type {
  Access, ColumnSource, ConcreteOperation, Decision, Grant, MaskPlan, MaskStrategy, RelName, SessionContext,
  SessionEffect, StatementFacts,
} from './types.ts';

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

/** `SELECT on public.customers`, `CALL of function pg_catalog.pg_sleep`, `NOTIFY on channel "jobs"`: a pair as the client's error names it. */
export function pairText(op: string, kind: Access['kind'], schema: string | null, name: string): string {
  if (kind === 'channel') return `${op} on channel ${JSON.stringify(name)}`;
  const q = qualifiedName({ schema, name });
  return kind === 'function' ? `${op} of function ${q}` : `${op} on ${q}`;
}

/** A pair named as PostgreSQL would resolve it: an unqualified name gets its first candidate schema. */
export function resolvedPair(a: Access, ctx: SessionContext): string {
  let schema: string | null = a.relation.schema;
  if (schema === null) eachCandidate(a.relation, a.kind, ctx, (s) => { schema = s; return false; });
  return pairText(a.operation, a.kind, schema, a.relation.name);
}

// ---------------------------------------------------------------------------------------------
// Session effects (SET, RESET, DISCARD, …): decided before any rule, whatever the mode, because a
// changed search_path, role or string syntax would make every later decision wrong.

const PROTECTED_SETTINGS: Readonly<Record<string, string>> = {
  search_path: 'unqualified names are resolved against the search_path the proxy knows; changing it could reach relations the policy does not allow',
  role: 'it would change the database role the policy is enforced for',
  session_authorization: 'it would change the database role the policy is enforced for',
  standard_conforming_strings: 'the statement analysis assumes standard_conforming_strings stays on (backslashes in strings are literal)',
  track_counts: 'maxAffectedRows counts the rows a statement changed with the statistics counters it turns off',
};
const UTF8_NAMES = new Set(['utf8', 'unicode']);
const SUPERUSER_ONLY = 'PostgreSQL lets only superusers change it, and the binding may be a superuser';

function effectDenial(stmt: StatementFacts): Deny | null {
  for (const e of stmt.effects) {
    const r = effectReason(e, stmt);
    if (r !== null) return deny(null, null, r, effectText(e, stmt));
  }
  return null;
}
/** The session change a denial names: `SET search_path`, `RESET ALL`, `SET ROLE`, `DISCARD ALL`. */
function effectText(e: SessionEffect, stmt: StatementFacts): string {
  switch (e.kind) {
    case 'set': return `SET ${e.name.toLowerCase()}`;
    case 'reset': return e.name === null ? 'RESET ALL' : `RESET ${e.name.toLowerCase()}`;
    case 'role': return stmt.command === '' ? 'SET ROLE' : stmt.command;
    case 'discard': return 'DISCARD ALL';
    default: return stmt.command;
  }
}
function effectReason(e: SessionEffect, stmt: StatementFacts): string | null {
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
      return null;   // DISCARD ALL = RESET ALL (above) + DEALLOCATE ALL + UNLISTEN * + CLOSE ALL + DISCARD TEMP/PLANS/SEQUENCES
    default:
      return null;       // PREPARE, DEALLOCATE, LISTEN, UNLISTEN; NOTIFY is decided as a NOTIFY pair on its channel
  }
}

// ---------------------------------------------------------------------------------------------
// Name resolution. An unqualified relation resolves to pg_catalog when it exists there (pg_catalog
// is searched first unless named later in search_path, which we refuse to let a session change);
// otherwise it may be in any schema of the search_path, and every candidate must be allowed.
// Unqualified functions likewise, against catalogFunctions.

type Visit = (schema: string, name: string) => boolean;   // false = stop
type Kind = Access['kind'];
export function eachCandidate(rel: RelName, kind: Kind, ctx: SessionContext, visit: Visit): number {
  // A notification channel is one name, not in any schema: matched as (schema '', channel).
  if (kind === 'channel') { visit('', rel.name); return 1; }
  if (rel.schema !== null) { visit(rel.schema, rel.name); return 1; }
  const catalog = kind === 'relation' ? ctx.catalogRelations : ctx.catalogFunctions;
  if (catalog.has(rel.name)) { visit('pg_catalog', rel.name); return 1; }
  let n = 0;
  for (const s of ctx.searchPath) { n++; if (!visit(s, rel.name)) break; }
  return n;
}

function anyMatch(ms: readonly NameMatcher[] | null, schema: string, name: string): boolean {
  if (ms === null) return true;
  for (const m of ms) if (nameMatches(m, schema, name)) return true;
  return false;
}
function matchersFor(r: { readonly tables: readonly NameMatcher[] | null; readonly functions: readonly NameMatcher[] | null; readonly channels: readonly NameMatcher[] | null }, kind: Kind): readonly NameMatcher[] | null {
  return kind === 'relation' ? r.tables : kind === 'function' ? r.functions : r.channels;
}
export function ruleMatches(r: RuleRef, kind: Kind, schema: string, name: string): boolean {
  return anyMatch(matchersFor(r, kind), schema, name);
}
function firstMatch(rules: readonly RuleRef[], kind: Kind, schema: string, name: string): RuleRef | null {
  for (const r of rules) if (ruleMatches(r, kind, schema, name)) return r;
  return null;
}

function grantCovers(grants: readonly Grant[], op: ConcreteOperation, kind: Kind,
  schema: string, name: string, text: string | undefined): string | null {
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
    ? `${op} on ${a.relation.name} (as ${q} via search_path)` : `${op} on ${q}`;
}

/** One (operation, object) pair at one resolved name, against one view's rules (exported for policy/explain.ts). */
export function evalCandidate(rules: OpRules, a: Access, schema: string, name: string, ctx: SessionContext, text: string | undefined): PairResult {
  const op = a.operation;
  const kind = a.kind;
  const d = firstMatch(rules.deny, kind, schema, name);
  if (d !== null) return { kind: 'deny', policy: d.policy, rule: d.rule, reason: `${target(op, a, schema, name)} is denied by rule "${d.rule}"` };

  if (kind === 'function') {
    const what = dangerousFunction(name);
    if (what !== null) {
      const key = `${schema}.${name}`;
      // Unqualified and not known to be in pg_catalog: PostgreSQL may still find it there, so the
      // rule must name the pg_catalog one too.
      const alsoCatalog = a.relation.schema === null && schema !== 'pg_catalog' ? `pg_catalog.${name}` : null;
      const named = (r: RuleRef) => r.exactFunctions.has(key) && (alsoCatalog === null || r.exactFunctions.has(alsoCatalog));
      for (const r of rules.approve) if (named(r)) return approveOrGrant(r, op, kind, schema, name, ctx, text);
      for (const r of rules.allow) if (named(r)) return { kind: 'allow', ref: r };
      return { kind: 'deny', policy: null, rule: null,
        reason: `${key} is ${what}; it is allowed only by a rule whose functions lists "${key}" exactly` };
    }
  }
  const ap = firstMatch(rules.approve, kind, schema, name);
  if (ap !== null) return approveOrGrant(ap, op, kind, schema, name, ctx, text);

  if (kind === 'relation' && ((schema === 'pg_catalog' && SENSITIVE_CATALOG_RELATIONS.has(name))
    || (schema === 'information_schema' && SENSITIVE_INFORMATION_SCHEMA_RELATIONS.has(name)))) {
    const key = `${schema}.${name}`;
    for (const r of rules.allow) if (r.exactTables.has(key)) return { kind: 'allow', ref: r };
    return { kind: 'deny', policy: null, rule: null,
      reason: `${key} exposes data beyond table privileges (column statistics, other sessions' statements or credentials); ${op} on it needs a rule whose tables lists "${key}" exactly` };
  }
  const al = firstMatch(rules.allow, kind, schema, name);
  if (al !== null) return { kind: 'allow', ref: al };
  // Built-ins need no rule: pg_catalog functions, and catalog reads drivers and psql make on connect.
  if (kind !== 'channel' && schema === 'pg_catalog' && (kind === 'function' || op === 'SELECT')) return { kind: 'allow', ref: null };
  if (kind !== 'channel' && schema === 'information_schema' && (kind === 'function' || op === 'SELECT')) return { kind: 'allow', ref: null };
  return { kind: 'deny', policy: null, rule: null, reason: `no rule allows ${target(op, a, schema, name)}` };
}

function approveOrGrant(r: RuleRef, op: ConcreteOperation, kind: Kind, schema: string, name: string,
  ctx: SessionContext, text: string | undefined): PairResult {
  const g = grantCovers(ctx.grants, op, kind, schema, name, text);
  return g !== null ? { kind: 'allow', ref: r, grant: g } : { kind: 'approve', ref: r };
}

// Whole-statement evaluation against one view: first denied pair wins; then the guardrail; then
// any pair needing approval; else allow, reporting the first rule that allowed something.
type ViewResult = Deny | Approve | { readonly verdict: 'allow'; readonly policy: string; readonly rule: string; readonly grant?: string };

function evaluate(view: View, ctx: SessionContext, stmt: StatementFacts, text: string | undefined): ViewResult {
  let approve: RuleRef | null = null;
  let approveWhat: string | undefined;
  let allowedBy: RuleRef | null = null;
  let grant: string | null = null;
  // A security_invoker view's reads are checked against the caller, as PostgreSQL does (policy/invoker.ts).
  const via = ctx.invoker === undefined || ctx.invoker.reads.size === 0 ? null : new Map<Access, string>();
  const accesses = via === null ? stmt.accesses
    : invokerAccesses(stmt.accesses, ctx.invoker!, (a, visit) => { eachCandidate(a.relation, a.kind, ctx, visit); }, via);
  for (const a of accesses) {
    const rules = view.byOp[a.operation] as OpRules | undefined;
    if (rules === undefined) return deny(null, null, `unknown operation ${JSON.stringify(a.operation)} in the statement analysis`);
    let result: PairResult | null = null;
    let pair = '';
    const n = eachCandidate(a.relation, a.kind, ctx, (schema, name) => {
      const r = evalCandidate(rules, a, schema, name, ctx, text);
      if (r.kind === 'deny') { result = r; pair = candidatePair(a, schema, name); return false; }
      if (r.kind === 'approve') { if (result === null || result.kind === 'allow') { result = r; pair = candidatePair(a, schema, name); } }
      else if (result === null) result = r;
      return true;
    });
    if (n === 0) {
      return deny(null, null, `cannot resolve unqualified ${a.kind} ${a.relation.name} for ${a.operation}: the search_path has no existing schema`,
        pairText(a.operation, a.kind, null, a.relation.name));
    }
    const r = result as PairResult | null;
    if (r === null) continue;
    if (r.kind === 'deny') {
      const view = via?.get(a);
      return deny(r.policy, r.rule, view === undefined ? r.reason
        : `${r.reason} (read through the security_invoker view ${view}, whose reads PostgreSQL checks against the caller)`, pair);
    }
    if (r.kind === 'approve') { if (approve === null) { approve = r.ref; approveWhat = pair; } }
    else {
      if (grant === null && r.grant !== undefined) grant = r.grant;
      if (allowedBy === null && r.ref !== null) allowedBy = r.ref;
    }
  }
  if (stmt.unfilteredWrite && view.blockUnfilteredWrites !== null) {
    const target = stmt.accesses.find((a) => a.operation === 'UPDATE' || a.operation === 'DELETE');
    return deny(view.blockUnfilteredWrites, UNFILTERED_WRITE_RULE,
      `${stmt.command === '' ? 'an UPDATE or DELETE' : stmt.command} without a WHERE clause is blocked by ${UNFILTERED_WRITE_RULE}; add a WHERE clause naming the rows to change`,
      target === undefined ? undefined : resolvedPair(target, ctx));
  }
  if (approve !== null) {
    return approveWhat === undefined || approveWhat === ''
      ? { verdict: 'approve', policy: approve.policy, rule: approve.rule, holdTimeoutMs: approve.holdTimeoutMs }
      : { verdict: 'approve', policy: approve.policy, rule: approve.rule, holdTimeoutMs: approve.holdTimeoutMs, what: approveWhat };
  }
  if (grant !== null && allowedBy !== null) return { verdict: 'allow', policy: allowedBy.policy, rule: allowedBy.rule, grant };
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
    return deny(null, null, `it would store ${stored} in a table, where it could be read back unmasked; masked values can be read, not copied`,
      target === undefined ? undefined : resolvedPair(target, ctx));
  }
  const sent = storedMaskedValue(sel, ctx, stmt, stmt.notified);
  if (sent !== null) {
    return deny(null, null, `it would send ${sent} in a notification payload, which listeners receive unmasked; masked values can be read, not sent`);
  }
  const guardrails = sel.enforce === null
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
  const reason = overall.verdict === 'deny' ? overall.reason
    : `${overall.policy} rule "${overall.rule}" requires an approved AccessRequest`;
  if (overall.policy !== null) wouldDeny.push({ policy: overall.policy, rule: overall.rule, reason });
  else for (const p of sel.policies) if (p.mode !== 'enforce') wouldDeny.push({ policy: p.name, rule: overall.rule, reason });
  const warn = wouldDeny.some((w) => sel.policies.some((p) => p.name === w.policy && p.mode === 'warn'));
  const first = wouldDeny[0] as WouldDeny;
  return { verdict: warn ? 'warn' : 'allow', policy: first.policy, rule: first.rule ?? DEFAULT_DENY_RULE, masks, wouldDeny, guardrails };
}

const NONE: readonly WouldDeny[] = Object.freeze([]);
const NO_GUARDRAILS = Object.freeze({ maxAffectedRows: null, policy: null });

// ---------------------------------------------------------------------------------------------
// Masking (enforce-mode policies only: staging a policy must not change what clients receive).

const nullPlans: MaskPlan[] = [];
/** A frozen plan with `n` pass-through outputs, shared: nothing allocated when nothing is masked. */
function passThrough(n: number): MaskPlan {
  let p = nullPlans[n];
  if (p === undefined) {
    p = Object.freeze({ columns: Object.freeze({}), outputs: Object.freeze(new Array<MaskStrategy | null>(n).fill(null)), needsRowDescription: false, hasStar: false, refuse: null, touched: NO_COLUMNS });
    if (n < 256) nullPlans[n] = p;
  }
  return p;
}

function columnStrategy(sel: Selected, ctx: SessionContext, rel: RelName, column: string | null, depth = 0): MaskStrategy | null {
  let s: MaskStrategy | null = null;
  const derived = ctx.derived;
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    const cols = sel.masks.get(schema)?.get(name);
    if (cols !== undefined) {
      if (column !== null) s = stricter(s, cols.get(column) ?? null);
      else for (const v of cols.values()) s = stricter(s, v);
    }
    if (derived !== undefined && derived.relations.size > 0) {
      const d = derived.relations.get(derivedKey(schema, name));
      if (d !== undefined && d.kind === 'view') s = stricter(s, viewStrategy(sel, ctx, d, column, depth));
    }
    return true;
  });
  return s;
}

// ---------------------------------------------------------------------------------------------
// Views, rule-rewritten tables and SQL functions (policy/derived.ts, issue 11 class 1). A view's column
// is masked as what it is computed from; where that is unknown (no lineage, an opaque value) and the view
// reads a masked column at all, it is redacted. Rules decide on the name in the statement (the view), as
// PostgreSQL's privileges do: masking is not a privilege, it follows the value.

/** Deepest view-on-view (or function) nesting followed; beyond it, redact. PostgreSQL has no such limit, real schemas stay far below. */
const MAX_DERIVED_DEPTH = 32;

/** Per (selection, session context): does a derived object read a masked column, directly or through others? */
const readsMemo = new WeakMap<Selected, WeakMap<SessionContext, Map<DerivedObject, boolean>>>();

function readsMasked(sel: Selected, ctx: SessionContext, d: DerivedObject, depth: number): boolean {
  let bySel = readsMemo.get(sel);
  if (bySel === undefined) readsMemo.set(sel, bySel = new WeakMap());
  let memo = bySel.get(ctx);
  if (memo === undefined) bySel.set(ctx, memo = new Map());
  const known = memo.get(d);
  if (known !== undefined) return known;
  if (d.unknownReads || depth >= MAX_DERIVED_DEPTH) { memo.set(d, true); return true; }
  memo.set(d, true);   // in progress: a cycle (recursive SQL functions) counts as reading masked (fail closed)
  let masked = false;
  for (const a of d.reads) {
    if (a.kind === 'relation' ? relationMasked(sel, ctx, a.relation, depth + 1) : a.kind === 'function' && functionMasked(sel, ctx, a.relation, depth + 1)) {
      masked = true;
      break;
    }
  }
  memo.set(d, masked);
  return masked;
}

/** A relation whose rows carry masked values: a masked table, or a view / rule-rewritten table reading one. */
function relationMasked(sel: Selected, ctx: SessionContext, rel: RelName, depth: number): boolean {
  let masked = false;
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    if (sel.masks.get(schema)?.has(name) === true) { masked = true; return false; }
    const d = ctx.derived?.relations.get(derivedKey(schema, name));
    if (d !== undefined && readsMasked(sel, ctx, d, depth)) { masked = true; return false; }
    return true;
  });
  return masked;
}

/** An SQL function whose body reads a masked column. */
function functionMasked(sel: Selected, ctx: SessionContext, fn: RelName, depth: number): boolean {
  const fns = ctx.derived?.functions;
  if (fns === undefined || fns.size === 0) return false;
  let masked = false;
  eachCandidate(fn, 'function', ctx, (schema, name) => {
    const d = fns.get(derivedKey(schema, name));
    if (d !== undefined && readsMasked(sel, ctx, d, depth)) { masked = true; return false; }
    return true;
  });
  return masked;
}

/** A table whose rules rewrite a statement on it into one that reads masked columns. */
function rewritesMasked(sel: Selected, ctx: SessionContext, rel: RelName): boolean {
  const rels = ctx.derived?.relations;
  if (rels === undefined || rels.size === 0) return false;
  let masked = false;
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    const d = rels.get(derivedKey(schema, name));
    if (d !== undefined && d.kind === 'rule' && readsMasked(sel, ctx, d, 0)) { masked = true; return false; }
    return true;
  });
  return masked;
}

function viewStrategy(sel: Selected, ctx: SessionContext, d: DerivedObject, column: string | null, depth: number): MaskStrategy | null {
  if (depth >= MAX_DERIVED_DEPTH) return 'redact';
  if (!readsMasked(sel, ctx, d, depth)) return null;
  const sources = d.sources;
  if (sources === null) return 'redact';
  if (column === null) {
    let s: MaskStrategy | null = null;
    for (const src of sources) s = stricter(s, viewSourceStrategy(sel, ctx, src, depth + 1));
    return s;
  }
  const i = d.columns.indexOf(column);
  return i < 0 ? 'redact' : viewSourceStrategy(sel, ctx, sources[i]!, depth + 1);
}

/** A view column's source: as any output, except that an untraceable part is redacted (the view reads masked columns). */
function viewSourceStrategy(sel: Selected, ctx: SessionContext, src: ColumnSource, depth: number): MaskStrategy | null {
  return stricter(untraceable(src) ? 'redact' : null, sourceStrategy(sel, ctx, src, depth));
}
function untraceable(src: ColumnSource): boolean {
  if (src.kind === 'opaque' || src.kind === 'star') return true;
  if (src.kind === 'derived') for (const f of src.from) if (untraceable(f)) return true;
  return false;
}

/** Per (selection, context): view columns as MaskPlan.columns keys ("schema.view.column"), for RowDescription's (OID, attnum). */
const viewColumnsMemo = new WeakMap<Selected, WeakMap<SessionContext, Readonly<Record<string, MaskStrategy>>>>();
function maskColumnsWithViews(sel: Selected, ctx: SessionContext): Readonly<Record<string, MaskStrategy>> {
  const derived = ctx.derived;
  if (derived === undefined || derived.relations.size === 0) return sel.maskColumns;
  let bySel = viewColumnsMemo.get(sel);
  if (bySel === undefined) viewColumnsMemo.set(sel, bySel = new WeakMap());
  let cols = bySel.get(ctx);
  if (cols === undefined) {
    const out: Record<string, MaskStrategy> = { ...sel.maskColumns };
    for (const [key, d] of derived.relations) {
      if (d.kind !== 'view') continue;
      const qualified = key.replace('\u0000', '.');
      for (const c of d.columns) {
        const st = viewStrategy(sel, ctx, d, c, 0);
        if (st !== null) out[`${qualified}.${c}`] = stricter(out[`${qualified}.${c}`] ?? null, st) as MaskStrategy;
      }
    }
    bySel.set(ctx, cols = Object.freeze(out));
  }
  return cols;
}

function sourceStrategy(sel: Selected, ctx: SessionContext, src: ColumnSource, depth = 0): MaskStrategy | null {
  switch (src.kind) {
    case 'column': return columnStrategy(sel, ctx, src.relation, src.column, depth);
    case 'row': return columnStrategy(sel, ctx, src.relation, null, depth);
    case 'derived': {
      let s: MaskStrategy | null = null;
      for (const f of src.from) s = stricter(s, sourceStrategy(sel, ctx, f, depth));
      // `partial` shows a part chosen for the column's own shape (an e-mail's first letter and domain).
      // On a computed value it shows part of the computation instead: split_part(email, '@', 1) would
      // reveal the end of the local part, encode(…, 'hex') raw bytes. Computed values get at least redact.
      return s === 'partial' ? 'redact' : s;
    }
    case 'star': return null;        // resolved per RowDescription field by the proxy
    case 'opaque': return null;      // decided by the caller, which knows whether masked relations are touched
    default: return 'null';          // unknown source kind: never pass a value we cannot classify
  }
}

/**
 * Does the statement read masked values anywhere — a relation with masked columns, a view over one, an SQL
 * function whose body reads one, or a table whose rules rewrite the statement into such a read?
 */
function touchesMasked(sel: Selected, ctx: SessionContext, stmt: StatementFacts): boolean {
  for (const a of stmt.accesses) {
    if (a.kind === 'relation') {
      if (columnStrategy(sel, ctx, a.relation, null) !== null) return true;
      if (rewritesMasked(sel, ctx, a.relation)) return true;
    } else if (a.kind === 'function') {
      if (functionMasked(sel, ctx, a.relation, 0)) return true;
    }
  }
  return false;
}

/** Operations that read or write no row values: their errors and notices name objects, never echo values. */
const VALUELESS_OPERATIONS: ReadonlySet<string> = new Set(['DROP', 'TRUNCATE', 'GRANT']);

/**
 * MaskPlan.touched: the masked columns of every relation whose rows the statement reads or writes. Known
 * imperfection: a view over a masked table is a relation of its own here; until view lineage names its base
 * tables (issue 11), only a masked output (maskPlan below) or a masked result field (the session) counts it.
 */
function touchedColumns(sel: Selected, ctx: SessionContext, stmt: StatementFacts): readonly string[] {
  let out: string[] | null = null;
  // A view, rule-rewritten table or SQL function reading masked columns (policy/derived.ts): which of them
  // reaches a message is not tracked, so every masked column counts.
  let viaDerived = false;
  for (const a of stmt.accesses) {
    if (VALUELESS_OPERATIONS.has(a.operation)) continue;
    if (a.kind === 'function') { if (!viaDerived && functionMasked(sel, ctx, a.relation, 0)) viaDerived = true; continue; }
    if (a.kind !== 'relation') continue;
    eachCandidate(a.relation, 'relation', ctx, (schema, name) => {
      const cols = sel.masks.get(schema)?.get(name);
      if (cols === undefined) {
        const d = ctx.derived?.relations.get(derivedKey(schema, name));
        if (d !== undefined && readsMasked(sel, ctx, d, 0)) viaDerived = true;
        return true;
      }
      for (const c of cols.keys()) {
        const q = `${schema}.${name}.${c}`;
        out ??= [];
        if (!out.includes(q)) out.push(q);
      }
      return true;
    });
  }
  if (viaDerived) return Object.keys(maskColumnsWithViews(sel, ctx));
  return out ?? NO_COLUMNS;
}
const NO_COLUMNS: readonly string[] = Object.freeze([]);

export function maskPlan(sel: Selected, ctx: SessionContext, stmt: StatementFacts): MaskPlan {
  if (sel.masks.size === 0) return passThrough(stmt.outputs.length);
  const outputs: (MaskStrategy | null)[] = new Array(stmt.outputs.length);
  let needsRowDescription = false;
  let hasStar = false;
  let touched: boolean | null = null;
  let anyMasked = false;
  for (let i = 0; i < stmt.outputs.length; i++) {
    const src = stmt.outputs[i] as ColumnSource;
    let s: MaskStrategy | null;
    if (src.kind === 'star') {
      s = null;
      hasStar = true;
      for (const r of src.relations) if (columnStrategy(sel, ctx, r, null) !== null) needsRowDescription = true;
    } else if (src.kind === 'opaque') {
      // An opaque entry may stand for several columns (`SELECT f.* FROM some_function() f`), so
      // positions after it are not trustworthy either: treat it like a star for alignment.
      hasStar = true;
      // A value we cannot trace: redact it when the statement reads any relation with masked
      // columns (it may carry one); a user function reading tables internally is the policy
      // author's CALL rule to grant (doc.md).
      touched ??= touchesMasked(sel, ctx, stmt);
      s = touched ? 'redact' : null;
    } else s = sourceStrategy(sel, ctx, src);
    if (s !== null) anyMasked = true;
    outputs[i] = s;
  }
  // A table whose rules rewrite this statement into a read of masked columns: what comes back does not line
  // up with the statement's own outputs, so every field is resolved on its own and the untraceable ones
  // get the strictest strategy (resolveRowMask's fallback).
  if (ctx.derived !== undefined && ctx.derived.relations.size > 0) {
    for (const a of stmt.accesses) {
      if (a.kind === 'relation' && rewritesMasked(sel, ctx, a.relation)) { needsRowDescription = true; hasStar = true; anyMasked = true; break; }
    }
  }
  let refuse: string | null = null;
  if (stmt.tag === 'DeclareCursorStmt') {
    // A cursor's rows arrive later, through FETCH, which carries no lineage of its own: only columns
    // PostgreSQL reports a source for (table OID + attnum in RowDescription) can still be masked then.
    // A masked output that needs the lineage (an expression, a whole row, an untraceable value) would
    // leave unmasked, so such a cursor is refused.
    for (let i = 0; i < stmt.outputs.length; i++) {
      const src = stmt.outputs[i] as ColumnSource;
      if (outputs[i] !== null && src.kind !== 'column') {
        refuse = 'a cursor over values computed from masked columns cannot be masked when its rows are fetched; select them directly, or declare the cursor over the columns themselves';
        break;
      }
    }
  }
  // COPY (query) is masked through the query's own lineage: the proxy describes the query (RowDescription
  // gives each column's source table and type) and masks text, CSV and binary output like rows. The table
  // form has no query to describe, so binary output (which needs types) is refused. Text and CSV options the
  // masker follows (HEADER, DELIMITER, QUOTE, ESCAPE, NULL, FORCE_QUOTE: copyTo.textOptions) are fine; any
  // other option changes a layout it cannot parse, so it is refused.
  const copy = stmt.copyTo;
  const optionsOk = copy === null || copy.optionsDefault || (copy.textOptions !== undefined && copy.format !== 'binary');
  if (copy !== null && ((copy.format === 'binary' && copy.relation !== null) || !optionsOk)) {
    const how = optionsOk ? 'in binary format' : 'with options other than FORMAT, HEADER, DELIMITER, QUOTE, ESCAPE, NULL and FORCE_QUOTE';
    if (copy.relation !== null) {
      const masked = maskedColumnsOf(sel, ctx, copy.relation, copy.columns);
      if (masked.length > 0) {
        refuse = optionsOk
          ? `COPY of ${relText(copy.relation)} ${how} cannot be masked (masked: ${masked.join(', ')}); use COPY (SELECT … FROM ${relText(copy.relation)}) TO STDOUT (FORMAT binary), or text or csv format`
          : `COPY of ${relText(copy.relation)} ${how} cannot be masked (masked: ${masked.join(', ')}); use only those options (none with FORMAT binary)`;
      }
    } else if (anyMasked || needsRowDescription || (hasStar && touchesMasked(sel, ctx, stmt))) {
      refuse = `COPY (query) ${how} cannot be masked because its result includes masked columns; use only those options (none with FORMAT binary)`;
    }
  }
  if (copy !== null && copy.relation === null && copy.query === undefined && refuse === null
      && (anyMasked || needsRowDescription || (hasStar && touchesMasked(sel, ctx, stmt)))) {
    refuse = 'COPY (query) whose query text could not be isolated cannot be masked';
  }
  let echoed = touchedColumns(sel, ctx, stmt);
  // A masked output from no relation the accesses name (lineage resolved through something the accesses do
  // not list, such as a view read as its base columns): the statement reads masked values all the same.
  if (echoed.length === 0 && (anyMasked || needsRowDescription)) echoed = Object.keys(sel.maskColumns);
  return { columns: maskColumnsWithViews(sel, ctx), outputs, needsRowDescription, hasStar, refuse, touched: echoed };
}

/**
 * Masking launders if a masked value is copied into another column (INSERT … SELECT email, UPDATE … SET
 * note = ssn, CREATE TABLE/VIEW AS …): reads of the copy carry no trace of the masked source. Describes the
 * first masked source among the values the statement stores, or null.
 */
function storedMaskedValue(sel: Selected, ctx: SessionContext, stmt: StatementFacts, written: readonly ColumnSource[] | undefined): string | null {
  if (written === undefined || written.length === 0 || sel.masks.size === 0) return null;
  let touched: boolean | null = null;
  const first = (src: ColumnSource): string | null => {
    switch (src.kind) {
      case 'column': return columnStrategy(sel, ctx, src.relation, src.column) !== null ? `values of masked column ${relText(src.relation)}.${src.column}` : null;
      case 'row': return columnStrategy(sel, ctx, src.relation, null) !== null ? `whole rows of ${relText(src.relation)}, which has masked columns` : null;
      case 'star':
        for (const r of src.relations) if (columnStrategy(sel, ctx, r, null) !== null) return `all columns of ${relText(r)}, which has masked columns`;
        return null;
      case 'derived':
        for (const f of src.from) { const m = first(f); if (m !== null) return m.replace(/^values of/, 'values derived from'); }
        return null;
      case 'opaque':
        touched ??= touchesMasked(sel, ctx, stmt);
        return touched ? 'values the proxy cannot trace, in a statement that reads masked columns' : null;
      default: return 'values of an unknown source';
    }
  };
  for (const src of written) { const m = first(src); if (m !== null) return m; }
  return null;
}

function relText(r: RelName): string { return r.schema === null ? r.name : `${r.schema}.${r.name}`; }

function maskedColumnsOf(sel: Selected, ctx: SessionContext, rel: RelName, columns: readonly string[] | null): string[] {
  const out: string[] = [];
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    const cols = sel.masks.get(schema)?.get(name);
    if (cols !== undefined) {
      for (const c of cols.keys()) if (columns === null || columns.includes(c)) out.push(`${schema}.${name}.${c}`);
    }
    return true;
  });
  return out;
}

