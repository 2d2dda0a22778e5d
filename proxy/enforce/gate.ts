// The enforcement step between the wire and the policy core: one statement string in, one verdict per
// statement out, through the decision cache. The session calls check() for every Query and Parse; the
// result is exactly what a fresh analysis would give (docs/adr/0002-decision-cache-keys.md).
import type {
  Analysis,
  ColumnSource,
  CompiledPolicySet,
  Decision,
  Grant,
  Identity,
  SessionContext,
  StatementFacts,
} from '../../policy/types.ts';
import { selectFor } from '../../policy/select.ts';
import type { Selected } from '../../policy/select.ts';
import { decide } from '../../policy/decide.ts';
import { DecisionCache } from '../../policy/cache.ts';
import { deniedWhat, describeStatement } from './denial.ts';
import type { DenyDecision } from './denial.ts';

/** The statement analyzer (policy/analyze): injected so the proxy starts it once per process. */
export interface Analyzer {
  /** `normalized`: this analyzer's normalize(sql), when the caller has it (one normalize per cache miss, not two). */
  analyze(sql: string, normalized?: string): Analysis;
  /** libpg-query's normalized text only (cheaper than analyze): the shape-cache key. Optional. */
  normalize?(sql: string): string | null;
}

/**
 * The shared, swappable policy state (style.md §5: build fully, then swap one reference). Sessions read
 * `shared.state` at each statement; the caches live and die with the generation.
 */
export interface PolicyState {
  readonly set: CompiledPolicySet;
  readonly analyzer: Analyzer;
  /** Per (identity, database): the selected policies, its grants, and decision caches by search_path. */
  readonly selections: Map<string, Selection>;
  readonly cacheBytes: number;
  /**
   * Approved AccessRequests (sidecar mode: from the operator's snapshot). Part of the state, so a grant
   * approved, expired or revoked means a new state and new decision caches (docs/adr/0002).
   */
  readonly grants: readonly SubjectGrant[];
}

/** A grant and whom it is for: a Kubernetes user name, or `group:<name>` for a Group subject. */
export interface SubjectGrant extends Grant {
  readonly subject: string;
}

interface Selection {
  readonly sel: Selected;
  readonly grants: readonly Grant[];
  readonly caches: Map<string, DecisionCache<Checked>>;
}

export function policyState(
  set: CompiledPolicySet,
  analyzer: Analyzer,
  cacheBytes = 8 * 1024 * 1024,
  grants: readonly SubjectGrant[] = [],
): PolicyState {
  return { set, analyzer, selections: new Map(), cacheBytes, grants };
}

/** The grants of `who` (expired ones are left out: the owner swaps in a new state when one expires). */
export function grantsFor(grants: readonly SubjectGrant[], who: Identity, nowMs: number): readonly Grant[] {
  if (grants.length === 0) return NO_GRANTS;
  return grants.filter(
    (g) =>
      g.expiresAtMs > nowMs
      && (g.subject === who.user
        || (g.subject.startsWith('group:') && who.groups.includes(g.subject.slice('group:'.length)))),
  );
}
const NO_GRANTS: readonly Grant[] = Object.freeze([]);

function identityKey(who: Identity, database: string): string {
  return `${who.user}\u0000${who.groups.join('\u0001')}\u0000${database}`;
}

function selection(state: PolicyState, who: Identity, database: string): Selection {
  const key = identityKey(who, database);
  let s = state.selections.get(key);
  if (s === undefined)
    state.selections.set(
      key,
      (s = {
        sel: selectFor(state.set, who, database),
        grants: grantsFor(state.grants, who, Date.now()),
        caches: new Map(),
      }),
    );
  return s;
}

/** Does any policy of the state give this identity access to this binding? (start, and revocation on reload) */
export function hasAccess(state: PolicyState, who: Identity, database: string): boolean {
  return selection(state, who, database).sel.all !== null;
}

/** Is anything masked for this identity under this state (enforce-mode masking)? */
export function masksAnything(state: PolicyState, who: Identity, database: string): boolean {
  for (const _ in selection(state, who, database).sel.maskColumns) return true;
  return false;
}

/** The verdict on a whole Query or Parse string. */
export interface Checked {
  readonly analysis: Analysis;
  /** One per statement, same order as analysis.statements (empty when the string did not parse). */
  readonly decisions: readonly Decision[];
  /**
   * The facts each decision was made on, same order: an EXECUTE's merged with its prepared statement's
   * (withExecuted), every other statement's as analysed (then the same array as analysis.statements).
   */
  readonly facts: readonly StatementFacts[];
  /** The first denial (or the parse failure), with what it was about; null when every statement may run. */
  readonly denied: { readonly decision: DenyDecision; readonly what: string } | null;
  /** No denial, but a statement needs an approved AccessRequest that no grant covers (the session holds it). */
  readonly approval: { readonly decision: ApproveDecision; readonly what: string } | null;
}

export type ApproveDecision = Extract<Decision, { verdict: 'approve' }>;

const denyOf = (reason: string): DenyDecision => ({ verdict: 'deny', policy: null, rule: null, reason });

/**
 * An `approve` verdict where the proxy cannot hold the statement (a prepared statement re-decided at
 * Bind after a policy change): denied; re-sending it (a new Parse) asks for approval.
 */
function asEnforced(d: Decision): Decision {
  if (d.verdict !== 'approve') return d;
  return {
    verdict: 'deny',
    policy: d.policy,
    rule: d.rule,
    reason: 'it needs an approved AccessRequest; prepare it again to ask for one',
    kind: 'approval',
  };
}

/**
 * Per session: the selection and decision cache of its (generation, identity, database, search_path).
 */
export class Gate {
  // Assigned by #bind, from the constructor and rebind().
  state!: PolicyState;
  ctx!: SessionContext;
  sel!: Selected;
  cache!: DecisionCache<Checked>;
  /** The catalog facts decisions depend on (views, SQL functions, security_invoker views), as one key. */
  catalogId!: string;
  /** `ctx` with the identity's grants of this state: what decide() sees. */
  #dctx!: SessionContext;

  constructor(state: PolicyState, ctx: SessionContext) {
    this.#bind(state, ctx);
  }

  #bind(state: PolicyState, ctx: SessionContext): void {
    this.state = state;
    this.ctx = ctx;
    const s = selection(state, ctx.identity, ctx.database);
    this.sel = s.sel;
    this.#dctx = s.grants.length === 0 && ctx.grants.length === 0 ? ctx : { ...ctx, grants: s.grants };
    this.catalogId =
      ctx.invoker === undefined || ctx.invoker.id === ''
        ? (ctx.derived?.id ?? '')
        : `${ctx.derived?.id ?? ''}\u0003${ctx.invoker.id}`;
    this.cache = Gate.#cacheFor(state, s.caches, ctx, this.catalogId);
  }

  static #cacheFor(
    state: PolicyState,
    caches: Map<string, DecisionCache<Checked>>,
    ctx: SessionContext,
    catalogId: string,
  ): DecisionCache<Checked> {
    // Decisions depend on the search_path and on the catalog's views and SQL functions (policy/derived.ts)
    // and security_invoker views (policy/invoker.ts).
    const key = `${ctx.searchPath.join('\u0001')}\u0002${catalogId}`;
    let c = caches.get(key);
    if (c === undefined) {
      // Every DDL that changes a view makes a new catalog: keep the few most recent caches, not all of them.
      if (caches.size >= MAX_CACHES_PER_SELECTION) caches.delete(caches.keys().next().value!);
      caches.set(key, (c = new DecisionCache<Checked>(state.cacheBytes)));
    }
    return c;
  }

  /** Called when the policy generation or the session context (search_path) changed. */
  rebind(state: PolicyState, ctx: SessionContext): void {
    if (state === this.state && ctx === this.ctx) return;
    this.#bind(state, ctx);
  }

  get generation(): number {
    return this.state.set.generation;
  }

  /**
   * Analyse and decide a statement string. `prepared` resolves EXECUTE name to the facts stored when
   * that statement was prepared (SQL PREPARE and protocol Parse share one namespace in PostgreSQL);
   * such strings are never cached, since their verdict depends on session state.
   */
  check(sql: string, prepared: ReadonlyMap<string, StatementFacts>): Checked {
    const hit = this.cache.getExact(sql);
    if (hit !== undefined) return hit;
    const analyzer = this.state.analyzer;
    let normalized: string | undefined;
    if (analyzer.normalize !== undefined) {
      const n = analyzer.normalize(sql);
      if (n !== null) {
        const shaped = this.cache.getShape(n);
        if (shaped !== undefined) return shaped;
        normalized = n;
      }
    }
    let analysis: Analysis;
    try {
      analysis = analyzer.analyze(sql, normalized);
    } catch (e) {
      // The analyzer failing is "not understood": deny (design.md: anything not understood is denied).
      const reason = `the statement could not be analysed: ${(e as Error).message}`;
      return {
        analysis: { statements: [], error: reason, normalized: '', shapeCacheable: false },
        decisions: [],
        facts: NO_FACTS,
        denied: { decision: denyOf(reason), what: 'statement' },
        approval: null,
      };
    }
    if (analysis.error !== null) {
      const checked: Checked = {
        analysis,
        decisions: [],
        facts: NO_FACTS,
        denied: { decision: denyOf(analysis.error), what: 'statement' },
        approval: null,
      };
      this.cache.set(sql, checked, null, sql.length * 2);
      return checked;
    }
    const decisions: Decision[] = [];
    // Allocated only for a string with an EXECUTE: every other statement is decided on its own facts.
    let merged: StatementFacts[] | null = null;
    let denied: Checked['denied'] = null;
    let approval: Checked['approval'] = null;
    let cacheable = true;
    // A statement grant matches exact text: a decision that used a grant is cached on the exact text only.
    let shapeCacheable = analysis.shapeCacheable;
    const statements = analysis.statements;
    for (let i = 0; i < statements.length; i++) {
      const facts = statements[i]!;
      let f = facts;
      if (facts.executes !== null) {
        merged ??= statements.slice(0, i);
        cacheable = false;
        const stored = prepared.get(facts.executes);
        if (stored === undefined) {
          const d = denyOf(
            `EXECUTE of prepared statement "${facts.executes}", which was not prepared through this proxy session`,
          );
          decisions.push(d);
          denied ??= { decision: d, what: `EXECUTE ${facts.executes}` };
          merged.push(facts);
          continue;
        }
        f = withExecuted(facts, stored);
      }
      merged?.push(f);
      const d = decide(this.sel, this.#dctx, f, sql);
      decisions.push(d);
      if (d.verdict === 'deny') denied ??= { decision: d, what: deniedWhat(d, f, this.ctx) };
      else if (d.verdict === 'approve') approval ??= { decision: d, what: d.what ?? describeStatement(f, this.ctx) };
      else if (d.grant !== undefined) shapeCacheable = false;
      if (d.verdict !== 'deny' && d.verdict !== 'approve' && d.masks.refuse !== null) {
        const r = denyOf(d.masks.refuse);
        denied ??= { decision: r, what: describeStatement(f, this.ctx) };
      }
    }
    if (denied === null && analysis.statements.length > 1) {
      // A statement that changes name resolution changes how the ones after it resolve, but they were all
      // decided with the current context: refuse the mix rather than decide on a stale one.
      for (let i = 0; i < analysis.statements.length - 1; i++) {
        if (changesResolution(analysis.statements[i]!)) {
          denied = {
            decision: denyOf(
              'a statement that changes session settings used for name resolution must be sent on its own',
            ),
            what: describeStatement(analysis.statements[i]!, this.ctx),
          };
          break;
        }
      }
    }
    const checked: Checked = {
      analysis,
      decisions,
      facts: merged ?? statements,
      denied,
      approval: denied === null ? approval : null,
    };
    if (cacheable) {
      const extra = analysis.normalized.length * 2 + 512 * analysis.statements.length;
      this.cache.set(sql, checked, shapeCacheable ? analysis.normalized : null, extra);
    }
    return checked;
  }

  /** Re-decide stored facts (a prepared statement bound after a policy change). */
  decideFacts(facts: StatementFacts, text: string): Decision {
    const d = asEnforced(decide(this.sel, this.#dctx, facts, text));
    if (d.verdict !== 'deny' && d.verdict !== 'approve' && d.masks.refuse !== null) return denyOf(d.masks.refuse);
    return d;
  }
}

const NO_FACTS: readonly StatementFacts[] = Object.freeze([]);
const OPAQUE: ColumnSource = Object.freeze({ kind: 'opaque' });
/** Decision caches kept per selection (search_path × catalog versions); the oldest goes first. */
const MAX_CACHES_PER_SELECTION = 4;

/**
 * The facts of a statement that EXECUTEs a prepared one: the outer statement's own pairs count as much
 * as the prepared statement's (`CREATE TABLE t AS EXECUTE p` is DDL whatever p reads; `EXECUTE
 * p((SELECT ssn FROM secret))` reads secret), decided together so one Decision carries all of them.
 * Arguments that read tables flow into p's parameters and so into its results at positions we cannot
 * trace: those outputs become opaque, which decide() masks when a masked relation is read.
 */
export function withExecuted(outer: StatementFacts, stored: StatementFacts): StatementFacts {
  if (outer.accesses.length === 0 && outer.unsupported.length === 0 && outer.effects.length === 0 && !outer.writes)
    return stored;
  const plain = outer.tag === 'ExecuteStmt';
  const argsRead = outer.accesses.length > 0;
  return {
    ...(plain ? stored : outer),
    accesses: [...outer.accesses, ...stored.accesses],
    unsupported: [...outer.unsupported, ...stored.unsupported],
    effects: [...outer.effects, ...stored.effects],
    unfilteredWrite: outer.unfilteredWrite || stored.unfilteredWrite,
    // Parameters may be stored or sent anywhere in p: values read by the arguments make those untraceable too.
    written: [
      ...(outer.written ?? []),
      ...(argsRead ? (stored.written ?? []).map(() => OPAQUE) : (stored.written ?? [])),
    ],
    notified: [
      ...(outer.notified ?? []),
      ...(argsRead ? (stored.notified ?? []).map(() => OPAQUE) : (stored.notified ?? [])),
    ],
    writes: outer.writes || stored.writes,
    outputs: plain ? (argsRead ? stored.outputs.map(() => OPAQUE) : stored.outputs) : outer.outputs,
    executes: null,
  };
}

/** Statements after which the session must refetch search_path before deciding anything else. */
export function changesResolution(f: StatementFacts): boolean {
  for (const e of f.effects) {
    if (e.kind === 'set' && e.name.toLowerCase() === 'search_path') return true;
    if (e.kind === 'reset' && (e.name === null || e.name.toLowerCase() === 'search_path')) return true;
    if (e.kind === 'discard' || e.kind === 'role') return true;
  }
  return false;
}

/** Statements after which the mask catalog may be stale (an OID or attnum of a masked table changed). */
export function changesCatalog(f: StatementFacts): boolean {
  for (const a of f.accesses) if (a.operation === 'DDL' || a.operation === 'DROP') return true;
  return false;
}
