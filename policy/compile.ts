// Policy compilation, in two steps:
//   compile(policies, generation) → CompiledPolicySet: plain JSON, defaults applied, ALL expanded,
//     durations in ms. The operator computes it once per generation and pushes it over gRPC.
//   selectFor(set, identity, database) → Selected: the policies that apply to one identity on one
//     database, turned into per-operation arrays of precompiled matchers, so decide() is a few array
//     and map reads. One per session (or per identity+database); never sent anywhere.
import { parseDuration } from './duration.ts';
import { compileChannelGlob, compileGlob, exactKey, isExact, parseColumnName } from './glob.ts';
import type { NameMatcher } from './glob.ts';
import { subjectMatches } from './identity.ts';
import { OPERATIONS } from './types.ts';
import type {
  AccessPolicy, CompiledPolicy, CompiledPolicySet, CompiledRule, ConcreteOperation, Effect, Identity,
  MaskStrategy, Mode, Rule, Subject,
} from './types.ts';
import { formatIssues, validate } from './validate.ts';

export const CONCRETE_OPERATIONS: readonly ConcreteOperation[] =
  OPERATIONS.filter((o): o is ConcreteOperation => o !== 'ALL');

/** Documented defaults (schema.ts carries the ones the apiserver applies). */
export const DEFAULT_HOLD_TIMEOUT_MS = 60_000;
/** An approval without maxDuration grants at most one hour: just-in-time access should be short. */
export const DEFAULT_MAX_DURATION_MS = 3_600_000;

/** Masking strategies by how much of the value each lets out, least last: the strictest wins when two apply. */
const STRICTNESS: Readonly<Record<MaskStrategy, number>> = { partial: 1, hash: 2, redact: 3, null: 4 };

/**
 * The stricter of two strategies; an absent one (null or undefined: not masked) yields to the other. The one
 * ordering for the compiler, decide, explain and the proxy's masking (proxy/mask/resolve.ts).
 */
export function stricter(a: MaskStrategy | null | undefined, b: MaskStrategy): MaskStrategy;
export function stricter(a: MaskStrategy | null | undefined, b: MaskStrategy | null | undefined): MaskStrategy | null;
export function stricter(a: MaskStrategy | null | undefined, b: MaskStrategy | null | undefined): MaskStrategy | null {
  if (a == null) return b ?? null;
  if (b == null) return a;
  return STRICTNESS[b] > STRICTNESS[a] ? b : a;
}

export class PolicyCompileError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`policy does not compile:\n  ${issues.join('\n  ')}`);
    this.name = 'PolicyCompileError';
    this.issues = issues;
  }
}

/** `namespace/name` when the policy has a namespace (cluster mode), else `name`. */
export function policyName(p: { metadata: { name: string; namespace?: string } }): string {
  return p.metadata.namespace === undefined ? p.metadata.name : `${p.metadata.namespace}/${p.metadata.name}`;
}

export function compileRule(r: Rule): CompiledRule {
  const ops = r.operations.includes('ALL')
    ? CONCRETE_OPERATIONS
    : CONCRETE_OPERATIONS.filter((o) => r.operations.includes(o));
  // A rule that names only functions does not reach relations (its tables are "none"), so
  // `{operations: [ALL], functions: [public.f]}` cannot open every table. For CALL pairs a rule
  // without functions uses its tables globs (a schema.name glob names functions just as well).
  // Channels likewise: a rule that names tables or functions reaches no channel unless it names channels
  // too, so `{operations: [ALL], tables: [scratch.*]}` cannot notify every listener.
  return {
    name: r.name,
    effect: r.effect,
    operations: ops,
    tables: r.tables !== undefined ? [...r.tables] : r.functions !== undefined || r.channels !== undefined ? [] : null,
    functions: r.functions !== undefined ? [...r.functions] : r.tables !== undefined ? [...r.tables] : r.channels !== undefined ? [] : null,
    channels: r.channels !== undefined ? [...r.channels] : r.tables !== undefined || r.functions !== undefined ? [] : null,
  };
}

function withNamespace(s: Subject, ns: string | undefined): Subject {
  if (s.kind !== 'ServiceAccount' || s.namespace !== undefined || ns === undefined) return { ...s };
  return { ...s, namespace: ns };
}

/**
 * Compile validated policies. Throws PolicyCompileError (every issue of every policy) when one does
 * not validate: a half-understood policy must never be enforced (the caller keeps its last good set).
 */
export function compile(policies: readonly AccessPolicy[], generation: number): CompiledPolicySet {
  const problems: string[] = [];
  for (const p of policies) problems.push(...formatIssues('', p, validate(p)));
  if (problems.length > 0) throw new PolicyCompileError(problems);
  const out: CompiledPolicy[] = policies.map((p) => {
    const ns = p.metadata.namespace;
    const s = p.spec;
    const masking: Record<string, MaskStrategy> = {};
    for (const m of s.masking ?? []) {
      for (const c of m.columns) {
        const key = (parseColumnName(c) as [string, string, string]).join('.');
        masking[key] = stricter(masking[key], m.strategy);
      }
    }
    const a = s.approval;
    return {
      name: policyName(p),
      mode: s.mode ?? 'enforce',
      subjects: s.subjects.map((x) => withNamespace(x, ns)),
      databases: [...s.databases],
      rules: s.rules.map(compileRule),
      masking,
      blockUnfilteredWrites: s.guardrails?.blockUnfilteredWrites ?? false,
      maxAffectedRows: s.guardrails?.maxAffectedRows ?? null,
      approval: a === undefined ? null : {
        approvers: a.approvers.map((x) => withNamespace(x, ns)),
        minApprovals: a.minApprovals ?? 1,
        maxDurationMs: a.maxDuration === undefined ? DEFAULT_MAX_DURATION_MS : (parseDuration(a.maxDuration) as number),
        holdTimeoutMs: a.holdTimeout === undefined ? DEFAULT_HOLD_TIMEOUT_MS : (parseDuration(a.holdTimeout) as number),
      },
    };
  });
  return { generation, policies: out };
}

// ---------------------------------------------------------------------------------------------
// Selection: the lookup structures decide() reads.

/** One rule of one policy, with its globs compiled. */
export interface RuleRef {
  readonly policy: string;
  readonly mode: Mode;
  readonly rule: string;
  readonly effect: Effect;
  /** null = any relation; [] = none. */
  readonly tables: readonly NameMatcher[] | null;
  /** null = any function that is not dangerous; [] = none. */
  readonly functions: readonly NameMatcher[] | null;
  /** NOTIFY channels: null = any channel; [] = none. */
  readonly channels: readonly NameMatcher[] | null;
  /** "schema.name" of the wildcard-free `functions` entries: the only way to reach a dangerous function. */
  readonly exactFunctions: ReadonlySet<string>;
  /** Same for `tables`: the only way to read a sensitive catalog relation (dangerous.ts). */
  readonly exactTables: ReadonlySet<string>;
  readonly holdTimeoutMs: number;
}
export interface OpRules { readonly deny: readonly RuleRef[]; readonly approve: readonly RuleRef[]; readonly allow: readonly RuleRef[] }

/** schema → table → column → strategy: nested maps, so a lookup builds no key string. */
export type MaskIndex = ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<string, MaskStrategy>>>;

/** Rules of a set of policies (the enforce-mode ones, or all of them), by operation. */
export interface View {
  readonly policies: readonly CompiledPolicy[];
  readonly byOp: Readonly<Record<ConcreteOperation, OpRules>>;
  /** The first policy that blocks unfiltered writes, or null. */
  readonly blockUnfilteredWrites: string | null;
  /** The smallest maxAffectedRows and its policy. */
  readonly maxAffectedRows: number | null;
  readonly maxAffectedRowsPolicy: string | null;
}

export interface Selected {
  readonly generation: number;
  readonly identity: Identity;
  readonly database: string;
  /** Every policy whose subjects match the identity and whose databases include `database`. */
  readonly policies: readonly CompiledPolicy[];
  /** Enforce-mode policies only; null when none matches. */
  readonly enforce: View | null;
  /** All matching policies; null when none matches. */
  readonly all: View | null;
  /** True when some matching policy is in warn or observe mode (then `all` is evaluated too). */
  readonly staged: boolean;
  /** Masking from enforce-mode policies only (warn/observe must not change results). */
  readonly masks: MaskIndex;
  /** The same masks flat, "schema.table.column" → strategy (MaskPlan.columns). */
  readonly maskColumns: Readonly<Record<string, MaskStrategy>>;
}

const ruleRefCache = new WeakMap<CompiledRule, { tables: NameMatcher[] | null; functions: NameMatcher[] | null; channels: NameMatcher[] | null; exactFunctions: Set<string>; exactTables: Set<string> }>();

/** Compiled matchers of a rule (memoized per rule object; grants reuse it). Bad globs match nothing. */
export function matchersOf(r: CompiledRule) {
  let m = ruleRefCache.get(r);
  if (m === undefined) {
    // A glob that does not compile (only possible in a hand-made or corrupted set: compile()
    // validates) fails closed: it matches everything in a deny rule and nothing elsewhere.
    const compileAll = (globs: readonly string[] | null) => globs === null ? null
      : globs.map((g) => compileGlob(g) ?? (r.effect === 'deny' ? compileGlob('*') : null))
        .filter((g): g is NameMatcher => g !== null);
    const tables = compileAll(r.tables);
    const functions = compileAll(r.functions);
    // A set from an operator that predates channels has no `channels`: such a rule reaches channels only
    // when it names no objects at all (it could not have meant a NOTIFY pair otherwise).
    const chans = r.channels !== undefined ? r.channels : r.tables === null && r.functions === null ? null : [];
    const channels = chans === null ? null
      : chans.map((g) => compileChannelGlob(g) ?? (r.effect === 'deny' ? compileChannelGlob('*') : null))
        .filter((g): g is NameMatcher => g !== null);
    m = {
      tables, functions, channels,
      exactFunctions: new Set((functions ?? []).filter(isExact).map(exactKey)),
      exactTables: new Set((tables ?? []).filter(isExact).map(exactKey)),
    };
    ruleRefCache.set(r, m);
  }
  return m;
}

function buildView(policies: readonly CompiledPolicy[]): View {
  const byOp = {} as Record<ConcreteOperation, { deny: RuleRef[]; approve: RuleRef[]; allow: RuleRef[] }>;
  for (const op of CONCRETE_OPERATIONS) byOp[op] = { deny: [], approve: [], allow: [] };
  let block: string | null = null;
  let maxRows: number | null = null;
  let maxRowsPolicy: string | null = null;
  for (const p of policies) {
    const hold = p.approval?.holdTimeoutMs ?? DEFAULT_HOLD_TIMEOUT_MS;
    for (const r of p.rules) {
      const m = matchersOf(r);
      const ref: RuleRef = { policy: p.name, mode: p.mode, rule: r.name, effect: r.effect, ...m, holdTimeoutMs: hold };
      for (const op of r.operations) byOp[op]?.[r.effect].push(ref);
    }
    if (p.blockUnfilteredWrites && block === null) block = p.name;
    if (p.maxAffectedRows !== null && (maxRows === null || p.maxAffectedRows < maxRows)) {
      maxRows = p.maxAffectedRows;
      maxRowsPolicy = p.name;
    }
  }
  return { policies, byOp, blockUnfilteredWrites: block, maxAffectedRows: maxRows, maxAffectedRowsPolicy: maxRowsPolicy };
}

/** Does a compiled policy apply to this identity on this database? */
export function policyApplies(p: CompiledPolicy, identity: Identity, database: string): boolean {
  return (p.databases.includes('*') || p.databases.includes(database))
    && p.subjects.some((s) => subjectMatches(s, identity));
}

export function selectFor(set: CompiledPolicySet, identity: Identity, database: string): Selected {
  const policies = set.policies.filter((p) => policyApplies(p, identity, database));
  const enforcing = policies.filter((p) => p.mode === 'enforce');
  const masks = new Map<string, Map<string, Map<string, MaskStrategy>>>();
  const maskColumns: Record<string, MaskStrategy> = {};
  for (const p of enforcing) {
    for (const [col, strategy] of Object.entries(p.masking)) {
      const parts = parseColumnName(col.split('.').map((x) => `"${x.replaceAll('"', '""')}"`).join('.'));
      if (parts === null) continue;
      const [schema, table, column] = parts;
      let t = masks.get(schema);
      if (t === undefined) masks.set(schema, t = new Map());
      let c = t.get(table);
      if (c === undefined) t.set(table, c = new Map());
      const s = stricter(c.get(column), strategy);
      c.set(column, s);
      maskColumns[`${schema}.${table}.${column}`] = s;
    }
  }
  return {
    generation: set.generation,
    identity,
    database,
    policies,
    enforce: enforcing.length > 0 ? buildView(enforcing) : null,
    all: policies.length > 0 ? buildView(policies) : null,
    staged: enforcing.length < policies.length,
    masks,
    maskColumns: Object.freeze(maskColumns),
  };
}
