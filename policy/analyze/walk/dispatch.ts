// The walker's recursion: one wrapped node in expression or statement position, dispatched through the
// handler tables (carried in the state, so the parts of the walker need not import each other in a circle),
// and the field-list walk that makes an unknown field deny.

import type { ColumnSource } from '../../types.ts';
import { addLeaves, CONSTANT, derivedOf, OPAQUE, type Out } from '../lineage.ts';
import { type Raw, S, N, L, X, type Field, type Spec, spec, type Scope, type St, bad, keyOf, checkFields, enter, type Handler } from './state.ts';

/** Walk one wrapped node in expression position; with `want`, return where its value comes from. */
export function expr(st: St, node: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  const type = keyOf(node);
  if (type === undefined) return want ? CONSTANT : null; // {} is an omitted node (e.g. plain DISTINCT)
  const h = st.handlers.expressions.get(type);
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

export function walkStruct(st: St, type: string, body: Raw, sc: Scope | null, want: boolean): ColumnSource | null {
  const h = st.handlers.expressions.get(type);
  if (h === undefined) { bad(st, `${type} is not supported in this position`); return want ? OPAQUE : null; }
  return h(st, body, sc, want);
}

/** Walk every N/L/struct field of `body` per `fields`, checking for unknown fields; collect leaves into acc. */
export function walkFields(st: St, type: string, body: Raw, fields: Spec, sc: Scope | null, acc: ColumnSource[] | null): void {
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
export function writtenFrom(st: St, outs: readonly Out[] | null): void {
  if (outs === null) { st.written.push({ kind: 'opaque' }); return; }
  for (const o of outs) st.written.push(o.src);
}

/** A node whose value is computed from its children and which reads nothing itself. */
export function pure(type: string, o: Record<string, Field>): [string, Handler] {
  const fields = spec(o);
  return [type, (st, b, sc, want) => {
    const acc = want ? [] as ColumnSource[] : null;
    walkFields(st, type, b, fields, sc, acc);
    return acc === null ? null : derivedOf(acc);
  }];
}

/** A node that carries no value from any relation. */
export function leaf(type: string, o: Record<string, Field>): [string, Handler] {
  const fields = spec(o);
  return [type, (st, b, _sc, want) => { checkFields(st, type, b, fields); return want ? CONSTANT : null; }];
}

/** Walk a wrapped statement (sub-query, CTE body, EXPLAIN/PREPARE target…); return its outputs when wanted. */
export function stmtAny(st: St, node: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const type = keyOf(node);
  const h = type === undefined ? undefined : st.handlers.statements.get(type);
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
