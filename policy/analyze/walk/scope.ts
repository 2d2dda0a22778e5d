// Scope resolution: which FROM item (base relation, sub-query, CTE, function, aliased JOIN) a column
// reference names, and where its value comes from. No catalog: a base relation may have any column.

import type { ColumnSource } from '../../types.ts';
import { addLeaves, CONSTANT, derivedOf, OPAQUE, type Out } from '../lineage.ts';
import {
  type Raw,
  S,
  spec,
  type CteEntry,
  type Scope,
  type Item,
  type WalkState,
  checkFields,
  strings,
} from './state.ts';

export function colRef(st: WalkState, body: Raw, scope: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'ColumnRef', body, COLUMN_REF);
  if (!want) return null;
  const fields: Raw[] = body.fields ?? [];
  const lastStar = fields.length > 0 && fields[fields.length - 1].A_Star !== undefined;
  const names = strings(fields);
  if (lastStar) {
    // `t.*` / `*` inside an expression is a whole-row value.
    if (names.length === 0) return wholeLevel(scope);
    const item = findItem(scope, names);
    return item === null ? OPAQUE : rowOf(st, item);
  }
  if (names.length === 1) return unqualified(st, scope, names[0]!);
  // a.b: column b of item a, else field b of composite column a (PostgreSQL tries them in this order)
  const item = findItem(scope, names.slice(0, -1));
  if (item !== null) {
    const acc: ColumnSource[] = [];
    itemColumn(st, item, names[names.length - 1]!, acc);
    if (acc.length === 1) return acc[0]!;
    return acc.length === 0 ? OPAQUE : derivedOf(acc);
  }
  if (names.length === 2) {
    const base = unqualified(st, scope, names[0]!);
    const acc: ColumnSource[] = [];
    addLeaves(acc, base);
    return derivedOf(acc);
  }
  return OPAQUE;
}
export const COLUMN_REF = spec({ fields: S, location: S });

/** Every item at the nearest level that has items, as whole rows (a bare `*` inside an expression). */
function wholeLevel(scope: Scope | null): ColumnSource {
  for (let level = scope; level !== null; level = level.parent) {
    if (level.items.length === 0) continue;
    const acc: ColumnSource[] = [];
    for (const it of level.items) addLeaves(acc, rowOfItem(it));
    return derivedOf(acc);
  }
  return CONSTANT;
}

function rowOf(st: WalkState, item: Item): ColumnSource {
  if (item.cte !== null && item.cte.outs === null) st.unstable = true;
  return rowOfItem(item);
}

function rowOfItem(item: Item): ColumnSource {
  if (item.rel !== null) return { kind: 'row', relation: item.rel };
  if (item.fn !== null) return item.fn;
  const acc: ColumnSource[] = [];
  const outs = item.cte !== null ? item.cte.outs : item.outs;
  if (outs !== null) for (const output of outs) addLeaves(acc, output.src);
  if (item.children !== null) for (const child of item.children) addLeaves(acc, rowOfItem(child));
  return derivedOf(acc);
}

/** Find the FROM item a qualifier names, innermost level first: `t`, `s.t` or `db.s.t`. */
export function findItem(scope: Scope | null, qual: readonly string[]): Item | null {
  const name = qual[qual.length - 1]!;
  const schema = qual.length >= 2 ? qual[qual.length - 2]! : null;
  for (let level = scope; level !== null; level = level.parent) {
    for (const it of level.items) {
      const hit = matchItem(it, name, schema);
      if (hit !== null) return hit;
    }
  }
  return null;
}

function matchItem(it: Item, name: string, schema: string | null): Item | null {
  if (
    it.alias === name
    && (schema === null || (it.rel !== null && (it.rel.schema === null || it.rel.schema === schema)))
  )
    return it;
  return null;
}

/**
 * Where column `name` of `item` comes from, appended to acc. Returns true when the item certainly
 * has the column (a sub-query output of that name); base relations only possibly have it, since
 * the analyzer has no catalog.
 */
function itemColumn(st: WalkState, item: Item, name: string, acc: ColumnSource[]): boolean {
  if (item.rel !== null) {
    if (item.colAliases !== null && item.colAliases.includes(name)) {
      // renamed by position: which column is unknown, so the whole row stands for it
      acc.push({ kind: 'row', relation: item.rel });
      return true;
    }
    acc.push({ kind: 'column', relation: item.rel, column: name });
    return false;
  }
  if (item.fn !== null) {
    addLeaves(acc, item.fn);
    return false;
  }
  if (item.children !== null) {
    let definite = false;
    for (const child of item.children) if (itemColumn(st, child, name, acc)) definite = true;
    return definite;
  }
  let outs = item.outs;
  if (item.cte !== null) {
    outs = item.cte.outs;
    if (outs === null) {
      st.unstable = true;
      acc.push(CONSTANT);
      return true;
    }
  }
  if (outs === null) return false;
  for (const output of outs) {
    if (output.name === name) {
      acc.push(output.src);
      return true;
    }
  }
  let found = false;
  for (const output of outs) {
    if (output.src.kind === 'star') {
      for (const relation of output.src.relations) acc.push({ kind: 'column', relation: relation, column: name });
      found = true;
    }
  }
  if (!found && outs.some((output) => output.name === null)) {
    // an output we could not name: it may be this one
    for (const output of outs) if (output.name === null) addLeaves(acc, output.src);
  }
  return false;
}

/**
 * An unqualified name: a column of any FROM item at the innermost level that may have it, else
 * further out (correlated); without a catalog every base relation may have it, so every candidate
 * is kept. With no column candidate, a FROM item of that name is a whole-row reference.
 */
function unqualified(st: WalkState, scope: Scope | null, name: string): ColumnSource {
  const acc: ColumnSource[] = [];
  let definite = false;
  for (let level = scope; level !== null && !definite; level = level.parent) {
    for (const it of level.items) if (itemColumn(st, it, name, acc)) definite = true;
  }
  if (!definite) {
    const item = findItem(scope, [name]);
    if (item !== null) {
      const row = rowOf(st, item);
      if (row.kind === 'row') {
        // the row covers every column of its own relation
        const rest = acc.filter((candidate) => !(candidate.kind === 'column' && candidate.relation === item.rel));
        if (rest.length === 0) return row;
        rest.push(row);
        const flat: ColumnSource[] = [];
        for (const candidate of rest) addLeaves(flat, candidate);
        return derivedOf(flat);
      }
      addLeaves(acc, row);
    }
  }
  if (acc.length === 1) return acc[0]!;
  if (acc.length === 0) return OPAQUE;
  const flat: ColumnSource[] = [];
  for (const candidate of acc) addLeaves(flat, candidate);
  // the same column reached twice (RETURNING's old/new) is still that column
  if (flat.length === 1 && flat[0]!.kind === 'column') return flat[0]!;
  return derivedOf(flat);
}

export function findCte(scope: Scope | null, name: string): CteEntry | null {
  for (let level = scope; level !== null; level = level.parent) {
    if (level.ctes === null) continue;
    for (let i = level.ctes.length - 1; i >= 0; i--) if (level.ctes[i]!.name === name) return level.ctes[i]!;
  }
  return null;
}

/** Apply `AS x(a, b, …)` column aliases to outputs by position (up to the first `*`). */
export function rename(outs: Out[] | null, colnames: Raw): Out[] | null {
  if (outs === null) return null;
  const names = strings(colnames);
  if (names.length === 0) return outs;
  const res: Out[] = [];
  let starSeen = false;
  for (let i = 0; i < outs.length; i++) {
    const o = outs[i]!;
    if (o.src.kind === 'star') starSeen = true;
    res.push(
      !starSeen && i < names.length ? { name: names[i]!, src: o.src } : starSeen ? { name: null, src: o.src } : o,
    );
  }
  return res;
}
