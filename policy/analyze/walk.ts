// The statement walker: turns one libpg-query (PostgreSQL 18) raw parse tree into StatementFacts.
//
// Fail closed. Every node type the walker accepts has an entry in a handler table (EXPR for
// expressions and DDL sub-nodes, STMT for statements) with the complete list of its fields, each
// marked: S (a scalar or a list of names: nothing executes), N/L (a child node / list of child
// nodes: walked), X (walked by the handler's own code) or the type name of an unwrapped struct
// field (walked as that type). A node type missing from the tables, or a field missing from its
// list, adds a reason to `unsupported`, so a parser upgrade that adds a sub-query somewhere we
// do not look denies the statement instead of hiding an access.
//
// Raw parse trees are untyped JSON from the parser; `Raw` is `any` on purpose and every read of
// it is guarded by the field lists above.

import type { Access, ColumnSource, ConcreteOperation, CopyTextOptions, RelName, SessionEffect, StatementFacts } from '../types.ts';
import { parseSync } from 'libpg-query';
import { lexerHostile } from './hostile.ts';
import { addLeaves, CONSTANT, derivedOf, hasStar, OPAQUE, relationsOf, signature, type Out } from './lineage.ts';
import { parseLiteralName, relFromParts } from './names.ts';
import { scrubParseError } from '../sql-message.ts';
import { BULK_READERS, hiddenSetting, PURE_BUILTINS, QUERY_RUNNERS, SEQUENCE_FUNCTIONS, SETTING_FUNCTIONS, TABLE_READERS } from './functions.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Raw = any;

const S = 0; // scalar / names: ignored
const N = 1; // one wrapped child node: walked as an expression
const L = 2; // list of wrapped child nodes: walked as expressions
const X = 3; // handled by the handler's own code
type Field = typeof S | typeof N | typeof L | typeof X | string;
type Spec = ReadonlyMap<string, Field>;
const spec = (o: Record<string, Field>): Spec => new Map(Object.entries(o));

/** Deepest nesting walked; PostgreSQL's own limit is max_stack_depth, far below this in practice. */
const MAX_DEPTH = 1000;
/** Rounds for recursive-CTE lineage to reach its fixpoint before giving up with `opaque`. */
const MAX_CTE_ROUNDS = 8;

export const COPY_FILE_MESSAGE = 'COPY to or from a server file or program is not allowed';

// ---------------------------------------------------------------------------------------------
// State

interface CteEntry { readonly name: string; outs: Out[] | null }

/** One query level: its FROM items (column resolution) and the CTEs its WITH declares. */
interface Scope {
  readonly parent: Scope | null;
  readonly items: Item[];
  ctes: CteEntry[] | null;
}

/** A FROM item as column references see it. */
interface Item {
  /** Name that qualifies its columns (alias, else relation or function name); null = unnamed. */
  readonly alias: string | null;
  /** Base relation, when the item is one. */
  readonly rel: RelName | null;
  /** `AS x(a, b)` column aliases over a base relation: those names hide the original ones. */
  readonly colAliases: readonly string[] | null;
  /** Sub-query / VALUES outputs. */
  readonly outs: Out[] | null;
  /** CTE reference: its outputs are read at lookup time (recursive CTEs are still being computed). */
  readonly cte: CteEntry | null;
  /** Function / XMLTABLE / JSON_TABLE result: every column comes from this. */
  readonly fn: ColumnSource | null;
  /** Aliased JOIN: the items it hides behind its alias. */
  readonly children: Item[] | null;
}

export interface St {
  readonly accesses: Access[];
  readonly seen: Set<string>;
  readonly unsupported: string[];
  readonly effects: SessionEffect[];
  unfiltered: boolean;
  writes: boolean;
  cacheable: boolean;
  transaction: boolean;
  executes: string | null;
  prepares: string | null;
  copyTo: StatementFacts['copyTo'];
  /** Unqualified relation names created inside CREATE SCHEMA resolve to that schema. */
  defaultSchema: string | null;
  depth: number;
  /** A recursive CTE's outputs were read before they were computed (fixpoint bookkeeping). */
  unstable: boolean;
  /** Lineage of every value the statement stores (StatementFacts.written). */
  readonly written: ColumnSource[];
  /** Lineage of every notification payload it sends (StatementFacts.notified). */
  readonly notified: ColumnSource[];
}

export function newState(): St {
  return {
    accesses: [], seen: new Set(), unsupported: [], effects: [], unfiltered: false, writes: false,
    cacheable: true, transaction: false, executes: null, prepares: null, copyTo: null,
    defaultSchema: null, depth: 0, unstable: false, written: [], notified: [],
  };
}

function bad(st: St, reason: string): void {
  if (!st.unsupported.includes(reason)) st.unsupported.push(reason);
}

function access(st: St, operation: ConcreteOperation, relation: RelName, kind: Access['kind']): void {
  const key = `${operation}\u0000${kind}\u0000${relation.schema ?? '\u0001'}\u0000${relation.name}`;
  if (st.seen.has(key)) return;
  st.seen.add(key);
  st.accesses.push({ operation, relation, kind });
}

function effect(st: St, e: SessionEffect): void {
  const key = JSON.stringify(e);
  for (const x of st.effects) if (JSON.stringify(x) === key) return;
  st.effects.push(e);
}

function keyOf(node: Raw): string | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  for (const k in node) return k;
  return undefined;
}

function checkFields(st: St, type: string, body: Raw, fields: Spec): void {
  for (const k in body) if (!fields.has(k)) bad(st, `unexpected field ${type}.${k}`);
}

function strings(list: Raw): string[] {
  const out: string[] = [];
  if (!Array.isArray(list)) return out;
  for (const n of list) if (n?.String) out.push(n.String.sval ?? '');
  return out;
}

function relOfRangeVar(st: St, rv: Raw): RelName {
  return { schema: rv.schemaname ?? st.defaultSchema, name: rv.relname ?? '' };
}

const RANGE_VAR = spec({ catalogname: S, schemaname: S, relname: S, inh: S, relpersistence: S, alias: X, location: S });
const ALIAS = spec({ aliasname: S, colnames: S });

/** A RangeVar that names a relation the statement acts on (never a CTE: DML targets ignore WITH). */
function targetRel(st: St, rv: Raw, op: ConcreteOperation): RelName {
  checkFields(st, 'RangeVar', rv, RANGE_VAR);
  const rel = relOfRangeVar(st, rv);
  access(st, op, rel, 'relation');
  alsoOnSearchPath(st, rv, op);
  return rel;
}

/**
 * Inside CREATE SCHEMA the new schema is put in front of the session's search_path
 * (CreateSchemaCommand), so an unqualified name that is not created there may still resolve
 * further down the path: report the unqualified name as well.
 */
function alsoOnSearchPath(st: St, rv: Raw, op: ConcreteOperation): void {
  if (st.defaultSchema !== null && rv.schemaname === undefined) access(st, op, { schema: null, name: rv.relname ?? '' }, 'relation');
}

/** The relation a CREATE makes: inside CREATE SCHEMA it is created in that schema, nowhere else. */
function createdRel(st: St, rv: Raw): RelName {
  checkFields(st, 'RangeVar', rv, RANGE_VAR);
  const rel = relOfRangeVar(st, rv);
  access(st, 'DDL', rel, 'relation');
  return rel;
}

function enter(st: St): boolean {
  if (++st.depth > MAX_DEPTH) {
    bad(st, `statement nests deeper than ${MAX_DEPTH} levels`);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Expressions

type Handler = (st: St, b: Raw, sc: Scope | null, want: boolean) => ColumnSource | null;

/** Walk one wrapped node in expression position; with `want`, return where its value comes from. */
export function expr(st: St, node: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  const type = keyOf(node);
  if (type === undefined) return want ? CONSTANT : null; // {} is an omitted node (e.g. plain DISTINCT)
  const h = EXPR.get(type);
  if (h === undefined) {
    bad(st, `${type} is not supported in this position`);
    return want ? OPAQUE : null;
  }
  if (!enter(st)) return want ? OPAQUE : null;
  try {
    return h(st, node[type], sc, want);
  } finally {
    st.depth--;
  }
}

function walkStruct(st: St, type: string, body: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  const h = EXPR.get(type);
  if (h === undefined) { bad(st, `${type} is not supported in this position`); return want ? OPAQUE : null; }
  return h(st, body, sc, want);
}

/** Walk every N/L/struct field of `body` per `fields`, checking for unknown fields; collect leaves into acc. */
function walkFields(st: St, type: string, body: Raw, fields: Spec, sc: Scope | null, acc: ColumnSource[] | null): void {
  for (const k in body) {
    const f = fields.get(k);
    if (f === undefined) { bad(st, `unexpected field ${type}.${k}`); continue; }
    if (f === S || f === X) continue;
    const v = body[k];
    if (f === N) {
      const s = expr(st, v, sc, acc !== null);
      if (acc !== null && s !== null) addLeaves(acc, s);
    } else if (f === L) {
      if (!Array.isArray(v)) { bad(st, `${type}.${k} is not a list`); continue; }
      for (const c of v) {
        const s = expr(st, c, sc, acc !== null);
        if (acc !== null && s !== null) addLeaves(acc, s);
      }
    } else {
      const s = walkStruct(st, f, v, sc, acc !== null);
      if (acc !== null && s !== null) addLeaves(acc, s);
    }
  }
}

/** Record a query's outputs as values the statement stores; unknown outputs are recorded as opaque. */
function writtenFrom(st: St, outs: readonly Out[] | null): void {
  if (outs === null) { st.written.push({ kind: 'opaque' }); return; }
  for (const o of outs) st.written.push(o.src);
}

/** A node whose value is computed from its children and which reads nothing itself. */
function pure(type: string, o: Record<string, Field>): [string, Handler] {
  const fields = spec(o);
  return [type, (st, b, sc, want) => {
    const acc = want ? [] as ColumnSource[] : null;
    walkFields(st, type, b, fields, sc, acc);
    return acc === null ? null : derivedOf(acc);
  }];
}

/** A node that carries no value from any relation. */
function leaf(type: string, o: Record<string, Field>): [string, Handler] {
  const fields = spec(o);
  return [type, (st, b, _sc, want) => { checkFields(st, type, b, fields); return want ? CONSTANT : null; }];
}

function stringLiteral(node: Raw): string | null {
  // Through explicit casts: 'x'::text is still a constant name.
  for (let n = node; n; n = n.TypeCast?.arg) {
    if (n.A_Const) return n.A_Const.sval !== undefined ? (n.A_Const.sval.sval ?? '') : null;
    if (!n.TypeCast) return null;
  }
  return null;
}

/** A string constant, bare or cast to text, varchar or name: the text PostgreSQL will see, unchanged. */
function settingName(node: Raw): string | null {
  if (node?.A_Const !== undefined) return node.A_Const.sval !== undefined ? (node.A_Const.sval.sval ?? '') : null;
  const c = node?.TypeCast;
  if (c === undefined || c.arg?.A_Const?.sval === undefined) return null;
  const names = strings(c.typeName?.names);
  const t = names[names.length - 1];
  if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return null;
  // A type modifier would cut the text ('search_pathx'::varchar(11) is 'search_path').
  if (c.typeName?.arrayBounds !== undefined || c.typeName?.typmods !== undefined || !TEXT_TYPES.has(t ?? '')) return null;
  return c.arg.A_Const.sval.sval ?? '';
}
const TEXT_TYPES = new Set(['text', 'varchar', 'name']);

const REG_TYPES = new Set([
  'regclass', 'regproc', 'regprocedure', 'regoper', 'regoperator', 'regtype', 'regnamespace', 'regrole',
  'regcollation', 'regconfig', 'regdictionary',
]);

function typeCast(st: St, b: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'TypeCast', b, TYPE_CAST);
  const src = expr(st, b.arg, sc, want);
  walkStruct(st, 'TypeName', b.typeName, sc, false);
  const names = strings(b.typeName?.names);
  const last = names[names.length - 1];
  if (last !== undefined && REG_TYPES.has(last) && (names.length === 1 || names[0] === 'pg_catalog')) {
    // A name inside a string: the literal decides what it refers to (design.md, decision cache).
    st.cacheable = false;
    const lit = last === 'regclass' ? stringLiteral(b.arg) : null;
    if (lit !== null) {
      const p = parseLiteralName(lit);
      if (p.kind === 'name') access(st, 'SELECT', p.rel, 'relation');
    }
  }
  return src; // a cast passes the value through: masking still applies to it
}
const TYPE_CAST = spec({ arg: X, typeName: X, location: S });

function funcCall(st: St, b: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  walkFields(st, 'FuncCall', b, FUNC_CALL, sc, null);
  const names = strings(b.funcname);
  const name = names[names.length - 1] ?? '';
  const schema = names.length >= 2 ? names[names.length - 2]! : null;
  access(st, 'CALL', { schema, name }, 'function');
  const args: Raw[] = Array.isArray(b.args) ? b.args : [];
  const acc = want ? [] as ColumnSource[] : null;
  let stringArg = false;
  const builtin = schema === null || schema === 'pg_catalog';
  // pg_notify(channel, payload) sends the payload to every listener: its lineage is always wanted.
  const notify = builtin && name === 'pg_notify';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const s = expr(st, a, sc, want || (notify && i === 1));
    if (acc !== null && s !== null) addLeaves(acc, s);
    if (notify && i === 1 && s !== null) st.notified.push(s);
    if (!stringArg && stringLiteral(a) !== null) stringArg = true;
  }
  if (acc !== null && b.agg_within_group === true && Array.isArray(b.agg_order)) {
    // An ordered-set aggregate returns one of the values it sorts (percentile_disc(0.5) WITHIN GROUP
    // (ORDER BY ssn) is an ssn): the sort keys are part of its value. Found by the privilege oracle.
    for (const o of b.agg_order as Raw[]) {
      const s = expr(st, o?.SortBy?.node, sc, true);
      if (s !== null) addLeaves(acc, s);
    }
  }
  if (builtin) {
    const seqOp = SEQUENCE_FUNCTIONS.get(name);
    if (seqOp !== undefined) {
      st.cacheable = false;
      const rel = literalRelation(st, args[0], `${name}()`);
      if (rel !== null) access(st, seqOp, rel, 'relation');
      return acc === null ? null : CONSTANT;
    }
    if (name === 'regclass' || name === 'to_regclass') {
      // the function spelling of '…'::regclass
      st.cacheable = false;
      const lit = stringLiteral(args[0]);
      const p = lit === null ? null : parseLiteralName(lit);
      if (p !== null && p.kind === 'name') access(st, 'SELECT', p.rel, 'relation');
      return want ? CONSTANT : null;
    }
    if (notify) {
      // Sending a notification is a write to a channel other sessions read (design.md): a NOTIFY pair on
      // the channel. Its name is the literal: it decides the verdict, so the shape cache must not see it.
      effect(st, { kind: 'notify' });
      st.cacheable = false;
      const channel = stringLiteral(args[0]);
      if (channel === null || args.length !== 2) bad(st, 'pg_notify() with a channel that is not a constant cannot be checked');
      else access(st, 'NOTIFY', { schema: null, name: channel }, 'channel');
    }
    if (TABLE_READERS.has(name)) {
      st.cacheable = false;
      const rel = literalRelation(st, args[0], `${name}()`);
      if (rel === null) return want ? OPAQUE : null;
      access(st, 'SELECT', rel, 'relation');
      return want ? { kind: 'row', relation: rel } : null;
    }
    const runner = QUERY_RUNNERS.get(name);
    if (runner !== undefined && (runner.arity === null || runner.arity === args.length)) {
      st.cacheable = false;
      const text = stringLiteral(args[runner.arg]);
      if (text === null) {
        bad(st, `${name}() runs SQL text that is not a constant, which cannot be checked`);
        return want ? OPAQUE : null;
      }
      const outs = nestedQuery(st, text, name);
      if (acc === null) return null;
      if (outs === null) return OPAQUE;
      for (const o of outs) addLeaves(acc, o.src);
      return derivedOf(acc);
    }
    if (BULK_READERS.has(name)) {
      st.cacheable = false;
      bad(st, `${name}() reads every table of a schema or database`);
      return want ? OPAQUE : null;
    }
    if (SETTING_FUNCTIONS.has(name)) {
      st.cacheable = false;
      if (name === 'set_config') {
        // set_config(name, value, is_local) is `SET name` (design.md): decided by the setting's name, so
        // the name must be a plain string constant. Anything else — a parameter, an expression, a named
        // argument, a cast through a type whose conversion to text could rewrite it — is denied.
        const setting = args.length === 3 ? settingName(args[0]) : null;
        if (setting === null) bad(st, 'set_config() with a setting name that is not a string constant cannot be checked');
        else effect(st, { kind: 'set', name: setting.toLowerCase(), local: args[2]?.A_Const?.boolval?.boolval === true, value: settingName(args[1]) });
      }
      if (name === 'current_setting') {
        const setting = stringLiteral(args[0]);
        const hidden = setting === null ? 'current_setting() with a setting name that is not a constant cannot be checked' : hiddenSetting(setting);
        if (hidden !== null) bad(st, hidden);
      }
      return want ? CONSTANT : null;
    }
    if (PURE_BUILTINS.has(name)) return acc === null ? null : derivedOf(acc);
  }
  // Unknown function: it may read tables (its result is unknowable) and a string argument may be a
  // regclass/regproc name, so the literal may matter.
  if (stringArg) st.cacheable = false;
  return want ? OPAQUE : null;
}
const FUNC_CALL = spec({
  funcname: X, args: X, agg_order: L, agg_filter: N, over: 'WindowDef', agg_within_group: S, agg_star: S,
  agg_distinct: S, func_variadic: S, funcformat: S, location: S,
});

function literalRelation(st: St, arg: Raw, what: string): RelName | null {
  const text = stringLiteral(arg);
  if (text === null) { bad(st, `${what} with a relation that is not a string constant cannot be checked`); return null; }
  const p = parseLiteralName(text);
  if (p.kind === 'oid') { bad(st, `${what} with a relation given by OID cannot be checked`); return null; }
  if (p.kind === 'invalid') { bad(st, `${what} with an invalid relation name`); return null; }
  return p.rel;
}

/** SQL text a built-in will run (query_to_xml & co): analysed as if written inline. */
function nestedQuery(st: St, text: string, fn: string): Out[] | null {
  let tree: Raw;
  const hostile = lexerHostile(text);
  if (hostile !== null) { bad(st, `${fn}() query text: ${hostile}`); return null; }
  try {
    tree = parseSync(text);
  } catch (e) {
    bad(st, `${fn}() query text does not parse: ${scrubParseError(e)}`);   // the text is a literal: never quote it
    return null;
  }
  const stmts: Raw[] = tree.stmts ?? [];
  if (stmts.length !== 1) { bad(st, `${fn}() query text must hold exactly one statement`); return null; }
  const type = keyOf(stmts[0].stmt);
  if (type === undefined || !QUERY_TYPES.has(type)) { bad(st, `${fn}() query text must be a query`); return null; }
  return stmtAny(st, stmts[0].stmt, null, true);
}
const QUERY_TYPES = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

function colRef(st: St, b: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'ColumnRef', b, COLUMN_REF);
  if (!want) return null;
  const fields: Raw[] = b.fields ?? [];
  const lastStar = fields.length > 0 && fields[fields.length - 1].A_Star !== undefined;
  const names = strings(fields);
  if (lastStar) {
    // `t.*` / `*` inside an expression is a whole-row value.
    if (names.length === 0) return wholeLevel(sc);
    const item = findItem(sc, names);
    return item === null ? OPAQUE : rowOf(st, item);
  }
  if (names.length === 1) return unqualified(st, sc, names[0]!);
  // a.b: column b of item a, else field b of composite column a (PostgreSQL tries them in this order)
  const item = findItem(sc, names.slice(0, -1));
  if (item !== null) {
    const acc: ColumnSource[] = [];
    itemColumn(st, item, names[names.length - 1]!, acc);
    if (acc.length === 1) return acc[0]!;
    return acc.length === 0 ? OPAQUE : derivedOf(acc);
  }
  if (names.length === 2) {
    const base = unqualified(st, sc, names[0]!);
    const acc: ColumnSource[] = [];
    addLeaves(acc, base);
    return derivedOf(acc);
  }
  return OPAQUE;
}
const COLUMN_REF = spec({ fields: S, location: S });

/** Every item at the nearest level that has items, as whole rows (a bare `*` inside an expression). */
function wholeLevel(sc: Scope | null): ColumnSource {
  for (let s = sc; s !== null; s = s.parent) {
    if (s.items.length === 0) continue;
    const acc: ColumnSource[] = [];
    for (const it of s.items) addLeaves(acc, rowOfItem(it));
    return derivedOf(acc);
  }
  return CONSTANT;
}

function rowOf(st: St, item: Item): ColumnSource {
  if (item.cte !== null && item.cte.outs === null) st.unstable = true;
  return rowOfItem(item);
}

function rowOfItem(item: Item): ColumnSource {
  if (item.rel !== null) return { kind: 'row', relation: item.rel };
  if (item.fn !== null) return item.fn;
  const acc: ColumnSource[] = [];
  const outs = item.cte !== null ? item.cte.outs : item.outs;
  if (outs !== null) for (const o of outs) addLeaves(acc, o.src);
  if (item.children !== null) for (const c of item.children) addLeaves(acc, rowOfItem(c));
  return derivedOf(acc);
}

/** Find the FROM item a qualifier names, innermost level first: `t`, `s.t` or `db.s.t`. */
function findItem(sc: Scope | null, qual: readonly string[]): Item | null {
  const name = qual[qual.length - 1]!;
  const schema = qual.length >= 2 ? qual[qual.length - 2]! : null;
  for (let s = sc; s !== null; s = s.parent) {
    for (const it of s.items) {
      const hit = matchItem(it, name, schema);
      if (hit !== null) return hit;
    }
  }
  return null;
}

function matchItem(it: Item, name: string, schema: string | null): Item | null {
  if (it.alias === name && (schema === null || (it.rel !== null && (it.rel.schema === null || it.rel.schema === schema)))) return it;
  return null;
}

/**
 * Where column `name` of `item` comes from, appended to acc. Returns true when the item certainly
 * has the column (a sub-query output of that name); base relations only possibly have it, since
 * the analyzer has no catalog.
 */
function itemColumn(st: St, item: Item, name: string, acc: ColumnSource[]): boolean {
  if (item.rel !== null) {
    if (item.colAliases !== null && item.colAliases.includes(name)) {
      // renamed by position: which column is unknown, so the whole row stands for it
      acc.push({ kind: 'row', relation: item.rel });
      return true;
    }
    acc.push({ kind: 'column', relation: item.rel, column: name });
    return false;
  }
  if (item.fn !== null) { addLeaves(acc, item.fn); return false; }
  if (item.children !== null) {
    let definite = false;
    for (const c of item.children) if (itemColumn(st, c, name, acc)) definite = true;
    return definite;
  }
  let outs = item.outs;
  if (item.cte !== null) {
    outs = item.cte.outs;
    if (outs === null) { st.unstable = true; acc.push(CONSTANT); return true; }
  }
  if (outs === null) return false;
  for (const o of outs) {
    if (o.name === name) { acc.push(o.src); return true; }
  }
  let found = false;
  for (const o of outs) {
    if (o.src.kind === 'star') {
      for (const r of o.src.relations) acc.push({ kind: 'column', relation: r, column: name });
      found = true;
    }
  }
  if (!found && outs.some((o) => o.name === null)) {
    // an output we could not name: it may be this one
    for (const o of outs) if (o.name === null) addLeaves(acc, o.src);
  }
  return false;
}

/**
 * An unqualified name: a column of any FROM item at the innermost level that may have it, else
 * further out (correlated); without a catalog every base relation may have it, so every candidate
 * is kept. With no column candidate, a FROM item of that name is a whole-row reference.
 */
function unqualified(st: St, sc: Scope | null, name: string): ColumnSource {
  const acc: ColumnSource[] = [];
  let definite = false;
  for (let s = sc; s !== null && !definite; s = s.parent) {
    for (const it of s.items) if (itemColumn(st, it, name, acc)) definite = true;
  }
  if (!definite) {
    const item = findItem(sc, [name]);
    if (item !== null) {
      const row = rowOf(st, item);
      if (row.kind === 'row') {
        // the row covers every column of its own relation
        const rest = acc.filter((a) => !(a.kind === 'column' && a.relation === item.rel));
        if (rest.length === 0) return row;
        rest.push(row);
        const flat: ColumnSource[] = [];
        for (const r of rest) addLeaves(flat, r);
        return derivedOf(flat);
      }
      addLeaves(acc, row);
    }
  }
  if (acc.length === 1) return acc[0]!;
  if (acc.length === 0) return OPAQUE;
  const flat: ColumnSource[] = [];
  for (const a of acc) addLeaves(flat, a);
  // the same column reached twice (RETURNING's old/new) is still that column
  if (flat.length === 1 && flat[0]!.kind === 'column') return flat[0]!;
  return derivedOf(flat);
}

function indirection(st: St, b: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'A_Indirection', b, A_INDIRECTION);
  const src = expr(st, b.arg, sc, want);
  const ind: Raw[] = Array.isArray(b.indirection) ? b.indirection : [];
  let field: string | null = null;
  for (const i of ind) {
    const t = keyOf(i);
    if (t === 'String') field = i.String.sval ?? '';
    else if (t === 'A_Indices') expr(st, i, sc, false);
    else if (t !== 'A_Star') bad(st, `${t} is not supported in an indirection`);
  }
  if (!want || src === null) return null;
  // (t).col: column col of t's relation
  if (ind.length === 1 && field !== null && src.kind === 'row') return { kind: 'column', relation: src.relation, column: field };
  const acc: ColumnSource[] = [];
  addLeaves(acc, src);
  return derivedOf(acc);
}
const A_INDIRECTION = spec({ arg: X, indirection: X });

function subLink(st: St, b: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'SubLink', b, SUB_LINK);
  const t = b.testexpr !== undefined ? expr(st, b.testexpr, sc, want) : null;
  const outs = stmtAny(st, b.subselect, sc, want);
  if (!want) return null;
  if (b.subLinkType === 'EXISTS_SUBLINK') return CONSTANT;
  const acc: ColumnSource[] = [];
  if (t !== null) addLeaves(acc, t);
  if (outs !== null) for (const o of outs) addLeaves(acc, o.src);
  return derivedOf(acc);
}
const SUB_LINK = spec({ subLinkType: S, subLinkId: S, testexpr: X, operName: S, subselect: X, location: S });

function jsonArrayQuery(st: St, b: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  walkFields(st, 'JsonArrayQueryConstructor', b, JSON_ARRAY_QUERY, sc, null);
  const outs = stmtAny(st, b.query, sc, want);
  if (!want || outs === null) return want ? OPAQUE : null;
  const acc: ColumnSource[] = [];
  for (const o of outs) addLeaves(acc, o.src);
  return derivedOf(acc);
}
const JSON_ARRAY_QUERY = spec({ query: X, output: 'JsonOutput', format: 'JsonFormat', absent_on_null: S, location: S });

function collate(st: St, b: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'CollateClause', b, COLLATE);
  return b.arg !== undefined ? expr(st, b.arg, sc, want) : (want ? CONSTANT : null);
}
const COLLATE = spec({ arg: X, collname: S, location: S });

/** A relation reached through a DDL sub-node (INHERIT parent, ATTACH PARTITION, REFERENCES). */
function ddlRangeVar(st: St, b: Raw): ColumnSource | null {
  targetRel(st, b, 'DDL');
  return null;
}

/** CREATE TABLE … (LIKE other): copies other's definition, so it reads other's structure. */
function tableLike(st: St, b: Raw): ColumnSource | null {
  checkFields(st, 'TableLikeClause', b, F_TABLE_LIKE_CLAUSE);
  if (b.relation !== undefined) targetRel(st, b.relation, 'SELECT');
  return null;
}

const EXPR: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ['ColumnRef', colRef],
  ['FuncCall', funcCall],
  ['TypeCast', typeCast],
  ['A_Indirection', indirection],
  ['SubLink', subLink],
  ['CollateClause', collate],
  ['JsonArrayQueryConstructor', jsonArrayQuery],
  ['RangeVar', (st, b) => ddlRangeVar(st, b)],
  ['TableLikeClause', (st, b) => tableLike(st, b)],
  // values with no source
  leaf('A_Const', { ival: S, fval: S, boolval: S, sval: S, bsval: S, isnull: S, location: S }),
  leaf('ParamRef', { number: S, location: S }),
  leaf('SQLValueFunction', { op: S, type: S, typmod: S, location: S }),
  leaf('SetToDefault', { typeId: S, typeMod: S, collation: S, location: S }),
  leaf('CurrentOfExpr', { cvarno: S, cursor_name: S, cursor_param: S }),
  leaf('MergeSupportFunc', { msftype: S, msfcollid: S, location: S }),
  leaf('String', { sval: S }),
  leaf('Integer', { ival: S }),
  leaf('Float', { fval: S }),
  leaf('Boolean', { boolval: S }),
  leaf('BitString', { bsval: S }),
  leaf('A_Star', {}),
  leaf('RoleSpec', { roletype: S, rolename: S, location: S }),
  leaf('AccessPriv', { priv_name: S, cols: S }),
  leaf('TriggerTransition', { name: S, isNew: S, isTable: S }),
  leaf('ReplicaIdentityStmt', { identity_type: S, name: S }),
  leaf('ATAlterConstraint', {
    conname: S, alterEnforceability: S, is_enforced: S, alterDeferrability: S, deferrable: S, initdeferred: S,
    alterInheritability: S, noinherit: S,
  }),
  leaf('JsonFormat', { format_type: S, encoding: S, location: S }),
  leaf('CTESearchClause', { search_col_list: S, search_breadth_first: S, search_seq_column: S, location: S }),
  // operators and other computations: operators are not checked (only functions are)
  pure('A_Expr', { kind: S, name: S, lexpr: N, rexpr: N, rexpr_list_start: S, rexpr_list_end: S, location: S }),
  pure('BoolExpr', { boolop: S, args: L, location: S }),
  pure('NullTest', { arg: N, nulltesttype: S, argisrow: S, location: S }),
  pure('BooleanTest', { arg: N, booltesttype: S, location: S }),
  pure('CaseExpr', { casetype: S, casecollid: S, arg: N, args: L, defresult: N, location: S }),
  pure('CaseWhen', { expr: N, result: N, location: S }),
  pure('CoalesceExpr', { coalescetype: S, coalescecollid: S, args: L, location: S }),
  pure('MinMaxExpr', { minmaxtype: S, minmaxcollid: S, inputcollid: S, op: S, args: L, location: S }),
  pure('A_ArrayExpr', { elements: L, list_start: S, list_end: S, location: S }),
  pure('RowExpr', { args: L, row_typeid: S, row_format: S, colnames: S, location: S }),
  pure('A_Indices', { is_slice: S, lidx: N, uidx: N }),
  pure('NamedArgExpr', { arg: N, name: S, argnumber: S, location: S }),
  pure('GroupingFunc', { args: L, refs: S, agglevelsup: S, location: S }),
  pure('GroupingSet', { kind: S, content: L, location: S }),
  pure('SortBy', { node: N, sortby_dir: S, sortby_nulls: S, useOp: S, location: S }),
  pure('WindowDef', {
    name: S, refname: S, partitionClause: L, orderClause: L, frameOptions: S, startOffset: N, endOffset: N, location: S,
  }),
  pure('XmlExpr', {
    op: S, name: S, named_args: L, arg_names: S, args: L, xmloption: S, indent: S, type: S, typmod: S, location: S,
  }),
  pure('XmlSerialize', { xmloption: S, expr: N, typeName: 'TypeName', indent: S, location: S }),
  pure('List', { items: L }),
  pure('MultiAssignRef', { source: N, colno: S, ncolumns: S }),
  pure('ResTarget', { name: S, indirection: L, val: N, location: S }),
  pure('TypeName', { names: S, typeOid: S, setof: S, pct_type: S, typmods: L, typemod: S, arrayBounds: S, location: S }),
  pure('JsonReturning', { format: 'JsonFormat', typid: S, typmod: S }),
  pure('JsonOutput', { typeName: 'TypeName', returning: 'JsonReturning' }),
  pure('JsonValueExpr', { raw_expr: N, formatted_expr: N, format: 'JsonFormat' }),
  pure('JsonBehavior', { btype: S, expr: N, coerce: S, location: S }),
  pure('JsonArgument', { val: 'JsonValueExpr', name: S }),
  pure('JsonFuncExpr', {
    op: S, column_name: S, context_item: 'JsonValueExpr', pathspec: N, passing: L, output: 'JsonOutput',
    on_empty: 'JsonBehavior', on_error: 'JsonBehavior', wrapper: S, quotes: S, location: S,
  }),
  pure('JsonTablePathSpec', { string: N, name: S, name_location: S, location: S }),
  pure('JsonTableColumn', {
    coltype: S, name: S, typeName: 'TypeName', pathspec: 'JsonTablePathSpec', format: 'JsonFormat', wrapper: S,
    quotes: S, columns: L, on_empty: 'JsonBehavior', on_error: 'JsonBehavior', location: S,
  }),
  pure('JsonKeyValue', { key: N, value: 'JsonValueExpr' }),
  pure('JsonParseExpr', { expr: 'JsonValueExpr', output: 'JsonOutput', unique_keys: S, location: S }),
  pure('JsonScalarExpr', { expr: N, output: 'JsonOutput', location: S }),
  pure('JsonSerializeExpr', { expr: 'JsonValueExpr', output: 'JsonOutput', location: S }),
  pure('JsonObjectConstructor', { exprs: L, output: 'JsonOutput', absent_on_null: S, unique: S, location: S }),
  pure('JsonArrayConstructor', { exprs: L, output: 'JsonOutput', absent_on_null: S, location: S }),
  pure('JsonAggConstructor', { output: 'JsonOutput', agg_filter: N, agg_order: L, over: 'WindowDef', location: S }),
  pure('JsonObjectAgg', { constructor: 'JsonAggConstructor', arg: 'JsonKeyValue', absent_on_null: S, unique: S }),
  pure('JsonArrayAgg', { constructor: 'JsonAggConstructor', arg: 'JsonValueExpr', absent_on_null: S }),
  pure('JsonIsPredicate', { expr: N, format: 'JsonFormat', item_type: S, unique_keys: S, location: S }),
  pure('CTECycleClause', {
    cycle_col_list: S, cycle_mark_column: S, cycle_mark_value: N, cycle_mark_default: N, cycle_path_column: S,
    location: S, cycle_mark_type: S, cycle_mark_typmod: S, cycle_mark_collation: S, cycle_mark_neop: S,
  }),
  pure('RangeTableFuncCol', {
    colname: S, typeName: 'TypeName', for_ordinality: S, is_not_null: S, colexpr: N, coldefexpr: N, location: S,
  }),
  // SET clauses of CREATE/ALTER FUNCTION: applied when the function runs, not now
  pure('VariableSetStmt', { kind: S, name: S, args: L, jumble_args: S, is_local: S, location: S }),
  pure('InferClause', { indexElems: L, whereClause: N, conname: S, location: S }),
  // DDL sub-nodes: their expressions (defaults, CHECK, index expressions) are walked for calls
  pure('ColumnDef', {
    colname: S, typeName: 'TypeName', compression: S, inhcount: S, is_local: S, is_not_null: S, is_from_type: S,
    storage: S, storage_name: S, raw_default: N, cooked_default: N, identity: S, identitySequence: S, generated: S,
    collClause: 'CollateClause', collOid: S, constraints: L, fdwoptions: L, location: S,
  }),
  pure('Constraint', {
    contype: S, conname: S, deferrable: S, initdeferred: S, is_enforced: S, skip_validation: S, initially_valid: S,
    is_no_inherit: S, raw_expr: N, cooked_expr: S, generated_when: S, generated_kind: S, nulls_not_distinct: S,
    keys: S, without_overlaps: S, including: S, exclusions: L, options: L, indexname: S, indexspace: S,
    reset_default_tblspc: S, access_method: S, where_clause: N, pktable: 'RangeVar', fk_attrs: S, pk_attrs: S,
    fk_with_period: S, pk_with_period: S, fk_matchtype: S, fk_upd_action: S, fk_del_action: S, fk_del_set_cols: S,
    old_conpfeqop: S, old_pktable_oid: S, location: S,
  }),
  pure('IndexElem', {
    name: S, expr: N, indexcolname: S, collation: S, opclass: S, opclassopts: L, ordering: S, nulls_ordering: S,
  }),
  pure('DefElem', { defnamespace: S, defname: S, arg: N, defaction: S, location: S }),
  pure('PartitionSpec', { strategy: S, partParams: L, location: S }),
  pure('PartitionElem', { name: S, expr: N, collation: S, opclass: S, location: S }),
  pure('PartitionBoundSpec', {
    strategy: S, is_default: S, modulus: S, remainder: S, listdatums: L, lowerdatums: L, upperdatums: L, location: S,
  }),
  pure('PartitionRangeDatum', { kind: S, value: N, location: S }),
  pure('PartitionCmd', { name: 'RangeVar', bound: 'PartitionBoundSpec', concurrent: S }),
  pure('FunctionParameter', { name: S, argType: 'TypeName', mode: S, defexpr: N, location: S }),
  pure('ObjectWithArgs', { objname: S, objargs: L, objfuncargs: L, args_unspecified: S }),
  pure('StatsElem', { name: S, expr: N }),
  pure('AlterTableCmd', {
    subtype: S, name: S, num: S, newowner: S, def: N, behavior: S, missing_ok: S, recurse: S,
  }),
  pure('CreateOpClassItem', {
    itemtype: S, name: 'ObjectWithArgs', number: S, order_family: S, class_args: L, storedtype: 'TypeName',
  }),
]);

// ---------------------------------------------------------------------------------------------
// Queries

type StmtHandler = (st: St, b: Raw, outer: Scope | null, want: boolean) => Out[] | null;

/** Walk a wrapped statement (sub-query, CTE body, EXPLAIN/PREPARE target…); return its outputs when wanted. */
export function stmtAny(st: St, node: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const type = keyOf(node);
  const h = type === undefined ? undefined : STMT.get(type);
  if (h === undefined) {
    bad(st, `${type ?? 'empty'} statements are not supported`);
    return want ? [{ name: null, src: OPAQUE }] : null;
  }
  if (!enter(st)) return want ? [{ name: null, src: OPAQUE }] : null;
  try {
    return h(st, node[type!], outer, want);
  } finally {
    st.depth--;
  }
}

function newScope(parent: Scope | null): Scope {
  return { parent, items: [], ctes: null };
}

function findCte(sc: Scope | null, name: string): CteEntry | null {
  for (let s = sc; s !== null; s = s.parent) {
    if (s.ctes === null) continue;
    for (let i = s.ctes.length - 1; i >= 0; i--) if (s.ctes[i]!.name === name) return s.ctes[i]!;
  }
  return null;
}

const WITH_CLAUSE = spec({ ctes: X, recursive: S, location: S });
const CTE = spec({
  ctename: S, aliascolnames: S, ctematerialized: S, ctequery: X, search_clause: 'CTESearchClause',
  cycle_clause: 'CTECycleClause', location: S, cterecursive: S, cterefcount: S, ctecolnames: S, ctecoltypes: S,
  ctecoltypmods: S, ctecolcollations: S,
});

/**
 * WITH: a scope level holding the CTEs. Without RECURSIVE a CTE sees only the ones before it (a
 * CTE body naming itself reads the real table of that name); with RECURSIVE all of them, so their
 * lineage is iterated to a fixpoint. Every CTE body is reported, referenced or not (DML in WITH
 * runs regardless).
 */
function withScope(st: St, w: Raw, outer: Scope | null): Scope {
  checkFields(st, 'WithClause', w, WITH_CLAUSE);
  const sc: Scope = { parent: outer, items: [], ctes: [] };
  const list: Raw[] = Array.isArray(w.ctes) ? w.ctes : [];
  const bodies: Raw[] = [];
  for (const c of list) {
    if (c.CommonTableExpr === undefined) { bad(st, `${keyOf(c)} is not supported in WITH`); continue; }
    const cte = c.CommonTableExpr;
    walkFields(st, 'CommonTableExpr', cte, CTE, sc, null);
    bodies.push(cte);
  }
  if (w.recursive !== true) {
    for (const cte of bodies) {
      const outs = stmtAny(st, cte.ctequery, sc, true);
      sc.ctes!.push({ name: cte.ctename ?? '', outs: rename(outs, cte.aliascolnames) });
    }
    return sc;
  }
  const entries: CteEntry[] = bodies.map((cte) => ({ name: cte.ctename ?? '', outs: null }));
  sc.ctes = entries;
  const saved = st.unstable;
  let prev = '';
  let converged = false;
  for (let round = 0; round < MAX_CTE_ROUNDS; round++) {
    st.unstable = false;
    for (let i = 0; i < bodies.length; i++) {
      entries[i]!.outs = rename(stmtAny(st, bodies[i].ctequery, sc, true), bodies[i].aliascolnames);
    }
    const sig = entries.map((e) => signature(e.outs)).join('\u0000');
    if ((round === 0 && !st.unstable) || sig === prev) { converged = true; break; }
    prev = sig;
  }
  st.unstable = saved;
  if (!converged) {
    for (const e of entries) e.outs = (e.outs ?? []).map((o) => ({ name: o.name, src: OPAQUE }));
  }
  return sc;
}

/** Apply `AS x(a, b, …)` column aliases to outputs by position (up to the first `*`). */
function rename(outs: Out[] | null, colnames: Raw): Out[] | null {
  if (outs === null) return null;
  const names = strings(colnames);
  if (names.length === 0) return outs;
  const res: Out[] = [];
  let starSeen = false;
  for (let i = 0; i < outs.length; i++) {
    const o = outs[i]!;
    if (o.src.kind === 'star') starSeen = true;
    res.push(!starSeen && i < names.length ? { name: names[i]!, src: o.src } : (starSeen ? { name: null, src: o.src } : o));
  }
  return res;
}

const SELECT = spec({
  distinctClause: L, intoClause: X, targetList: X, fromClause: X, whereClause: N, groupClause: L, groupDistinct: S,
  havingClause: N, windowClause: L, valuesLists: X, sortClause: L, limitOffset: N, limitCount: N, limitOption: S,
  lockingClause: X, withClause: X, op: S, all: S, larg: X, rarg: X,
});
const INTO = spec({
  rel: X, colNames: S, accessMethod: S, options: L, onCommit: S, tableSpaceName: S, viewQuery: S, skipData: S,
});
const LOCKING = spec({ lockedRels: X, strength: S, waitPolicy: S });

function selectStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = b.withClause !== undefined ? withScope(st, b.withClause, outer) : outer;
  let outs: Out[] | null = null;
  const sc = newScope(base);
  if (b.op !== undefined && b.op !== 'SETOP_NONE') {
    const l = setArm(st, b.larg, base, want);
    const r = setArm(st, b.rarg, base, want);
    if (want) outs = setOpOutputs(l!, r!);
  } else if (b.valuesLists !== undefined) {
    outs = values(st, b.valuesLists, sc, want);
  } else {
    for (const f of Array.isArray(b.fromClause) ? b.fromClause : []) fromItem(st, f, sc, want);
    outs = targetList(st, b.targetList, sc, want);
  }
  walkFields(st, 'SelectStmt', b, SELECT, sc, null);
  if (Array.isArray(b.lockingClause)) {
    // FOR UPDATE/SHARE locks rows: PostgreSQL requires UPDATE privilege for it (SELECT docs, "The Locking Clause").
    for (const lc of b.lockingClause) {
      const l = lc.LockingClause;
      if (l === undefined) { bad(st, `${keyOf(lc)} is not supported in a locking clause`); continue; }
      checkFields(st, 'LockingClause', l, LOCKING);
      const named = Array.isArray(l.lockedRels) ? l.lockedRels.map((r: Raw) => r.RangeVar?.relname) : null;
      lockItems(st, sc.items, named);
    }
  }
  if (b.intoClause !== undefined) {
    // SELECT INTO creates a table (PostgreSQL turns it into CREATE TABLE AS)
    checkFields(st, 'IntoClause', b.intoClause, INTO);
    walkFields(st, 'IntoClause', b.intoClause, INTO, sc, null);
    targetRel(st, b.intoClause.rel, 'DDL');
    writtenFrom(st, outs);
  }
  return outs;
}

function lockItems(st: St, items: readonly Item[], named: readonly string[] | null): void {
  for (const it of items) {
    if (it.children !== null) { lockItems(st, it.children, named); continue; }
    if (it.rel === null) continue;
    if (named === null || (it.alias !== null && named.includes(it.alias))) access(st, 'UPDATE', it.rel, 'relation');
  }
}

function setArm(st: St, arm: Raw, base: Scope | null, want: boolean): Out[] | null {
  if (arm === undefined || arm === null) { bad(st, 'set operation without an operand'); return want ? [] : null; }
  if (!enter(st)) return want ? [{ name: null, src: OPAQUE }] : null;
  try {
    return selectStmt(st, arm, base, want);
  } finally {
    st.depth--;
  }
}

/** UNION/INTERSECT/EXCEPT: each position is derived from both arms. */
function setOpOutputs(l: Out[], r: Out[]): Out[] {
  if (hasStar(l) || hasStar(r) || l.length !== r.length) {
    // positions do not line up without the catalog: one star over everything either arm reads
    const a = relationsOf(l);
    const b = relationsOf(r);
    if (a.opaque || b.opaque) return [{ name: null, src: OPAQUE }];
    const relations = a.relations.slice();
    for (const x of b.relations) if (!relations.some((y) => y.name === x.name && y.schema === x.schema)) relations.push(x);
    return [{ name: null, src: { kind: 'star', relations } }];
  }
  const res: Out[] = [];
  for (let i = 0; i < l.length; i++) {
    const acc: ColumnSource[] = [];
    addLeaves(acc, l[i]!.src);
    addLeaves(acc, r[i]!.src);
    res.push({ name: l[i]!.name, src: derivedOf(acc) });
  }
  return res;
}

function values(st: St, rows: Raw, sc: Scope, want: boolean): Out[] | null {
  const cols: ColumnSource[][] = [];
  for (const row of Array.isArray(rows) ? rows : []) {
    const items: Raw[] = row.List?.items ?? [];
    if (row.List === undefined) bad(st, `${keyOf(row)} is not supported in VALUES`);
    for (let i = 0; i < items.length; i++) {
      const s = expr(st, items[i], sc, want);
      if (want && s !== null) {
        while (cols.length <= i) cols.push([]);
        addLeaves(cols[i]!, s);
      }
    }
  }
  if (!want) return null;
  return cols.map((c, i) => ({ name: `column${i + 1}`, src: derivedOf(c) }));
}

const RES_TARGET = spec({ name: S, indirection: L, val: X, location: S });

/** A SELECT list or RETURNING list: one output per entry, `*` expanded over the FROM items. */
function targetList(st: St, list: Raw, sc: Scope, want: boolean): Out[] | null {
  const outs: Out[] | null = want ? [] : null;
  for (const t of Array.isArray(list) ? list : []) {
    const rt = t.ResTarget;
    if (rt === undefined) { bad(st, `${keyOf(t)} is not supported in a target list`); continue; }
    walkFields(st, 'ResTarget', rt, RES_TARGET, sc, null);
    const v = rt.val;
    const cr = v?.ColumnRef;
    if (cr !== undefined && Array.isArray(cr.fields) && cr.fields.length > 0 && cr.fields[cr.fields.length - 1].A_Star !== undefined) {
      checkFields(st, 'ColumnRef', cr, COLUMN_REF);
      if (outs !== null) starOutputs(st, sc, strings(cr.fields), outs);
      continue;
    }
    const ind = v?.A_Indirection;
    if (ind !== undefined && Array.isArray(ind.indirection) && ind.indirection[ind.indirection.length - 1]?.A_Star !== undefined) {
      // (expr).* expands to several columns: a star over whatever the value reads
      const s = expr(st, v, sc, want);
      if (outs !== null && s !== null) {
        const r = relationsOf([{ name: null, src: s }]);
        outs.push({ name: null, src: r.opaque ? OPAQUE : { kind: 'star', relations: r.relations } });
      }
      continue;
    }
    const s = expr(st, v, sc, want);
    if (outs !== null) outs.push({ name: rt.name ?? figureName(v), src: s ?? OPAQUE });
  }
  return outs;
}

/** `*` or `t.*` at the top of a target list. */
function starOutputs(st: St, sc: Scope, qual: string[], outs: Out[]): void {
  let items: readonly Item[];
  if (qual.length === 0) {
    items = sc.items;
  } else {
    const it = findItem(sc, qual);
    if (it === null) { outs.push({ name: null, src: OPAQUE }); return; }
    items = [it];
  }
  let pending: RelName[] | null = null;
  const flush = (): void => { if (pending !== null) { outs.push({ name: null, src: { kind: 'star', relations: pending } }); pending = null; } };
  const visit = (it: Item): void => {
    if (it.rel !== null) { (pending ??= []).push(it.rel); return; }
    if (it.children !== null) { for (const c of it.children) visit(c); return; }
    flush();
    if (it.fn !== null) {
      const r = relationsOf([{ name: null, src: it.fn }]);
      outs.push({ name: null, src: r.opaque ? OPAQUE : { kind: 'star', relations: r.relations } });
      return;
    }
    if (it.cte !== null && it.cte.outs === null) { st.unstable = true; return; }
    const o = it.cte !== null ? it.cte.outs! : (it.outs ?? []);
    if (!hasStar(o)) { for (const x of o) outs.push(x); return; }
    const r = relationsOf(o);
    outs.push({ name: null, src: r.opaque ? OPAQUE : { kind: 'star', relations: r.relations } });
  };
  for (const it of items) visit(it);
  flush();
}

/** The output column name PostgreSQL would give an expression (FigureColname, parse_target.c), when simple. */
function figureName(v: Raw): string | null {
  const t = keyOf(v);
  if (t === undefined) return null;
  const b = v[t];
  switch (t) {
    case 'ColumnRef': { const n = strings(b.fields); return n.length > 0 && b.fields[b.fields.length - 1].String ? n[n.length - 1]! : null; }
    case 'FuncCall': { const n = strings(b.funcname); return n[n.length - 1] ?? null; }
    case 'TypeCast': return figureName(b.arg) ?? strings(b.typeName?.names).pop() ?? null;
    case 'CollateClause': return figureName(b.arg);
    case 'A_Indirection': {
      const ind: Raw[] = b.indirection ?? [];
      for (let i = ind.length - 1; i >= 0; i--) if (ind[i].String) return ind[i].String.sval;
      return figureName(b.arg);
    }
    case 'CaseExpr': return 'case';
    case 'CoalesceExpr': return 'coalesce';
    case 'A_ArrayExpr': return 'array';
    case 'RowExpr': return 'row';
    case 'MinMaxExpr': return b.op === 'IS_GREATEST' ? 'greatest' : 'least';
    case 'SubLink': return b.subLinkType === 'EXISTS_SUBLINK' ? 'exists' : b.subLinkType === 'ARRAY_SUBLINK' ? 'array' : null;
    default: return '?column?';
  }
}

// ---------------------------------------------------------------------------------------------
// FROM items

const RANGE_SUBSELECT = spec({ lateral: S, subquery: X, alias: X });
const RANGE_FUNCTION = spec({ lateral: S, ordinality: S, is_rowsfrom: S, functions: X, alias: X, coldeflist: L });
const JOIN = spec({
  jointype: S, isNatural: S, larg: X, rarg: X, usingClause: S, join_using_alias: X, quals: X, alias: X, rtindex: S,
});
const TABLE_SAMPLE = spec({ relation: X, method: S, args: L, repeatable: N, location: S });
const TABLE_FUNC = spec({ lateral: S, docexpr: X, rowexpr: N, namespaces: L, columns: L, alias: X, location: S });
const JSON_TABLE = spec({
  context_item: X, pathspec: 'JsonTablePathSpec', passing: L, columns: L, on_error: 'JsonBehavior', alias: X,
  lateral: S, location: S,
});

function item(partial: Partial<Item>): Item {
  return {
    alias: partial.alias ?? null, rel: partial.rel ?? null, colAliases: partial.colAliases ?? null,
    outs: partial.outs ?? null, cte: partial.cte ?? null, fn: partial.fn ?? null, children: partial.children ?? null,
  };
}

function aliasOf(st: St, a: Raw): { name: string | null; cols: string[] | null } {
  if (a === undefined) return { name: null, cols: null };
  checkFields(st, 'Alias', a, ALIAS);
  const cols = strings(a.colnames);
  return { name: a.aliasname ?? null, cols: cols.length > 0 ? cols : null };
}

function fromItem(st: St, node: Raw, sc: Scope, want: boolean): void {
  const type = keyOf(node);
  const b = type === undefined ? undefined : node[type];
  switch (type) {
    case 'RangeVar': {
      checkFields(st, 'RangeVar', b, RANGE_VAR);
      const a = aliasOf(st, b.alias);
      if (b.schemaname === undefined && b.catalogname === undefined) {
        const cte = findCte(sc, b.relname);
        if (cte !== null) {
          // a CTE shadows a table of the same name; what the CTE reads was reported at WITH
          const renamed = a.cols !== null && cte.outs !== null;
          sc.items.push(renamed
            ? item({ alias: a.name ?? b.relname, outs: rename(cte.outs, b.alias.colnames) })
            : item({ alias: a.name ?? b.relname, cte }));
          return;
        }
      }
      const rel = relOfRangeVar(st, b);
      access(st, 'SELECT', rel, 'relation');
      alsoOnSearchPath(st, b, 'SELECT');
      sc.items.push(item({ alias: a.name ?? b.relname, rel, colAliases: a.cols }));
      return;
    }
    case 'RangeSubselect': {
      checkFields(st, 'RangeSubselect', b, RANGE_SUBSELECT);
      const a = aliasOf(st, b.alias);
      // LATERAL sees the FROM items before it; a plain sub-query only the enclosing levels
      const outs = stmtAny(st, b.subquery, b.lateral === true ? sc : sc.parent, want);
      sc.items.push(item({ alias: a.name, outs: rename(outs, b.alias?.colnames) ?? [] }));
      return;
    }
    case 'RangeFunction': {
      walkFields(st, 'RangeFunction', b, RANGE_FUNCTION, sc, null);
      const a = aliasOf(st, b.alias);
      const acc: ColumnSource[] = [];
      let name: string | null = null;
      for (const f of Array.isArray(b.functions) ? b.functions : []) {
        const parts: Raw[] = f.List?.items ?? [];
        if (f.List === undefined || parts.length === 0) { bad(st, 'unexpected shape of a function in FROM'); continue; }
        // function calls in FROM may refer to earlier FROM items (implicitly LATERAL)
        const s = expr(st, parts[0], sc, want);
        if (want && s !== null) addLeaves(acc, s);
        if (parts[0].FuncCall !== undefined) name = strings(parts[0].FuncCall.funcname).pop() ?? null;
        for (let i = 1; i < parts.length; i++) expr(st, parts[i], sc, false);
      }
      sc.items.push(item({ alias: a.name ?? (b.functions?.length === 1 ? name : null), fn: want ? derivedOf(acc) : CONSTANT }));
      return;
    }
    case 'JoinExpr': {
      checkFields(st, 'JoinExpr', b, JOIN);
      const start = sc.items.length;
      fromItem(st, b.larg, sc, want);
      fromItem(st, b.rarg, sc, want);
      if (b.quals !== undefined) expr(st, b.quals, sc, false);
      const usingAlias = aliasOf(st, b.join_using_alias);
      const a = aliasOf(st, b.alias);
      if (a.name !== null) {
        // an aliased join hides the names inside it
        const children = sc.items.splice(start);
        sc.items.push(item({ alias: a.name, children }));
      }
      if (usingAlias.name !== null) sc.items.push(item({ alias: usingAlias.name, children: sc.items.slice(start) }));
      return;
    }
    case 'RangeTableSample': {
      walkFields(st, 'RangeTableSample', b, TABLE_SAMPLE, sc, null);
      fromItem(st, b.relation, sc, want);
      return;
    }
    case 'RangeTableFunc': {
      walkFields(st, 'RangeTableFunc', b, TABLE_FUNC, sc, null);
      const a = aliasOf(st, b.alias);
      const s = expr(st, b.docexpr, sc, want);
      sc.items.push(item({ alias: a.name, fn: s ?? CONSTANT }));
      return;
    }
    case 'JsonTable': {
      walkFields(st, 'JsonTable', b, JSON_TABLE, sc, null);
      const a = aliasOf(st, b.alias);
      const s = walkStruct(st, 'JsonValueExpr', b.context_item, sc, want);
      sc.items.push(item({ alias: a.name, fn: s ?? CONSTANT }));
      return;
    }
    default:
      bad(st, `${type ?? 'empty node'} is not supported in FROM`);
      sc.items.push(item({ fn: OPAQUE }));
  }
}

// ---------------------------------------------------------------------------------------------
// Data-changing statements

/** Does this WHERE restrict the rows (heuristic for blockUnfilteredWrites)? */
function filters(node: Raw, targets: readonly string[]): boolean {
  const t = keyOf(node);
  if (t === undefined) return false;
  const b = node[t];
  if (t === 'BoolExpr') {
    const args: Raw[] = b.args ?? [];
    if (b.boolop === 'AND_EXPR') return args.some((a) => filters(a, targets));
    if (b.boolop === 'OR_EXPR') return args.every((a) => filters(a, targets));
    return args.length > 0 && filters(args[0], targets);
  }
  return refersToRows(node, targets, false);
}

/** A column of the statement's own rows (outside sub-queries: any; inside: only target-qualified ones). */
function refersToRows(v: Raw, targets: readonly string[], inSub: boolean): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some((x) => refersToRows(x, targets, inSub));
  for (const k in v) {
    if (k === 'CurrentOfExpr') return true;
    if (k === 'ColumnRef') {
      if (!inSub) return true;
      const names = strings(v[k].fields);
      if (names.length >= 2 && targets.includes(names[names.length - 2]!)) return true;
      continue;
    }
    if (refersToRows(v[k], targets, inSub || k === 'SubLink')) return true;
  }
  return false;
}

const RETURNING = spec({ options: X, exprs: X });
const RETURNING_OPTION = spec({ option: S, value: S, location: S });

/** RETURNING reads the target (and FROM/USING items): a SELECT on the target, outputs like a SELECT list. */
function returning(st: St, rc: Raw, target: Item, extra: readonly Item[], base: Scope | null, want: boolean): Out[] | null {
  if (rc === undefined) return want ? [] : null;
  checkFields(st, 'ReturningClause', rc, RETURNING);
  access(st, 'SELECT', target.rel!, 'relation');
  // old/new (PostgreSQL 18) name the target's row before/after; they are not part of `*`
  const versions = newScope(base);
  const sc = newScope(versions);
  sc.items.push(target, ...extra);
  let oldName = 'old';
  let newName = 'new';
  for (const o of Array.isArray(rc.options) ? rc.options : []) {
    const ro = o.ReturningOption;
    if (ro === undefined) { bad(st, `${keyOf(o)} is not supported in RETURNING`); continue; }
    checkFields(st, 'ReturningOption', ro, RETURNING_OPTION);
    if (ro.option === 'RETURNING_OPTION_OLD') oldName = ro.value; else newName = ro.value;
  }
  versions.items.push(item({ alias: oldName, rel: target.rel }), item({ alias: newName, rel: target.rel }));
  return targetList(st, rc.exprs, sc, want);
}

function targetItem(st: St, rv: Raw, op: ConcreteOperation): Item {
  const rel = targetRel(st, rv, op);
  const a = aliasOf(st, rv.alias);
  return item({ alias: a.name ?? rv.relname, rel });
}

const INSERT = spec({
  relation: X, cols: L, selectStmt: X, onConflictClause: X, returningClause: X, withClause: X, override: S,
});
const ON_CONFLICT = spec({ action: S, infer: 'InferClause', targetList: L, whereClause: N, location: S });

function insertStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = b.withClause !== undefined ? withScope(st, b.withClause, outer) : outer;
  st.writes = true;
  const target = targetItem(st, b.relation, 'INSERT');
  const sc = newScope(base);
  sc.items.push(target);
  walkFields(st, 'InsertStmt', b, INSERT, sc, null);
  // the source query does not see the target; its outputs are the values stored
  if (b.selectStmt !== undefined) writtenFrom(st, stmtAny(st, b.selectStmt, base, true));
  const oc = b.onConflictClause;
  if (oc !== undefined) {
    if (oc.action === 'ONCONFLICT_UPDATE') access(st, 'UPDATE', target.rel!, 'relation');
    const ocs = newScope(base);
    ocs.items.push(target, item({ alias: 'excluded', rel: target.rel }));
    // DO UPDATE SET … (and its WHERE, conservatively) may store values read from anywhere in scope
    walkFields(st, 'OnConflictClause', oc, ON_CONFLICT, ocs, st.written);
  }
  return returning(st, b.returningClause, target, [], base, want);
}

const UPDATE = spec({ relation: X, targetList: L, whereClause: X, fromClause: X, returningClause: X, withClause: X });

function updateStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = b.withClause !== undefined ? withScope(st, b.withClause, outer) : outer;
  st.writes = true;
  const target = targetItem(st, b.relation, 'UPDATE');
  const sc = newScope(base);
  sc.items.push(target);
  for (const f of Array.isArray(b.fromClause) ? b.fromClause : []) fromItem(st, f, sc, want);
  walkFields(st, 'UpdateStmt', b, UPDATE, sc, st.written);   // only targetList is walked here: the SET values
  where(st, b.whereClause, sc, target);
  return returning(st, b.returningClause, target, sc.items.slice(1), base, want);
}

const DELETE = spec({ relation: X, usingClause: X, whereClause: X, returningClause: X, withClause: X });

function deleteStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = b.withClause !== undefined ? withScope(st, b.withClause, outer) : outer;
  st.writes = true;
  const target = targetItem(st, b.relation, 'DELETE');
  const sc = newScope(base);
  sc.items.push(target);
  for (const f of Array.isArray(b.usingClause) ? b.usingClause : []) fromItem(st, f, sc, want);
  walkFields(st, 'DeleteStmt', b, DELETE, sc, null);
  where(st, b.whereClause, sc, target);
  return returning(st, b.returningClause, target, sc.items.slice(1), base, want);
}

function where(st: St, w: Raw, sc: Scope, target: Item): void {
  if (w === undefined) { st.unfiltered = true; return; }
  expr(st, w, sc, false);
  if (!filters(w, [target.alias ?? ''])) st.unfiltered = true;
}

const MERGE = spec({
  relation: X, sourceRelation: X, joinCondition: X, mergeWhenClauses: X, returningClause: X, withClause: X,
});
const MERGE_WHEN = spec({ matchKind: S, commandType: S, override: S, condition: N, targetList: L, values: L });
const MERGE_OPS: Readonly<Record<string, ConcreteOperation>> = { CMD_INSERT: 'INSERT', CMD_UPDATE: 'UPDATE', CMD_DELETE: 'DELETE' };

function mergeStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = b.withClause !== undefined ? withScope(st, b.withClause, outer) : outer;
  checkFields(st, 'MergeStmt', b, MERGE);
  st.writes = true;
  const target = targetItem(st, b.relation, 'MERGE');
  const sc = newScope(base);
  sc.items.push(target);
  fromItem(st, b.sourceRelation, sc, want);
  expr(st, b.joinCondition, sc, false);
  const joinFilters = filters(b.joinCondition, [target.alias ?? '']);
  for (const w of Array.isArray(b.mergeWhenClauses) ? b.mergeWhenClauses : []) {
    const m = w.MergeWhenClause;
    if (m === undefined) { bad(st, `${keyOf(w)} is not supported in MERGE`); continue; }
    const op = MERGE_OPS[m.commandType as string];
    if (op !== undefined) access(st, op, target.rel!, 'relation');
    if ((op === 'UPDATE' || op === 'DELETE') && !joinFilters && m.condition === undefined) st.unfiltered = true;
    walkFields(st, 'MergeWhenClause', m, MERGE_WHEN, sc, st.written);
  }
  return returning(st, b.returningClause, target, sc.items.slice(1), base, want);
}

// ---------------------------------------------------------------------------------------------
// Utility statements

/** The DDL-ish object a (objtype, object node) pair names, as the policy sees it; null = cannot name. */
function objectName(st: St, objtype: string, node: Raw): { rel: RelName; kind: 'relation' | 'function' } | null {
  const t = keyOf(node);
  const b = t === undefined ? undefined : node[t];
  const list = (): string[] => (t === 'List' ? strings(b.items) : t === 'String' ? [b.sval ?? ''] : t === 'TypeName' ? strings(b.names) : []);
  const rel = (parts: string[]): { rel: RelName; kind: 'relation' } | null => {
    const r = relFromParts(parts, st.defaultSchema);
    return r === null ? null : { rel: r, kind: 'relation' };
  };
  switch (objtype) {
    case 'OBJECT_FUNCTION': case 'OBJECT_PROCEDURE': case 'OBJECT_ROUTINE': case 'OBJECT_AGGREGATE': case 'OBJECT_OPERATOR': {
      if (t !== 'ObjectWithArgs') return null;
      expr(st, node, null, false);
      const r = relFromParts(strings(b.objname), null);
      return r === null ? null : { rel: r, kind: 'function' };
    }
    case 'OBJECT_SCHEMA':
      return t === 'String' ? { rel: { schema: b.sval ?? '', name: '*' }, kind: 'relation' } : null;
    case 'OBJECT_EXTENSION':
      return t === 'String' ? { rel: { schema: null, name: b.sval ?? '' }, kind: 'relation' } : null;
    case 'OBJECT_TABLE': case 'OBJECT_VIEW': case 'OBJECT_MATVIEW': case 'OBJECT_INDEX': case 'OBJECT_SEQUENCE':
    case 'OBJECT_FOREIGN_TABLE': case 'OBJECT_TYPE': case 'OBJECT_DOMAIN': case 'OBJECT_COLLATION':
    case 'OBJECT_CONVERSION': case 'OBJECT_TSCONFIGURATION': case 'OBJECT_TSDICTIONARY': case 'OBJECT_TSPARSER':
    case 'OBJECT_TSTEMPLATE': case 'OBJECT_STATISTIC_EXT':
      return rel(list());
    case 'OBJECT_COLUMN': case 'OBJECT_TRIGGER': case 'OBJECT_POLICY': case 'OBJECT_RULE': case 'OBJECT_TABCONSTRAINT':
      // [schema.]table.name: the object lives on the table
      return rel(list().slice(0, -1));
    case 'OBJECT_DOMCONSTRAINT': {
      const items: Raw[] = t === 'List' ? b.items ?? [] : [];
      return items[0]?.TypeName ? rel(strings(items[0].TypeName.names)) : null;
    }
    case 'OBJECT_OPCLASS': case 'OBJECT_OPFAMILY':
      return rel(list().slice(1)); // [access method, [schema,] name]
    default:
      return null;
  }
}

function objectAccess(st: St, op: ConcreteOperation, objtype: string, node: Raw, what: string): void {
  const o = objectName(st, objtype, node);
  if (o === null) { bad(st, `${what} on ${noun(objtype).toLowerCase()} objects is not supported`); return; }
  access(st, op, o.rel, o.kind);
}

const NOUNS: Readonly<Record<string, string>> = {
  OBJECT_TABLE: 'TABLE', OBJECT_VIEW: 'VIEW', OBJECT_MATVIEW: 'MATERIALIZED VIEW', OBJECT_INDEX: 'INDEX',
  OBJECT_SEQUENCE: 'SEQUENCE', OBJECT_FOREIGN_TABLE: 'FOREIGN TABLE', OBJECT_FUNCTION: 'FUNCTION',
  OBJECT_PROCEDURE: 'PROCEDURE', OBJECT_ROUTINE: 'ROUTINE', OBJECT_AGGREGATE: 'AGGREGATE', OBJECT_SCHEMA: 'SCHEMA',
  OBJECT_TYPE: 'TYPE', OBJECT_DOMAIN: 'DOMAIN', OBJECT_EXTENSION: 'EXTENSION', OBJECT_TRIGGER: 'TRIGGER',
  OBJECT_POLICY: 'POLICY', OBJECT_RULE: 'RULE', OBJECT_ROLE: 'ROLE', OBJECT_DATABASE: 'DATABASE',
  OBJECT_COLLATION: 'COLLATION', OBJECT_CONVERSION: 'CONVERSION', OBJECT_OPERATOR: 'OPERATOR',
  OBJECT_OPCLASS: 'OPERATOR CLASS', OBJECT_OPFAMILY: 'OPERATOR FAMILY', OBJECT_LANGUAGE: 'LANGUAGE',
  OBJECT_CAST: 'CAST', OBJECT_STATISTIC_EXT: 'STATISTICS', OBJECT_TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
  OBJECT_TSDICTIONARY: 'TEXT SEARCH DICTIONARY', OBJECT_TSPARSER: 'TEXT SEARCH PARSER',
  OBJECT_TSTEMPLATE: 'TEXT SEARCH TEMPLATE', OBJECT_EVENT_TRIGGER: 'EVENT TRIGGER',
  OBJECT_FDW: 'FOREIGN DATA WRAPPER', OBJECT_FOREIGN_SERVER: 'SERVER', OBJECT_PUBLICATION: 'PUBLICATION',
  OBJECT_SUBSCRIPTION: 'SUBSCRIPTION', OBJECT_TABLESPACE: 'TABLESPACE', OBJECT_ACCESS_METHOD: 'ACCESS METHOD',
  OBJECT_TRANSFORM: 'TRANSFORM', OBJECT_USER_MAPPING: 'USER MAPPING', OBJECT_COLUMN: 'COLUMN',
  OBJECT_TABCONSTRAINT: 'CONSTRAINT', OBJECT_DOMCONSTRAINT: 'DOMAIN CONSTRAINT', OBJECT_LARGEOBJECT: 'LARGE OBJECT',
};
export function noun(objtype: string): string {
  return NOUNS[objtype] ?? objtype.replace(/^OBJECT_/, '').replace(/_/g, ' ');
}

/** Whole-database targets (VACUUM with no table, REINDEX DATABASE): every schema, every relation. */
const ALL_RELATIONS: RelName = Object.freeze({ schema: '*', name: '*' });
/** Role and privilege statements are GRANT on the catalog that holds the object (see README). */
const catalog = (name: string): RelName => ({ schema: 'pg_catalog', name });

function ddl(type: string, o: Record<string, Field>, target: (st: St, b: Raw) => void): [string, StmtHandler] {
  const fields = spec(o);
  return [type, (st, b) => {
    target(st, b);
    walkFields(st, type, b, fields, null, null);
    return null;
  }];
}

function unsupported(type: string, reason: string): [string, StmtHandler] {
  return [type, (st) => { bad(st, reason); return null; }];
}

function namesTarget(field: string, kind: 'relation' | 'function' = 'relation') {
  return (st: St, b: Raw): void => {
    const r = relFromParts(strings(b[field]), kind === 'relation' ? st.defaultSchema : null);
    if (r === null) bad(st, `cannot name the object of this statement`);
    else access(st, 'DDL', r, kind);
  };
}

function rangeVarsTarget(field: string, op: ConcreteOperation) {
  return (st: St, b: Raw): void => {
    for (const r of Array.isArray(b[field]) ? b[field] : []) {
      if (r.RangeVar === undefined) { bad(st, `${keyOf(r)} is not supported as a relation`); continue; }
      targetRel(st, r.RangeVar, op);
    }
  };
}

const COPY = spec({ relation: X, query: X, attlist: S, is_from: S, is_program: S, filename: S, options: L, whereClause: X });

function copyStmt(st: St, b: Raw, _outer: Scope | null, want: boolean): Out[] | null {
  walkFields(st, 'CopyStmt', b, COPY, null, null);
  st.cacheable = false; // options (FORMAT …) shape the masking of the output
  if (b.is_program === true || b.filename !== undefined) bad(st, COPY_FILE_MESSAGE);
  let format: 'text' | 'csv' | 'binary' = 'text';
  let optionsDefault = true;
  const text = copyTextOptions(Array.isArray(b.options) ? b.options : []);
  for (const o of Array.isArray(b.options) ? b.options : []) {
    const d = o.DefElem;
    if (d?.defname === 'format') {
      const f = d.arg?.String?.sval;
      if (f === 'csv' || f === 'binary' || f === 'text') format = f;
      else bad(st, 'COPY format must be text, csv or binary');   // not quoted: the option value is a literal
    } else {
      optionsDefault = false;
    }
  }
  const columns = strings(b.attlist);
  if (b.relation !== undefined) {
    const rel = targetRel(st, b.relation, b.is_from === true ? 'COPY_FROM' : 'COPY_TO');
    if (b.is_from === true) {
      st.writes = true;
      if (b.whereClause !== undefined) {
        const sc = newScope(null);
        sc.items.push(item({ alias: b.relation.relname, rel }));
        expr(st, b.whereClause, sc, false);
      }
      return want ? [] : null;
    }
    st.copyTo = text === null || optionsDefault
      ? { relation: rel, columns: columns.length > 0 ? columns : null, format, optionsDefault }
      : { relation: rel, columns: columns.length > 0 ? columns : null, format, optionsDefault, textOptions: text };
    if (!want) return null;
    return columns.length > 0
      ? columns.map((c) => ({ name: c, src: { kind: 'column', relation: rel, column: c } }))
      : [{ name: null, src: { kind: 'star', relations: [rel] } }];
  }
  if (b.query === undefined) { bad(st, 'COPY without a table or query'); return want ? [] : null; }
  const mark = st.accesses.length;
  const outs = stmtAny(st, b.query, null, true);
  // COPY (query) TO bulk-exports what the query reads: COPY_TO on each of those relations too
  const read = st.accesses.slice(mark).filter((a) => a.operation === 'SELECT' && a.kind === 'relation');
  for (const a of read) access(st, 'COPY_TO', a.relation, 'relation');
  st.copyTo = text === null || optionsDefault
    ? { relation: null, columns: null, format, optionsDefault }
    : { relation: null, columns: null, format, optionsDefault, textOptions: text };
  return want ? outs : null;
}

/**
 * The options of a text or CSV COPY TO the masker can follow (mask/copy.ts): HEADER, DELIMITER, QUOTE, ESCAPE,
 * NULL, FORCE_QUOTE, and ENCODING when it is UTF-8; null when any other option is given, an option is given twice
 * (PostgreSQL refuses that too) or a value is not a plain constant. HEADER is true only when PostgreSQL is sure
 * to send the header line (defGetCopyHeaderChoice in commands/copy.c): the session passes the first CopyData
 * unmasked on that word, so a doubt must not say true.
 */
function copyTextOptions(options: readonly Raw[]): CopyTextOptions | null {
  const out: { header: boolean; delimiter?: string; quote?: string; escape?: string; null?: string } = { header: false };
  const seen = new Set<string>();
  for (const o of options) {
    const d = o?.DefElem;
    const name: unknown = d?.defname;
    if (typeof name !== 'string' || seen.has(name)) return null;
    seen.add(name);
    const sval: unknown = d.arg?.String?.sval;
    switch (name) {
      case 'format': break;
      case 'header': {
        if (d.arg === undefined) { out.header = true; break; }
        if (d.arg.Boolean !== undefined) { out.header = d.arg.Boolean.boolval === true; break; }
        if (d.arg.Integer !== undefined) {
          const n = d.arg.Integer.ival ?? 0;
          if (n !== 0 && n !== 1) return null;
          out.header = n === 1;
          break;
        }
        const v = typeof sval === 'string' ? sval.toLowerCase() : null;
        if (v === 'true' || v === 'on') out.header = true;
        else if (v === 'false' || v === 'off') out.header = false;
        else return null;
        break;
      }
      case 'delimiter': case 'quote': case 'escape': case 'null':
        if (typeof sval !== 'string') return null;
        out[name] = sval;
        break;
      case 'force_quote': break;     // the masker keeps a quoted field quoted
      case 'encoding':
        if (typeof sval !== 'string' || !['utf8', 'utf-8', 'unicode'].includes(sval.toLowerCase())) return null;
        break;
      default: return null;
    }
  }
  return out;
}

const SET_STMT = spec({ kind: S, name: S, args: L, jumble_args: S, is_local: S, location: S });

function variableSet(st: St, b: Raw): Out[] | null {
  walkFields(st, 'VariableSetStmt', b, SET_STMT, null, null);
  st.cacheable = false;
  const name = typeof b.name === 'string' ? b.name.toLowerCase() : null;
  if (name === 'role' || name === 'session_authorization') { effect(st, { kind: 'role' }); return null; }
  switch (b.kind) {
    case 'VAR_RESET_ALL': effect(st, { kind: 'reset', name: null }); break;
    case 'VAR_RESET': effect(st, { kind: 'reset', name }); break;
    case 'VAR_SET_MULTI': effect(st, { kind: 'set', name: name ?? '', local: b.is_local === true || name === 'transaction' }); break;
    default: effect(st, { kind: 'set', name: name ?? '', local: b.is_local === true, value: setValue(b) });
  }
  return null;
}

/** The value of `SET name = 'v'` / `SET name TO v` when it is a single constant; null for DEFAULT, lists, expressions. */
function setValue(b: Raw): string | null {
  const args: Raw[] = Array.isArray(b.args) ? b.args : [];
  if (b.kind !== 'VAR_SET_VALUE' || args.length !== 1) return null;
  return stringLiteral(args[0]);
}

function grantStmt(st: St, b: Raw): void {
  const objects: Raw[] = Array.isArray(b.objects) ? b.objects : [];
  if (b.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
    for (const o of objects) access(st, 'GRANT', { schema: o.String?.sval ?? '', name: '*' }, 'relation');
    return;
  }
  switch (b.objtype) {
    case 'OBJECT_TABLE': case 'OBJECT_SEQUENCE': case 'OBJECT_FOREIGN_TABLE':
      rangeVarsTarget('objects', 'GRANT')(st, b);
      return;
    case 'OBJECT_DATABASE': access(st, 'GRANT', catalog('pg_database'), 'relation'); return;
    case 'OBJECT_TABLESPACE': access(st, 'GRANT', catalog('pg_tablespace'), 'relation'); return;
    case 'OBJECT_LANGUAGE': access(st, 'GRANT', catalog('pg_language'), 'relation'); return;
    case 'OBJECT_FDW': access(st, 'GRANT', catalog('pg_foreign_data_wrapper'), 'relation'); return;
    case 'OBJECT_FOREIGN_SERVER': access(st, 'GRANT', catalog('pg_foreign_server'), 'relation'); return;
    case 'OBJECT_LARGEOBJECT': access(st, 'GRANT', catalog('pg_largeobject_metadata'), 'relation'); return;
    case 'OBJECT_PARAMETER_ACL': access(st, 'GRANT', catalog('pg_parameter_acl'), 'relation'); return;
    default:
      for (const o of objects) objectAccess(st, 'GRANT', b.objtype, o, 'GRANT');
  }
}
const GRANT = spec({
  is_grant: S, targtype: S, objtype: S, objects: X, privileges: L, grantees: L, grant_option: S, grantor: S, behavior: S,
});

/** Statements whose nested statements must not count as this statement's own writes (rule actions). */
function sideways(st: St, fn: () => void): void {
  const writes = st.writes;
  const unfiltered = st.unfiltered;
  const effects = st.effects.length;
  fn();
  st.writes = writes;
  st.unfiltered = unfiltered;
  st.effects.length = effects;
}

// Field lists of the utility statements handled inline below.
const F_TABLE_LIKE_CLAUSE = spec({ relation: X, options: S, relationOid: S });
const F_EXPLAIN_STMT = spec({ query: X, options: L });
const F_PREPARE_STMT = spec({ name: S, argtypes: L, query: X });
const F_EXECUTE_STMT = spec({ name: S, params: L });
const F_DEALLOCATE_STMT = spec({ name: S, isall: S, location: S });
const F_DO_STMT = spec({ args: L });
const F_CALL_STMT = spec({ funccall: 'FuncCall', funcexpr: S, outargs: S });
const F_TRANSACTION_STMT = spec({ kind: S, options: L, savepoint_name: S, gid: S, chain: S, location: S });
const F_VARIABLE_SHOW_STMT = spec({ name: S });
const F_DISCARD_STMT = spec({ target: S });
const F_LISTEN_STMT = spec({ conditionname: S });
const F_UNLISTEN_STMT = spec({ conditionname: S });
const F_NOTIFY_STMT = spec({ conditionname: S, payload: S });
const F_DECLARE_CURSOR_STMT = spec({ portalname: S, options: S, query: X });
const F_CLOSE_PORTAL_STMT = spec({ portalname: S });
const F_FETCH_STMT = spec({ direction: S, howMany: S, portalname: S, ismove: S });
const F_CONSTRAINTS_SET_STMT = spec({ constraints: S, deferred: S });
const F_CREATE_TABLE_AS_STMT = spec({ query: X, into: X, objtype: S, is_select_into: S, if_not_exists: S });
const F_VIEW_STMT = spec({ view: X, aliases: S, query: X, replace: S, options: L, withCheckOption: S });
const F_CREATE_SCHEMA_STMT = spec({ schemaname: S, authrole: S, schemaElts: X, if_not_exists: S });
const F_RULE_STMT = spec({ relation: X, rulename: S, whereClause: N, event: S, instead: S, actions: X, replace: S });
const F_VACUUM_RELATION = spec({ relation: X, oid: S, va_cols: S });

const STMT: ReadonlyMap<string, StmtHandler> = new Map<string, StmtHandler>([
  ['SelectStmt', selectStmt],
  ['InsertStmt', insertStmt],
  ['UpdateStmt', updateStmt],
  ['DeleteStmt', deleteStmt],
  ['MergeStmt', mergeStmt],
  ['CopyStmt', copyStmt],
  ['ExplainStmt', (st, b) => {
    walkFields(st, 'ExplainStmt', b, F_EXPLAIN_STMT, null, null);
    // EXPLAIN ANALYZE runs the statement; plain EXPLAIN is treated the same (safest, and the
    // ANALYZE option's value is a literal the shape cache would not see).
    stmtAny(st, b.query, null, false);
    return [{ name: 'QUERY PLAN', src: CONSTANT }];
  }],
  ['PrepareStmt', (st, b, _o, want) => {
    walkFields(st, 'PrepareStmt', b, F_PREPARE_STMT, null, null);
    st.prepares = b.name ?? '';
    effect(st, { kind: 'prepare', name: b.name ?? '' });
    return stmtAny(st, b.query, null, want);
  }],
  ['ExecuteStmt', (st, b) => {
    walkFields(st, 'ExecuteStmt', b, F_EXECUTE_STMT, null, null);
    st.executes = b.name ?? '';
    return null;
  }],
  ['DeallocateStmt', (st, b) => {
    walkFields(st, 'DeallocateStmt', b, F_DEALLOCATE_STMT, null, null);
    effect(st, { kind: 'deallocate', name: b.isall === true ? null : (b.name ?? null) });
    return null;
  }],
  ['DoStmt', (st, b) => {
    walkFields(st, 'DoStmt', b, F_DO_STMT, null, null);
    // An anonymous code block runs arbitrary procedural code: a CALL of the pseudo-function
    // pg_catalog.do, which a policy must name to allow (see README).
    st.cacheable = false;
    access(st, 'CALL', { schema: 'pg_catalog', name: 'do' }, 'function');
    return null;
  }],
  ['CallStmt', (st, b) => {
    walkFields(st, 'CallStmt', b, F_CALL_STMT, null, null);
    return [{ name: null, src: OPAQUE }]; // OUT parameters come back as a row
  }],
  ['TransactionStmt', (st, b) => {
    walkFields(st, 'TransactionStmt', b, F_TRANSACTION_STMT, null, null);
    st.transaction = true;
    if (b.kind === 'TRANS_STMT_PREPARE' || b.kind === 'TRANS_STMT_COMMIT_PREPARED' || b.kind === 'TRANS_STMT_ROLLBACK_PREPARED') {
      bad(st, 'two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) is not supported');
    }
    return null;
  }],
  ['VariableSetStmt', (st, b) => variableSet(st, b)],
  ['VariableShowStmt', (st, b) => {
    checkFields(st, 'VariableShowStmt', b, F_VARIABLE_SHOW_STMT);
    const hidden = typeof b.name === 'string' ? hiddenSetting(b.name) : null;
    if (hidden !== null) bad(st, hidden);
    return [{ name: b.name ?? null, src: CONSTANT }];
  }],
  ['DiscardStmt', (st, b) => {
    checkFields(st, 'DiscardStmt', b, F_DISCARD_STMT);
    effect(st, { kind: 'discard' });
    if (b.target === 'DISCARD_ALL') {
      // DISCARD ALL = RESET ALL + DEALLOCATE ALL + UNLISTEN * + … (PostgreSQL docs, DISCARD)
      effect(st, { kind: 'reset', name: null });
      effect(st, { kind: 'deallocate', name: null });
      effect(st, { kind: 'unlisten' });
    }
    return null;
  }],
  ['ListenStmt', (st, b) => { checkFields(st, 'ListenStmt', b, F_LISTEN_STMT); effect(st, { kind: 'listen' }); return null; }],
  ['UnlistenStmt', (st, b) => { checkFields(st, 'UnlistenStmt', b, F_UNLISTEN_STMT); effect(st, { kind: 'unlisten' }); return null; }],
  ['NotifyStmt', (st, b) => {
    checkFields(st, 'NotifyStmt', b, F_NOTIFY_STMT);
    effect(st, { kind: 'notify' });
    access(st, 'NOTIFY', { schema: null, name: b.conditionname ?? '' }, 'channel');
    return null;
  }],
  ['DeclareCursorStmt', (st, b, _o, want) => {
    checkFields(st, 'DeclareCursorStmt', b, F_DECLARE_CURSOR_STMT);
    return stmtAny(st, b.query, null, want);
  }],
  ['ClosePortalStmt', (st, b) => { checkFields(st, 'ClosePortalStmt', b, F_CLOSE_PORTAL_STMT); return null; }],
  ['FetchStmt', (st, b) => { checkFields(st, 'FetchStmt', b, F_FETCH_STMT); return null; }],
  ['ConstraintsSetStmt', (st, b) => { checkFields(st, 'ConstraintsSetStmt', b, F_CONSTRAINTS_SET_STMT); return null; }],
  // --- DDL
  ddl('CreateStmt', {
    relation: X, tableElts: L, inhRelations: X, partbound: 'PartitionBoundSpec', partspec: 'PartitionSpec',
    ofTypename: 'TypeName', constraints: L, nnconstraints: L, options: L, oncommit: S, tablespacename: S,
    accessMethod: S, if_not_exists: S,
  }, (st, b) => {
    createdRel(st, b.relation);
    // INHERITS / PARTITION OF: the parent's scans start returning the new table's rows
    rangeVarsTarget('inhRelations', 'DDL')(st, b);
  }),
  ['CreateTableAsStmt', (st, b) => {
    walkFields(st, 'CreateTableAsStmt', b, F_CREATE_TABLE_AS_STMT, null, null);
    walkFields(st, 'IntoClause', b.into, INTO, null, null);
    createdRel(st, b.into.rel);
    writtenFrom(st, stmtAny(st, b.query, null, true));
    return null;
  }],
  ['ViewStmt', (st, b) => {
    walkFields(st, 'ViewStmt', b, F_VIEW_STMT, null, null);
    createdRel(st, b.view);
    // the view's query is reported as this statement's reads: a view cannot launder a SELECT; and its
    // outputs count as stored values, so it cannot launder masking either (reads of the view carry the
    // view's OID, not the masked table's)
    writtenFrom(st, stmtAny(st, b.query, null, true));
    return null;
  }],
  ddl('IndexStmt', {
    idxname: S, relation: X, accessMethod: S, tableSpace: S, indexParams: L, indexIncludingParams: L, options: L,
    whereClause: N, excludeOpNames: S, idxcomment: S, indexOid: S, oldNumber: S, oldCreateSubid: S,
    oldFirstRelfilelocatorSubid: S, unique: S, nulls_not_distinct: S, primary: S, isconstraint: S,
    iswithoutoverlaps: S, deferrable: S, initdeferred: S, transformed: S, concurrent: S, if_not_exists: S,
    reset_default_tblspc: S,
  }, (st, b) => { targetRel(st, b.relation, 'DDL'); }),
  ddl('AlterTableStmt', { relation: X, cmds: L, objtype: S, missing_ok: S }, (st, b) => {
    const rel = targetRel(st, b.relation, 'DDL');
    for (const c of Array.isArray(b.cmds) ? b.cmds : []) {
      if (c.AlterTableCmd?.subtype === 'AT_ChangeOwner') access(st, 'GRANT', rel, 'relation');
    }
  }),
  ddl('CreateFunctionStmt', {
    is_procedure: S, replace: S, funcname: X, parameters: L, returnType: 'TypeName', options: L, sql_body: S,
  }, (st, b) => {
    st.cacheable = false; // the body is code inside a string
    namesTarget('funcname', 'function')(st, b);
  }),
  ddl('AlterFunctionStmt', { objtype: S, func: X, actions: L }, (st, b) => {
    objectAccess(st, 'DDL', b.objtype, { ObjectWithArgs: b.func }, 'ALTER');
  }),
  ['CreateSchemaStmt', (st, b) => {
    walkFields(st, 'CreateSchemaStmt', b, F_CREATE_SCHEMA_STMT, null, null);
    const schema: string = b.schemaname ?? b.authrole?.rolename ?? '';
    access(st, 'DDL', { schema, name: '*' }, 'relation');
    if (b.authrole !== undefined) access(st, 'GRANT', { schema, name: '*' }, 'relation');
    // sub-commands run with search_path set to the new schema (CreateSchemaCommand)
    const saved = st.defaultSchema;
    st.defaultSchema = schema;
    for (const e of Array.isArray(b.schemaElts) ? b.schemaElts : []) stmtAny(st, e, null, false);
    st.defaultSchema = saved;
    return null;
  }],
  ddl('CreateSeqStmt', { sequence: X, options: L, ownerId: S, for_identity: S, if_not_exists: S }, (st, b) => { createdRel(st, b.sequence); }),
  ddl('AlterSeqStmt', { sequence: X, options: L, for_identity: S, missing_ok: S }, (st, b) => { targetRel(st, b.sequence, 'DDL'); }),
  ddl('DefineStmt', { kind: S, oldstyle: S, defnames: X, args: L, definition: L, if_not_exists: S, replace: S }, (st, b) => {
    namesTarget('defnames', b.kind === 'OBJECT_AGGREGATE' ? 'function' : 'relation')(st, b);
  }),
  ddl('CreateDomainStmt', { domainname: X, typeName: 'TypeName', collClause: 'CollateClause', constraints: L }, namesTarget('domainname')),
  ddl('CompositeTypeStmt', { typevar: X, coldeflist: L }, (st, b) => { targetRel(st, b.typevar, 'DDL'); }),
  ddl('CreateEnumStmt', { typeName: X, vals: S }, namesTarget('typeName')),
  ddl('CreateRangeStmt', { typeName: X, params: L }, namesTarget('typeName')),
  ddl('AlterEnumStmt', {
    typeName: X, oldVal: S, newVal: S, newValNeighbor: S, newValIsAfter: S, skipIfNewValExists: S,
  }, namesTarget('typeName')),
  ddl('AlterTypeStmt', { typeName: X, options: L }, namesTarget('typeName')),
  ddl('AlterDomainStmt', { subtype: S, typeName: X, name: S, def: N, behavior: S, missing_ok: S }, namesTarget('typeName')),
  ddl('CreateExtensionStmt', { extname: S, if_not_exists: S, options: L }, (st, b) => {
    access(st, 'DDL', { schema: null, name: b.extname ?? '' }, 'relation');
  }),
  ddl('AlterExtensionStmt', { extname: S, options: L }, (st, b) => {
    access(st, 'DDL', { schema: null, name: b.extname ?? '' }, 'relation');
  }),
  ddl('AlterExtensionContentsStmt', { extname: S, action: S, objtype: S, object: X }, (st, b) => {
    access(st, 'DDL', { schema: null, name: b.extname ?? '' }, 'relation');
    objectAccess(st, 'DDL', b.objtype, b.object, 'ALTER EXTENSION');
  }),
  ddl('CreateTrigStmt', {
    replace: S, isconstraint: S, trigname: S, relation: X, funcname: X, args: S, row: S, timing: S, events: S,
    columns: S, whenClause: N, transitionRels: L, deferrable: S, initdeferred: S, constrrel: X,
  }, (st, b) => {
    targetRel(st, b.relation, 'DDL');
    if (b.constrrel !== undefined) targetRel(st, b.constrrel, 'DDL');
    // the trigger function will run on every matching change: creating it calls it
    const f = relFromParts(strings(b.funcname), null);
    if (f !== null) access(st, 'CALL', f, 'function');
  }),
  ['RuleStmt', (st, b) => {
    walkFields(st, 'RuleStmt', b, F_RULE_STMT, null, null);
    targetRel(st, b.relation, 'DDL');
    // rule actions run later, on every matching event: their accesses are this statement's too
    sideways(st, () => {
      for (const a of Array.isArray(b.actions) ? b.actions : []) stmtAny(st, a, null, false);
    });
    return null;
  }],
  ddl('CreatePolicyStmt', {
    policy_name: S, table: X, cmd_name: S, permissive: S, roles: S, qual: N, with_check: N,
  }, (st, b) => { targetRel(st, b.table, 'DDL'); }),
  ddl('AlterPolicyStmt', { policy_name: S, table: X, roles: S, qual: N, with_check: N }, (st, b) => { targetRel(st, b.table, 'DDL'); }),
  ddl('CreateStatsStmt', {
    defnames: S, stat_types: S, exprs: L, relations: X, stxcomment: S, transformed: S, if_not_exists: S,
  }, rangeVarsTarget('relations', 'DDL')),
  ddl('AlterStatsStmt', { defnames: X, stxstattarget: N, missing_ok: S }, namesTarget('defnames')),
  ddl('CommentStmt', { objtype: S, object: X, comment: S }, (st, b) => {
    objectAccess(st, 'DDL', b.objtype, b.object, 'COMMENT');
  }),
  ddl('RenameStmt', {
    renameType: S, relationType: S, relation: X, object: X, subname: S, newname: S, behavior: S, missing_ok: S,
  }, (st, b) => {
    if (b.relation !== undefined) {
      const rel = targetRel(st, b.relation, 'DDL');
      // renaming into a name is creating it: the new name must be allowed too
      if (RELATION_TYPES.has(b.renameType)) access(st, 'DDL', { schema: rel.schema, name: b.newname ?? '' }, 'relation');
      return;
    }
    if (b.renameType === 'OBJECT_SCHEMA') {
      access(st, 'DDL', { schema: b.subname ?? '', name: '*' }, 'relation');
      access(st, 'DDL', { schema: b.newname ?? '', name: '*' }, 'relation');
      return;
    }
    if (b.renameType === 'OBJECT_ROLE') { access(st, 'GRANT', catalog('pg_authid'), 'relation'); return; }
    const o = b.object === undefined ? null : objectName(st, b.renameType, b.object);
    if (o === null) { bad(st, `ALTER … RENAME on ${noun(b.renameType).toLowerCase()} objects is not supported`); return; }
    access(st, 'DDL', o.rel, o.kind);
    if (b.renameType === 'OBJECT_SCHEMA') access(st, 'DDL', { schema: b.newname ?? '', name: '*' }, 'relation');
    else access(st, 'DDL', { schema: o.rel.schema, name: b.newname ?? '' }, o.kind);
  }),
  ddl('AlterObjectSchemaStmt', { objectType: S, relation: X, object: X, newschema: S, missing_ok: S }, (st, b) => {
    const o = b.relation !== undefined
      ? { rel: targetRel(st, b.relation, 'DDL'), kind: 'relation' as const }
      : objectName(st, b.objectType, b.object);
    if (o === null) { bad(st, `ALTER … SET SCHEMA on ${noun(b.objectType).toLowerCase()} objects is not supported`); return; }
    access(st, 'DDL', o.rel, o.kind);
    access(st, 'DDL', { schema: b.newschema ?? '', name: o.rel.name }, o.kind);
  }),
  ddl('AlterOwnerStmt', { objectType: S, relation: X, object: X, newowner: S }, (st, b) => {
    const o = b.relation !== undefined
      ? { rel: targetRel(st, b.relation, 'DDL'), kind: 'relation' as const }
      : objectName(st, b.objectType, b.object);
    if (o === null) { bad(st, `ALTER … OWNER on ${noun(b.objectType).toLowerCase()} objects is not supported`); return; }
    access(st, 'DDL', o.rel, o.kind);
    access(st, 'GRANT', o.rel, o.kind); // the owner holds every privilege
  }),
  ddl('AlterObjectDependsStmt', { objectType: S, relation: X, object: X, extname: S, remove: S }, (st, b) => {
    if (b.relation !== undefined) targetRel(st, b.relation, 'DDL');
    else objectAccess(st, 'DDL', b.objectType, b.object, 'ALTER … DEPENDS ON EXTENSION');
  }),
  ddl('DropStmt', { objects: X, removeType: S, behavior: S, missing_ok: S, concurrent: S }, (st, b) => {
    // CASCADE may drop more than named; the named objects are what the policy can check
    for (const o of Array.isArray(b.objects) ? b.objects : []) objectAccess(st, 'DROP', b.removeType, o, 'DROP');
  }),
  ddl('TruncateStmt', { relations: X, restart_seqs: S, behavior: S }, rangeVarsTarget('relations', 'TRUNCATE')),
  ddl('RefreshMatViewStmt', { concurrent: S, skipData: S, relation: X }, (st, b) => { targetRel(st, b.relation, 'DDL'); }),
  ddl('VacuumStmt', { options: L, rels: X, is_vacuumcmd: S }, (st, b) => {
    const rels: Raw[] = Array.isArray(b.rels) ? b.rels : [];
    if (rels.length === 0) access(st, 'DDL', ALL_RELATIONS, 'relation');
    for (const r of rels) {
      const v = r.VacuumRelation;
      if (v === undefined) { bad(st, `${keyOf(r)} is not supported in VACUUM`); continue; }
      checkFields(st, 'VacuumRelation', v, F_VACUUM_RELATION);
      targetRel(st, v.relation, 'DDL');
    }
  }),
  ddl('ClusterStmt', { relation: X, indexname: S, params: L }, (st, b) => {
    if (b.relation !== undefined) targetRel(st, b.relation, 'DDL');
    else access(st, 'DDL', ALL_RELATIONS, 'relation');
  }),
  ddl('ReindexStmt', { kind: S, relation: X, name: S, params: L }, (st, b) => {
    if (b.relation !== undefined) targetRel(st, b.relation, 'DDL');
    else if (b.kind === 'REINDEX_OBJECT_SCHEMA') access(st, 'DDL', { schema: b.name ?? '', name: '*' }, 'relation');
    else access(st, 'DDL', ALL_RELATIONS, 'relation');
  }),
  // LOCK blocks other sessions; it is treated as DDL (see README)
  ddl('LockStmt', { relations: X, mode: S, nowait: S }, rangeVarsTarget('relations', 'DDL')),
  ddl('GrantStmt', {
    is_grant: S, targtype: S, objtype: S, objects: X, privileges: L, grantees: L, grant_option: S, grantor: S, behavior: S,
  }, grantStmt),
  ddl('GrantRoleStmt', { granted_roles: S, grantee_roles: S, is_grant: S, opt: L, grantor: S, behavior: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
  }),
  ddl('AlterDefaultPrivilegesStmt', { options: L, action: X }, (st, b) => {
    walkFields(st, 'GrantStmt', b.action, GRANT, null, null);
    let schemas = false;
    for (const o of Array.isArray(b.options) ? b.options : []) {
      if (o.DefElem?.defname !== 'schemas') continue;
      for (const s of strings(o.DefElem.arg?.List?.items)) { access(st, 'GRANT', { schema: s, name: '*' }, 'relation'); schemas = true; }
    }
    if (!schemas) access(st, 'GRANT', catalog('pg_default_acl'), 'relation');
  }),
  ddl('CreateRoleStmt', { stmt_type: S, role: S, options: L }, (st) => { access(st, 'GRANT', catalog('pg_authid'), 'relation'); }),
  ddl('AlterRoleStmt', { role: S, options: L, action: S }, (st) => { access(st, 'GRANT', catalog('pg_authid'), 'relation'); }),
  ddl('AlterRoleSetStmt', { role: S, database: S, setstmt: S }, (st) => { access(st, 'GRANT', catalog('pg_authid'), 'relation'); }),
  ddl('DropRoleStmt', { roles: S, missing_ok: S }, (st) => { access(st, 'GRANT', catalog('pg_authid'), 'relation'); }),
  ddl('DropOwnedStmt', { roles: S, behavior: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
    access(st, 'DROP', ALL_RELATIONS, 'relation'); // drops whatever the roles own
  }),
  ddl('ReassignOwnedStmt', { roles: S, newrole: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
    access(st, 'GRANT', ALL_RELATIONS, 'relation');
  }),
  ddl('AlterCollationStmt', { collname: X }, namesTarget('collname')),
  ddl('CreateOpClassStmt', { opclassname: X, opfamilyname: S, amname: S, datatype: 'TypeName', items: L, isDefault: S }, namesTarget('opclassname')),
  ddl('CreateOpFamilyStmt', { opfamilyname: X, amname: S }, namesTarget('opfamilyname')),
  ddl('AlterOpFamilyStmt', { opfamilyname: X, amname: S, isDrop: S, items: L }, namesTarget('opfamilyname')),
  ddl('AlterOperatorStmt', { opername: X, options: L }, (st, b) => { objectAccess(st, 'DDL', 'OBJECT_OPERATOR', { ObjectWithArgs: b.opername }, 'ALTER OPERATOR'); }),
  ddl('AlterTSDictionaryStmt', { dictname: X, options: L }, namesTarget('dictname')),
  ddl('AlterTSConfigurationStmt', {
    kind: S, cfgname: X, tokentype: S, dicts: S, override: S, replace: S, missing_ok: S,
  }, namesTarget('cfgname')),
  // --- refused whatever the policy says: server-wide, superuser-only or outside-the-database effects
  unsupported('LoadStmt', 'LOAD (loading a shared library into the server) is not allowed'),
  unsupported('AlterSystemStmt', 'ALTER SYSTEM is not allowed'),
  unsupported('CreatedbStmt', 'CREATE DATABASE is not allowed'),
  unsupported('DropdbStmt', 'DROP DATABASE is not allowed'),
  unsupported('AlterDatabaseStmt', 'ALTER DATABASE is not allowed'),
  unsupported('AlterDatabaseSetStmt', 'ALTER DATABASE is not allowed'),
  unsupported('AlterDatabaseRefreshCollStmt', 'ALTER DATABASE is not allowed'),
  unsupported('CheckPointStmt', 'CHECKPOINT is not allowed'),
  unsupported('CreateTableSpaceStmt', 'tablespace statements are not allowed'),
  unsupported('DropTableSpaceStmt', 'tablespace statements are not allowed'),
  unsupported('AlterTableSpaceOptionsStmt', 'tablespace statements are not allowed'),
  unsupported('AlterTableMoveAllStmt', 'tablespace statements are not allowed'),
  unsupported('SecLabelStmt', 'SECURITY LABEL is not supported'),
  unsupported('CreateFdwStmt', 'foreign-data wrapper statements are not allowed'),
  unsupported('AlterFdwStmt', 'foreign-data wrapper statements are not allowed'),
  unsupported('CreateForeignServerStmt', 'CREATE SERVER is not allowed'),
  unsupported('AlterForeignServerStmt', 'ALTER SERVER is not allowed'),
  unsupported('CreateForeignTableStmt', 'CREATE FOREIGN TABLE is not allowed'),
  unsupported('CreateUserMappingStmt', 'user mapping statements are not allowed'),
  unsupported('AlterUserMappingStmt', 'user mapping statements are not allowed'),
  unsupported('DropUserMappingStmt', 'user mapping statements are not allowed'),
  unsupported('ImportForeignSchemaStmt', 'IMPORT FOREIGN SCHEMA is not allowed'),
  unsupported('CreatePublicationStmt', 'publication statements are not allowed'),
  unsupported('AlterPublicationStmt', 'publication statements are not allowed'),
  unsupported('CreateSubscriptionStmt', 'subscription statements are not allowed'),
  unsupported('AlterSubscriptionStmt', 'subscription statements are not allowed'),
  unsupported('DropSubscriptionStmt', 'subscription statements are not allowed'),
  unsupported('CreateEventTrigStmt', 'event trigger statements are not allowed'),
  unsupported('AlterEventTrigStmt', 'event trigger statements are not allowed'),
  unsupported('CreateAmStmt', 'CREATE ACCESS METHOD is not allowed'),
  unsupported('CreatePLangStmt', 'CREATE LANGUAGE is not allowed'),
  unsupported('CreateCastStmt', 'CREATE CAST is not supported'),
  unsupported('CreateTransformStmt', 'CREATE TRANSFORM is not supported'),
  unsupported('CreateConversionStmt', 'CREATE CONVERSION is not supported'),
]);

const RELATION_TYPES = new Set([
  'OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_INDEX', 'OBJECT_SEQUENCE', 'OBJECT_FOREIGN_TABLE',
]);

/** Run a top-level statement's handler. */
export function walkTop(st: St, type: string, body: Raw): Out[] | null {
  return stmtAny(st, { [type]: body }, null, true);
}
