// Data-changing statements: INSERT, UPDATE, DELETE and MERGE, their RETURNING, and the heuristic that finds
// a write without a filter (blockUnfilteredWrites).

import type { ConcreteOperation } from '../../types.ts';
import type { Out } from '../lineage.ts';
import {
  type Raw,
  S,
  N,
  L,
  X,
  spec,
  type Scope,
  type Item,
  type WalkState,
  bad,
  access,
  keyOf,
  checkFields,
  strings,
  targetRel,
  newScope,
  item,
  aliasOf,
} from './state.ts';
import { expr, walkFields, writtenFrom, stmtAny } from './dispatch.ts';
import { withScope, targetList } from './queries.ts';
import { fromItem } from './from.ts';

/** Does this WHERE restrict the rows (heuristic for blockUnfilteredWrites)? */
function filters(node: Raw, targets: readonly string[]): boolean {
  const type = keyOf(node);
  if (type === undefined) return false;
  const body = node[type];
  if (type === 'BoolExpr') {
    const args: Raw[] = body.args ?? [];
    if (body.boolop === 'AND_EXPR') return args.some((arg) => filters(arg, targets));
    if (body.boolop === 'OR_EXPR') return args.every((arg) => filters(arg, targets));
    return args.length > 0 && filters(args[0], targets);
  }
  return refersToRows(node, targets, false);
}

/** A column of the statement's own rows (outside sub-queries: any; inside: only target-qualified ones). */
function refersToRows(tree: Raw, targets: readonly string[], inSub: boolean): boolean {
  if (tree === null || typeof tree !== 'object') return false;
  if (Array.isArray(tree)) return tree.some((child) => refersToRows(child, targets, inSub));
  for (const key in tree) {
    if (key === 'CurrentOfExpr') return true;
    if (key === 'ColumnRef') {
      if (!inSub) return true;
      const names = strings(tree[key].fields);
      if (names.length >= 2 && targets.includes(names[names.length - 2]!)) return true;
      continue;
    }
    if (refersToRows(tree[key], targets, inSub || key === 'SubLink')) return true;
  }
  return false;
}

const RETURNING = spec({ options: X, exprs: X });
const RETURNING_OPTION = spec({ option: S, value: S, location: S });

/** RETURNING reads the target (and FROM/USING items): a SELECT on the target, outputs like a SELECT list. */
function returning(
  st: WalkState,
  rc: Raw,
  target: Item,
  extra: readonly Item[],
  base: Scope | null,
  want: boolean,
): Out[] | null {
  if (rc === undefined) return want ? [] : null;
  checkFields(st, 'ReturningClause', rc, RETURNING);
  access(st, 'SELECT', target.rel!, 'relation');
  // old/new (PostgreSQL 18) name the target's row before/after; they are not part of `*`
  const versions = newScope(base);
  const scope = newScope(versions);
  scope.items.push(target, ...extra);
  let oldName = 'old';
  let newName = 'new';
  for (const option of Array.isArray(rc.options) ? rc.options : []) {
    const ro = option.ReturningOption;
    if (ro === undefined) {
      bad(st, `${keyOf(option)} is not supported in RETURNING`);
      continue;
    }
    checkFields(st, 'ReturningOption', ro, RETURNING_OPTION);
    if (ro.option === 'RETURNING_OPTION_OLD') oldName = ro.value;
    else newName = ro.value;
  }
  versions.items.push(item({ alias: oldName, rel: target.rel }), item({ alias: newName, rel: target.rel }));
  return targetList(st, rc.exprs, scope, want);
}

function targetItem(st: WalkState, rv: Raw, op: ConcreteOperation): Item {
  const rel = targetRel(st, rv, op);
  const alias = aliasOf(st, rv.alias);
  return item({ alias: alias.name ?? rv.relname, rel });
}

const INSERT = spec({
  relation: X,
  cols: L,
  selectStmt: X,
  onConflictClause: X,
  returningClause: X,
  withClause: X,
  override: S,
});
const ON_CONFLICT = spec({ action: S, infer: 'InferClause', targetList: L, whereClause: N, location: S });

export function insertStmt(st: WalkState, body: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = body.withClause !== undefined ? withScope(st, body.withClause, outer) : outer;
  st.writes = true;
  const target = targetItem(st, body.relation, 'INSERT');
  const scope = newScope(base);
  scope.items.push(target);
  walkFields(st, 'InsertStmt', body, INSERT, scope, null);
  // the source query does not see the target; its outputs are the values stored
  if (body.selectStmt !== undefined) writtenFrom(st, stmtAny(st, body.selectStmt, base, true));
  const oc = body.onConflictClause;
  if (oc !== undefined) {
    if (oc.action === 'ONCONFLICT_UPDATE') access(st, 'UPDATE', target.rel!, 'relation');
    const ocs = newScope(base);
    ocs.items.push(target, item({ alias: 'excluded', rel: target.rel }));
    // DO UPDATE SET … (and its WHERE, conservatively) may store values read from anywhere in scope
    walkFields(st, 'OnConflictClause', oc, ON_CONFLICT, ocs, st.written);
  }
  return returning(st, body.returningClause, target, [], base, want);
}

const UPDATE = spec({ relation: X, targetList: L, whereClause: X, fromClause: X, returningClause: X, withClause: X });

export function updateStmt(st: WalkState, body: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = body.withClause !== undefined ? withScope(st, body.withClause, outer) : outer;
  st.writes = true;
  const target = targetItem(st, body.relation, 'UPDATE');
  const scope = newScope(base);
  scope.items.push(target);
  for (const fromNode of Array.isArray(body.fromClause) ? body.fromClause : []) fromItem(st, fromNode, scope, want);
  walkFields(st, 'UpdateStmt', body, UPDATE, scope, st.written); // only targetList is walked here: the SET values
  where(st, body.whereClause, scope, target);
  return returning(st, body.returningClause, target, scope.items.slice(1), base, want);
}

const DELETE = spec({ relation: X, usingClause: X, whereClause: X, returningClause: X, withClause: X });

export function deleteStmt(st: WalkState, body: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = body.withClause !== undefined ? withScope(st, body.withClause, outer) : outer;
  st.writes = true;
  const target = targetItem(st, body.relation, 'DELETE');
  const scope = newScope(base);
  scope.items.push(target);
  for (const fromNode of Array.isArray(body.usingClause) ? body.usingClause : []) fromItem(st, fromNode, scope, want);
  walkFields(st, 'DeleteStmt', body, DELETE, scope, null);
  where(st, body.whereClause, scope, target);
  return returning(st, body.returningClause, target, scope.items.slice(1), base, want);
}

function where(st: WalkState, whereClause: Raw, scope: Scope, target: Item): void {
  if (whereClause === undefined) {
    st.unfiltered = true;
    return;
  }
  expr(st, whereClause, scope, false);
  if (!filters(whereClause, [target.alias ?? ''])) st.unfiltered = true;
}

const MERGE = spec({
  relation: X,
  sourceRelation: X,
  joinCondition: X,
  mergeWhenClauses: X,
  returningClause: X,
  withClause: X,
});
const MERGE_WHEN = spec({ matchKind: S, commandType: S, override: S, condition: N, targetList: L, values: L });
const MERGE_OPS: Readonly<Record<string, ConcreteOperation>> = {
  CMD_INSERT: 'INSERT',
  CMD_UPDATE: 'UPDATE',
  CMD_DELETE: 'DELETE',
};

export function mergeStmt(st: WalkState, body: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const base = body.withClause !== undefined ? withScope(st, body.withClause, outer) : outer;
  checkFields(st, 'MergeStmt', body, MERGE);
  st.writes = true;
  const target = targetItem(st, body.relation, 'MERGE');
  const scope = newScope(base);
  scope.items.push(target);
  fromItem(st, body.sourceRelation, scope, want);
  expr(st, body.joinCondition, scope, false);
  const joinFilters = filters(body.joinCondition, [target.alias ?? '']);
  for (const clause of Array.isArray(body.mergeWhenClauses) ? body.mergeWhenClauses : []) {
    const when = clause.MergeWhenClause;
    if (when === undefined) {
      bad(st, `${keyOf(clause)} is not supported in MERGE`);
      continue;
    }
    const op = MERGE_OPS[when.commandType as string];
    if (op !== undefined) access(st, op, target.rel!, 'relation');
    if ((op === 'UPDATE' || op === 'DELETE') && !joinFilters && when.condition === undefined) st.unfiltered = true;
    walkFields(st, 'MergeWhenClause', when, MERGE_WHEN, scope, st.written);
  }
  return returning(st, body.returningClause, target, scope.items.slice(1), base, want);
}
