// Gives back the memory one large statement made libpg-query's WebAssembly instance take (issue 16).
//
// A WebAssembly memory only grows: parsing an 800 KB statement grows the instance's linear memory from its
// initial 128 MiB and touches ~250 MiB of it, and neither comes back when the parse is over (PostgreSQL's memory
// contexts are freed into the instance's own malloc, never to the OS). A sidecar that once analysed a bulk
// INSERT would keep that for the rest of its life, next to the sidecar's memory limit (docs/performance.md, "Memory of the
// sidecar"). The only way to give it back is to drop the instance: after a long statement, or one that grew the
// memory, a new instance is made in the background and swapped in; the old one's memory is then garbage.
//
// How the swap reaches the functions policy/analyze calls: libpg-query's wasm/index.cjs keeps the Emscripten
// module object that its factory (wasm/libpg-query.js) returned in a private variable, and its parseSync /
// normalizeSync / scanSync look up `wasmModule._malloc`, `wasmModule._wasm_parse_query_raw`, `getValue`, … on
// that object at every call. This file is evaluated before index.cjs (proxy/enforce/analyzer.ts imports it, and
// imports libpg-query only dynamically, in loadParser()), puts a wrapper of the factory into require's cache so
// that it keeps a reference to that object, and swaps by copying the new instance's exports and runtime helpers
// over the old ones. The copy runs in a promise callback, so never during a (synchronous) parse; the statements
// before it are served by the old instance.
// The V8 flags of docs/adr/0004 are process-wide, and V8 reuses the first instance's compiled module for the
// same bytes: the new instance runs on Liftoff only like the first (checked in parser-instance.test.ts: no
// VmHWM rise over 3,000 parses on it; also when tiering is switched back on before the replacement).
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What index.cjs reads of the Emscripten module object (all assigned by the factory, so all replaced by a swap). */
interface PgQueryInstance {
  HEAPU8: Uint8Array;
  [name: string]: unknown;
}
type Factory = (moduleArg?: object) => Promise<PgQueryInstance>;

/**
 * Statements at least this long make the instance be replaced even when its memory did not grow: the memory
 * starts at 128 MiB, and the pages a parse touches inside it stay resident just the same (bench/parser-memory.ts:
 * a 100 KB SELECT leaves ~40 MiB, a 300 KB one ~100 MiB, without growing it). 64 KiB leaves at most ~25 MiB
 * behind; the statements applications send all day are far shorter, so they never pay for a replacement.
 */
export const RECYCLE_STATEMENT_LENGTH = 64 * 1024;

const require = createRequire(import.meta.url);
const indexPath = require.resolve('libpg-query');
const factoryPath = require.resolve('libpg-query/wasm/libpg-query.js');

let shared: PgQueryInstance | undefined;
let initialBytes = 0;
let replacing: Promise<void> | null = null;
let recycled = 0;

const factory = require(factoryPath) as Factory;
// Only when index.cjs has not been loaded yet (it calls the factory at load): otherwise the object is out of
// reach and the instance is never replaced, which recyclable() reports. The proxy and the sidecar reach
// libpg-query only through analyzer.ts (parser-instance.test.ts and test/proxy/parser-memory.test.ts fail
// otherwise); `airlock policy` imports policy/analyze statically and keeps its one instance — a one-shot CLI.
if (require.cache[indexPath] === undefined) {
  const wrapped: Factory = async (moduleArg) => {
    const instance = await factory(moduleArg);
    if (shared === undefined) {
      shared = instance;
      initialBytes = instance.HEAPU8.buffer.byteLength;
    }
    return instance;
  };
  require.cache[factoryPath]!.exports = wrapped;
}

/** Whether this process holds libpg-query's instance, so that afterParse() can replace it. */
export function recyclable(): boolean {
  return shared !== undefined;
}

/** Bytes of the WebAssembly memory of the instance parseSync/normalizeSync use now (0 before it is loaded). */
export function wasmMemoryBytes(): number {
  return shared?.HEAPU8.buffer.byteLength ?? 0;
}

/** How many times the instance was replaced in this process (for tests and the benchmark). */
export function recycleCount(): number {
  return recycled;
}

/**
 * Called after each statement the analyzer handed to libpg-query (`length`: its length in UTF-16 units). Cheap
 * when there is nothing to give back (a comparison and a property read). After a long statement
 * (RECYCLE_STATEMENT_LENGTH) or one that grew the memory past its initial size, whatever its shape, schedules a
 * replacement for when no such statement came for QUIET_MS: a client sending large statements one after the
 * other reuses the pages the first one touched, and is not made to pay for a new instance after each.
 */
export function afterParse(length: number): void {
  if (shared === undefined) return;
  if (length < RECYCLE_STATEMENT_LENGTH && shared.HEAPU8.buffer.byteLength <= initialBytes) return;
  if (timer !== null) timer.refresh();
  else timer = setTimeout(replace, QUIET_MS).unref(); // unref: a CLI that analysed a statement still exits
}

/** Quiet time after the last large statement before the instance is replaced. */
export const QUIET_MS = 1000;

let timer: NodeJS.Timeout | null = null;
const waiting: (() => void)[] = [];

function replace(): void {
  timer = null;
  if (replacing !== null) {
    // one under way (a large statement came while it was made): again after it
    timer = setTimeout(replace, QUIET_MS);
    if (waiting.length === 0) timer.unref();
    return;
  }
  const target = shared!;
  const started = performance.now();
  replacing = factory()
    .then((fresh) => {
      // Every property the factory sets (exports, HEAP views, runtime helpers) — so index.cjs's next call finds
      // only the new instance's, and nothing of this module holds the old one.
      Object.assign(target, fresh);
      recycled += 1;
      const collecting = performance.now();
      collectGarbage();
      lastReplacement = { ms: performance.now() - started, gcMs: performance.now() - collecting };
    })
    .catch(() => {
      // Could not make one (out of memory?): keep serving from the old instance, which is still whole.
    })
    .finally(() => {
      replacing = null;
      if (timer === null) for (const resolve of waiting.splice(0)) resolve();
    });
}

let gc: (() => void) | undefined;

/**
 * The old instance is garbage now, but nothing makes V8 collect it soon: its memory is outside the JS heap,
 * and a proxy allocates too little to start a major collection for minutes (measured: still resident after
 * 20 s of small statements). So collect once, here — a full collection of the proxy's heap, ~10–30 ms after a
 * statement whose parse alone took hundreds. `gc` is only given to scripts with --expose-gc: the flag is set
 * for the moment it takes to take the function from a new context, and unset again.
 */
function collectGarbage(): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed !== undefined) {
      gc = exposed;
    } else {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
      setFlagsFromString('--no-expose-gc');
    }
  }
  gc();
}

let lastReplacement: { ms: number; gcMs: number } | undefined;

/** How long the last replacement took from start to swap, and the collection after it (tests, the benchmark). */
export function lastReplacementTimes(): { ms: number; gcMs: number } | undefined {
  return lastReplacement;
}

/** Resolves when no replacement is scheduled or under way (tests, the benchmark). */
export function replacementSettled(): Promise<void> {
  if (timer === null && replacing === null) return Promise.resolve();
  timer?.ref(); // someone waits for it now
  return new Promise((resolve) => {
    waiting.push(resolve);
  });
}
