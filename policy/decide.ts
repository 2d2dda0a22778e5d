// decide(): one statement's verdict under the policies selected for a session. Pure; the caller
// turns a deny into ErrorResponse 42501 and an audit span, so reasons are written for the person
// reading that error. Semantics: design.md "Decision semantics"; details and their reasons in doc.md.
import { matchersOf, stricter } from './compile.ts';
import type { OpRules, RuleRef, Selected, View } from './compile.ts';
import { dangerousFunction, SENSITIVE_CATALOG_RELATIONS, SENSITIVE_INFORMATION_SCHEMA_RELATIONS, SUPERUSER_SETTINGS } from './dangerous.ts';
import { nameMatches } from './glob.ts';
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

const deny = (policy: string | null, rule: string | null, reason: string): Deny => ({ verdict: 'deny', policy, rule, reason });

// ---------------------------------------------------------------------------------------------
// Session effects (SET, RESET, DISCARD, …): decided before any rule, whatever the mode, because a
// changed search_path, role or string syntax would make every later decision wrong.

const PROTECTED_SETTINGS: Readonly<Record<string, string>> = {
  search_path: 'unqualified names are resolved against the search_path the proxy knows; changing it could reach relations the policy does not allow',
  role: 'it would change the database role the policy is enforced for',
  session_authorization: 'it would change the database role the policy is enforced for',
  standard_conforming_strings: 'the statement analysis assumes standard_conforming_strings stays on (backslashes in strings are literal)',
};
const UTF8_NAMES = new Set(['utf8', 'unicode']);
const SUPERUSER_ONLY = 'PostgreSQL lets only superusers change it, and the binding may be a superuser';

function effectDenial(stmt: StatementFacts): string | null {
  for (const e of stmt.effects) {
    const r = effectReason(e, stmt);
    if (r !== null) return r;
  }
  return null;
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
          return `client_encoding ${typeof v === 'string' ? JSON.stringify(v) : '(value not known)'} is not allowed through Airlock: only UTF8 is supported, because statements are analyzed as UTF-8`;
        }
      }
      return null;
    }
    case 'reset': {
      if (e.name === null) return 'RESET ALL is not allowed through Airlock: it would reset search_path and standard_conforming_strings, which enforcement relies on; reset settings one by one';
      const name = e.name.toLowerCase();
      const why = PROTECTED_SETTINGS[name] ?? (SUPERUSER_SETTINGS.has(name) ? SUPERUSER_ONLY : undefined);
      return why === undefined ? null : `resetting ${name} is not allowed through Airlock: ${why}`;
    }
    case 'discard': {
      const target = (e as { target?: unknown }).target;
      const all = typeof target === 'string' ? target.toUpperCase() === 'ALL' : stmt.command.toUpperCase() !== 'DISCARD PLANS'
        && stmt.command.toUpperCase() !== 'DISCARD TEMP' && stmt.command.toUpperCase() !== 'DISCARD SEQUENCES';
      return all ? 'DISCARD ALL is not allowed through Airlock: it would reset search_path and standard_conforming_strings, which enforcement relies on; use DISCARD PLANS, TEMP or SEQUENCES' : null;
    }
    default:
      return null;       // PREPARE, DEALLOCATE, LISTEN, UNLISTEN, NOTIFY: harmless by themselves
  }
}

// ---------------------------------------------------------------------------------------------
// Name resolution. An unqualified relation resolves to pg_catalog when it exists there (pg_catalog
// is searched first unless named later in search_path, which we refuse to let a session change);
// otherwise it may be in any schema of the search_path, and every candidate must be allowed.
// Unqualified functions likewise, against catalogFunctions.

type Visit = (schema: string, name: string) => boolean;   // false = stop
function eachCandidate(rel: RelName, kind: 'relation' | 'function', ctx: SessionContext, visit: Visit): number {
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
function ruleMatches(r: RuleRef, kind: 'relation' | 'function', schema: string, name: string): boolean {
  return anyMatch(kind === 'relation' ? r.tables : r.functions, schema, name);
}
function firstMatch(rules: readonly RuleRef[], kind: 'relation' | 'function', schema: string, name: string): RuleRef | null {
  for (const r of rules) if (ruleMatches(r, kind, schema, name)) return r;
  return null;
}

function grantCovers(grants: readonly Grant[], op: ConcreteOperation, kind: 'relation' | 'function',
  schema: string, name: string, text: string | undefined): string | null {
  for (const g of grants) {
    if (g.statement !== null && text !== undefined && g.statement.trim() === text.trim()) return g.request;
    if (g.rules === null) continue;
    for (const r of g.rules) {
      if (r.effect === 'deny' || !r.operations.includes(op)) continue;
      const m = matchersOf(r);
      if (kind === 'function' && dangerousFunction(name) !== null) {
        if (m.exactFunctions.has(`${schema}.${name}`)) return g.request;
      } else if (anyMatch(kind === 'relation' ? m.tables : m.functions, schema, name)) return g.request;
    }
  }
  return null;
}

// Result of evaluating one (operation, object) pair against one view.
type PairResult =
  | { readonly kind: 'allow'; readonly ref: RuleRef | null; readonly grant?: string }
  | { readonly kind: 'approve'; readonly ref: RuleRef }
  | { readonly kind: 'deny'; readonly policy: string | null; readonly rule: string | null; readonly reason: string };

function target(op: ConcreteOperation, a: Access, schema: string, name: string): string {
  const q = `${schema}.${name}`;
  return a.relation.schema === null && schema !== 'pg_catalog'
    ? `${op} on ${a.relation.name} (as ${q} via search_path)` : `${op} on ${q}`;
}

function evalCandidate(rules: OpRules, a: Access, schema: string, name: string, ctx: SessionContext, text: string | undefined): PairResult {
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
  if (schema === 'pg_catalog' && (kind === 'function' || op === 'SELECT')) return { kind: 'allow', ref: null };
  if (schema === 'information_schema' && (kind === 'function' || op === 'SELECT')) return { kind: 'allow', ref: null };
  return { kind: 'deny', policy: null, rule: null, reason: `no rule allows ${target(op, a, schema, name)}` };
}

function approveOrGrant(r: RuleRef, op: ConcreteOperation, kind: 'relation' | 'function', schema: string, name: string,
  ctx: SessionContext, text: string | undefined): PairResult {
  const g = grantCovers(ctx.grants, op, kind, schema, name, text);
  return g !== null ? { kind: 'allow', ref: r, grant: g } : { kind: 'approve', ref: r };
}

// Whole-statement evaluation against one view: first denied pair wins; then the guardrail; then
// any pair needing approval; else allow, reporting the first rule that allowed something.
type ViewResult = Deny | Approve | { readonly verdict: 'allow'; readonly policy: string; readonly rule: string; readonly grant?: string };

function evaluate(view: View, ctx: SessionContext, stmt: StatementFacts, text: string | undefined): ViewResult {
  let approve: RuleRef | null = null;
  let allowedBy: RuleRef | null = null;
  let grant: string | null = null;
  for (const a of stmt.accesses) {
    const rules = view.byOp[a.operation] as OpRules | undefined;
    if (rules === undefined) return deny(null, null, `unknown operation ${JSON.stringify(a.operation)} in the statement analysis`);
    let result: PairResult | null = null;
    const n = eachCandidate(a.relation, a.kind, ctx, (schema, name) => {
      const r = evalCandidate(rules, a, schema, name, ctx, text);
      if (r.kind === 'deny') { result = r; return false; }
      if (r.kind === 'approve') { if (result === null || result.kind === 'allow') result = r; }
      else if (result === null) result = r;
      return true;
    });
    if (n === 0) {
      return deny(null, null, `cannot resolve unqualified ${a.kind} ${a.relation.name} for ${a.operation}: the search_path has no existing schema`);
    }
    const r = result as PairResult | null;
    if (r === null) continue;
    if (r.kind === 'deny') return deny(r.policy, r.rule, r.reason);
    if (r.kind === 'approve') { if (approve === null) approve = r.ref; }
    else {
      if (grant === null && r.grant !== undefined) grant = r.grant;
      if (allowedBy === null && r.ref !== null) allowedBy = r.ref;
    }
  }
  if (stmt.unfilteredWrite && view.blockUnfilteredWrites !== null) {
    return deny(view.blockUnfilteredWrites, UNFILTERED_WRITE_RULE,
      `${stmt.command === '' ? 'an UPDATE or DELETE' : stmt.command} without a WHERE clause is blocked by ${UNFILTERED_WRITE_RULE}; add a WHERE clause naming the rows to change`);
  }
  if (approve !== null) return { verdict: 'approve', policy: approve.policy, rule: approve.rule, holdTimeoutMs: approve.holdTimeoutMs };
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
  if (eff !== null) return deny(null, null, eff);

  const enforced = sel.enforce === null ? null : evaluate(sel.enforce, ctx, stmt, text);
  if (enforced !== null && enforced.verdict !== 'allow') return enforced;
  const overall = sel.staged ? evaluate(sel.all, ctx, stmt, text) : (enforced as ViewResult);

  const masks = maskPlan(sel, ctx, stmt);
  const stored = storedMaskedValue(sel, ctx, stmt);
  if (stored !== null) {
    return deny(null, null, `it would store ${stored} in a table, where it could be read back unmasked; masked values can be read, not copied`);
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
    p = Object.freeze({ columns: Object.freeze({}), outputs: Object.freeze(new Array<MaskStrategy | null>(n).fill(null)), needsRowDescription: false, hasStar: false, refuse: null });
    if (n < 256) nullPlans[n] = p;
  }
  return p;
}

function columnStrategy(sel: Selected, ctx: SessionContext, rel: RelName, column: string | null): MaskStrategy | null {
  let s: MaskStrategy | null = null;
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    const cols = sel.masks.get(schema)?.get(name);
    if (cols === undefined) return true;
    if (column !== null) s = stricter(s, cols.get(column) ?? null);
    else for (const v of cols.values()) s = stricter(s, v);
    return true;
  });
  return s;
}

function sourceStrategy(sel: Selected, ctx: SessionContext, src: ColumnSource): MaskStrategy | null {
  switch (src.kind) {
    case 'column': return columnStrategy(sel, ctx, src.relation, src.column);
    case 'row': return columnStrategy(sel, ctx, src.relation, null);
    case 'derived': {
      let s: MaskStrategy | null = null;
      for (const f of src.from) s = stricter(s, sourceStrategy(sel, ctx, f));
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

/** Does any relation the statement touches (any candidate) have masked columns? */
function touchesMasked(sel: Selected, ctx: SessionContext, stmt: StatementFacts): boolean {
  for (const a of stmt.accesses) {
    if (a.kind !== 'relation') continue;
    if (columnStrategy(sel, ctx, a.relation, null) !== null) return true;
  }
  return false;
}

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
  const copy = stmt.copyTo;
  if (copy !== null && (copy.format === 'binary' || !copy.optionsDefault)) {
    const how = copy.format === 'binary' ? 'in binary format' : 'with non-default options';
    if (copy.relation !== null) {
      const masked = maskedColumnsOf(sel, ctx, copy.relation, copy.columns);
      if (masked.length > 0) {
        refuse = `COPY of ${relText(copy.relation)} ${how} cannot be masked (masked: ${masked.join(', ')}); use COPY in text or csv format with default options`;
      }
    } else if (anyMasked || needsRowDescription) {
      refuse = `COPY (query) ${how} cannot be masked because its result includes masked columns; use COPY in text or csv format with default options`;
    }
  }
  return { columns: sel.maskColumns, outputs, needsRowDescription, hasStar, refuse };
}

/**
 * Masking launders if a masked value is copied into another column (INSERT … SELECT email, UPDATE … SET
 * note = ssn, CREATE TABLE/VIEW AS …): reads of the copy carry no trace of the masked source. Describes the
 * first masked source among the values the statement stores, or null.
 */
function storedMaskedValue(sel: Selected, ctx: SessionContext, stmt: StatementFacts): string | null {
  const written = stmt.written;
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

