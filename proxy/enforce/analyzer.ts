// Loads the statement analyzer (policy/analyze) once per process: libpg-query's WASM module must be
// loaded (its loadModule()) before the first synchronous analyze(). The load is here, on the composition side,
// so policy/ keeps no module state; every launch path that analyzes (the proxy, the sidecar, `airlock policy`)
// comes through this file and so through the flags below.
//
// normalize: libpg-query's own normalizer (PostgreSQL's lexer replaces constants with $n), the shape-cache
// key of docs/adr/0002-decision-cache-keys.md. A simple-protocol statement that differs from a cached one only
// in constants costs one normalize (~4 µs; well under 1 µs for the lexical subset of policy/analyze/lexical.ts)
// instead of parse + walk. Entries whose analysis was not
// shapeCacheable are never stored under their shape (Gate.check), so this lookup cannot find them.
//
// Memory (issue 15, docs/adr/0004-wasm-baseline-tier-only.md): the parser's WebAssembly runs on V8's baseline
// compiler (Liftoff) only. With V8's default dynamic tiering, the first statements make the Bison parser's
// main function (wasm-function #140 of libpg-query 18.1.5, a 102 KB body) hot, and V8's optimizing compile of
// that one function takes ~610 MB of compiler memory for ~0.5–1.2 s (VmHWM 115 → ~670 MiB): an injected
// sidecar under its 256Mi limit would be OOM-killed at its first statement. Liftoff costs parse/normalize
// time (measured in the ADR), which the decision cache keeps off the hot path for repeated statements.
//
// Set here, in code, so it holds in every launch path (bin/airlock.ts via scripts/node24.sh, the injected
// container's entrypoint, tests that start the proxy in-process): `--liftoff-only` is not allowed in
// NODE_OPTIONS, and these two flags are read when V8 decides a tier-up, so setting them before the first
// parse is enough (test/proxy/memory.test.ts measures VmHWM through a real `airlock proxy` process).
import { setFlagsFromString } from 'node:v8';
import { afterParse } from './parser-instance.ts';
import { lexerHostile } from '../../policy/analyze/hostile.ts';
import { lexicalNormalize } from '../../policy/analyze/lexical.ts';
import type { Analyzer } from './gate.ts';

/** Both: without dynamic tiering alone V8 tiers every function up eagerly; without tier-up alone it still tiers up dynamically. */
export const WASM_TIERING_FLAGS = '--no-wasm-tier-up --no-wasm-dynamic-tiering';
setFlagsFromString(WASM_TIERING_FLAGS);

type PgQuery = typeof import('libpg-query');
type Analyze = typeof import('../../policy/analyze/analyze.ts').analyze;

let parser: Promise<PgQuery> | null = null;
let loading: Promise<Analyzer> | null = null;
let normalizeSync: PgQuery['normalizeSync'];
let analyze: Analyze;

/**
 * Load libpg-query's WebAssembly module once (the flags above are set by then); later calls share the promise.
 * libpg-query (and policy/analyze/analyze.ts, which imports it) are imported here, not at the top: its index
 * module must be evaluated after ./parser-instance.ts, which keeps a handle on the instance it makes so that a
 * grown one can be replaced — and Node evaluates an imported CommonJS module while it links the importing
 * graph, before any ES module of that graph runs.
 */
export function loadParser(): Promise<void> {
  parser ??= import('libpg-query').then(async (pgQuery) => {
    await pgQuery.loadModule();
    return pgQuery;
  });
  return parser.then(() => undefined);
}

function normalize(sql: string): string | null {
  // The common lexical subset (pgbench's `SELECT … WHERE aid = 12345`) without a WASM call: the same string
  // libpg-query would return (policy/analyze/lexical.ts, differential test in lexical.test.ts), else null.
  // It is linear and never calls the parser, so it runs before the hostility scan, which only guards the
  // parser's lexer (~0.1 µs a statement saved; a shape miss still goes through analyze(), which scans).
  const lexical = lexicalNormalize(sql);
  if (lexical !== null) return lexical;
  // Text the lexer would take quadratic time on: no shape lookup; analyze() refuses it unparsed.
  if (lexerHostile(sql) !== null) return null;
  try {
    return normalizeSync(sql);
  } catch {
    return null; // not SQL: analyze() reports it
  } finally {
    afterParse(sql.length);
  }
}

/** analyze(), then let parser-instance.ts replace libpg-query's instance if this statement was long or grew its memory. */
const analyzeThenRecycle: Analyzer['analyze'] = (sql, normalized) => {
  try {
    return analyze(sql, normalized);
  } finally {
    afterParse(sql.length);
  }
};

export function loadAnalyzer(): Promise<Analyzer> {
  loading ??= Promise.all([loadParser().then(() => parser!), import('../../policy/analyze/analyze.ts')]).then(
    ([pgQuery, analyzeModule]) => {
      normalizeSync = pgQuery.normalizeSync;
      analyze = analyzeModule.analyze;
      return { analyze: analyzeThenRecycle, normalize };
    },
  );
  return loading;
}
