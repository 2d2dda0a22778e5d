// DecisionCache: statement text → whatever the proxy stores (its Analysis + Decision), bounded in
// bytes, not entries (pgdogdev/pgdog#1261: a count-bounded AST cache grew from 30 MB to 3 GB).
//
// Ownership and invalidation: a cache belongs to ONE Selected (policy generation, identity,
// database) and one session context (searchPath, catalog, grants). It holds no key for any of
// those; when one changes — a new generation, a SET that the proxy tracks, a grant approved, expired
// or revoked — the owner drops the object and makes a new one. Nothing is ever invalidated in place.
//
// Two lookups:
//   exact: by the statement text as received. Always safe.
//   shape: by libpg-query's normalized text (literals → $n). Only for entries whose analysis was
//     shapeCacheable (design.md: a literal that is code or a name — DO body, '…'::regclass,
//     set_config argument — must not be replaced); the caller says so when it stores.
// LRU by Map insertion order: a hit deletes and re-inserts. Each map is LRU on its own; when over
// budget the map holding more bytes gives up its oldest entry, which approximates a global LRU
// without a linked list. A hit allocates nothing beyond the Map operations.

/** Estimated bytes per entry besides its key: Map slot, entry object, and the value's share. */
export const ENTRY_OVERHEAD_BYTES = 256;
export const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;

interface Entry<V> { readonly value: V; readonly bytes: number }

export class DecisionCache<V> {
  readonly maxBytes: number;
  #bytes = 0;
  #exactBytes = 0;
  readonly #exact = new Map<string, Entry<V>>();
  readonly #shape = new Map<string, Entry<V>>();

  constructor(maxBytes: number = DEFAULT_CACHE_BYTES) {
    if (!(maxBytes >= 0)) throw new RangeError(`cache size must be a non-negative number of bytes, got ${maxBytes}`);
    this.maxBytes = maxBytes;
  }

  /** Approximate bytes held (JS strings are UTF-16: 2 bytes per code unit). */
  get bytes(): number { return this.#bytes; }
  get size(): number { return this.#exact.size + this.#shape.size; }

  getExact(text: string): V | undefined { return hit(this.#exact, text); }
  getShape(normalized: string): V | undefined { return hit(this.#shape, normalized); }

  /**
   * Store `value` under the exact text and, when `normalized` is not null (the analysis was
   * shapeCacheable), under the normalized text too. `valueBytes` adds to the fixed per-entry
   * estimate for values much larger than usual (e.g. a long output list).
   */
  set(text: string, value: V, normalized: string | null = null, valueBytes = 0): void {
    this.#put(this.#exact, text, value, valueBytes, true);
    if (normalized !== null) this.#put(this.#shape, normalized, value, valueBytes, false);
  }

  clear(): void { this.#exact.clear(); this.#shape.clear(); this.#bytes = 0; this.#exactBytes = 0; }

  #put(map: Map<string, Entry<V>>, key: string, value: V, extra: number, exact: boolean): void {
    const bytes = key.length * 2 + ENTRY_OVERHEAD_BYTES + extra;
    const old = map.get(key);
    if (old !== undefined) { map.delete(key); this.#account(-old.bytes, exact); }
    if (bytes > this.maxBytes) return;           // would evict everything and still not fit
    map.set(key, { value, bytes });
    this.#account(bytes, exact);
    while (this.#bytes > this.maxBytes) {
      const fromExact = this.#exactBytes * 2 >= this.#bytes ? this.#exact.size > 0 : this.#shape.size === 0;
      const victimMap = fromExact ? this.#exact : this.#shape;
      const first = victimMap.keys().next();
      if (first.done === true) break;
      const e = victimMap.get(first.value) as Entry<V>;
      victimMap.delete(first.value);
      this.#account(-e.bytes, fromExact);
    }
  }
  #account(delta: number, exact: boolean): void {
    this.#bytes += delta;
    if (exact) this.#exactBytes += delta;
  }
}

function hit<V>(map: Map<string, Entry<V>>, key: string): V | undefined {
  const e = map.get(key);
  if (e === undefined) return undefined;
  map.delete(key);
  map.set(key, e);
  return e.value;
}
