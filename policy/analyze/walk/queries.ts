// Queries: SELECT (set operations, VALUES, target lists and `*`), WITH and recursive CTEs, row locking.

import type { ColumnSource, RelName } from '../../types.ts';
import { addLeaves, derivedOf, hasStar, OPAQUE, relationsOf, signature, type Out } from '../lineage.ts';
import { type Raw, S, N, L, X, spec, type CteEntry, type Scope, type Item, type St, bad, access, keyOf, checkFields, strings, targetRel, enter, newScope } from './state.ts';
import { expr, walkFields, writtenFrom, stmtAny } from './dispatch.ts';
import { COLUMN_REF, findItem, rename } from './scope.ts';
import { fromItem } from './from.ts';

/** Rounds for recursive-CTE lineage to reach its fixpoint before giving up with `opaque`. */
const MAX_CTE_ROUNDS = 8;

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
export function withScope(st: St, w: Raw, outer: Scope | null): Scope {
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

const SELECT = spec({
  distinctClause: L, intoClause: X, targetList: X, fromClause: X, whereClause: N, groupClause: L, groupDistinct: S,
  havingClause: N, windowClause: L, valuesLists: X, sortClause: L, limitOffset: N, limitCount: N, limitOption: S,
  lockingClause: X, withClause: X, op: S, all: S, larg: X, rarg: X,
});
export const INTO = spec({
  rel: X, colNames: S, accessMethod: S, options: L, onCommit: S, tableSpaceName: S, viewQuery: S, skipData: S,
});
const LOCKING = spec({ lockedRels: X, strength: S, waitPolicy: S });

export function selectStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
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
export function targetList(st: St, list: Raw, sc: Scope, want: boolean): Out[] | null {
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
