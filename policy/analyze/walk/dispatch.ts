// The walker's recursion: one wrapped node in expression or statement position, dispatched through the
// handler tables (carried in the state, so the parts of the walker need not import each other in a circle),
// and the field-list walk that makes an unknown field deny.

import type { ColumnSource } from '../../types.ts';
import { addLeaves, CONSTANT, derivedOf, OPAQUE, type Out } from '../lineage.ts';
import {
  type Raw,
  S,
  N,
  L,
  X,
  type Field,
  type Spec,
  spec,
  type Scope,
  type WalkState,
  bad,
  keyOf,
  checkFields,
  enter,
  type Handler,
} from './state.ts';

/** Walk one wrapped node in expression position; with `want`, return where its value comes from. */
export function expr(st: WalkState, node: Raw, scope: Scope | null, want: boolean): ColumnSource | null {
  const type = keyOf(node);
  if (type === undefined) return want ? CONSTANT : null; // {} is an omitted node (e.g. plain DISTINCT)
  const handler = st.handlers.expressions.get(type);
  if (handler === undefined) {
    bad(st, `${type} is not supported in this position`);
    return want ? OPAQUE : null;
  }
  if (!enter(st)) return want ? OPAQUE : null;
  try {
    return handler(st, node[type], scope, want);
  } finally {
    st.depth--;
  }
}

export function walkStruct(
  st: WalkState,
  type: string,
  body: Raw,
  scope: Scope | null,
  want: boolean,
): ColumnSource | null {
  const handler = st.handlers.expressions.get(type);
  if (handler === undefined) {
    bad(st, `${type} is not supported in this position`);
    return want ? OPAQUE : null;
  }
  return handler(st, body, scope, want);
}

/** Walk every N/L/struct field of `body` per `fields`, checking for unknown fields; collect leaves into acc. */
export function walkFields(
  st: WalkState,
  type: string,
  body: Raw,
  fields: Spec,
  scope: Scope | null,
  acc: ColumnSource[] | null,
): void {
  for (const fieldName in body) {
    const field = fields.get(fieldName);
    if (field === undefined) {
      bad(st, `unexpected field ${type}.${fieldName}`);
      continue;
    }
    if (field === S || field === X) continue;
    const value = body[fieldName];
    if (field === N) {
      const source = expr(st, value, scope, acc !== null);
      if (acc !== null && source !== null) addLeaves(acc, source);
    } else if (field === L) {
      if (!Array.isArray(value)) {
        bad(st, `${type}.${fieldName} is not a list`);
        continue;
      }
      for (const child of value) {
        const source = expr(st, child, scope, acc !== null);
        if (acc !== null && source !== null) addLeaves(acc, source);
      }
    } else {
      const source = walkStruct(st, field, value, scope, acc !== null);
      if (acc !== null && source !== null) addLeaves(acc, source);
    }
  }
}

/** Record a query's outputs as values the statement stores; unknown outputs are recorded as opaque. */
export function writtenFrom(st: WalkState, outs: readonly Out[] | null): void {
  if (outs === null) {
    st.written.push({ kind: 'opaque' });
    return;
  }
  for (const output of outs) st.written.push(output.src);
}

/** A node whose value is computed from its children and which reads nothing itself. */
export function pure(type: string, fieldList: Record<string, Field>): [string, Handler] {
  const fields = spec(fieldList);
  return [
    type,
    (st, body, scope, want) => {
      const acc = want ? ([] as ColumnSource[]) : null;
      walkFields(st, type, body, fields, scope, acc);
      return acc === null ? null : derivedOf(acc);
    },
  ];
}

/** A node that carries no value from any relation. */
export function leaf(type: string, fieldList: Record<string, Field>): [string, Handler] {
  const fields = spec(fieldList);
  return [
    type,
    (st, body, _sc, want) => {
      checkFields(st, type, body, fields);
      return want ? CONSTANT : null;
    },
  ];
}

/** Walk a wrapped statement (sub-query, CTE body, EXPLAIN/PREPARE target…); return its outputs when wanted. */
export function stmtAny(st: WalkState, node: Raw, outer: Scope | null, want: boolean): Out[] | null {
  const type = keyOf(node);
  const handler = type === undefined ? undefined : st.handlers.statements.get(type);
  if (handler === undefined) {
    bad(st, `${type ?? 'empty'} statements are not supported`);
    return want ? [{ name: null, src: OPAQUE }] : null;
  }
  if (!enter(st)) return want ? [{ name: null, src: OPAQUE }] : null;
  try {
    return handler(st, node[type!], outer, want);
  } finally {
    st.depth--;
  }
}
