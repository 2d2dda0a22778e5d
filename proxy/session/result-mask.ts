// How a statement's result is masked, decided once per result (at its RowDescription or CopyOutResponse), not
// per row: pure functions of the decision, the fields and the mask catalog. The session applies what they
// return to the Run that DataRow and CopyData messages are masked with (backend.ts).
import type { Decision, MaskPlan, StatementFacts } from '../../policy/types.ts';
import { MaskError } from '../mask/mask-error.ts';
import { resolveRowMask } from '../mask/resolve.ts';
import { binaryCopyState, copyBinaryMaskUnsupported } from '../mask/copy.ts';
import type { BinaryCopyState, CopyOptions } from '../mask/copy.ts';
import type { MaskCatalog, RowMask } from '../mask/types.ts';
import type { FieldInfo } from '../wire/read.ts';

/** A plan masks something for this identity (resolveRowMask is worth running). */
export function planMasks(plan: MaskPlan): boolean {
  if (plan.needsRowDescription) return true;
  for (const _ in plan.columns) return true;
  for (const o of plan.outputs) if (o !== null) return true;
  return false;
}

/** "schema.table.column" of each masked field (its name when the catalog does not know it), for the audit. */
export function maskedColumnNames(mask: RowMask, fields: readonly FieldInfo[], catalog: MaskCatalog): string[] {
  const cols: string[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] === null) continue;
    const f = fields[i]!;
    cols.push(catalog.byOid.get(f.tableOid)?.get(f.attnum) ?? f.name);
  }
  return cols;
}

/** How the CopyData of one COPY … TO STDOUT are masked. */
export type CopyOutMask =
  | { readonly kind: 'binary'; readonly state: BinaryCopyState; readonly maskedColumns: string[] }
  | {
      readonly kind: 'text';
      readonly mask: RowMask;
      readonly options: CopyOptions;
      readonly header: boolean;
      readonly maskedColumns: string[];
    };

export interface CopyOutInput {
  readonly decision: Decision;
  readonly copyTo: StatementFacts['copyTo'] | null;
  /** COPY (query) TO: the query's fields, described before it ran (K_COPY_DESCRIBE); else null. */
  readonly copyFields: readonly FieldInfo[] | null;
  /** From CopyOutResponse: the overall format and the number of columns. */
  readonly format: 0 | 1;
  readonly columns: number;
  readonly catalog: MaskCatalog;
  readonly searchPath: readonly string[];
  /** Redacts fields of relations created since the catalog was read (session context), when that applies. */
  readonly redactUnknown: ((fields: readonly FieldInfo[], mask: RowMask | null) => RowMask | null) | null;
}

/**
 * COPY … TO STDOUT of a statement with masks: per-column strategies (null: nothing to mask), or a MaskError
 * (the session refuses it: fail closed). The table form maps the table's columns through the catalog; the query
 * form resolves the fields its query was described with, exactly as a SELECT's RowDescription (resolveRowMask).
 */
export function copyOutMask(x: CopyOutInput): CopyOutMask | null {
  const d = x.decision;
  if ((d.verdict !== 'allow' && d.verdict !== 'warn') || !planMasks(d.masks)) return null;
  const { format, columns, catalog } = x;
  const ct = x.copyTo;
  let mask: (typeof d.masks.outputs)[number][] | null = null;
  let maskedColumns: string[] | null = null;
  if (ct !== null && ct.relation !== null) {
    const rel = ct.relation;
    const schema = rel.schema ?? x.searchPath.find((s) => catalog.columnsOf.has(`${s}.${rel.name}`)) ?? null;
    const table = schema === null ? null : `${schema}.${rel.name}`;
    const all = table === null ? undefined : catalog.columnsOf.get(table);
    const cols = ct.columns ?? all ?? null;
    if (cols !== null && table !== null) {
      mask = cols.map((c) => d.masks.columns[`${table}.${c}`] ?? null);
    } else if (table === null || !Object.keys(d.masks.columns).some((k) => k.startsWith(`${table}.`))) {
      // The table has no masked columns in the catalog, and (when named with its schema) none in the
      // policy either: nothing of it is masked. A policy-masked table missing from the catalog still throws.
      mask = new Array(columns).fill(null);
    }
  } else if (x.copyFields !== null) {
    const fields = x.copyFields.map((f) => (f.format === format ? f : { ...f, format }));
    if (fields.length !== columns)
      throw new MaskError(`COPY output has ${columns} columns, its query was described with ${fields.length}`);
    let m = resolveRowMask(d.masks, fields, catalog);
    // As for a RowDescription: a field of a relation created since the catalog was read is redacted.
    if (x.redactUnknown !== null) m = x.redactUnknown(fields, m);
    if (m === null) return null;
    maskedColumns = maskedColumnNames(m, fields, catalog);
    if (format === 1) return { kind: 'binary', state: binaryCopyState(m, fields), maskedColumns };
    mask = [...m];
  } else if (d.masks.touched !== undefined && d.masks.touched.length === 0) {
    return null; // reads no relation with masked columns: nothing in it is masked (not described: no need)
  } else if (!d.masks.needsRowDescription && d.masks.hasStar === false && d.masks.outputs.length === columns) {
    mask = [...d.masks.outputs];
  }
  if (mask === null || mask.length !== columns)
    throw new MaskError('COPY output could not be matched to its masked columns');
  if (!mask.some((m) => m !== null)) return null;
  const t = ct?.textOptions;
  if (format === 1 || ct === null || ct.format === 'binary' || (!ct.optionsDefault && t === undefined)) {
    throw new MaskError(
      ct !== null && ct.format === 'binary'
        ? copyBinaryMaskUnsupported
        : 'COPY with masked columns is only supported with default options',
    );
  }
  const how: 'csv' | 'text' = ct.format === 'csv' ? 'csv' : 'text';
  const options: CopyOptions =
    t === undefined
      ? { format: how }
      : { format: how, delimiter: t.delimiter, quote: t.quote, escape: t.escape, null: t.null };
  maskedColumns ??= mask.map((m, i) => (m === null ? null : String(i))).filter((x): x is string => x !== null);
  return { kind: 'text', mask, options, header: t?.header === true, maskedColumns };
}
