// Contract between the session (proxy/session) and the masking code (proxy/mask).
// Everything here works on offsets into the buffer the message arrived in; see ../../../shared/style.md §2.
import type { MaskStrategy } from '../../policy/types.ts';

/** Per result field: the strategy to apply, or null to pass the value through untouched. */
export type RowMask = readonly (MaskStrategy | null)[];

/** Settings every strategy needs. `hashKey` keys the HMAC of the `hash` strategy (per binding). */
export interface MaskSettings {
  readonly hashKey: Buffer;
}

/** Where a masked column sits in the upstream catalog: (table OID, attnum) → "schema.table.column". */
export interface MaskCatalog {
  readonly byOid: ReadonlyMap<number, ReadonlyMap<number, string>>;
  /** "schema.table" → ordered column names (non-dropped), for COPY and `*` expansion. */
  readonly columnsOf: ReadonlyMap<string, readonly string[]>;
}
