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
// without a linked list. A hit allocates nothing beyond the Map operations, and a hit on the entry that is
// already the most recent of its map (a client repeating one statement shape: pgbench, a polling loop) does
// not even move it: delete + set would leave the order as it is.

/** Estimated bytes per entry besides its key: Map slot, entry object, and the value's share. */
export const ENTRY_OVERHEAD_BYTES = 256;
export const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;

interface Entry<V> {
  readonly value: V;
  readonly bytes: number;
}

export class DecisionCache<V> {
  readonly maxBytes: number;
  #bytes = 0;
  #exactBytes = 0;
  readonly #exact = new Map<string, Entry<V>>();
  readonly #shape = new Map<string, Entry<V>>();
  /**
   * The entry last inserted into or moved to the end of each map. Every insertion and every move sets it, and
   * removals move nothing, so while it is still in its map it is that map's last entry. (A removed one is never
   * returned by a lookup, and a key set again gets a new Entry object.)
   */
  #newestExact: Entry<V> | null = null;
  #newestShape: Entry<V> | null = null;

  constructor(maxBytes: number = DEFAULT_CACHE_BYTES) {
    if (!(maxBytes >= 0)) throw new RangeError(`cache size must be a non-negative number of bytes, got ${maxBytes}`);
    this.maxBytes = maxBytes;
  }

  /** Approximate bytes held (JS strings are UTF-16: 2 bytes per code unit). */
  get bytes(): number {
    return this.#bytes;
  }
  get size(): number {
    return this.#exact.size + this.#shape.size;
  }

  getExact(text: string): V | undefined {
    const e = this.#exact.get(text);
    if (e === undefined) return undefined;
    if (e !== this.#newestExact) {
      this.#exact.delete(text);
      this.#exact.set(text, e);
      this.#newestExact = e;
    }
    return e.value;
  }
  getShape(normalized: string): V | undefined {
    const e = this.#shape.get(normalized);
    if (e === undefined) return undefined;
    if (e !== this.#newestShape) {
      this.#shape.delete(normalized);
      this.#shape.set(normalized, e);
      this.#newestShape = e;
    }
    return e.value;
  }

  /**
   * Store `value` under the exact text and, when `normalized` is not null (the analysis was
   * shapeCacheable), under the normalized text too. `valueBytes` adds to the fixed per-entry
   * estimate for values much larger than usual (e.g. a long output list).
   */
  set(text: string, value: V, normalized: string | null = null, valueBytes = 0): void {
    this.#put(this.#exact, text, value, valueBytes, true);
    if (normalized !== null) this.#put(this.#shape, normalized, value, valueBytes, false);
  }

  clear(): void {
    this.#exact.clear();
    this.#shape.clear();
    this.#bytes = 0;
    this.#exactBytes = 0;
    this.#newestExact = null;
    this.#newestShape = null;
  }

  #put(map: Map<string, Entry<V>>, key: string, value: V, extra: number, exact: boolean): void {
    const bytes = key.length * 2 + ENTRY_OVERHEAD_BYTES + extra;
    const old = map.get(key);
    if (old !== undefined) {
      map.delete(key);
      this.#account(-old.bytes, exact);
    }
    if (bytes > this.maxBytes) return; // would evict everything and still not fit
    const entry = { value, bytes };
    map.set(key, entry);
    if (exact) this.#newestExact = entry;
    else this.#newestShape = entry;
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
