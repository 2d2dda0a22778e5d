// Offline decisions with their explanation, for `airlock policy explain` and `airlock policy test`:
// the pairs a statement touches, the rules that matched each, the masking plan, and the verdict the
// proxy would give. Pure: the caller analyses the SQL (policy/analyze) and passes the Analysis; the
// verdict comes from the same decide()/maskPlan() the proxy runs, combined over a multi-statement
// string the way proxy/enforce/gate.ts combines it (first denial wins, then approval).
//
// Offline there is no database to ask, so the context is assumed (offlineContext): search_path
// `public` unless given, pg_catalog names of PostgreSQL 15 (pg-catalog.ts), no AccessRequest grants.
// An `approve` verdict is reported as such (the proxy would hold the statement and ask).
import { compile, selectFor, stricter } from './compile.ts';
import type { Selected, View } from './compile.ts';
import { decide, eachCandidate, evalCandidate, maskPlan, ruleMatches } from './decide.ts';
import type { PairResult } from './decide.ts';
import { PG_CATALOG_FUNCTIONS, PG_CATALOG_RELATIONS } from './pg-catalog.ts';
import type {
  Access,
  AccessPolicy,
  Analysis,
  ColumnSource,
  Decision,
  Effect,
  Identity,
  MaskStrategy,
  Mode,
  RelName,
  SessionContext,
  StatementFacts,
} from './types.ts';

const CATALOG_RELATIONS: ReadonlySet<string> = new Set(PG_CATALOG_RELATIONS);
const CATALOG_FUNCTIONS: ReadonlySet<string> = new Set(PG_CATALOG_FUNCTIONS);

/** The session context offline: what a fresh connection to a PostgreSQL 15 database would report. */
export function offlineContext(
  identity: Identity,
  database: string,
  searchPath: readonly string[] = ['public'],
): SessionContext {
  return {
    identity,
    database,
    searchPath,
    catalogRelations: CATALOG_RELATIONS,
    catalogFunctions: CATALOG_FUNCTIONS,
    grants: [],
  };
}

export interface RuleMatch {
  readonly policy: string;
  readonly rule: string;
  readonly effect: Effect;
  readonly mode: Mode;
}

/** One resolved name a pair may mean (an unqualified name has one per search_path schema). */
export interface CandidateExplanation {
  /** schema.name */
  readonly object: string;
  /** Every rule for this operation whose tables/functions match the name, deny first, then approve, allow. */
  readonly matches: readonly RuleMatch[];
  /** What the evaluator concluded for this name under all matching policies (staged ones included). */
  readonly outcome: 'allow' | 'approve' | 'deny';
  /** The rule that decided, or null (no rule needed, or default deny). */
  readonly by: { readonly policy: string; readonly rule: string } | null;
  readonly reason: string | null;
}
export interface PairExplanation {
  readonly operation: string;
  readonly kind: Access['kind'];
  /** The name as written in the statement. */
  readonly written: string;
  readonly candidates: readonly CandidateExplanation[];
}
export interface OutputMask {
  /** 1-based position in the result. */
  readonly position: number;
  /** What the value is, e.g. `public.customers.email`, `derived from public.customers.ssn`, `* of public.customers`. */
  readonly source: string;
  /** Strategy for the whole output, or null (passes unchanged; for `*`, see columns). */
  readonly strategy: MaskStrategy | null;
  /** For `*` and whole rows: the masked columns inside, each with its strategy. */
  readonly columns: readonly { readonly column: string; readonly strategy: MaskStrategy }[];
}
export interface StatementExplanation {
  readonly command: string;
  readonly decision: Decision;
  readonly pairs: readonly PairExplanation[];
  readonly outputs: readonly OutputMask[];
  /** Source column (schema.table.column) → the strictest strategy applied to any value taken from it. */
  readonly masked: Readonly<Record<string, MaskStrategy>>;
  /** Set when the result could not be masked safely and the proxy refuses it (then the verdict is deny). */
  readonly refuse: string | null;
}
export interface Verdict {
  readonly decision: 'allow' | 'warn' | 'approve' | 'deny';
  readonly policy: string | null;
  readonly rule: string | null;
  readonly reason: string | null;
}
export interface Explanation {
  readonly identity: Identity;
  readonly database: string;
  /** Every policy that applies to the identity on the database (namespace/name), in file order. */
  readonly policies: readonly string[];
  readonly normalized: string;
  readonly error: string | null;
  readonly statements: readonly StatementExplanation[];
  readonly verdict: Verdict;
  /** Union of the statements' masked columns. */
  readonly masked: Readonly<Record<string, MaskStrategy>>;
}

function relText(rel: RelName): string {
  return rel.schema === null ? rel.name : `${rel.schema}.${rel.name}`;
}

/** Compile policies once; explain many statements against the result with explainWith. */
export function explain(policies: readonly AccessPolicy[], ctx: SessionContext, analysis: Analysis): Explanation {
  return explainWith(selectFor(compile(policies, 1), ctx.identity, ctx.database), ctx, analysis);
}

export function explainWith(sel: Selected, ctx: SessionContext, analysis: Analysis): Explanation {
  const base = {
    identity: ctx.identity,
    database: ctx.database,
    policies: sel.policies.map((policy) => policy.name),
    normalized: analysis.normalized,
  };
  if (analysis.error !== null) {
    return {
      ...base,
      error: analysis.error,
      statements: [],
      masked: {},
      verdict: { decision: 'deny', policy: null, rule: null, reason: analysis.error },
    };
  }
  const statements: StatementExplanation[] = [];
  const masked: Record<string, MaskStrategy> = {};
  for (const facts of analysis.statements) {
    const explained = explainStatement(sel, ctx, facts, analysis.normalized);
    statements.push(explained);
    for (const [column, strategy] of Object.entries(explained.masked))
      masked[column] = stricter(masked[column], strategy);
  }
  return { ...base, error: null, statements, masked, verdict: combine(statements) };
}

function explainStatement(
  sel: Selected,
  ctx: SessionContext,
  facts: StatementFacts,
  text: string,
): StatementExplanation {
  if (facts.executes !== null) {
    // Offline there is no session that prepared it: the proxy denies an EXECUTE it did not see prepared.
    const reason = `EXECUTE of prepared statement "${facts.executes}", which was not prepared through this proxy session`;
    return {
      command: facts.command,
      decision: { verdict: 'deny', policy: null, rule: null, reason },
      pairs: [],
      outputs: [],
      masked: {},
      refuse: null,
    };
  }
  const decision = decide(sel, ctx, facts, text);
  const pairs =
    sel.all === null
      ? []
      : facts.accesses.map((access) => {
          const candidates: CandidateExplanation[] = [];
          eachCandidate(access.relation, access.kind, ctx, (schema, name) => {
            const view = sel.all as View;
            const rules = view.byOp[access.operation];
            const matches: RuleMatch[] = [];
            for (const list of [rules.deny, rules.approve, rules.allow]) {
              for (const rule of list)
                if (ruleMatches(rule, access.kind, schema, name))
                  matches.push({ policy: rule.policy, rule: rule.rule, effect: rule.effect, mode: rule.mode });
            }
            const result: PairResult = evalCandidate(rules, access, schema, name, ctx, text);
            candidates.push({
              object: schema === '' ? name : `${schema}.${name}`,
              matches,
              outcome: result.kind,
              by:
                result.kind === 'deny'
                  ? result.policy !== null && result.rule !== null
                    ? { policy: result.policy, rule: result.rule }
                    : null
                  : result.ref === null
                    ? null
                    : { policy: result.ref.policy, rule: result.ref.rule },
              reason: result.kind === 'deny' ? result.reason : null,
            });
            return true;
          });
          return { operation: access.operation, kind: access.kind, written: relText(access.relation), candidates };
        });
  const plan = sel.all === null ? null : maskPlan(sel, ctx, facts);
  const outputs: OutputMask[] = [];
  const masked: Record<string, MaskStrategy> = {};
  if (plan !== null) {
    facts.outputs.forEach((src, i) => {
      const strategy = plan.outputs[i] ?? null;
      const columns =
        src.kind === 'star'
          ? src.relations.flatMap((rel) => maskedColumns(sel, ctx, rel))
          : src.kind === 'row'
            ? maskedColumns(sel, ctx, src.relation).map((column) => ({
                ...column,
                strategy: strategy ?? column.strategy,
              }))
            : [];
      outputs.push({ position: i + 1, source: describeSource(src), strategy, columns });
      if (strategy !== null)
        for (const column of sourceColumns(sel, ctx, src)) masked[column] = stricter(masked[column], strategy);
      for (const entry of columns) masked[entry.column] = stricter(masked[entry.column], entry.strategy);
    });
  }
  return { command: facts.command, decision, pairs, outputs, masked, refuse: plan?.refuse ?? null };
}

/** The masked columns of a relation (any candidate of an unqualified name), qualified. */
function maskedColumns(sel: Selected, ctx: SessionContext, rel: RelName): { column: string; strategy: MaskStrategy }[] {
  const out: { column: string; strategy: MaskStrategy }[] = [];
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    const cols = sel.masks.get(schema)?.get(name);
    if (cols !== undefined)
      for (const [column, s] of cols) out.push({ column: `${schema}.${name}.${column}`, strategy: s });
    return true;
  });
  return out;
}

/** The masked source columns a value is taken from (for the per-case masking summary). */
function sourceColumns(sel: Selected, ctx: SessionContext, src: ColumnSource): string[] {
  switch (src.kind) {
    case 'column': {
      const out: string[] = [];
      eachCandidate(src.relation, 'relation', ctx, (schema, name) => {
        if (sel.masks.get(schema)?.get(name)?.has(src.column) === true) out.push(`${schema}.${name}.${src.column}`);
        return true;
      });
      return out;
    }
    case 'row':
      return maskedColumns(sel, ctx, src.relation).map((column) => column.column);
    case 'derived':
      return src.from.flatMap((from) => sourceColumns(sel, ctx, from));
    case 'opaque':
      return ['(untraceable value)'];
    default:
      return [];
  }
}

export function describeSource(src: ColumnSource): string {
  switch (src.kind) {
    case 'column':
      return `${relText(src.relation)}.${src.column}`;
    case 'row':
      return `whole row of ${relText(src.relation)}`;
    case 'star':
      return `* of ${src.relations.map(relText).join(', ') || '(no relation)'}`;
    case 'derived': {
      const from = [...new Set(src.from.map(describeSource))];
      return from.length === 0 ? 'computed (no column)' : `computed from ${from.join(', ')}`;
    }
    case 'opaque':
      return 'untraceable (e.g. a function result)';
    default:
      return 'unknown';
  }
}

/** One verdict for the string, as the proxy's gate gives it: first denial (or refusal), then approval. */
function combine(statements: readonly StatementExplanation[]): Verdict {
  for (const statement of statements) {
    const decision = statement.decision;
    if (decision.verdict === 'deny')
      return { decision: 'deny', policy: decision.policy, rule: decision.rule, reason: decision.reason };
    if (statement.refuse !== null) return { decision: 'deny', policy: null, rule: null, reason: statement.refuse };
  }
  for (const statement of statements) {
    const decision = statement.decision;
    if (decision.verdict === 'approve')
      return { decision: 'approve', policy: decision.policy, rule: decision.rule, reason: null };
  }
  // A warn anywhere makes the string a warn (the audit records it so); otherwise the first statement
  // that a named rule allowed tells who allowed it.
  const warn = statements.find((statement) => statement.decision.verdict === 'warn');
  const named =
    warn
    ?? statements.find(
      (statement) => statement.decision.verdict === 'allow' && statement.decision.rule !== '(implicit)',
    )
    ?? statements[0];
  if (named === undefined) return { decision: 'allow', policy: null, rule: null, reason: 'empty statement' };
  const decision = named.decision as Extract<Decision, { verdict: 'allow' | 'warn' }>;
  const reason =
    decision.wouldDeny.length > 0
      ? decision.wouldDeny.map((denial) => `${denial.policy}: ${denial.reason}`).join('; ')
      : null;
  return { decision: decision.verdict, policy: decision.policy, rule: decision.rule, reason };
}
