// The mask plan of a statement (enforce-mode policies only): which result columns, COPY columns and stored or
// sent values carry masked data, through views, rule-rewritten tables and SQL functions. Pure; decide.ts
// attaches it to every allow and warn verdict.
import { stricter } from './select.ts';
import type { Selected } from './select.ts';
import { derivedKey } from './derived.ts';
import type { DerivedObject } from './derived.ts';
import { eachCandidate } from './decide-names.ts';
import type { ColumnSource, MaskPlan, MaskStrategy, RelName, SessionContext, StatementFacts } from './types.ts';

// ---------------------------------------------------------------------------------------------
// Masking (enforce-mode policies only: staging a policy must not change what clients receive).

const nullPlans: MaskPlan[] = [];
/** A frozen plan with `n` pass-through outputs, shared: nothing allocated when nothing is masked. */
function passThrough(n: number): MaskPlan {
  let p = nullPlans[n];
  if (p === undefined) {
    p = Object.freeze({
      columns: Object.freeze({}),
      outputs: Object.freeze(new Array<MaskStrategy | null>(n).fill(null)),
      needsRowDescription: false,
      hasStar: false,
      refuse: null,
      touched: NO_COLUMNS,
    });
    if (n < 256) nullPlans[n] = p;
  }
  return p;
}

function columnStrategy(
  sel: Selected,
  ctx: SessionContext,
  rel: RelName,
  column: string | null,
  depth = 0,
): MaskStrategy | null {
  let s: MaskStrategy | null = null;
  const derived = ctx.derived;
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    const cols = sel.masks.get(schema)?.get(name);
    if (cols !== undefined) {
      if (column !== null) s = stricter(s, cols.get(column) ?? null);
      else for (const v of cols.values()) s = stricter(s, v);
    }
    if (derived !== undefined && derived.relations.size > 0) {
      const d = derived.relations.get(derivedKey(schema, name));
      if (d !== undefined && d.kind === 'view') s = stricter(s, viewStrategy(sel, ctx, d, column, depth));
    }
    return true;
  });
  return s;
}

// ---------------------------------------------------------------------------------------------
// Views, rule-rewritten tables and SQL functions (policy/derived.ts, issue 11 class 1). A view's column
// is masked as what it is computed from; where that is unknown (no lineage, an opaque value) and the view
// reads a masked column at all, it is redacted. Rules decide on the name in the statement (the view), as
// PostgreSQL's privileges do: masking is not a privilege, it follows the value.

/** Deepest view-on-view (or function) nesting followed; beyond it, redact. PostgreSQL has no such limit, real schemas stay far below. */
const MAX_DERIVED_DEPTH = 32;

/** Per (selection, session context): does a derived object read a masked column, directly or through others? */
const readsMemo = new WeakMap<Selected, WeakMap<SessionContext, Map<DerivedObject, boolean>>>();

function readsMasked(sel: Selected, ctx: SessionContext, d: DerivedObject, depth: number): boolean {
  let bySel = readsMemo.get(sel);
  if (bySel === undefined) readsMemo.set(sel, (bySel = new WeakMap()));
  let memo = bySel.get(ctx);
  if (memo === undefined) bySel.set(ctx, (memo = new Map()));
  const known = memo.get(d);
  if (known !== undefined) return known;
  if (d.unknownReads || depth >= MAX_DERIVED_DEPTH) {
    memo.set(d, true);
    return true;
  }
  memo.set(d, true); // in progress: a cycle (recursive SQL functions) counts as reading masked (fail closed)
  let masked = false;
  for (const a of d.reads) {
    if (
      a.kind === 'relation'
        ? relationMasked(sel, ctx, a.relation, depth + 1)
        : a.kind === 'function' && functionMasked(sel, ctx, a.relation, depth + 1)
    ) {
      masked = true;
      break;
    }
  }
  memo.set(d, masked);
  return masked;
}

/** A relation whose rows carry masked values: a masked table, or a view / rule-rewritten table reading one. */
function relationMasked(sel: Selected, ctx: SessionContext, rel: RelName, depth: number): boolean {
  let masked = false;
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    if (sel.masks.get(schema)?.has(name) === true) {
      masked = true;
      return false;
    }
    const d = ctx.derived?.relations.get(derivedKey(schema, name));
    if (d !== undefined && readsMasked(sel, ctx, d, depth)) {
      masked = true;
      return false;
    }
    return true;
  });
  return masked;
}

/** An SQL function whose body reads a masked column. */
function functionMasked(sel: Selected, ctx: SessionContext, fn: RelName, depth: number): boolean {
  const fns = ctx.derived?.functions;
  if (fns === undefined || fns.size === 0) return false;
  let masked = false;
  eachCandidate(fn, 'function', ctx, (schema, name) => {
    const d = fns.get(derivedKey(schema, name));
    if (d !== undefined && readsMasked(sel, ctx, d, depth)) {
      masked = true;
      return false;
    }
    return true;
  });
  return masked;
}

/** A table whose rules rewrite a statement on it into one that reads masked columns. */
function rewritesMasked(sel: Selected, ctx: SessionContext, rel: RelName): boolean {
  const rels = ctx.derived?.relations;
  if (rels === undefined || rels.size === 0) return false;
  let masked = false;
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    const d = rels.get(derivedKey(schema, name));
    if (d !== undefined && d.kind === 'rule' && readsMasked(sel, ctx, d, 0)) {
      masked = true;
      return false;
    }
    return true;
  });
  return masked;
}

function viewStrategy(
  sel: Selected,
  ctx: SessionContext,
  d: DerivedObject,
  column: string | null,
  depth: number,
): MaskStrategy | null {
  if (depth >= MAX_DERIVED_DEPTH) return 'redact';
  if (!readsMasked(sel, ctx, d, depth)) return null;
  const sources = d.sources;
  if (sources === null) return 'redact';
  if (column === null) {
    let s: MaskStrategy | null = null;
    for (const src of sources) s = stricter(s, viewSourceStrategy(sel, ctx, src, depth + 1));
    return s;
  }
  const i = d.columns.indexOf(column);
  return i < 0 ? 'redact' : viewSourceStrategy(sel, ctx, sources[i]!, depth + 1);
}

/** A view column's source: as any output, except that an untraceable part is redacted (the view reads masked columns). */
function viewSourceStrategy(sel: Selected, ctx: SessionContext, src: ColumnSource, depth: number): MaskStrategy | null {
  return stricter(untraceable(src) ? 'redact' : null, sourceStrategy(sel, ctx, src, depth));
}
function untraceable(src: ColumnSource): boolean {
  if (src.kind === 'opaque' || src.kind === 'star') return true;
  if (src.kind === 'derived') for (const f of src.from) if (untraceable(f)) return true;
  return false;
}

/** Per (selection, context): view columns as MaskPlan.columns keys ("schema.view.column"), for RowDescription's (OID, attnum). */
const viewColumnsMemo = new WeakMap<Selected, WeakMap<SessionContext, Readonly<Record<string, MaskStrategy>>>>();
function maskColumnsWithViews(sel: Selected, ctx: SessionContext): Readonly<Record<string, MaskStrategy>> {
  const derived = ctx.derived;
  if (derived === undefined || derived.relations.size === 0) return sel.maskColumns;
  let bySel = viewColumnsMemo.get(sel);
  if (bySel === undefined) viewColumnsMemo.set(sel, (bySel = new WeakMap()));
  let cols = bySel.get(ctx);
  if (cols === undefined) {
    const out: Record<string, MaskStrategy> = { ...sel.maskColumns };
    for (const [key, d] of derived.relations) {
      if (d.kind !== 'view') continue;
      const qualified = key.replace('\u0000', '.');
      for (const c of d.columns) {
        const st = viewStrategy(sel, ctx, d, c, 0);
        if (st !== null) out[`${qualified}.${c}`] = stricter(out[`${qualified}.${c}`] ?? null, st) as MaskStrategy;
      }
    }
    bySel.set(ctx, (cols = Object.freeze(out)));
  }
  return cols;
}

function sourceStrategy(sel: Selected, ctx: SessionContext, src: ColumnSource, depth = 0): MaskStrategy | null {
  switch (src.kind) {
    case 'column':
      return columnStrategy(sel, ctx, src.relation, src.column, depth);
    case 'row':
      return columnStrategy(sel, ctx, src.relation, null, depth);
    case 'derived': {
      let s: MaskStrategy | null = null;
      for (const f of src.from) s = stricter(s, sourceStrategy(sel, ctx, f, depth));
      // `partial` shows a part chosen for the column's own shape (an e-mail's first letter and domain).
      // On a computed value it shows part of the computation instead: split_part(email, '@', 1) would
      // reveal the end of the local part, encode(…, 'hex') raw bytes. Computed values get at least redact.
      return s === 'partial' ? 'redact' : s;
    }
    case 'star':
      return null; // resolved per RowDescription field by the proxy
    case 'opaque':
      return null; // decided by the caller, which knows whether masked relations are touched
    default:
      return 'null'; // unknown source kind: never pass a value we cannot classify
  }
}

/**
 * Does the statement read masked values anywhere — a relation with masked columns, a view over one, an SQL
 * function whose body reads one, or a table whose rules rewrite the statement into such a read?
 */
function touchesMasked(sel: Selected, ctx: SessionContext, stmt: StatementFacts): boolean {
  for (const a of stmt.accesses) {
    if (a.kind === 'relation') {
      if (columnStrategy(sel, ctx, a.relation, null) !== null) return true;
      if (rewritesMasked(sel, ctx, a.relation)) return true;
    } else if (a.kind === 'function') {
      if (functionMasked(sel, ctx, a.relation, 0)) return true;
    }
  }
  return false;
}

/** Operations that read or write no row values: their errors and notices name objects, never echo values. */
const VALUELESS_OPERATIONS: ReadonlySet<string> = new Set(['DROP', 'TRUNCATE', 'GRANT']);

/**
 * MaskPlan.touched: the masked columns of every relation whose rows the statement reads or writes. Known
 * imperfection: a view over a masked table is a relation of its own here; until view lineage names its base
 * tables (issue 11), only a masked output (maskPlan below) or a masked result field (the session) counts it.
 */
function touchedColumns(sel: Selected, ctx: SessionContext, stmt: StatementFacts): readonly string[] {
  let out: string[] | null = null;
  // A view, rule-rewritten table or SQL function reading masked columns (policy/derived.ts): which of them
  // reaches a message is not tracked, so every masked column counts.
  let viaDerived = false;
  for (const a of stmt.accesses) {
    if (VALUELESS_OPERATIONS.has(a.operation)) continue;
    if (a.kind === 'function') {
      if (!viaDerived && functionMasked(sel, ctx, a.relation, 0)) viaDerived = true;
      continue;
    }
    if (a.kind !== 'relation') continue;
    eachCandidate(a.relation, 'relation', ctx, (schema, name) => {
      const cols = sel.masks.get(schema)?.get(name);
      if (cols === undefined) {
        const d = ctx.derived?.relations.get(derivedKey(schema, name));
        if (d !== undefined && readsMasked(sel, ctx, d, 0)) viaDerived = true;
        return true;
      }
      for (const c of cols.keys()) {
        const q = `${schema}.${name}.${c}`;
        out ??= [];
        if (!out.includes(q)) out.push(q);
      }
      return true;
    });
  }
  if (viaDerived) return Object.keys(maskColumnsWithViews(sel, ctx));
  return out ?? NO_COLUMNS;
}
const NO_COLUMNS: readonly string[] = Object.freeze([]);

export function maskPlan(sel: Selected, ctx: SessionContext, stmt: StatementFacts): MaskPlan {
  if (sel.masks.size === 0) return passThrough(stmt.outputs.length);
  const outputs: (MaskStrategy | null)[] = new Array(stmt.outputs.length);
  let needsRowDescription = false;
  let hasStar = false;
  let touched: boolean | null = null;
  let anyMasked = false;
  for (let i = 0; i < stmt.outputs.length; i++) {
    const src = stmt.outputs[i] as ColumnSource;
    let s: MaskStrategy | null;
    if (src.kind === 'star') {
      s = null;
      hasStar = true;
      for (const r of src.relations) if (columnStrategy(sel, ctx, r, null) !== null) needsRowDescription = true;
    } else if (src.kind === 'opaque') {
      // An opaque entry may stand for several columns (`SELECT f.* FROM some_function() f`), so
      // positions after it are not trustworthy either: treat it like a star for alignment.
      hasStar = true;
      // A value we cannot trace: redact it when the statement reads any relation with masked
      // columns (it may carry one); a user function reading tables internally is the policy
      // author's CALL rule to grant (doc.md).
      touched ??= touchesMasked(sel, ctx, stmt);
      s = touched ? 'redact' : null;
    } else s = sourceStrategy(sel, ctx, src);
    if (s !== null) anyMasked = true;
    outputs[i] = s;
  }
  // A table whose rules rewrite this statement into a read of masked columns: what comes back does not line
  // up with the statement's own outputs, so every field is resolved on its own and the untraceable ones
  // get the strictest strategy (resolveRowMask's fallback).
  if (ctx.derived !== undefined && ctx.derived.relations.size > 0) {
    for (const a of stmt.accesses) {
      if (a.kind === 'relation' && rewritesMasked(sel, ctx, a.relation)) {
        needsRowDescription = true;
        hasStar = true;
        anyMasked = true;
        break;
      }
    }
  }
  let refuse: string | null = null;
  if (stmt.tag === 'DeclareCursorStmt') {
    // A cursor's rows arrive later, through FETCH, which carries no lineage of its own: only columns
    // PostgreSQL reports a source for (table OID + attnum in RowDescription) can still be masked then.
    // A masked output that needs the lineage (an expression, a whole row, an untraceable value) would
    // leave unmasked, so such a cursor is refused.
    for (let i = 0; i < stmt.outputs.length; i++) {
      const src = stmt.outputs[i] as ColumnSource;
      if (outputs[i] !== null && src.kind !== 'column') {
        refuse =
          'a cursor over values computed from masked columns cannot be masked when its rows are fetched; select them directly, or declare the cursor over the columns themselves';
        break;
      }
    }
  }
  // COPY (query) is masked through the query's own lineage: the proxy describes the query (RowDescription
  // gives each column's source table and type) and masks text, CSV and binary output like rows. The table
  // form has no query to describe, so binary output (which needs types) is refused. Text and CSV options the
  // masker follows (HEADER, DELIMITER, QUOTE, ESCAPE, NULL, FORCE_QUOTE: copyTo.textOptions) are fine; any
  // other option changes a layout it cannot parse, so it is refused.
  const copy = stmt.copyTo;
  const optionsOk =
    copy === null || copy.optionsDefault || (copy.textOptions !== undefined && copy.format !== 'binary');
  if (copy !== null && ((copy.format === 'binary' && copy.relation !== null) || !optionsOk)) {
    const how = optionsOk
      ? 'in binary format'
      : 'with options other than FORMAT, HEADER, DELIMITER, QUOTE, ESCAPE, NULL and FORCE_QUOTE';
    if (copy.relation !== null) {
      const masked = maskedColumnsOf(sel, ctx, copy.relation, copy.columns);
      if (masked.length > 0) {
        refuse = optionsOk
          ? `COPY of ${relText(copy.relation)} ${how} cannot be masked (masked: ${masked.join(', ')}); use COPY (SELECT … FROM ${relText(copy.relation)}) TO STDOUT (FORMAT binary), or text or csv format`
          : `COPY of ${relText(copy.relation)} ${how} cannot be masked (masked: ${masked.join(', ')}); use only those options (none with FORMAT binary)`;
      }
    } else if (anyMasked || needsRowDescription || (hasStar && touchesMasked(sel, ctx, stmt))) {
      refuse = `COPY (query) ${how} cannot be masked because its result includes masked columns; use only those options (none with FORMAT binary)`;
    }
  }
  if (
    copy !== null
    && copy.relation === null
    && copy.query === undefined
    && refuse === null
    && (anyMasked || needsRowDescription || (hasStar && touchesMasked(sel, ctx, stmt)))
  ) {
    refuse = 'COPY (query) whose query text could not be isolated cannot be masked';
  }
  let echoed = touchedColumns(sel, ctx, stmt);
  // A masked output from no relation the accesses name (lineage resolved through something the accesses do
  // not list, such as a view read as its base columns): the statement reads masked values all the same.
  if (echoed.length === 0 && (anyMasked || needsRowDescription)) echoed = Object.keys(sel.maskColumns);
  return { columns: maskColumnsWithViews(sel, ctx), outputs, needsRowDescription, hasStar, refuse, touched: echoed };
}

/**
 * Masking launders if a masked value is copied into another column (INSERT … SELECT email, UPDATE … SET
 * note = ssn, CREATE TABLE/VIEW AS …): reads of the copy carry no trace of the masked source. Describes the
 * first masked source among the values the statement stores, or null.
 */
export function storedMaskedValue(
  sel: Selected,
  ctx: SessionContext,
  stmt: StatementFacts,
  written: readonly ColumnSource[] | undefined,
): string | null {
  if (written === undefined || written.length === 0 || sel.masks.size === 0) return null;
  let touched: boolean | null = null;
  const first = (src: ColumnSource): string | null => {
    switch (src.kind) {
      case 'column':
        return columnStrategy(sel, ctx, src.relation, src.column) !== null
          ? `values of masked column ${relText(src.relation)}.${src.column}`
          : null;
      case 'row':
        return columnStrategy(sel, ctx, src.relation, null) !== null
          ? `whole rows of ${relText(src.relation)}, which has masked columns`
          : null;
      case 'star':
        for (const r of src.relations)
          if (columnStrategy(sel, ctx, r, null) !== null)
            return `all columns of ${relText(r)}, which has masked columns`;
        return null;
      case 'derived':
        for (const f of src.from) {
          const m = first(f);
          if (m !== null) return m.replace(/^values of/, 'values derived from');
        }
        return null;
      case 'opaque':
        touched ??= touchesMasked(sel, ctx, stmt);
        return touched ? 'values the proxy cannot trace, in a statement that reads masked columns' : null;
      default:
        return 'values of an unknown source';
    }
  };
  for (const src of written) {
    const m = first(src);
    if (m !== null) return m;
  }
  return null;
}

function relText(r: RelName): string {
  return r.schema === null ? r.name : `${r.schema}.${r.name}`;
}

function maskedColumnsOf(
  sel: Selected,
  ctx: SessionContext,
  rel: RelName,
  columns: readonly string[] | null,
): string[] {
  const out: string[] = [];
  eachCandidate(rel, 'relation', ctx, (schema, name) => {
    const cols = sel.masks.get(schema)?.get(name);
    if (cols !== undefined) {
      for (const c of cols.keys()) if (columns === null || columns.includes(c)) out.push(`${schema}.${name}.${c}`);
    }
    return true;
  });
  return out;
}
