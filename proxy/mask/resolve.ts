// Decide, per RowDescription field, which strategy masks it (or null: pass through).
//
// Two sources, strictest wins:
// 1. PostgreSQL's own provenance: RowDescription carries (table OID, attnum) for a field that is a
//    plain reference to a table column, and the planner tracks it through aliases, subqueries, CTEs
//    and views (resorigtbl/resorigcol, protocol-message-formats: RowDescription). MaskCatalog maps
//    that pair to "schema.table.column"; plan.columns says whether it is masked.
// 2. The analyzer's view, plan.outputs, one entry per output expression. It is usable only when it
//    lines up with the fields: same count and no `*` the server expanded (needsRowDescription).
// When outputs do not line up, a computed field (table OID 0: expression, aggregate, cast, whole
// row) cannot be attributed to a source. If the statement masks anything at all, such a field gets
// the strictest strategy in the plan: we cannot prove it is unmasked, so we mask it (fail closed).
import type { MaskStrategy, MaskPlan } from '../../policy/types.ts';
import { stricter } from '../../policy/compile.ts';
import type { MaskCatalog, RowMask } from './types.ts';
import type { FieldInfo } from '../wire/read.ts';

/** The strictest strategy among the plan's outputs and, when a `*` needs resolving, its columns. */
export function strictestInPlan(plan: MaskPlan): MaskStrategy | null {
  let s: MaskStrategy | null = null;
  for (const o of plan.outputs) s = stricter(s, o);
  // needsRowDescription: a `*` reaches a relation with masked columns. The star's own entry in
  // outputs may be null (it stands for many fields), so the plan's columns count too.
  if (plan.needsRowDescription) for (const c of Object.values(plan.columns)) s = stricter(s, c);
  return s;
}

/** The RowMask for one result, or null when nothing in it is masked (the session's fast path). */
export function resolveRowMask(plan: MaskPlan, fields: readonly FieldInfo[], catalog: MaskCatalog): RowMask | null {
  // A `*` anywhere shifts later positions by however many columns the server expanded: a count match
  // alone could pair an expression like lower(email) with the wrong field.
  const aligned = !plan.needsRowDescription && plan.hasStar === false && plan.outputs.length === fields.length;
  const fallback = aligned ? null : strictestInPlan(plan);
  let mask: (MaskStrategy | null)[] | null = null;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    let s: MaskStrategy | null = null;
    if (f.tableOid !== 0) {
      const qualified = catalog.byOid.get(f.tableOid)?.get(f.attnum);
      if (qualified !== undefined && Object.hasOwn(plan.columns, qualified)) s = plan.columns[qualified] ?? null;
    }
    if (aligned) s = stricter(s, plan.outputs[i]);
    else if (f.tableOid === 0) s = stricter(s, fallback);
    if (s !== null) {
      mask ??= new Array<MaskStrategy | null>(fields.length).fill(null);
      mask[i] = s;
    }
  }
  return mask;
}
