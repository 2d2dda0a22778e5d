// Policy test cases (`airlock policy test FILE… --cases CASES.yaml`): statements run as identities
// against policies offline, each with the verdict, the deciding rule and the masking expected. Pure:
// parsing and comparison only; bin/policy.ts reads files, analyses SQL and prints TAP or JUnit.
//
//   defaults: { identity: system:serviceaccount:ml:trainer, database: features }   # optional
//   cases:
//     - name: the trainer reads features, e-mails masked
//       sql: SELECT customer_id, email FROM public.features
//       expect: { decision: allow, rule: read-features, masked: { public.features.email: partial } }
//
// `expect.masked` is exact: every source column a masked value comes from, with its strategy (`{}`:
// nothing is masked). Omitted fields are not checked. `policy` is namespace/name as in audit spans.
import { LineCounter, parseDocument } from 'yaml';
import type { Explanation } from './explain.ts';
import { MASK_STRATEGIES } from './types.ts';
import type { MaskStrategy } from './types.ts';

export const CASE_DECISIONS = ['allow', 'warn', 'approve', 'deny'] as const;
export type CaseDecision = (typeof CASE_DECISIONS)[number];

export interface Expectation {
  readonly decision: CaseDecision;
  readonly policy?: string;
  readonly rule?: string;
  readonly reasonContains?: string;
  readonly masked?: Readonly<Record<string, MaskStrategy>>;
}
export interface PolicyCase {
  readonly name: string;
  readonly identity: string;
  readonly groups: readonly string[];
  readonly database: string | null;
  readonly searchPath: readonly string[];
  readonly sql: string;
  readonly expect: Expectation;
  /** `source:line` of the case, for messages and JUnit. */
  readonly at: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const CASE_KEYS = ['name', 'identity', 'groups', 'database', 'searchPath', 'sql', 'expect'];
const DEFAULT_KEYS = ['identity', 'groups', 'database', 'searchPath'];
const EXPECT_KEYS = ['decision', 'policy', 'rule', 'reasonContains', 'masked'];

export function parseCases(
  text: string,
  source: string,
): { ok: true; cases: PolicyCase[] } | { ok: false; errors: string[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map(
        (e) =>
          `${source}:${e.linePos?.[0].line ?? 0}:${e.linePos?.[0].col ?? 0}: YAML syntax error: ${e.message.split('\n')[0]}`,
      ),
    };
  }
  const errors: string[] = [];
  const root: unknown = doc.toJS();
  // The node at path, or its nearest existing ancestor (a missing field points at the case lacking it).
  const lineOf = (path: (string | number)[]): string => {
    for (let n = path.length; n >= 0; n--) {
      const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as
        | { range?: [number, number, number] }
        | null
        | undefined;
      const off = node?.range?.[0];
      if (off === undefined) continue;
      const p = lines.linePos(off);
      return `${source}:${p.line}:${p.col}`;
    }
    return source;
  };
  if (!isObj(root) || !Array.isArray(root.cases)) {
    return { ok: false, errors: [`${source}: expected a mapping with a "cases" list (and optional "defaults")`] };
  }
  for (const k of Object.keys(root))
    if (k !== 'cases' && k !== 'defaults')
      errors.push(`${lineOf([k])}: unknown field "${k}"; expected cases, defaults`);
  const defaults = isObj(root.defaults) ? root.defaults : {};
  if (root.defaults !== undefined && !isObj(root.defaults))
    errors.push(`${lineOf(['defaults'])}: defaults: expected a mapping`);
  for (const k of Object.keys(defaults))
    if (!DEFAULT_KEYS.includes(k))
      errors.push(
        `${lineOf(['defaults', k])}: defaults.${k}: unknown field; expected one of ${DEFAULT_KEYS.join(', ')}`,
      );
  const cases: PolicyCase[] = [];
  const names = new Set<string>();
  root.cases.forEach((c: unknown, i: number) => {
    const at = lineOf(['cases', i]);
    const bad = (path: string, msg: string) =>
      errors.push(`${lineOf(['cases', i, ...path.split('.')])}: cases[${i}].${path}: ${msg}`);
    if (!isObj(c)) {
      errors.push(`${at}: cases[${i}]: expected a mapping`);
      return;
    }
    for (const k of Object.keys(c))
      if (!CASE_KEYS.includes(k)) bad(k, `unknown field; expected one of ${CASE_KEYS.join(', ')}`);
    const pick = (k: string): unknown => c[k] ?? defaults[k];
    const name = typeof c.name === 'string' && c.name !== '' ? c.name : `case ${i + 1}`;
    if (c.name !== undefined && typeof c.name !== 'string') bad('name', 'expected a string');
    if (names.has(name)) bad('name', `duplicate case name ${JSON.stringify(name)}`);
    names.add(name);
    const identity = pick('identity');
    if (typeof identity !== 'string' || identity === '')
      bad(
        'identity',
        'required: a Kubernetes user name, e.g. system:serviceaccount:ml:trainer (or set defaults.identity)',
      );
    const groups = pick('groups') ?? [];
    if (!isStrings(groups)) bad('groups', 'expected a list of group names');
    const database = pick('database') ?? null;
    if (database !== null && typeof database !== 'string') bad('database', 'expected a DatabaseBinding name');
    const searchPath = pick('searchPath') ?? ['public'];
    if (!isStrings(searchPath) || searchPath.length === 0)
      bad('searchPath', 'expected a non-empty list of schema names');
    if (typeof c.sql !== 'string' || c.sql.trim() === '') bad('sql', 'required: the statement text');
    const e = c.expect;
    if (!isObj(e)) {
      bad(
        'expect',
        'required: a mapping with decision (allow | warn | approve | deny) and optionally policy, rule, reasonContains, masked',
      );
      return;
    }
    for (const k of Object.keys(e))
      if (!EXPECT_KEYS.includes(k)) bad(`expect.${k}`, `unknown field; expected one of ${EXPECT_KEYS.join(', ')}`);
    if (typeof e.decision !== 'string' || !(CASE_DECISIONS as readonly string[]).includes(e.decision)) {
      bad('expect.decision', `expected one of ${CASE_DECISIONS.join(', ')}, got ${JSON.stringify(e.decision)}`);
    }
    for (const k of ['policy', 'rule', 'reasonContains'] as const)
      if (e[k] !== undefined && typeof e[k] !== 'string') bad(`expect.${k}`, 'expected a string');
    if (e.masked !== undefined) {
      if (!isObj(e.masked))
        bad('expect.masked', 'expected a mapping of schema.table.column: strategy ({} = nothing masked)');
      else
        for (const [col, s] of Object.entries(e.masked)) {
          if (typeof s !== 'string' || !(MASK_STRATEGIES as readonly string[]).includes(s))
            bad('expect.masked', `${col}: expected one of ${MASK_STRATEGIES.join(', ')}, got ${JSON.stringify(s)}`);
        }
    }
    cases.push({
      name,
      identity: identity as string,
      groups: groups as string[],
      database: database as string | null,
      searchPath: searchPath as string[],
      sql: c.sql as string,
      expect: e as unknown as Expectation,
      at,
    });
  });
  if (root.cases.length === 0) errors.push(`${lineOf(['cases'])}: cases: the list is empty`);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, cases };
}

/** Every way the explanation differs from the expectation, as sentences; empty when the case passes. */
export function mismatches(e: Expectation, x: Explanation): string[] {
  const out: string[] = [];
  const v = x.verdict;
  const got = `${v.decision}${v.policy === null ? '' : ` by ${v.policy}`}${v.rule === null ? '' : ` rule "${v.rule}"`}`;
  if (v.decision !== e.decision)
    out.push(`decision: expected ${e.decision}, got ${got}${v.reason === null ? '' : ` (${v.reason})`}`);
  if (e.policy !== undefined && v.policy !== e.policy)
    out.push(`policy: expected ${e.policy}, got ${v.policy ?? '(none)'}`);
  if (e.rule !== undefined && v.rule !== e.rule)
    out.push(`rule: expected "${e.rule}", got ${v.rule === null ? '(none)' : `"${v.rule}"`}`);
  if (e.reasonContains !== undefined && !(v.reason ?? '').includes(e.reasonContains)) {
    out.push(
      `reason: expected it to contain ${JSON.stringify(e.reasonContains)}, got ${JSON.stringify(v.reason ?? '')}`,
    );
  }
  if (e.masked !== undefined) {
    const want = e.masked;
    const have = x.masked;
    for (const [c, s] of Object.entries(want)) {
      if (have[c] === undefined) out.push(`masked: expected ${c} masked with ${s}, but it is not masked`);
      else if (have[c] !== s) out.push(`masked: expected ${c} masked with ${s}, got ${have[c]}`);
    }
    for (const [c, s] of Object.entries(have))
      if (want[c] === undefined) out.push(`masked: ${c} is masked with ${s}, which the case does not expect`);
  }
  return out;
}
