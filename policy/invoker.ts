// security_invoker views (PostgreSQL 15+): PostgreSQL checks the privileges on what such a view reads
// against the caller, not the view's owner. Airlock decides on the view's name like any relation, so a
// policy that allows the view but not its base table must still refuse the read, as PostgreSQL would —
// otherwise a binding with more privileges than the policy (a superuser) reads the base table through
// the view. A statement's (operation, view) pair on such a view therefore also touches
// (operation, relation) for every relation the view reads, recursively through nested security_invoker
// views (a plain view in between is checked against its owner again, so the walk stops there).
//
// The proxy fetches the rows (proxy/catalog.ts: pg_class.reloptions, pg_depend of the view's rewrite
// rule); this module builds the lookup purely. decide() applies it (policy/decide.ts invokerAccesses).
import type { Access, ConcreteOperation, RelName } from './types.ts';
import { derivedKey } from './derived.ts';
import { qualifiedName } from './analyze/names.ts';

/** One row of the catalog query: a security_invoker view and the relations its definition reads. */
export interface InvokerRow {
  readonly schema: string;
  readonly name: string;
  /** [schema, relation] of each table, view, materialized view or foreign table the view reads. */
  readonly reads: readonly (readonly [string, string])[];
}

export interface InvokerViews {
  /** Content fingerprint: part of the decision-cache key. '' when there are none. */
  readonly id: string;
  /** derivedKey(schema, view) → every relation whose privileges PostgreSQL checks against the caller. */
  readonly reads: ReadonlyMap<string, readonly RelName[]>;
}

export const NO_INVOKER_VIEWS: InvokerViews = Object.freeze({ id: '', reads: new Map() });

/**
 * What a pair on a security_invoker view needs on the relations it reads. A read needs SELECT. A write
 * through an auto-updatable view is a write of the same kind on its base relation (rewriteTargetView
 * moves the view's required permissions there); pg_depend does not tell the base relation from one a
 * sub-query in the view's WHERE reads, so every relation the view reads needs it — stricter than
 * PostgreSQL for the latter, never looser. Other operations (TRUNCATE, COPY FROM: PostgreSQL refuses
 * them on a view) imply nothing.
 */
const IMPLIED: Partial<Readonly<Record<ConcreteOperation, ConcreteOperation>>> = {
  SELECT: 'SELECT',
  COPY_TO: 'SELECT',
  INSERT: 'INSERT',
  UPDATE: 'UPDATE',
  DELETE: 'DELETE',
  MERGE: 'MERGE',
};
export function impliedOperation(op: ConcreteOperation): ConcreteOperation | undefined {
  return IMPLIED[op];
}

/** FNV-1a, as policy/derived.ts: the same views give the same id, so sessions share decision caches. */
function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `i${text.length.toString(36)}.${h.toString(36)}`;
}

export function buildInvokerViews(rows: readonly InvokerRow[]): InvokerViews {
  if (rows.length === 0) return NO_INVOKER_VIEWS;
  const direct = new Map<string, readonly (readonly [string, string])[]>();
  for (const r of rows) direct.set(derivedKey(r.schema, r.name), r.reads);
  const reads = new Map<string, readonly RelName[]>();
  for (const [key, first] of direct) {
    const out: RelName[] = [];
    const seen = new Set<string>([key]);
    const walk = (list: readonly (readonly [string, string])[]): void => {
      for (const [schema, name] of list) {
        const k = derivedKey(schema, name);
        if (seen.has(k)) continue; // a view cannot read itself; a relation read twice counts once
        seen.add(k);
        out.push({ schema, name });
        const nested = direct.get(k);
        if (nested !== undefined) walk(nested);
      }
    };
    walk(first);
    reads.set(key, out);
  }
  return { id: fingerprint(JSON.stringify(rows)), reads };
}

/**
 * The statement's accesses plus, for each pair on a security_invoker view (every candidate of an
 * unqualified name), the implied pairs on what the view reads. `via` names the view each added pair came
 * from, for the denial's reason. Returns `accesses` itself when nothing is added.
 */
export function invokerAccesses(
  accesses: readonly Access[],
  views: InvokerViews,
  candidates: (a: Access, visit: (schema: string, name: string) => boolean) => void,
  via: Map<Access, string>,
): readonly Access[] {
  if (views.reads.size === 0) return accesses;
  let out: Access[] | null = null;
  for (const a of accesses) {
    if (a.kind !== 'relation') continue;
    const op = IMPLIED[a.operation];
    if (op === undefined) continue;
    candidates(a, (schema, name) => {
      const reads = views.reads.get(derivedKey(schema, name));
      if (reads === undefined) return true;
      out ??= [...accesses];
      for (const r of reads) {
        const x: Access = { operation: op, relation: r, kind: 'relation' };
        out.push(x);
        via.set(x, qualifiedName({ schema, name }));
      }
      return true;
    });
  }
  return out ?? accesses;
}
