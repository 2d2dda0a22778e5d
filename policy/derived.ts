// Relations and functions whose values come from other relations — views, materialized views, tables
// with rewrite rules, SQL functions — resolved to what they read, from the upstream catalog (issue 11,
// class 1). A view's RowDescription names the view, not its base table, so without this a masked column
// read through `SELECT * FROM v` would leave unmasked.
//
// The proxy fetches the rows (proxy/catalog.ts: pg_depend closure over the masked tables and every SQL
// function, pg_get_viewdef, prosrc); this module turns them into a DerivedCatalog with the statement
// analyzer, purely. Lineage that cannot be established (a definition that does not parse, a column that
// does not line up, a value the analyzer calls opaque) is `null` / opaque, which decide() masks with
// `redact` whenever the object reads a masked column at all.
import type { Access, Analysis, ColumnSource, RelName } from './types.ts';

/** One row of the catalog query (proxy/catalog.ts DERIVED_SQL), parsed. */
export interface DerivedRow {
  /** 'r': a relation with rewrite rules (view, materialized view, table with rules); 'f': an SQL function. */
  readonly kind: 'r' | 'f';
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** pg_class.relkind for 'r' rows. */
  readonly relkind: string | null;
  /** pg_get_viewdef (views, materialized views) or prosrc (functions with a string body); else null or ''. */
  readonly definition: string | null;
  /** (attnum, name) of a relation's columns, in order. */
  readonly columns: readonly (readonly [number, string])[] | null;
  /** What pg_depend says it reads: ['r', schema, relation] or ['f', schema, function]. */
  readonly reads: readonly (readonly [string, string, string])[] | null;
}

export interface DerivedObject {
  /** view: a view or materialized view; rule: a table whose rules rewrite statements on it; function: an SQL function. */
  readonly kind: 'view' | 'rule' | 'function';
  /** Output column names in order (views). */
  readonly columns: readonly string[];
  /** Per column (same order), where its value comes from; null when that could not be established. */
  readonly sources: readonly ColumnSource[] | null;
  /** Every relation and function its definition reads (names as written there; unqualified ones resolve via search_path). */
  readonly reads: readonly Access[];
  /** Its definition could not be analysed: assume it reads masked columns (fail closed). */
  readonly unknownReads: boolean;
}

export interface DerivedCatalog {
  /** Content fingerprint: part of the decision-cache key (decisions depend on the catalog). */
  readonly id: string;
  /** derivedKey(schema, name) → view / rule relation. */
  readonly relations: ReadonlyMap<string, DerivedObject>;
  /** derivedKey(schema, name) → SQL function (overloads merged: any of them reading masked columns counts). */
  readonly functions: ReadonlyMap<string, DerivedObject>;
  /** Every view column, as the mask catalog maps RowDescription's (table OID, attnum): oid → attnum → "schema.view.column". */
  readonly columnsByOid: ReadonlyMap<number, ReadonlyMap<number, string>>;
}

export const EMPTY_DERIVED: DerivedCatalog = Object.freeze({
  id: '',
  relations: new Map(),
  functions: new Map(),
  columnsByOid: new Map(),
});

const rel = (schema: string, name: string): RelName => ({ schema, name });

/** The key of DerivedCatalog's maps: names may hold dots, so not "schema.name". */
export function derivedKey(schema: string, name: string): string {
  return `${schema}\u0000${name}`;
}

function dependencyReads(row: DerivedRow): Access[] {
  const out: Access[] = [];
  for (const [k, schema, name] of row.reads ?? []) {
    out.push(
      k === 'f'
        ? { operation: 'CALL', relation: rel(schema, name), kind: 'function' }
        : { operation: 'SELECT', relation: rel(schema, name), kind: 'relation' },
    );
  }
  return out;
}

/** Relation reads and function calls of an analysed definition. */
function analysedReads(a: Analysis): Access[] {
  const out: Access[] = [];
  for (const s of a.statements) {
    for (const x of s.accesses)
      if (x.kind === 'function' || (x.kind === 'relation' && x.operation === 'SELECT')) out.push(x);
  }
  return out;
}

function understood(a: Analysis): boolean {
  return a.error === null && a.statements.length > 0 && a.statements.every((s) => s.unsupported.length === 0);
}

/** FNV-1a over the rows: the same catalog gives the same id, so sessions share decision caches. */
function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${text.length.toString(36)}.${h.toString(36)}`;
}

export function buildDerivedCatalog(rows: readonly DerivedRow[], analyze: (sql: string) => Analysis): DerivedCatalog {
  if (rows.length === 0) return EMPTY_DERIVED;
  const relations = new Map<string, DerivedObject>();
  const functions = new Map<string, DerivedObject>();
  const columnsByOid = new Map<number, Map<number, string>>();
  for (const row of rows) {
    const key = derivedKey(row.schema, row.name);
    const deps = dependencyReads(row);
    if (row.kind === 'f') {
      let reads = deps;
      let unknownReads = false;
      if (row.definition !== null && row.definition.trim() !== '') {
        // A string body: pg_depend knows nothing of what it reads, the body says.
        const a = analyze(row.definition);
        if (understood(a)) reads = [...deps, ...analysedReads(a)];
        else unknownReads = true;
      } else if (row.reads === null && row.definition === null) unknownReads = true;
      const prev = functions.get(key);
      functions.set(key, {
        kind: 'function',
        columns: [],
        sources: null,
        reads: prev === undefined ? reads : [...prev.reads, ...reads],
        unknownReads: unknownReads || (prev?.unknownReads ?? false),
      });
      continue;
    }
    const columns = (row.columns ?? []).map(([, n]) => n);
    const byAttnum = new Map<number, string>();
    // MaskPlan.columns / MaskCatalog keys are "schema.table.column", as for tables
    for (const [attnum, n] of row.columns ?? []) byAttnum.set(attnum, `${row.schema}.${row.name}.${n}`);
    if (row.relkind === 'v' || row.relkind === 'm') {
      let sources: ColumnSource[] | null = null;
      let reads = deps;
      let unknownReads = false;
      const a = row.definition === null ? null : analyze(row.definition);
      if (a !== null && understood(a) && a.statements.length === 1) {
        reads = [...deps, ...analysedReads(a)];
        const outs = a.statements[0]!.outputs;
        // pg_get_viewdef expands `*`, so outputs line up with the columns; if they do not, no lineage.
        if (outs.length === columns.length && !outs.some((o) => o.kind === 'star')) sources = [...outs];
      } else unknownReads = true;
      relations.set(key, { kind: 'view', columns, sources, reads, unknownReads });
      columnsByOid.set(row.oid, byAttnum);
    } else {
      // A table (or partitioned table) with non-SELECT rules: a statement on it may be rewritten into
      // one that returns rows its rules read. Nothing lines up with its own columns.
      relations.set(key, { kind: 'rule', columns, sources: null, reads: deps, unknownReads: false });
    }
  }
  return { id: fingerprint(JSON.stringify(rows)), relations, functions, columnsByOid };
}
