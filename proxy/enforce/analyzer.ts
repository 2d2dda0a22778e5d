// Loads the statement analyzer (policy/analyze) once per process: libpg-query's WASM module must be
// initialised (initAnalyzer) before the first synchronous analyze().
//
// normalize: libpg-query's own normalizer (PostgreSQL's lexer replaces constants with $n), the shape-cache
// key of docs/adr/0002-decision-cache-keys.md. A simple-protocol statement that differs from a cached one only
// in constants costs one normalize (~4 µs) instead of parse + walk. Entries whose analysis was not
// shapeCacheable are never stored under their shape (Gate.check), so this lookup cannot find them.
import { normalizeSync } from 'libpg-query';
import { analyze, initAnalyzer } from '../../policy/analyze/analyze.ts';
import { lexerHostile } from '../../policy/analyze/hostile.ts';
import type { Analyzer } from './gate.ts';

let loading: Promise<Analyzer> | null = null;

function normalize(sql: string): string | null {
  // Text the lexer would take quadratic time on: no shape lookup; analyze() refuses it unparsed.
  if (lexerHostile(sql) !== null) return null;
  try {
    return normalizeSync(sql);
  } catch {
    return null;   // not SQL: analyze() reports it
  }
}

export function loadAnalyzer(): Promise<Analyzer> {
  loading ??= initAnalyzer().then(() => ({ analyze, normalize }));
  return loading;
}
