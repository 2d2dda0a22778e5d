// What the session needs to know about the upstream database before it decides anything
// (style.md §3: decide on what PostgreSQL will actually do): the effective search_path, the names
// that exist in pg_catalog (an unqualified name resolves there first), and where masked columns
// sit in the catalog (RowDescription carries table OID + attnum, proxy/mask/resolve.ts).
//
// Everything is fetched in ONE simple-protocol round trip on the session's own upstream connection,
// before the client gets ReadyForQuery. Catalog names are cached per proxy process + database (they
// change only with a major upgrade). The mask catalog and the views / SQL functions over masked tables
// (policy/derived.ts) are fetched by every session at start, and refetched after it runs DDL (an OID or
// attnum may have changed), after DDL another session of this process committed (ProxyShared.catalogEpoch),
// or once they are older than the session's maximum age (views changed by other connections); the copy
// shared per policy generation + database serves policy changes. With them comes what existed at the
// fetch (KnownObjects): a relation or function created since has no lineage yet, so a statement naming one
// waits for a refetch and a result column from one is redacted (proxy/session). The same round trip lists
// security_invoker views and what they read (policy/invoker.ts), whatever is masked.
import type { Analysis, CompiledPolicySet, StatementFacts } from '../policy/types.ts';
import { buildDerivedCatalog, EMPTY_DERIVED } from '../policy/derived.ts';
import type { DerivedCatalog, DerivedRow } from '../policy/derived.ts';
import type { MaskCatalog } from './mask/types.ts';
import { buildInvokerViews, NO_INVOKER_VIEWS } from '../policy/invoker.ts';
import type { InvokerViews } from '../policy/invoker.ts';

/** Text results of one simple Query: per statement, its rows, each a list of (text | null) values. */
export interface QueryResults {
  readonly statements: (string | null)[][][];
  /** ErrorResponse fields (code char → value) when a statement failed. */
  error: Map<string, string> | null;
}

export interface CatalogNames {
  readonly relations: ReadonlySet<string>;
  readonly functions: ReadonlySet<string>;
}

const SEARCH_PATH_SQL =
  "SELECT s FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) AS s WHERE s <> 'pg_catalog' AND s !~ '^pg_temp'";
const CATALOG_RELATIONS_SQL =
  "SELECT relname FROM pg_catalog.pg_class WHERE relnamespace = 'pg_catalog'::pg_catalog.regnamespace";
const CATALOG_FUNCTIONS_SQL =
  "SELECT DISTINCT proname FROM pg_catalog.pg_proc WHERE pronamespace = 'pg_catalog'::pg_catalog.regnamespace";

/** A single-quoted literal. Safe because the session refuses servers without standard_conforming_strings. */
function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** "schema.table" of every masked column any policy in the set names (one catalog serves every identity). */
export function maskedTables(set: CompiledPolicySet): string[] {
  const tables = new Set<string>();
  for (const p of set.policies) {
    for (const col of Object.keys(p.masking)) {
      const parts = splitQualified(col);
      if (parts !== null) tables.add(`${parts[0]}.${parts[1]}`);
    }
  }
  return [...tables].sort();
}

/** "schema.table.column" → [schema, table, column]; quoted parts are not used in masking keys. */
function splitQualified(col: string): [string, string, string] | null {
  const a = col.split('.');
  if (a.length !== 3 || a.some((p) => p === '')) return null;
  return [a[0]!, a[1]!, a[2]!];
}

function pairsOf(tables: readonly string[]): string {
  return tables
    .map((t) => {
      const dot = t.indexOf('.');
      return `(${lit(t.slice(0, dot))}, ${lit(t.slice(dot + 1))})`;
    })
    .join(', ');
}

function maskColumnsSql(tables: readonly string[]): string | null {
  if (tables.length === 0) return null;
  const pairs = pairsOf(tables);
  return (
    'SELECT n.nspname, c.relname, c.oid, a.attnum, a.attname FROM pg_catalog.pg_attribute a '
    + 'JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace '
    + `WHERE a.attnum > 0 AND NOT a.attisdropped AND (n.nspname, c.relname) IN (${pairs}) ORDER BY 1, 2, 4`
  );
}

// Views, materialized views, tables with rewrite rules and SQL functions whose values may come from a
// masked table (policy/derived.ts, issue 11): the pg_depend closure of the masked tables and of every SQL
// function (a string body records no dependencies, so each is a seed and its body is analysed), with each
// relation's definition (pg_get_viewdef: `*` expanded, names qualified where the search_path would not
// find them), its columns, and what its rules or its function body depend on. Views that read none of
// these are not fetched: their values need no masking.
const REL = "'pg_catalog.pg_class'::pg_catalog.regclass";
const PROC = "'pg_catalog.pg_proc'::pg_catalog.regclass";
const RW = "'pg_catalog.pg_rewrite'::pg_catalog.regclass";
const READ_OF =
  `pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_array(CASE WHEN d.refclassid = ${REL} THEN 'r' ELSE 'f' END,`
  + ' COALESCE(rn.nspname, pn.nspname), COALESCE(rc.relname, pp.proname)))';
const READ_JOINS =
  ` LEFT JOIN pg_catalog.pg_class rc ON d.refclassid = ${REL} AND rc.oid = d.refobjid`
  + ' LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace'
  + ` LEFT JOIN pg_catalog.pg_proc pp ON d.refclassid = ${PROC} AND pp.oid = d.refobjid`
  + ' LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pp.pronamespace';

function derivedSql(pairs: string): string {
  return (
    `WITH RECURSIVE seed(classid, objid) AS (SELECT ${REL}, c.oid FROM pg_catalog.pg_class c`
    + ` JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE (n.nspname, c.relname) IN (${pairs})`
    + ` UNION ALL SELECT ${PROC}, p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang`
    + " WHERE l.lanname = 'sql' AND p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace"
    + " AND p.pronamespace <> 'information_schema'::pg_catalog.regnamespace),"
    + ' dep(classid, objid) AS (SELECT classid, objid FROM seed UNION'
    + ` SELECT CASE WHEN d.classid = ${RW} THEN ${REL} ELSE d.classid END, CASE WHEN d.classid = ${RW} THEN r.ev_class ELSE d.objid END`
    + " FROM dep JOIN pg_catalog.pg_depend d ON d.refclassid = dep.classid AND d.refobjid = dep.objid AND d.deptype = 'n'"
    + ` AND d.classid IN (${RW}, ${PROC}) LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = ${RW} AND r.oid = d.objid)`
    + " SELECT 'r', c.oid::pg_catalog.text, n.nspname, c.relname, c.relkind::pg_catalog.text,"
    + " CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END,"
    + ' (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attnum, a.attname) ORDER BY a.attnum) FROM pg_catalog.pg_attribute a'
    + ' WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::pg_catalog.text,'
    + ` (SELECT ${READ_OF} FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_depend d ON d.classid = ${RW} AND d.objid = w.oid AND d.deptype = 'n'`
    + `${READ_JOINS} WHERE w.ev_class = c.oid AND (rc.oid IS NOT NULL AND rc.oid <> c.oid OR pp.oid IS NOT NULL))::pg_catalog.text`
    + ` FROM (SELECT DISTINCT objid FROM dep WHERE classid = ${REL}) x JOIN pg_catalog.pg_class c ON c.oid = x.objid`
    + ' JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid)'
    + " UNION ALL SELECT 'f', p.oid::pg_catalog.text, n.nspname, p.proname, NULL, p.prosrc, NULL,"
    + ` (SELECT ${READ_OF} FROM pg_catalog.pg_depend d${READ_JOINS} WHERE d.classid = ${PROC} AND d.objid = p.oid AND d.deptype = 'n'`
    + ' AND (rc.oid IS NOT NULL OR pp.oid IS NOT NULL))::pg_catalog.text'
    + ` FROM (SELECT DISTINCT objid FROM dep WHERE classid = ${PROC}) x JOIN pg_catalog.pg_proc p ON p.oid = x.objid`
    + ' JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace ORDER BY 1, 3, 4, 2'
  );
}

function derivedRows(rows: (string | null)[][]): DerivedRow[] {
  const out: DerivedRow[] = [];
  for (const [k, oid, schema, name, relkind, definition, columns, reads] of rows) {
    out.push({
      kind: k === 'f' ? 'f' : 'r',
      oid: Number(oid),
      schema: schema ?? '',
      name: name ?? '',
      relkind: relkind ?? null,
      definition: definition ?? null,
      columns: columns == null ? null : (JSON.parse(columns) as [number, string][]),
      reads: reads == null ? null : (JSON.parse(reads) as [string, string, string][]),
    });
  }
  return out;
}

/**
 * Built catalogs by the exact rows they came from: each session fetches the rows, but analysing every view
 * definition again (~0.1–1 ms each) is needed only when one changed. A few entries: the catalog of each
 * database this process serves, and the one before the last change.
 */
const builtDerived = new Map<string, DerivedCatalog>();
const MAX_BUILT_DERIVED = 4;

function derivedCatalogOf(rows: (string | null)[][], analyze: (sql: string) => Analysis): DerivedCatalog {
  if (rows.length === 0) return EMPTY_DERIVED;
  const key = JSON.stringify(rows);
  let d = builtDerived.get(key);
  if (d === undefined) {
    d = buildDerivedCatalog(derivedRows(rows), analyze);
    if (builtDerived.size >= MAX_BUILT_DERIVED) builtDerived.delete(builtDerived.keys().next().value!);
    builtDerived.set(key, d);
  }
  return d;
}

/**
 * What existed when the catalog was fetched (issue 11: "where lineage cannot be established, mask"). A view
 * created afterwards by another connection is in neither the mask catalog nor the derived catalog, so the
 * session must not take it for a plain unmasked relation:
 * - by OID: RowDescription's table OID above `oidBound` names a relation created since (proxy/session);
 * - by name: a statement naming a relation or function that is not here is decided again after a refetch.
 *
 * OIDs come from one cluster-wide counter that only grows until it wraps at 2^32 (then restarts at 16384):
 * after a wraparound a new relation may get an OID below the bound, and a relation created by a transaction
 * that commits after the fetch may hold an OID assigned before it. The name check covers both unless the new
 * relation reuses the name of one that existed at the fetch (dropped and created again).
 */
export interface KnownObjects {
  /** The highest pg_class OID at the fetch. */
  readonly oidBound: number;
  /** Relation name → schemas holding one (every schema but TOAST and other sessions' temporary schemas). */
  readonly relations: ReadonlyMap<string, readonly string[]>;
  /** Function name → schemas holding one, outside pg_catalog (SessionContext.catalogFunctions has those). */
  readonly functions: ReadonlyMap<string, readonly string[]>;
}

// Relations every statement may name (indexes, TOAST and composite types cannot be), functions outside
// pg_catalog, and the OID bound, in one statement: 'o' row first.
const KNOWN_SQL =
  "SELECT 'o', NULL, COALESCE(pg_catalog.max(oid), 0)::pg_catalog.text FROM pg_catalog.pg_class"
  + " UNION ALL (SELECT 'r', n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
  + " WHERE c.relkind NOT IN ('i', 'I', 't', 'c') AND (n.nspname !~ '^pg_(toast_)?temp_' OR n.oid = pg_catalog.pg_my_temp_schema())"
  + " AND n.nspname <> 'pg_toast'"
  + " UNION SELECT 'f', n.nspname, p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
  + " WHERE p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace)";

/** The last KnownObjects built, by the text it came from: sessions of one database share one. */
let lastKnown: { key: string; known: KnownObjects } | null = null;

export function knownObjectsOf(rows: readonly (readonly (string | null)[])[]): KnownObjects {
  const key = rows.map((r) => r.join('\u0000')).join('\u0001');
  if (lastKnown !== null && lastKnown.key === key) return lastKnown.known;
  let oidBound = 0;
  const relations = new Map<string, string[]>();
  const functions = new Map<string, string[]>();
  for (const [k, schema, name] of rows) {
    if (k === 'o') {
      oidBound = Number(name);
      continue;
    }
    const m = k === 'r' ? relations : functions;
    const list = m.get(name!);
    if (list === undefined) m.set(name!, [schema!]);
    else list.push(schema!);
  }
  const known: KnownObjects = { oidBound, relations, functions };
  lastKnown = { key, known };
  return known;
}

const NEEDS_LINEAGE: ReadonlySet<string> = new Set([
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'MERGE',
  'COPY_TO',
  'COPY_FROM',
  'CALL',
]);

/**
 * The first relation or function a statement reads, writes or calls that did not exist when `known` was
 * fetched (name resolution as PostgreSQL's: an unqualified name in the session's temporary schema,
 * pg_catalog or the search_path), as "schema.name" or "name"; null when every one existed. Relations a DDL
 * statement creates or drops are not asked about, nor those in `ownCreated` (ownCreatedKeys of the session's
 * own DDL since the fetch: the proxy decided their definitions, so they copy no masked value).
 */
export function unknownObject(
  known: KnownObjects,
  statements: readonly StatementFacts[],
  searchPath: readonly string[],
  catalogFunctions: ReadonlySet<string>,
  ownCreated: ReadonlySet<string> | null = null,
): string | null {
  for (const f of statements) {
    for (const a of f.accesses) {
      if (a.kind === 'channel' || !NEEDS_LINEAGE.has(a.operation)) continue;
      const { schema, name } = a.relation;
      const fn = a.kind === 'function';
      if (fn && (schema === null || schema === 'pg_catalog') && catalogFunctions.has(name)) continue;
      if (ownCreated !== null && ownCreated.has(schema === null ? `\u0000${name}` : `${schema}\u0000${name}`)) continue;
      if (!existed((fn ? known.functions : known.relations).get(name), schema, searchPath))
        return schema === null ? name : `${schema}.${name}`;
    }
  }
  return null;
}

/** What a DDL statement names, as unknownObject's `ownCreated` holds it: qualified, and as an unqualified name would find it. */
export function ownCreatedKeys(f: StatementFacts, into: Set<string>): void {
  for (const a of f.accesses) {
    if (a.operation !== 'DDL' || a.kind === 'channel') continue;
    into.add(`\u0000${a.relation.name}`);
    if (a.relation.schema !== null) into.add(`${a.relation.schema}\u0000${a.relation.name}`);
  }
}

/** One of `schemas` is where PostgreSQL finds `schema`.name (or an unqualified name). Per statement: no closures. */
function existed(
  schemas: readonly string[] | undefined,
  schema: string | null,
  searchPath: readonly string[],
): boolean {
  if (schemas === undefined) return false;
  for (const s of schemas) {
    if (
      schema !== null
        ? s === schema || (schema === 'pg_temp' && s.startsWith('pg_temp_'))
        : s === 'pg_catalog' || s.startsWith('pg_temp_') || searchPath.includes(s)
    )
      return true;
  }
  return false;
}

// security_invoker views (policy/invoker.ts): each with the tables, views, materialized views and foreign
// tables its rewrite rule depends on. The option's value is whatever the DDL said (`on`, `1`, `true`, …):
// boolin accepts exactly what the server's reloption parser did. Fetched whatever the policy masks: it is
// about privileges.
const INVOKER_SQL =
  'SELECT n.nspname, c.relname, (SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_array(rn.nspname, rc.relname))'
  + ` FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_depend d ON d.classid = ${RW} AND d.objid = w.oid AND d.deptype = 'n'`
  + ` AND d.refclassid = ${REL} JOIN pg_catalog.pg_class rc ON rc.oid = d.refobjid AND rc.oid <> c.oid`
  + " AND rc.relkind IN ('r', 'p', 'v', 'm', 'f') JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace"
  + ' WHERE w.ev_class = c.oid)::pg_catalog.text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'
  + " WHERE c.relkind = 'v' AND EXISTS (SELECT 1 FROM pg_catalog.unnest(c.reloptions) o WHERE CASE"
  + " WHEN pg_catalog.split_part(o, '=', 1) = 'security_invoker' THEN pg_catalog.split_part(o, '=', 2)::pg_catalog.bool ELSE false END)"
  + ' ORDER BY 1, 2';

function invokerViewsOf(rows: (string | null)[][]): InvokerViews {
  if (rows.length === 0) return NO_INVOKER_VIEWS;
  return buildInvokerViews(
    rows.map(([schema, name, reads]) => ({
      schema: schema ?? '',
      name: name ?? '',
      reads: reads == null ? [] : (JSON.parse(reads) as [string, string][]),
    })),
  );
}

/** What to ask in the setup round trip; `parse` turns the answers into the pieces. */
export interface SetupPlan {
  readonly sql: string;
  parse(r: QueryResults): {
    searchPath: string[];
    names: CatalogNames | null;
    maskCatalog: MaskCatalog | null;
    derived: DerivedCatalog | null;
    known: KnownObjects | null;
    invoker: InvokerViews;
  };
}

/**
 * `analyze` (the statement analyzer) reads view definitions and SQL function bodies; with masked tables the
 * plan also fetches the derived catalog, and the mask catalog then maps view columns too.
 */
export function setupPlan(opts: {
  needNames: boolean;
  maskTables: readonly string[] | null;
  analyze?: (sql: string) => Analysis;
}): SetupPlan {
  const parts = [SEARCH_PATH_SQL];
  if (opts.needNames) parts.push(CATALOG_RELATIONS_SQL, CATALOG_FUNCTIONS_SQL);
  const maskSql = opts.maskTables === null ? null : maskColumnsSql(opts.maskTables);
  if (maskSql !== null) parts.push(maskSql);
  const derivedQuery = maskSql === null || opts.analyze === undefined ? null : derivedSql(pairsOf(opts.maskTables!));
  if (derivedQuery !== null) parts.push(derivedQuery, KNOWN_SQL);
  parts.push(INVOKER_SQL);
  return {
    sql: parts.join('; '),
    parse(r) {
      if (r.error !== null)
        throw new Error(
          `catalog query failed: ${r.error.get('M') ?? 'unknown error'} (SQLSTATE ${r.error.get('C') ?? '?'})`,
        );
      let i = 0;
      const col0 = (rows: (string | null)[][] | undefined) => (rows ?? []).map((row) => row[0] ?? '');
      const searchPath = col0(r.statements[i++]);
      let names: CatalogNames | null = null;
      if (opts.needNames) {
        names = { relations: new Set(col0(r.statements[i++])), functions: new Set(col0(r.statements[i++])) };
      }
      let maskCatalog: MaskCatalog | null = null;
      let derived: DerivedCatalog | null = null;
      let known: KnownObjects | null = null;
      if (opts.maskTables !== null) {
        maskCatalog = buildMaskCatalog(maskSql === null ? [] : (r.statements[i++] ?? []), opts.maskTables);
        derived = derivedQuery === null ? EMPTY_DERIVED : derivedCatalogOf(r.statements[i++] ?? [], opts.analyze!);
        if (derivedQuery !== null) known = knownObjectsOf(r.statements[i++] ?? []);
        if (derived.columnsByOid.size > 0) {
          // RowDescription names the view (its OID and attnum), not the base table: map its columns too.
          const byOid = new Map(maskCatalog.byOid);
          for (const [oid, cols] of derived.columnsByOid) byOid.set(oid, cols);
          maskCatalog = { byOid, columnsOf: maskCatalog.columnsOf };
        }
      }
      const invoker = invokerViewsOf(r.statements[i++] ?? []);
      return { searchPath, names, maskCatalog, derived, known, invoker };
    },
  };
}

function buildMaskCatalog(rows: (string | null)[][], _tables: readonly string[]): MaskCatalog {
  const byOid = new Map<number, Map<number, string>>();
  const columnsOf = new Map<string, string[]>();
  for (const [nsp, rel, oid, attnum, attname] of rows) {
    const table = `${nsp}.${rel}`;
    let cols = columnsOf.get(table);
    if (cols === undefined) columnsOf.set(table, (cols = []));
    cols.push(attname!);
    let m = byOid.get(Number(oid));
    if (m === undefined) byOid.set(Number(oid), (m = new Map()));
    // Every column of a table with masked columns is mapped; resolveRowMask asks plan.columns whether
    // the qualified name is masked for this identity.
    m.set(Number(attnum), `${table}.${attname}`);
  }
  return { byOid, columnsOf };
}

export const EMPTY_MASK_CATALOG: MaskCatalog = { byOid: new Map(), columnsOf: new Map() };

/**
 * Collects the text results of a simple Query from its response messages. feed() returns true at
 * ReadyForQuery. Used for the proxy's own queries only (never client traffic), so it may allocate.
 */
export class ResultCollector implements QueryResults {
  readonly statements: (string | null)[][][] = [];
  error: Map<string, string> | null = null;
  #current: (string | null)[][] | null = null;

  feed(buf: Buffer, type: number, start: number, end: number): boolean {
    switch (type) {
      case 0x54: // RowDescription
        this.#current = [];
        return false;
      case 0x44: {
        // DataRow
        const row: (string | null)[] = [];
        const n = buf.readInt16BE(start + 5);
        let at = start + 7;
        for (let i = 0; i < n; i++) {
          const len = buf.readInt32BE(at);
          at += 4;
          if (len < 0) {
            row.push(null);
            continue;
          }
          if (at + len > end) throw new Error('DataRow value runs past the message end');
          row.push(buf.toString('utf8', at, at + len));
          at += len;
        }
        (this.#current ??= []).push(row);
        return false;
      }
      case 0x43: // CommandComplete
      case 0x49: // EmptyQueryResponse
        this.statements.push(this.#current ?? []);
        this.#current = null;
        return false;
      case 0x45: {
        // ErrorResponse
        const f = new Map<string, string>();
        let at = start + 5;
        while (at < end && buf[at] !== 0) {
          const code = String.fromCharCode(buf[at]!);
          const z = buf.indexOf(0, at + 1);
          if (z < 0 || z >= end) break;
          f.set(code, buf.toString('utf8', at + 1, z));
          at = z + 1;
        }
        this.error = f;
        return false;
      }
      case 0x5a: // ReadyForQuery
        return true;
      default:
        return false;
    }
  }
}
