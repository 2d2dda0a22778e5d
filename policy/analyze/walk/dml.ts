// Data-changing statements: INSERT, UPDATE, DELETE and MERGE, their RETURNING, and the heuristic that finds
// a write without a filter (blockUnfilteredWrites).

import type { ConcreteOperation } from '../../types.ts';
import type { Out } from '../lineage.ts';
import { type Raw, S, N, L, X, spec, type Scope, type Item, type St, bad, access, keyOf, checkFields, strings, targetRel, newScope, item, aliasOf } from './state.ts';
import { expr, walkFields, writtenFrom, stmtAny } from './dispatch.ts';
import { withScope, targetList } from './queries.ts';
import { fromItem } from './from.ts';

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

export function insertStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
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

export function updateStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
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

export function deleteStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
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

export function mergeStmt(st: St, b: Raw, outer: Scope | null, want: boolean): Out[] | null {
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
