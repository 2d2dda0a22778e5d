// What the session needs to know about the upstream database before it decides anything
// (style.md §3: decide on what PostgreSQL will actually do): the effective search_path, the names
// that exist in pg_catalog (an unqualified name resolves there first), and where masked columns
// sit in the catalog (RowDescription carries table OID + attnum, proxy/mask/resolve.ts).
//
// Everything is fetched in ONE simple-protocol round trip on the session's own upstream connection,
// before the client gets ReadyForQuery. Catalog names are cached per proxy process + database (they
// change only with a major upgrade); the mask catalog per policy generation + database, and
// refetched by a session after it runs DDL (an OID or attnum may have changed).
import type { CompiledPolicySet } from '../policy/types.ts';
import type { MaskCatalog } from './mask/types.ts';

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

function maskColumnsSql(tables: readonly string[]): string | null {
  if (tables.length === 0) return null;
  const pairs = tables.map((t) => {
    const dot = t.indexOf('.');
    return `(${lit(t.slice(0, dot))}, ${lit(t.slice(dot + 1))})`;
  }).join(', ');
  return 'SELECT n.nspname, c.relname, c.oid, a.attnum, a.attname FROM pg_catalog.pg_attribute a ' +
    'JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ' +
    `WHERE a.attnum > 0 AND NOT a.attisdropped AND (n.nspname, c.relname) IN (${pairs}) ORDER BY 1, 2, 4`;
}

/** What to ask in the setup round trip; `parse` turns the answers into the pieces. */
export interface SetupPlan {
  readonly sql: string;
  parse(r: QueryResults): { searchPath: string[]; names: CatalogNames | null; maskCatalog: MaskCatalog | null };
}

export function setupPlan(opts: { needNames: boolean; maskTables: readonly string[] | null }): SetupPlan {
  const parts = [SEARCH_PATH_SQL];
  if (opts.needNames) parts.push(CATALOG_RELATIONS_SQL, CATALOG_FUNCTIONS_SQL);
  const maskSql = opts.maskTables === null ? null : maskColumnsSql(opts.maskTables);
  if (maskSql !== null) parts.push(maskSql);
  return {
    sql: parts.join('; '),
    parse(r) {
      if (r.error !== null) throw new Error(`catalog query failed: ${r.error.get('M') ?? 'unknown error'} (SQLSTATE ${r.error.get('C') ?? '?'})`);
      let i = 0;
      const col0 = (rows: (string | null)[][] | undefined) => (rows ?? []).map((row) => row[0] ?? '');
      const searchPath = col0(r.statements[i++]);
      let names: CatalogNames | null = null;
      if (opts.needNames) {
        names = { relations: new Set(col0(r.statements[i++])), functions: new Set(col0(r.statements[i++])) };
      }
      let maskCatalog: MaskCatalog | null = null;
      if (opts.maskTables !== null) {
        maskCatalog = buildMaskCatalog(maskSql === null ? [] : r.statements[i++] ?? [], opts.maskTables);
      }
      return { searchPath, names, maskCatalog };
    },
  };
}

function buildMaskCatalog(rows: (string | null)[][], _tables: readonly string[]): MaskCatalog {
  const byOid = new Map<number, Map<number, string>>();
  const columnsOf = new Map<string, string[]>();
  for (const [nsp, rel, oid, attnum, attname] of rows) {
    const table = `${nsp}.${rel}`;
    let cols = columnsOf.get(table);
    if (cols === undefined) columnsOf.set(table, cols = []);
    cols.push(attname!);
    let m = byOid.get(Number(oid));
    if (m === undefined) byOid.set(Number(oid), m = new Map());
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
      case 0x44: { // DataRow
        const row: (string | null)[] = [];
        const n = buf.readInt16BE(start + 5);
        let at = start + 7;
        for (let i = 0; i < n; i++) {
          const len = buf.readInt32BE(at);
          at += 4;
          if (len < 0) { row.push(null); continue; }
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
      case 0x45: { // ErrorResponse
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
