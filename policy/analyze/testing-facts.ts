// Shared by the analyzer's tests: the pairs and lineage of an Analysis, and short ways to write ColumnSources.
import type { Analysis, ColumnSource } from '../types.ts';
import { describeAccess } from './analyze.ts';

/** Every access of every statement, as describeAccess strings, sorted (order is walk order, not asserted). */
export function accessesOf(a: Analysis): string[] {
  return [...new Set(a.statements.flatMap((s) => s.accesses.map(describeAccess)))].sort();
}
export function reasonsOf(a: Analysis): string[] {
  return a.error !== null ? [a.error] : a.statements.flatMap((s) => [...s.unsupported]);
}

export const t = (name: string, schema: string | null = null): { schema: string | null; name: string } => ({
  schema,
  name,
});
export const col = (rel: string, column: string, schema: string | null = null): ColumnSource => ({
  kind: 'column',
  relation: t(rel, schema),
  column,
});
export const der = (...from: ColumnSource[]): ColumnSource => ({ kind: 'derived', from });
export const row = (rel: string, schema: string | null = null): ColumnSource => ({
  kind: 'row',
  relation: t(rel, schema),
});
export const star = (...rels: string[]): ColumnSource => ({ kind: 'star', relations: rels.map((r) => t(r)) });
export const OPAQUE: ColumnSource = { kind: 'opaque' };
export const CONST = der();
