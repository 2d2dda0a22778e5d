// Selection: the lookup structures decide() reads, built from a CompiledPolicySet (compile.ts's output) per
// identity and database. Apart from compile.ts so that what enforces a set already compiled (the sidecar, which
// receives its set from the operator and checks its shape in distribution/types.ts) does not load the policy
// validator and its schemas (policy/validate.ts → schema.ts → @sinclair/typebox, ~200 modules); compile.ts
// re-exports all of it, so either import works.
import { compileChannelGlob, compileGlob, exactKey, isExact, parseColumnName } from './glob.ts';
import type { NameMatcher } from './glob.ts';
import { subjectMatches } from './identity.ts';
import { OPERATIONS } from './types.ts';
import type {
  CompiledPolicy,
  CompiledPolicySet,
  CompiledRule,
  ConcreteOperation,
  Effect,
  Identity,
  MaskStrategy,
  Mode,
} from './types.ts';

export const CONCRETE_OPERATIONS: readonly ConcreteOperation[] = OPERATIONS.filter(
  (o): o is ConcreteOperation => o !== 'ALL',
);

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
export interface OpRules {
  readonly deny: readonly RuleRef[];
  readonly approve: readonly RuleRef[];
  readonly allow: readonly RuleRef[];
}

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

const ruleRefCache = new WeakMap<
  CompiledRule,
  {
    tables: NameMatcher[] | null;
    functions: NameMatcher[] | null;
    channels: NameMatcher[] | null;
    exactFunctions: Set<string>;
    exactTables: Set<string>;
  }
>();

/** Compiled matchers of a rule (memoized per rule object; grants reuse it). Bad globs match nothing. */
export function matchersOf(rule: CompiledRule) {
  let matchers = ruleRefCache.get(rule);
  if (matchers === undefined) {
    // A glob that does not compile (only possible in a hand-made or corrupted set: compile()
    // validates) fails closed: it matches everything in a deny rule and nothing elsewhere.
    const compileAll = (globs: readonly string[] | null) =>
      globs === null
        ? null
        : globs
            .map((g) => compileGlob(g) ?? (rule.effect === 'deny' ? compileGlob('*') : null))
            .filter((g): g is NameMatcher => g !== null);
    const tables = compileAll(rule.tables);
    const functions = compileAll(rule.functions);
    // A set from an operator that predates channels has no `channels`: such a rule reaches channels only
    // when it names no objects at all (it could not have meant a NOTIFY pair otherwise).
    const chans =
      rule.channels !== undefined ? rule.channels : rule.tables === null && rule.functions === null ? null : [];
    const channels =
      chans === null
        ? null
        : chans
            .map((glob) => compileChannelGlob(glob) ?? (rule.effect === 'deny' ? compileChannelGlob('*') : null))
            .filter((glob): glob is NameMatcher => glob !== null);
    matchers = {
      tables,
      functions,
      channels,
      exactFunctions: new Set((functions ?? []).filter(isExact).map(exactKey)),
      exactTables: new Set((tables ?? []).filter(isExact).map(exactKey)),
    };
    ruleRefCache.set(rule, matchers);
  }
  return matchers;
}

function buildView(policies: readonly CompiledPolicy[]): View {
  const byOp = {} as Record<ConcreteOperation, { deny: RuleRef[]; approve: RuleRef[]; allow: RuleRef[] }>;
  for (const op of CONCRETE_OPERATIONS) byOp[op] = { deny: [], approve: [], allow: [] };
  let block: string | null = null;
  let maxRows: number | null = null;
  let maxRowsPolicy: string | null = null;
  for (const policy of policies) {
    const hold = policy.approval?.holdTimeoutMs ?? DEFAULT_HOLD_TIMEOUT_MS;
    for (const rule of policy.rules) {
      const matchers = matchersOf(rule);
      const ref: RuleRef = {
        policy: policy.name,
        mode: policy.mode,
        rule: rule.name,
        effect: rule.effect,
        ...matchers,
        holdTimeoutMs: hold,
      };
      for (const op of rule.operations) byOp[op]?.[rule.effect].push(ref);
    }
    if (policy.blockUnfilteredWrites && block === null) block = policy.name;
    if (policy.maxAffectedRows !== null && (maxRows === null || policy.maxAffectedRows < maxRows)) {
      maxRows = policy.maxAffectedRows;
      maxRowsPolicy = policy.name;
    }
  }
  return {
    policies,
    byOp,
    blockUnfilteredWrites: block,
    maxAffectedRows: maxRows,
    maxAffectedRowsPolicy: maxRowsPolicy,
  };
}

/** Does a compiled policy apply to this identity on this database? */
export function policyApplies(policy: CompiledPolicy, identity: Identity, database: string): boolean {
  return (
    (policy.databases.includes('*') || policy.databases.includes(database))
    && policy.subjects.some((subject) => subjectMatches(subject, identity))
  );
}

export function selectFor(set: CompiledPolicySet, identity: Identity, database: string): Selected {
  const policies = set.policies.filter((policy) => policyApplies(policy, identity, database));
  const enforcing = policies.filter((policy) => policy.mode === 'enforce');
  const masks = new Map<string, Map<string, Map<string, MaskStrategy>>>();
  const maskColumns: Record<string, MaskStrategy> = {};
  for (const policy of enforcing) {
    for (const [col, strategy] of Object.entries(policy.masking)) {
      const parts = parseColumnName(
        col
          .split('.')
          .map((part) => `"${part.replaceAll('"', '""')}"`)
          .join('.'),
      );
      if (parts === null) continue;
      const [schema, table, column] = parts;
      let tables = masks.get(schema);
      if (tables === undefined) masks.set(schema, (tables = new Map()));
      let columns = tables.get(table);
      if (columns === undefined) tables.set(table, (columns = new Map()));
      const strictest = stricter(columns.get(column), strategy);
      columns.set(column, strictest);
      maskColumns[`${schema}.${table}.${column}`] = strictest;
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
