// How decisions name things: the candidates an unqualified name resolves to under a session's search_path, and a
// pair (operation, object) as the client's error names it. Shared by the evaluator (decide.ts), the mask plan
// (decide-mask.ts) and the proxy's denials (proxy/enforce/denial.ts).
import { qualifiedName } from './analyze/names.ts';
import type { Access, RelName, SessionContext } from './types.ts';

/** `SELECT on public.customers`, `CALL of function pg_catalog.pg_sleep`, `NOTIFY on channel "jobs"`: a pair as the client's error names it. */
export function pairText(op: string, kind: Access['kind'], schema: string | null, name: string): string {
  if (kind === 'channel') return `${op} on channel ${JSON.stringify(name)}`;
  const q = qualifiedName({ schema, name });
  return kind === 'function' ? `${op} of function ${q}` : `${op} on ${q}`;
}

/** A pair named as PostgreSQL would resolve it: an unqualified name gets its first candidate schema. */
export function resolvedPair(a: Access, ctx: SessionContext): string {
  let schema: string | null = a.relation.schema;
  if (schema === null)
    eachCandidate(a.relation, a.kind, ctx, (s) => {
      schema = s;
      return false;
    });
  return pairText(a.operation, a.kind, schema, a.relation.name);
}

// ---------------------------------------------------------------------------------------------
// Name resolution. An unqualified relation resolves to pg_catalog when it exists there (pg_catalog
// is searched first unless named later in search_path, which we refuse to let a session change);
// otherwise it may be in any schema of the search_path, and every candidate must be allowed.
// Unqualified functions likewise, against catalogFunctions.

type Visit = (schema: string, name: string) => boolean; // false = stop
type Kind = Access['kind'];
export function eachCandidate(rel: RelName, kind: Kind, ctx: SessionContext, visit: Visit): number {
  // A notification channel is one name, not in any schema: matched as (schema '', channel).
  if (kind === 'channel') {
    visit('', rel.name);
    return 1;
  }
  if (rel.schema !== null) {
    visit(rel.schema, rel.name);
    return 1;
  }
  const catalog = kind === 'relation' ? ctx.catalogRelations : ctx.catalogFunctions;
  if (catalog.has(rel.name)) {
    visit('pg_catalog', rel.name);
    return 1;
  }
  let n = 0;
  for (const s of ctx.searchPath) {
    n++;
    if (!visit(s, rel.name)) break;
  }
  return n;
}
