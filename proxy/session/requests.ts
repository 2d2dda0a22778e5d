// The outstanding-request queue (style.md §3; pgbouncer/pgbouncer/src/objects.c add_outstanding_request /
// pop_outstanding_request). Every message the session sends upstream that PostgreSQL answers gets one entry,
// in send order; every server message is matched to the entry at the head. Denials are poison statements that
// travel upstream like anything else (docs/adr/0001-denial-by-poison-statement.md), so the proxy never
// invents a response out of order and pipelining stays correct.
import type { Decision, StatementFacts } from '../../policy/types.ts';
import type { FieldInfo, RowMask } from '../mask/types.ts';
import type { CopyOptions } from '../mask/copy.ts';
import type { PgErrorFields } from '../wire/messages.ts';
import type { ResultCollector } from '../catalog.ts';

/** A prepared statement as the session knows it (protocol Parse or SQL PREPARE share one namespace). */
export interface Prepared {
  readonly name: string;
  readonly text: string;
  readonly facts: StatementFacts;
  decision: Decision;
  generation: number;
  /** The catalog of views and SQL functions it was decided with (DerivedCatalog.id): a change means deciding again. */
  catalog: string;
  normalized: string;
  /** From a Describe S response: fields with format 0 (the statement's formats are not yet known). */
  fields: FieldInfo[] | null;
  describeSent: boolean;
}

export interface Portal {
  readonly name: string;
  readonly stmt: Prepared;
  readonly resultFormats: number[];
  fields: FieldInfo[] | null;
  describeSent: boolean;
}

/** One statement being run: what the response stream needs to mask and audit it. */
export interface Run {
  readonly facts: StatementFacts | null;
  readonly decision: Decision;
  readonly startMs: number;
  readonly normalized: string;
  rowMask: RowMask | null;
  fields: FieldInfo[] | null;
  copyMask: RowMask | null;
  copyOptions: CopyOptions | null;
  /** Touches a relation with masked columns: errors and notices get scrubbed. */
  scrub: boolean;
  maskedColumns: string[] | null;
  rows: number | null;
  code: string | null;
  rolledBack: boolean;
  done: boolean;
}

export const K_QUERY = 1;      // simple Query (client's, or a poison in its place): ends at ReadyForQuery
export const K_PARSE = 2;
export const K_BIND = 3;
export const K_DESCRIBE = 4;
export const K_EXECUTE = 5;
export const K_CLOSE = 6;
export const K_SYNC = 7;
export const K_INTERNAL = 8;   // the proxy's own simple Query: every response swallowed
export const K_DESCRIBE_INTERNAL = 9; // injected Describe P: response swallowed, fields kept on the portal
/** Injected Close S / Parse / Bind / Execute / Close P of CHANGED_ROWS_SQL (a guarded Execute): responses swallowed. */
export const K_COUNT = 10;

export interface Req {
  readonly kind: number;
  /** Replace the ErrorResponse this request provokes (the poison's 42883) with these fields. */
  denial: PgErrorFields | null;
  /** K_QUERY: one Run per statement; runIndex advances on CommandComplete / EmptyQueryResponse. */
  runs: Run[] | null;
  runIndex: number;
  /** K_EXECUTE / K_DESCRIBE(P) / K_DESCRIBE_INTERNAL */
  portal: Portal | null;
  /** K_PARSE / K_DESCRIBE(S) */
  stmt: Prepared | null;
  /** K_INTERNAL: collects the rows; onDone runs at its ReadyForQuery with that message's bytes. */
  collector: ResultCollector | null;
  onDone: ((rfq: Buffer) => void) | null;
  /** K_COUNT: the value read, CloseCompletes seen (the second one ends it), and what to do with it. */
  counted: number | null;
  closes: number;
  onCount: ((n: number) => void) | null;
  /** A guarded write (maxAffectedRows): rows and CommandComplete held until the count is known. */
  guard: Guard | null;
}

export interface Guard {
  readonly limit: number;
  readonly policy: string | null;
  readonly inBlock: boolean;       // SAVEPOINT inside a transaction block, else BEGIN … COMMIT/ROLLBACK
  readonly what: string;
  held: Buffer[];
  heldRows: number;
  /** Rows the statement changed: the transaction's tuple counters after it minus before it (CHANGED_ROWS_SQL). */
  count: number | null;
  /** The counters when the statement started (null until read). */
  before: number | null;
  /** The row count of its CommandComplete tag (a lower bound of count). */
  tagCount: number | null;
  /** Result rows beyond the limit are forwarded as they come rather than held (session.ts #guardRow). */
  streaming: boolean;
  failed: boolean;
}

export function guard(limit: number, policy: string | null, inBlock: boolean, what: string): Guard {
  return { limit, policy, inBlock, what, held: [], heldRows: 0, count: null, before: null, tagCount: null, streaming: false, failed: false };
}

/**
 * What a statement really changed, for maxAffectedRows (issue 11): the current transaction's tuple counters
 * (pg_stat_get_xact_tuples_*: inserted + updated + deleted, pending subtransactions included), read before
 * and after the statement inside the same transaction. They count every shape — DML inside WITH, several
 * data-modifying CTEs, EXPLAIN ANALYZE, rules, triggers and cascades — where the CommandComplete tag counts
 * only the top-level statement's own rows. TOAST tables are left out (one wide value is many chunks) and so
 * is pg_catalog. A row moved between partitions counts twice (a delete and an insert). With track_counts off
 * the counters stay at zero: the query answers -1 and the guard fails closed.
 */
export const CHANGED_ROWS_SQL = "SELECT CASE WHEN pg_catalog.current_setting('track_counts')::pg_catalog.bool THEN"
  + ' COALESCE(pg_catalog.sum(pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid)'
  + ' + pg_catalog.pg_stat_get_xact_tuples_updated(c.oid) + pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid)), 0) ELSE -1 END::pg_catalog.int8'
  + " FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'm', 'p') AND c.relnamespace <> 'pg_catalog'::pg_catalog.regnamespace";

export function req(kind: number): Req {
  return { kind, denial: null, runs: null, runIndex: 0, portal: null, stmt: null, collector: null, onDone: null, counted: null, closes: 0, onCount: null, guard: null };
}

export function run(facts: StatementFacts | null, decision: Decision, startMs: number, normalized: string): Run {
  return {
    facts, decision, startMs, normalized, rowMask: null, fields: null, copyMask: null, copyOptions: null,
    scrub: false, maskedColumns: null, rows: null, code: null, rolledBack: false, done: false,
  };
}
