// Queries: SELECT (set operations, VALUES, target lists and `*`), WITH and recursive CTEs, row locking.

import type { ColumnSource, RelName } from '../../types.ts';
import { addLeaves, derivedOf, hasStar, OPAQUE, relationsOf, signature, type Out } from '../lineage.ts';
import {
  type Raw,
  S,
  N,
  L,
  X,
  spec,
  type CteEntry,
  type Scope,
  type Item,
  type WalkState,
  bad,
  access,
  keyOf,
  checkFields,
  strings,
  targetRel,
  enter,
  newScope,
} from './state.ts';
import { expr, walkFields, writtenFrom, stmtAny } from './dispatch.ts';
import { COLUMN_REF, findItem, rename } from './scope.ts';
import { fromItem } from './from.ts';

/** Rounds for recursive-CTE lineage to reach its fixpoint before giving up with `opaque`. */
const MAX_CTE_ROUNDS = 8;

const WITH_CLAUSE = spec({ ctes: X, recursive: S, location: S });
const CTE = spec({
  ctename: S,
  aliascolnames: S,
  ctematerialized: S,
  ctequery: X,
  search_clause: 'CTESearchClause',
  cycle_clause: 'CTECycleClause',
  location: S,
  cterecursive: S,
  cterefcount: S,
  ctecolnames: S,
  ctecoltypes: S,
  ctecoltypmods: S,
  ctecolcollations: S,
});

/**
 * WITH: a scope level holding the CTEs. Without RECURSIVE a CTE sees only the ones before it (a
 * CTE body naming itself reads the real table of that name); with RECURSIVE all of them, so their
 * lineage is iterated to a fixpoint. Every CTE body is reported, referenced or not (DML in WITH
 * runs regardless).
 */
export function withScope(st: WalkState, withClause: Raw, outer: Scope | null): Scope {
  checkFields(st, 'WithClause', withClause, WITH_CLAUSE);
  const scope: Scope = { parent: outer, items: [], ctes: [] };
  const list: Raw[] = Array.isArray(withClause.ctes) ? withClause.ctes : [];
  const bodies: Raw[] = [];
  for (const entry of list) {
    if (entry.CommonTableExpr === undefined) {
      bad(st, `${keyOf(entry)} is not supported in WITH`);
      continue;
    }
    const cte = entry.CommonTableExpr;
    walkFields(st, 'CommonTableExpr', cte, CTE, scope, null);
    bodies.push(cte);
  }
  if (withClause.recursive !== true) {
    for (const cte of bodies) {
      const outs = stmtAny(st, cte.ctequery, scope, true);
      scope.ctes!.push({ name: cte.ctename ?? '', outs: rename(outs, cte.aliascolnames) });
    }
    return scope;
  }
  const entries: CteEntry[] = bodies.map((cte) => ({ name: cte.ctename ?? '', outs: null }));
  scope.ctes = entries;
  const saved = st.unstable;
  let prev = '';
  let converged = false;
  for (let round = 0; round < MAX_CTE_ROUNDS; round++) {
    st.unstable = false;
    for (let i = 0; i < bodies.length; i++) {
      entries[i]!.outs = rename(stmtAny(st, bodies[i].ctequery, scope, true), bodies[i].aliascolnames);
    }
    const sig = entries.map((entry) => signature(entry.outs)).join('\u0000');
    if ((round === 0 && !st.unstable) || sig === prev) {
      converged = true;
      break;
    }
    prev = sig;
  }
  st.unstable = saved;
  if (!converged) {
    for (const entry of entries) entry.outs = (entry.outs ?? []).map((output) => ({ name: output.name, src: OPAQUE }));
  }
  return scope;
}

const SELECT = spec({
  distinctClause: L,
  intoClause: X,
  targetList: X,
  fromClause: X,
  whereClause: N,
  groupClause: L,
  groupDistinct: S,
  havingClause: N,
  windowClause: L,
  valuesLists: X,
  sortClause: L,
  limitOffset: N,
  limitCount: N,
  limitOption: S,
  lockingClause: X,
  withClause: X,
  op: S,
  all: S,
  larg: X,
  rarg: X,
});
export const INTO = spec({
  rel: X,
  colNames: S,
  accessMethod: S,
  options: L,
  onCommit: S,
  tableSpaceName: S,
  viewQuery: S,
  skipData: S,
});
const LOCKING = spec({ lockedRels: X, strength: S, waitPolicy: S });

export function selectStmt(st: WalkState, body: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = body.withClause !== undefined ? withScope(st, body.withClause, outer) : outer;
  let outs: Out[] | null = null;
  const scope = newScope(base);
  if (body.op !== undefined && body.op !== 'SETOP_NONE') {
    const left = setArm(st, body.larg, base, want);
    const right = setArm(st, body.rarg, base, want);
    if (want) outs = setOpOutputs(left!, right!);
  } else if (body.valuesLists !== undefined) {
    outs = values(st, body.valuesLists, scope, want);
  } else {
    for (const fromNode of Array.isArray(body.fromClause) ? body.fromClause : []) fromItem(st, fromNode, scope, want);
    outs = targetList(st, body.targetList, scope, want);
  }
  walkFields(st, 'SelectStmt', body, SELECT, scope, null);
  if (Array.isArray(body.lockingClause)) {
    // FOR UPDATE/SHARE locks rows: PostgreSQL requires UPDATE privilege for it (SELECT docs, "The Locking Clause").
    for (const lockingNode of body.lockingClause) {
      const left = lockingNode.LockingClause;
      if (left === undefined) {
        bad(st, `${keyOf(lockingNode)} is not supported in a locking clause`);
        continue;
      }
      checkFields(st, 'LockingClause', left, LOCKING);
      const named = Array.isArray(left.lockedRels)
        ? left.lockedRels.map((right: Raw) => right.RangeVar?.relname)
        : null;
      lockItems(st, scope.items, named);
    }
  }
  if (body.intoClause !== undefined) {
    // SELECT INTO creates a table (PostgreSQL turns it into CREATE TABLE AS)
    checkFields(st, 'IntoClause', body.intoClause, INTO);
    walkFields(st, 'IntoClause', body.intoClause, INTO, scope, null);
    targetRel(st, body.intoClause.rel, 'DDL');
    writtenFrom(st, outs);
  }
  return outs;
}

function lockItems(st: WalkState, items: readonly Item[], named: readonly string[] | null): void {
  for (const it of items) {
    if (it.children !== null) {
      lockItems(st, it.children, named);
      continue;
    }
    if (it.rel === null) continue;
    if (named === null || (it.alias !== null && named.includes(it.alias))) access(st, 'UPDATE', it.rel, 'relation');
  }
}

function setArm(st: WalkState, arm: Raw, base: Scope | null, want: boolean): Out[] | null {
  if (arm === undefined || arm === null) {
    bad(st, 'set operation without an operand');
    return want ? [] : null;
  }
  if (!enter(st)) return want ? [{ name: null, src: OPAQUE }] : null;
  try {
    return selectStmt(st, arm, base, want);
  } finally {
    st.depth--;
  }
}

/** UNION/INTERSECT/EXCEPT: each position is derived from both arms. */
function setOpOutputs(left: Out[], right: Out[]): Out[] {
  if (hasStar(left) || hasStar(right) || left.length !== right.length) {
    // positions do not line up without the catalog: one star over everything either arm reads
    const leftReads = relationsOf(left);
    const rightReads = relationsOf(right);
    if (leftReads.opaque || rightReads.opaque) return [{ name: null, src: OPAQUE }];
    const relations = leftReads.relations.slice();
    for (const relation of rightReads.relations) {
      if (!relations.some((known) => known.name === relation.name && known.schema === relation.schema))
        relations.push(relation);
    }
    return [{ name: null, src: { kind: 'star', relations } }];
  }
  const res: Out[] = [];
  for (let i = 0; i < left.length; i++) {
    const acc: ColumnSource[] = [];
    addLeaves(acc, left[i]!.src);
    addLeaves(acc, right[i]!.src);
    res.push({ name: left[i]!.name, src: derivedOf(acc) });
  }
  return res;
}

function values(st: WalkState, rows: Raw, scope: Scope, want: boolean): Out[] | null {
  const cols: ColumnSource[][] = [];
  for (const row of Array.isArray(rows) ? rows : []) {
    const items: Raw[] = row.List?.items ?? [];
    if (row.List === undefined) bad(st, `${keyOf(row)} is not supported in VALUES`);
    for (let i = 0; i < items.length; i++) {
      const source = expr(st, items[i], scope, want);
      if (want && source !== null) {
        while (cols.length <= i) cols.push([]);
        addLeaves(cols[i]!, source);
      }
    }
  }
  if (!want) return null;
  return cols.map((column, i) => ({ name: `column${i + 1}`, src: derivedOf(column) }));
}

const RES_TARGET = spec({ name: S, indirection: L, val: X, location: S });

/** A SELECT list or RETURNING list: one output per entry, `*` expanded over the FROM items. */
export function targetList(st: WalkState, list: Raw, scope: Scope, want: boolean): Out[] | null {
  const outs: Out[] | null = want ? [] : null;
  for (const entry of Array.isArray(list) ? list : []) {
    const rt = entry.ResTarget;
    if (rt === undefined) {
      bad(st, `${keyOf(entry)} is not supported in a target list`);
      continue;
    }
    walkFields(st, 'ResTarget', rt, RES_TARGET, scope, null);
    const value = rt.val;
    const cr = value?.ColumnRef;
    if (
      cr !== undefined
      && Array.isArray(cr.fields)
      && cr.fields.length > 0
      && cr.fields[cr.fields.length - 1].A_Star !== undefined
    ) {
      checkFields(st, 'ColumnRef', cr, COLUMN_REF);
      if (outs !== null) starOutputs(st, scope, strings(cr.fields), outs);
      continue;
    }
    const ind = value?.A_Indirection;
    if (
      ind !== undefined
      && Array.isArray(ind.indirection)
      && ind.indirection[ind.indirection.length - 1]?.A_Star !== undefined
    ) {
      // (expr).* expands to several columns: a star over whatever the value reads
      const source = expr(st, value, scope, want);
      if (outs !== null && source !== null) {
        const reads = relationsOf([{ name: null, src: source }]);
        outs.push({ name: null, src: reads.opaque ? OPAQUE : { kind: 'star', relations: reads.relations } });
      }
      continue;
    }
    const valueSource = expr(st, value, scope, want);
    if (outs !== null) outs.push({ name: rt.name ?? figureName(value), src: valueSource ?? OPAQUE });
  }
  return outs;
}

/** `*` or `t.*` at the top of a target list. */
function starOutputs(st: WalkState, scope: Scope, qual: string[], outs: Out[]): void {
  let items: readonly Item[];
  if (qual.length === 0) {
    items = scope.items;
  } else {
    const named = findItem(scope, qual);
    if (named === null) {
      outs.push({ name: null, src: OPAQUE });
      return;
    }
    items = [named];
  }
  let pending: RelName[] | null = null;
  const flush = (): void => {
    if (pending !== null) {
      outs.push({ name: null, src: { kind: 'star', relations: pending } });
      pending = null;
    }
  };
  const visit = (it: Item): void => {
    if (it.rel !== null) {
      (pending ??= []).push(it.rel);
      return;
    }
    if (it.children !== null) {
      for (const child of it.children) visit(child);
      return;
    }
    flush();
    if (it.fn !== null) {
      const reads = relationsOf([{ name: null, src: it.fn }]);
      outs.push({ name: null, src: reads.opaque ? OPAQUE : { kind: 'star', relations: reads.relations } });
      return;
    }
    if (it.cte !== null && it.cte.outs === null) {
      st.unstable = true;
      return;
    }
    const itemOutputs = it.cte !== null ? it.cte.outs! : (it.outs ?? []);
    if (!hasStar(itemOutputs)) {
      for (const output of itemOutputs) outs.push(output);
      return;
    }
    const reads = relationsOf(itemOutputs);
    outs.push({ name: null, src: reads.opaque ? OPAQUE : { kind: 'star', relations: reads.relations } });
  };
  for (const entry of items) visit(entry);
  flush();
}

/** The output column name PostgreSQL would give an expression (FigureColname, parse_target.c), when simple. */
function figureName(value: Raw): string | null {
  const type = keyOf(value);
  if (type === undefined) return null;
  const body = value[type];
  switch (type) {
    case 'ColumnRef': {
      const n = strings(body.fields);
      return n.length > 0 && body.fields[body.fields.length - 1].String ? n[n.length - 1]! : null;
    }
    case 'FuncCall': {
      const n = strings(body.funcname);
      return n[n.length - 1] ?? null;
    }
    case 'TypeCast':
      return figureName(body.arg) ?? strings(body.typeName?.names).pop() ?? null;
    case 'CollateClause':
      return figureName(body.arg);
    case 'A_Indirection': {
      const ind: Raw[] = body.indirection ?? [];
      for (let i = ind.length - 1; i >= 0; i--) if (ind[i].String) return ind[i].String.sval;
      return figureName(body.arg);
    }
    case 'CaseExpr':
      return 'case';
    case 'CoalesceExpr':
      return 'coalesce';
    case 'A_ArrayExpr':
      return 'array';
    case 'RowExpr':
      return 'row';
    case 'MinMaxExpr':
      return body.op === 'IS_GREATEST' ? 'greatest' : 'least';
    case 'SubLink':
      return body.subLinkType === 'EXISTS_SUBLINK' ? 'exists' : body.subLinkType === 'ARRAY_SUBLINK' ? 'array' : null;
    default:
      return '?column?';
  }
}
