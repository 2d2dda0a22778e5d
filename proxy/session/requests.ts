// The outstanding-request queue (style.md §3; pgbouncer/pgbouncer/src/objects.c add_outstanding_request /
// pop_outstanding_request). Every message the session sends upstream that PostgreSQL answers gets one entry,
// in send order; every server message is matched to the entry at the head. Denials are poison statements that
// travel upstream like anything else (docs/adr/0001-denial-by-poison-statement.md), so the proxy never
// invents a response out of order and pipelining stays correct.
import type { Decision, StatementFacts } from '../../policy/types.ts';
import type { RowMask } from '../mask/types.ts';
import type { FieldInfo } from '../wire/read.ts';
import type { BinaryCopyState, CopyOptions } from '../mask/copy.ts';
import type { PgErrorFields } from '../wire/messages.ts';
import type { ResultCollector } from '../catalog.ts';
import type { Guard } from '../enforce/guardrails.ts';

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
  /** COPY (query) TO: the query's fields, from the proxy's own Describe of the query (K_COPY_DESCRIBE). */
  copyFields?: FieldInfo[] | null;
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
  /** COPY (query) TO: the query's fields (source table, attnum, type), described before it ran. */
  copyFields: FieldInfo[] | null;
  /** Binary COPY with masked columns: the stream's state (mask/copy.ts maskCopyBinary). */
  copyBinary: BinaryCopyState | null;
  /** COPY … TO with HEADER and masked columns: the next CopyData is the header line, passed as it came. */
  copyHeader: boolean;
  maskedColumns: string[] | null;
  rows: number | null;
  code: string | null;
  rolledBack: boolean;
  done: boolean;
}

export const K_QUERY = 1; // simple Query (client's, or a poison in its place): ends at ReadyForQuery
export const K_PARSE = 2;
export const K_BIND = 3;
export const K_DESCRIBE = 4;
export const K_EXECUTE = 5;
export const K_CLOSE = 6;
export const K_SYNC = 7;
export const K_INTERNAL = 8; // the proxy's own simple Query: every response swallowed
export const K_DESCRIBE_INTERNAL = 9; // injected Describe P: response swallowed, fields kept on the portal
/** Injected Close S / Parse / Bind / Execute / Close P of CHANGED_ROWS_SQL (a guarded Execute): responses swallowed. */
export const K_COUNT = 10;
/**
 * The proxy's Describe of a COPY (query)'s query, to mask its output as rows are (issue 12). Simple protocol:
 * Parse "" / Describe S / Sync while the client is held; its Query follows once described, or the client gets
 * the error instead. Extended: Parse / Describe S / Close S of a reserved name, ahead of the client's Parse;
 * an error is the batch's (the server skips to Sync). Responses are swallowed, fields kept.
 */
export const K_COPY_DESCRIBE = 11;

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
  /**
   * K_SYNC sent while a COPY FROM STDIN the client started was still taking its input: if that COPY enters
   * copy-in mode, PostgreSQL ignores this Sync (protocol 55.2.6: "The backend will ignore Flush and Sync
   * messages received during copy-in mode"), so it is dropped from the queue at CopyInResponse.
   */
  duringCopy: boolean;
  /** K_COPY_DESCRIBE: what was learnt and what waits for it. */
  copy: CopyDescribe | null;
}

export interface CopyDescribe {
  /** true: the extended-protocol form (ends at CloseComplete); false: the simple form (ends at ReadyForQuery). */
  readonly extended: boolean;
  fields: FieldInfo[] | null;
  /** Simple form: the ErrorResponse the Parse or Describe got (a copy), sent to the client in place of the COPY's. */
  error: Buffer | null;
  /** Simple form: the client's Query (a copy) and its request, sent once described. */
  readonly query: Buffer | null;
  readonly resume: Req | null;
  /** Extended form: the client's statement, which keeps the fields for its Execute. */
  readonly stmt: Prepared | null;
}

export function req(kind: number): Req {
  return {
    kind,
    denial: null,
    runs: null,
    runIndex: 0,
    portal: null,
    stmt: null,
    collector: null,
    onDone: null,
    counted: null,
    closes: 0,
    onCount: null,
    guard: null,
    duringCopy: false,
    copy: null,
  };
}

export function run(facts: StatementFacts | null, decision: Decision, startMs: number, normalized: string): Run {
  return {
    facts,
    decision,
    startMs,
    normalized,
    rowMask: null,
    fields: null,
    copyMask: null,
    copyOptions: null,
    copyFields: null,
    copyBinary: null,
    copyHeader: false,
    maskedColumns: null,
    rows: null,
    code: null,
    rolledBack: false,
    done: false,
  };
}
