// Contract between the session (proxy/session) and the masking code (proxy/mask).
// Everything here works on offsets into the buffer the message arrived in; see ../../../shared/style.md §2.
import type { MaskStrategy } from '../../policy/types.ts';

/** One field of a RowDescription, as PostgreSQL sent it (protocol-message-formats: RowDescription). */
export interface FieldInfo {
  readonly name: string;
  readonly tableOid: number;     // 0 when the column is not a simple reference to a table column
  readonly attnum: number;       // 0 likewise
  readonly typeOid: number;
  readonly typeLen: number;
  readonly typeMod: number;
  readonly format: 0 | 1;        // 0 text, 1 binary
}

/** Per result field: the strategy to apply, or null to pass the value through untouched. */
export type RowMask = readonly (MaskStrategy | null)[];

/** Settings every strategy needs. `hashKey` keys the HMAC of the `hash` strategy (per binding). */
export interface MaskSettings { readonly hashKey: Buffer }

/** Where a masked column sits in the upstream catalog: (table OID, attnum) → "schema.table.column". */
export interface MaskCatalog {
  readonly byOid: ReadonlyMap<number, ReadonlyMap<number, string>>;
  /** "schema.table" → ordered column names (non-dropped), for COPY and `*` expansion. */
  readonly columnsOf: ReadonlyMap<string, readonly string[]>;
}
