// Output-column lineage values (ColumnSource) and the small algebra the walker builds them with.
// Invariants the masker can rely on:
//   - `derived.from` is flat: it holds only column, row and star-free leaves, deduplicated;
//   - a `*` inside an expression is a whole-row value, so it becomes one `row` per relation;
//   - anything containing `opaque` collapses to `opaque` (unknowable stays unknowable);
//   - an expression whose only leaf is a whole row is that `row` (row_to_json(t), t.*::text).

import type { ColumnSource, RelName } from '../types.ts';

/** One output column of a query level: its name when known (for outer references) and its source. */
export interface Out {
  readonly name: string | null;
  readonly src: ColumnSource;
}

export const OPAQUE: ColumnSource = Object.freeze({ kind: 'opaque' });
export const CONSTANT: ColumnSource = Object.freeze({
  kind: 'derived',
  from: Object.freeze([]) as readonly ColumnSource[],
});

function sameRel(a: RelName, b: RelName): boolean {
  return a.name === b.name && a.schema === b.schema;
}

function sameLeaf(a: ColumnSource, b: ColumnSource): boolean {
  if (a.kind === 'column') return b.kind === 'column' && a.column === b.column && sameRel(a.relation, b.relation);
  if (a.kind === 'row') return b.kind === 'row' && sameRel(a.relation, b.relation);
  return a.kind === b.kind;
}

function pushLeaf(acc: ColumnSource[], leaf: ColumnSource): void {
  for (let i = 0; i < acc.length; i++) if (sameLeaf(acc[i]!, leaf)) return;
  acc.push(leaf);
}

/** Append the leaves of `src` to `acc` (flattening derived, turning star into rows). */
export function addLeaves(acc: ColumnSource[], src: ColumnSource): void {
  switch (src.kind) {
    case 'derived':
      for (const s of src.from) addLeaves(acc, s);
      return;
    case 'star':
      for (const r of src.relations) pushLeaf(acc, { kind: 'row', relation: r });
      return;
    default:
      pushLeaf(acc, src);
  }
}

/** A computed value from the collected leaves. */
export function derivedOf(leaves: ColumnSource[]): ColumnSource {
  if (leaves.length === 0) return CONSTANT;
  for (const l of leaves) if (l.kind === 'opaque') return OPAQUE;
  if (leaves.length === 1 && leaves[0]!.kind === 'row') return leaves[0]!;
  return { kind: 'derived', from: leaves };
}

/** A value computed from several sources. */
export function combine(srcs: readonly ColumnSource[]): ColumnSource {
  const acc: ColumnSource[] = [];
  for (const s of srcs) addLeaves(acc, s);
  return derivedOf(acc);
}

/** The relations any leaf of these outputs reads (for a `*` over a level we cannot expand by position). */
export function relationsOf(outs: readonly Out[]): { relations: RelName[]; opaque: boolean } {
  const acc: ColumnSource[] = [];
  for (const o of outs) addLeaves(acc, o.src);
  const relations: RelName[] = [];
  let opaque = false;
  for (const l of acc) {
    if (l.kind === 'opaque') opaque = true;
    else if (l.kind === 'column' || l.kind === 'row') {
      if (!relations.some((r) => sameRel(r, l.relation))) relations.push(l.relation);
    }
  }
  return { relations, opaque };
}

export function hasStar(outs: readonly Out[]): boolean {
  for (const o of outs) if (o.src.kind === 'star') return true;
  return false;
}

/** A comparable rendering of outputs: recursive CTE lineage has converged when it stops changing. */
export function signature(outs: readonly Out[] | null): string {
  if (outs === null) return 'null';
  return JSON.stringify(outs);
}
