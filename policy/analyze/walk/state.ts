// The walker's state and the helpers every part uses: the field-list markers, the scope of one query level,
// recording accesses and session effects, the RangeVar a statement acts on, the nesting guard.
// Part of the statement walker (../walk.ts); raw parse trees are untyped JSON from the parser: `Raw` is
// `any` on purpose and every read of it is guarded by the field lists.

import type { Access, ColumnSource, ConcreteOperation, RelName, SessionEffect, StatementFacts } from '../../types.ts';
import type { Out } from '../lineage.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Raw = any;

export const S = 0; // scalar / names: ignored
export const N = 1; // one wrapped child node: walked as an expression
export const L = 2; // list of wrapped child nodes: walked as expressions
export const X = 3; // handled by the handler's own code
export type Field = typeof S | typeof N | typeof L | typeof X | string;
export type Spec = ReadonlyMap<string, Field>;
export const spec = (fieldList: Record<string, Field>): Spec => new Map(Object.entries(fieldList));

/** Deepest nesting walked; PostgreSQL's own limit is max_stack_depth, far below this in practice. */
const MAX_DEPTH = 1000;

export interface CteEntry {
  readonly name: string;
  outs: Out[] | null;
}

/** One query level: its FROM items (column resolution) and the CTEs its WITH declares. */
export interface Scope {
  readonly parent: Scope | null;
  readonly items: Item[];
  ctes: CteEntry[] | null;
}

/** A FROM item as column references see it. */
export interface Item {
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

/** Walks one node body in expression position; with `want`, returns where its value comes from. */
export type Handler = (st: WalkState, body: Raw, scope: Scope | null, want: boolean) => ColumnSource | null;
/** Walks one statement body; with `want`, returns its outputs. */
export type StmtHandler = (st: WalkState, body: Raw, outer: Scope | null, want: boolean) => Out[] | null;

/** The handler tables, by node type (walk/expression-table.ts, walk/statement-table.ts). */
export interface Handlers {
  readonly expressions: ReadonlyMap<string, Handler>;
  readonly statements: ReadonlyMap<string, StmtHandler>;
}

export interface WalkState {
  /** What the walker dispatches through: the same tables for every statement. */
  readonly handlers: Handlers;
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

export function newState(handlers: Handlers): WalkState {
  return {
    handlers,
    accesses: [],
    seen: new Set(),
    unsupported: [],
    effects: [],
    unfiltered: false,
    writes: false,
    cacheable: true,
    transaction: false,
    executes: null,
    prepares: null,
    copyTo: null,
    defaultSchema: null,
    depth: 0,
    unstable: false,
    written: [],
    notified: [],
  };
}

export function bad(st: WalkState, reason: string): void {
  if (!st.unsupported.includes(reason)) st.unsupported.push(reason);
}

export function access(st: WalkState, operation: ConcreteOperation, relation: RelName, kind: Access['kind']): void {
  const key = `${operation}\u0000${kind}\u0000${relation.schema ?? '\u0001'}\u0000${relation.name}`;
  if (st.seen.has(key)) return;
  st.seen.add(key);
  st.accesses.push({ operation, relation, kind });
}

export function effect(st: WalkState, e: SessionEffect): void {
  const key = JSON.stringify(e);
  for (const recorded of st.effects) if (JSON.stringify(recorded) === key) return;
  st.effects.push(e);
}

export function keyOf(node: Raw): string | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  for (const key in node) return key;
  return undefined;
}

export function checkFields(st: WalkState, type: string, body: Raw, fields: Spec): void {
  for (const fieldName in body) if (!fields.has(fieldName)) bad(st, `unexpected field ${type}.${fieldName}`);
}

export function strings(list: Raw): string[] {
  const out: string[] = [];
  if (!Array.isArray(list)) return out;
  for (const entry of list) if (entry?.String) out.push(entry.String.sval ?? '');
  return out;
}

export function relOfRangeVar(st: WalkState, rv: Raw): RelName {
  return { schema: rv.schemaname ?? st.defaultSchema, name: rv.relname ?? '' };
}

export const RANGE_VAR = spec({
  catalogname: S,
  schemaname: S,
  relname: S,
  inh: S,
  relpersistence: S,
  alias: X,
  location: S,
});
const ALIAS = spec({ aliasname: S, colnames: S });

/** A RangeVar that names a relation the statement acts on (never a CTE: DML targets ignore WITH). */
export function targetRel(st: WalkState, rv: Raw, op: ConcreteOperation): RelName {
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
export function alsoOnSearchPath(st: WalkState, rv: Raw, op: ConcreteOperation): void {
  if (st.defaultSchema !== null && rv.schemaname === undefined)
    access(st, op, { schema: null, name: rv.relname ?? '' }, 'relation');
}

/** The relation a CREATE makes: inside CREATE SCHEMA it is created in that schema, nowhere else. */
export function createdRel(st: WalkState, rv: Raw): RelName {
  checkFields(st, 'RangeVar', rv, RANGE_VAR);
  const rel = relOfRangeVar(st, rv);
  access(st, 'DDL', rel, 'relation');
  return rel;
}

export function enter(st: WalkState): boolean {
  if (++st.depth > MAX_DEPTH) {
    bad(st, `statement nests deeper than ${MAX_DEPTH} levels`);
    return false;
  }
  return true;
}

export function newScope(parent: Scope | null): Scope {
  return { parent, items: [], ctes: null };
}

export function item(partial: Partial<Item>): Item {
  return {
    alias: partial.alias ?? null,
    rel: partial.rel ?? null,
    colAliases: partial.colAliases ?? null,
    outs: partial.outs ?? null,
    cte: partial.cte ?? null,
    fn: partial.fn ?? null,
    children: partial.children ?? null,
  };
}

export function aliasOf(st: WalkState, a: Raw): { name: string | null; cols: string[] | null } {
  if (a === undefined) return { name: null, cols: null };
  checkFields(st, 'Alias', a, ALIAS);
  const cols = strings(a.colnames);
  return { name: a.aliasname ?? null, cols: cols.length > 0 ? cols : null };
}
