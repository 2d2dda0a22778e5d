// FROM items: tables (or the CTE a name refers to), sub-queries, functions, joins, TABLESAMPLE, XMLTABLE and
// JSON_TABLE, each added to the query level's scope for column resolution.

import type { ColumnSource } from '../../types.ts';
import { addLeaves, CONSTANT, derivedOf, OPAQUE } from '../lineage.ts';
import { type Raw, S, N, L, X, spec, type Scope, type St, bad, access, keyOf, checkFields, strings, relOfRangeVar, RANGE_VAR, alsoOnSearchPath, item, aliasOf } from './state.ts';
import { expr, walkStruct, walkFields, stmtAny } from './dispatch.ts';
import { findCte, rename } from './scope.ts';

const RANGE_SUBSELECT = spec({ lateral: S, subquery: X, alias: X });
const RANGE_FUNCTION = spec({ lateral: S, ordinality: S, is_rowsfrom: S, functions: X, alias: X, coldeflist: L });
const JOIN = spec({
  jointype: S, isNatural: S, larg: X, rarg: X, usingClause: S, join_using_alias: X, quals: X, alias: X, rtindex: S,
});
const TABLE_SAMPLE = spec({ relation: X, method: S, args: L, repeatable: N, location: S });
const TABLE_FUNC = spec({ lateral: S, docexpr: X, rowexpr: N, namespaces: L, columns: L, alias: X, location: S });
const JSON_TABLE = spec({
  context_item: X, pathspec: 'JsonTablePathSpec', passing: L, columns: L, on_error: 'JsonBehavior', alias: X,
  lateral: S, location: S,
});

export function fromItem(st: St, node: Raw, sc: Scope, want: boolean): void {
  const type = keyOf(node);
  const b = type === undefined ? undefined : node[type];
  switch (type) {
    case 'RangeVar': {
      checkFields(st, 'RangeVar', b, RANGE_VAR);
      const a = aliasOf(st, b.alias);
      if (b.schemaname === undefined && b.catalogname === undefined) {
        const cte = findCte(sc, b.relname);
        if (cte !== null) {
          // a CTE shadows a table of the same name; what the CTE reads was reported at WITH
          const renamed = a.cols !== null && cte.outs !== null;
          sc.items.push(renamed
            ? item({ alias: a.name ?? b.relname, outs: rename(cte.outs, b.alias.colnames) })
            : item({ alias: a.name ?? b.relname, cte }));
          return;
        }
      }
      const rel = relOfRangeVar(st, b);
      access(st, 'SELECT', rel, 'relation');
      alsoOnSearchPath(st, b, 'SELECT');
      sc.items.push(item({ alias: a.name ?? b.relname, rel, colAliases: a.cols }));
      return;
    }
    case 'RangeSubselect': {
      checkFields(st, 'RangeSubselect', b, RANGE_SUBSELECT);
      const a = aliasOf(st, b.alias);
      // LATERAL sees the FROM items before it; a plain sub-query only the enclosing levels
      const outs = stmtAny(st, b.subquery, b.lateral === true ? sc : sc.parent, want);
      sc.items.push(item({ alias: a.name, outs: rename(outs, b.alias?.colnames) ?? [] }));
      return;
    }
    case 'RangeFunction': {
      walkFields(st, 'RangeFunction', b, RANGE_FUNCTION, sc, null);
      const a = aliasOf(st, b.alias);
      const acc: ColumnSource[] = [];
      let name: string | null = null;
      for (const f of Array.isArray(b.functions) ? b.functions : []) {
        const parts: Raw[] = f.List?.items ?? [];
        if (f.List === undefined || parts.length === 0) { bad(st, 'unexpected shape of a function in FROM'); continue; }
        // function calls in FROM may refer to earlier FROM items (implicitly LATERAL)
        const s = expr(st, parts[0], sc, want);
        if (want && s !== null) addLeaves(acc, s);
        if (parts[0].FuncCall !== undefined) name = strings(parts[0].FuncCall.funcname).pop() ?? null;
        for (let i = 1; i < parts.length; i++) expr(st, parts[i], sc, false);
      }
      sc.items.push(item({ alias: a.name ?? (b.functions?.length === 1 ? name : null), fn: want ? derivedOf(acc) : CONSTANT }));
      return;
    }
    case 'JoinExpr': {
      checkFields(st, 'JoinExpr', b, JOIN);
      const start = sc.items.length;
      fromItem(st, b.larg, sc, want);
      fromItem(st, b.rarg, sc, want);
      if (b.quals !== undefined) expr(st, b.quals, sc, false);
      const usingAlias = aliasOf(st, b.join_using_alias);
      const a = aliasOf(st, b.alias);
      if (a.name !== null) {
        // an aliased join hides the names inside it
        const children = sc.items.splice(start);
        sc.items.push(item({ alias: a.name, children }));
      }
      if (usingAlias.name !== null) sc.items.push(item({ alias: usingAlias.name, children: sc.items.slice(start) }));
      return;
    }
    case 'RangeTableSample': {
      walkFields(st, 'RangeTableSample', b, TABLE_SAMPLE, sc, null);
      fromItem(st, b.relation, sc, want);
      return;
    }
    case 'RangeTableFunc': {
      walkFields(st, 'RangeTableFunc', b, TABLE_FUNC, sc, null);
      const a = aliasOf(st, b.alias);
      const s = expr(st, b.docexpr, sc, want);
      sc.items.push(item({ alias: a.name, fn: s ?? CONSTANT }));
      return;
    }
    case 'JsonTable': {
      walkFields(st, 'JsonTable', b, JSON_TABLE, sc, null);
      const a = aliasOf(st, b.alias);
      const s = walkStruct(st, 'JsonValueExpr', b.context_item, sc, want);
      sc.items.push(item({ alias: a.name, fn: s ?? CONSTANT }));
      return;
    }
    default:
      bad(st, `${type ?? 'empty node'} is not supported in FROM`);
      sc.items.push(item({ fn: OPAQUE }));
  }
}
