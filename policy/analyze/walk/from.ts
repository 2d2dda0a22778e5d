// FROM items: tables (or the CTE a name refers to), sub-queries, functions, joins, TABLESAMPLE, XMLTABLE and
// JSON_TABLE, each added to the query level's scope for column resolution.

import type { ColumnSource } from '../../types.ts';
import { addLeaves, CONSTANT, derivedOf, OPAQUE } from '../lineage.ts';
import {
  type Raw,
  S,
  N,
  L,
  X,
  spec,
  type Scope,
  type WalkState,
  bad,
  access,
  keyOf,
  checkFields,
  strings,
  relOfRangeVar,
  RANGE_VAR,
  alsoOnSearchPath,
  item,
  aliasOf,
} from './state.ts';
import { expr, walkStruct, walkFields, stmtAny } from './dispatch.ts';
import { findCte, rename } from './scope.ts';

const RANGE_SUBSELECT = spec({ lateral: S, subquery: X, alias: X });
const RANGE_FUNCTION = spec({ lateral: S, ordinality: S, is_rowsfrom: S, functions: X, alias: X, coldeflist: L });
const JOIN = spec({
  jointype: S,
  isNatural: S,
  larg: X,
  rarg: X,
  usingClause: S,
  join_using_alias: X,
  quals: X,
  alias: X,
  rtindex: S,
});
const TABLE_SAMPLE = spec({ relation: X, method: S, args: L, repeatable: N, location: S });
const TABLE_FUNC = spec({ lateral: S, docexpr: X, rowexpr: N, namespaces: L, columns: L, alias: X, location: S });
const JSON_TABLE = spec({
  context_item: X,
  pathspec: 'JsonTablePathSpec',
  passing: L,
  columns: L,
  on_error: 'JsonBehavior',
  alias: X,
  lateral: S,
  location: S,
});

export function fromItem(st: WalkState, node: Raw, scope: Scope, want: boolean): void {
  const type = keyOf(node);
  const body = type === undefined ? undefined : node[type];
  switch (type) {
    case 'RangeVar': {
      checkFields(st, 'RangeVar', body, RANGE_VAR);
      const alias = aliasOf(st, body.alias);
      if (body.schemaname === undefined && body.catalogname === undefined) {
        const cte = findCte(scope, body.relname);
        if (cte !== null) {
          // a CTE shadows a table of the same name; what the CTE reads was reported at WITH
          const renamed = alias.cols !== null && cte.outs !== null;
          scope.items.push(
            renamed
              ? item({ alias: alias.name ?? body.relname, outs: rename(cte.outs, body.alias.colnames) })
              : item({ alias: alias.name ?? body.relname, cte }),
          );
          return;
        }
      }
      const rel = relOfRangeVar(st, body);
      access(st, 'SELECT', rel, 'relation');
      alsoOnSearchPath(st, body, 'SELECT');
      scope.items.push(item({ alias: alias.name ?? body.relname, rel, colAliases: alias.cols }));
      return;
    }
    case 'RangeSubselect': {
      checkFields(st, 'RangeSubselect', body, RANGE_SUBSELECT);
      const alias = aliasOf(st, body.alias);
      // LATERAL sees the FROM items before it; a plain sub-query only the enclosing levels
      const outs = stmtAny(st, body.subquery, body.lateral === true ? scope : scope.parent, want);
      scope.items.push(item({ alias: alias.name, outs: rename(outs, body.alias?.colnames) ?? [] }));
      return;
    }
    case 'RangeFunction': {
      walkFields(st, 'RangeFunction', body, RANGE_FUNCTION, scope, null);
      const alias = aliasOf(st, body.alias);
      const acc: ColumnSource[] = [];
      let name: string | null = null;
      for (const functionEntry of Array.isArray(body.functions) ? body.functions : []) {
        const parts: Raw[] = functionEntry.List?.items ?? [];
        if (functionEntry.List === undefined || parts.length === 0) {
          bad(st, 'unexpected shape of a function in FROM');
          continue;
        }
        // function calls in FROM may refer to earlier FROM items (implicitly LATERAL)
        const source = expr(st, parts[0], scope, want);
        if (want && source !== null) addLeaves(acc, source);
        if (parts[0].FuncCall !== undefined) name = strings(parts[0].FuncCall.funcname).pop() ?? null;
        for (let i = 1; i < parts.length; i++) expr(st, parts[i], scope, false);
      }
      scope.items.push(
        item({
          alias: alias.name ?? (body.functions?.length === 1 ? name : null),
          fn: want ? derivedOf(acc) : CONSTANT,
        }),
      );
      return;
    }
    case 'JoinExpr': {
      checkFields(st, 'JoinExpr', body, JOIN);
      const start = scope.items.length;
      fromItem(st, body.larg, scope, want);
      fromItem(st, body.rarg, scope, want);
      if (body.quals !== undefined) expr(st, body.quals, scope, false);
      const usingAlias = aliasOf(st, body.join_using_alias);
      const alias = aliasOf(st, body.alias);
      if (alias.name !== null) {
        // an aliased join hides the names inside it
        const children = scope.items.splice(start);
        scope.items.push(item({ alias: alias.name, children }));
      }
      if (usingAlias.name !== null)
        scope.items.push(item({ alias: usingAlias.name, children: scope.items.slice(start) }));
      return;
    }
    case 'RangeTableSample': {
      walkFields(st, 'RangeTableSample', body, TABLE_SAMPLE, scope, null);
      fromItem(st, body.relation, scope, want);
      return;
    }
    case 'RangeTableFunc': {
      walkFields(st, 'RangeTableFunc', body, TABLE_FUNC, scope, null);
      const alias = aliasOf(st, body.alias);
      const source = expr(st, body.docexpr, scope, want);
      scope.items.push(item({ alias: alias.name, fn: source ?? CONSTANT }));
      return;
    }
    case 'JsonTable': {
      walkFields(st, 'JsonTable', body, JSON_TABLE, scope, null);
      const alias = aliasOf(st, body.alias);
      const source = walkStruct(st, 'JsonValueExpr', body.context_item, scope, want);
      scope.items.push(item({ alias: alias.name, fn: source ?? CONSTANT }));
      return;
    }
    default:
      bad(st, `${type ?? 'empty node'} is not supported in FROM`);
      scope.items.push(item({ fn: OPAQUE }));
  }
}
