// EXPR: every node type the walker accepts in expression position (and the DDL sub-nodes), each with the
// complete list of its fields. A node type missing here, or a field missing from its list, denies.

import { S, N, L, type Handler } from './state.ts';
import { pure, leaf } from './dispatch.ts';
import { colRef } from './scope.ts';
import {
  typeCast, funcCall, indirection, subLink, jsonArrayQuery, collate, ddlRangeVar, tableLike,
} from './expressions.ts';

export const EXPR: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ['ColumnRef', colRef],
  ['FuncCall', funcCall],
  ['TypeCast', typeCast],
  ['A_Indirection', indirection],
  ['SubLink', subLink],
  ['CollateClause', collate],
  ['JsonArrayQueryConstructor', jsonArrayQuery],
  ['RangeVar', (st, body) => ddlRangeVar(st, body)],
  ['TableLikeClause', (st, body) => tableLike(st, body)],
  // values with no source
  leaf('A_Const', { ival: S, fval: S, boolval: S, sval: S, bsval: S, isnull: S, location: S }),
  leaf('ParamRef', { number: S, location: S }),
  leaf('SQLValueFunction', { op: S, type: S, typmod: S, location: S }),
  leaf('SetToDefault', { typeId: S, typeMod: S, collation: S, location: S }),
  leaf('CurrentOfExpr', { cvarno: S, cursor_name: S, cursor_param: S }),
  leaf('MergeSupportFunc', { msftype: S, msfcollid: S, location: S }),
  leaf('String', { sval: S }),
  leaf('Integer', { ival: S }),
  leaf('Float', { fval: S }),
  leaf('Boolean', { boolval: S }),
  leaf('BitString', { bsval: S }),
  leaf('A_Star', {}),
  leaf('RoleSpec', { roletype: S, rolename: S, location: S }),
  leaf('AccessPriv', { priv_name: S, cols: S }),
  leaf('TriggerTransition', { name: S, isNew: S, isTable: S }),
  leaf('ReplicaIdentityStmt', { identity_type: S, name: S }),
  leaf('ATAlterConstraint', {
    conname: S, alterEnforceability: S, is_enforced: S, alterDeferrability: S, deferrable: S, initdeferred: S,
    alterInheritability: S, noinherit: S,
  }),
  leaf('JsonFormat', { format_type: S, encoding: S, location: S }),
  leaf('CTESearchClause', { search_col_list: S, search_breadth_first: S, search_seq_column: S, location: S }),
  // operators and other computations: operators are not checked (only functions are)
  pure('A_Expr', { kind: S, name: S, lexpr: N, rexpr: N, rexpr_list_start: S, rexpr_list_end: S, location: S }),
  pure('BoolExpr', { boolop: S, args: L, location: S }),
  pure('NullTest', { arg: N, nulltesttype: S, argisrow: S, location: S }),
  pure('BooleanTest', { arg: N, booltesttype: S, location: S }),
  pure('CaseExpr', { casetype: S, casecollid: S, arg: N, args: L, defresult: N, location: S }),
  pure('CaseWhen', { expr: N, result: N, location: S }),
  pure('CoalesceExpr', { coalescetype: S, coalescecollid: S, args: L, location: S }),
  pure('MinMaxExpr', { minmaxtype: S, minmaxcollid: S, inputcollid: S, op: S, args: L, location: S }),
  pure('A_ArrayExpr', { elements: L, list_start: S, list_end: S, location: S }),
  pure('RowExpr', { args: L, row_typeid: S, row_format: S, colnames: S, location: S }),
  pure('A_Indices', { is_slice: S, lidx: N, uidx: N }),
  pure('NamedArgExpr', { arg: N, name: S, argnumber: S, location: S }),
  pure('GroupingFunc', { args: L, refs: S, agglevelsup: S, location: S }),
  pure('GroupingSet', { kind: S, content: L, location: S }),
  pure('SortBy', { node: N, sortby_dir: S, sortby_nulls: S, useOp: S, location: S }),
  pure('WindowDef', {
    name: S, refname: S, partitionClause: L, orderClause: L, frameOptions: S, startOffset: N, endOffset: N, location: S,
  }),
  pure('XmlExpr', {
    op: S, name: S, named_args: L, arg_names: S, args: L, xmloption: S, indent: S, type: S, typmod: S, location: S,
  }),
  pure('XmlSerialize', { xmloption: S, expr: N, typeName: 'TypeName', indent: S, location: S }),
  pure('List', { items: L }),
  pure('MultiAssignRef', { source: N, colno: S, ncolumns: S }),
  pure('ResTarget', { name: S, indirection: L, val: N, location: S }),
  pure('TypeName', { names: S, typeOid: S, setof: S, pct_type: S, typmods: L, typemod: S, arrayBounds: S, location: S }),
  pure('JsonReturning', { format: 'JsonFormat', typid: S, typmod: S }),
  pure('JsonOutput', { typeName: 'TypeName', returning: 'JsonReturning' }),
  pure('JsonValueExpr', { raw_expr: N, formatted_expr: N, format: 'JsonFormat' }),
  pure('JsonBehavior', { btype: S, expr: N, coerce: S, location: S }),
  pure('JsonArgument', { val: 'JsonValueExpr', name: S }),
  pure('JsonFuncExpr', {
    op: S, column_name: S, context_item: 'JsonValueExpr', pathspec: N, passing: L, output: 'JsonOutput',
    on_empty: 'JsonBehavior', on_error: 'JsonBehavior', wrapper: S, quotes: S, location: S,
  }),
  pure('JsonTablePathSpec', { string: N, name: S, name_location: S, location: S }),
  pure('JsonTableColumn', {
    coltype: S, name: S, typeName: 'TypeName', pathspec: 'JsonTablePathSpec', format: 'JsonFormat', wrapper: S,
    quotes: S, columns: L, on_empty: 'JsonBehavior', on_error: 'JsonBehavior', location: S,
  }),
  pure('JsonKeyValue', { key: N, value: 'JsonValueExpr' }),
  pure('JsonParseExpr', { expr: 'JsonValueExpr', output: 'JsonOutput', unique_keys: S, location: S }),
  pure('JsonScalarExpr', { expr: N, output: 'JsonOutput', location: S }),
  pure('JsonSerializeExpr', { expr: 'JsonValueExpr', output: 'JsonOutput', location: S }),
  pure('JsonObjectConstructor', { exprs: L, output: 'JsonOutput', absent_on_null: S, unique: S, location: S }),
  pure('JsonArrayConstructor', { exprs: L, output: 'JsonOutput', absent_on_null: S, location: S }),
  pure('JsonAggConstructor', { output: 'JsonOutput', agg_filter: N, agg_order: L, over: 'WindowDef', location: S }),
  pure('JsonObjectAgg', { constructor: 'JsonAggConstructor', arg: 'JsonKeyValue', absent_on_null: S, unique: S }),
  pure('JsonArrayAgg', { constructor: 'JsonAggConstructor', arg: 'JsonValueExpr', absent_on_null: S }),
  pure('JsonIsPredicate', { expr: N, format: 'JsonFormat', item_type: S, unique_keys: S, location: S }),
  pure('CTECycleClause', {
    cycle_col_list: S, cycle_mark_column: S, cycle_mark_value: N, cycle_mark_default: N, cycle_path_column: S,
    location: S, cycle_mark_type: S, cycle_mark_typmod: S, cycle_mark_collation: S, cycle_mark_neop: S,
  }),
  pure('RangeTableFuncCol', {
    colname: S, typeName: 'TypeName', for_ordinality: S, is_not_null: S, colexpr: N, coldefexpr: N, location: S,
  }),
  // SET clauses of CREATE/ALTER FUNCTION: applied when the function runs, not now
  pure('VariableSetStmt', { kind: S, name: S, args: L, jumble_args: S, is_local: S, location: S }),
  pure('InferClause', { indexElems: L, whereClause: N, conname: S, location: S }),
  // DDL sub-nodes: their expressions (defaults, CHECK, index expressions) are walked for calls
  pure('ColumnDef', {
    colname: S, typeName: 'TypeName', compression: S, inhcount: S, is_local: S, is_not_null: S, is_from_type: S,
    storage: S, storage_name: S, raw_default: N, cooked_default: N, identity: S, identitySequence: S, generated: S,
    collClause: 'CollateClause', collOid: S, constraints: L, fdwoptions: L, location: S,
  }),
  pure('Constraint', {
    contype: S, conname: S, deferrable: S, initdeferred: S, is_enforced: S, skip_validation: S, initially_valid: S,
    is_no_inherit: S, raw_expr: N, cooked_expr: S, generated_when: S, generated_kind: S, nulls_not_distinct: S,
    keys: S, without_overlaps: S, including: S, exclusions: L, options: L, indexname: S, indexspace: S,
    reset_default_tblspc: S, access_method: S, where_clause: N, pktable: 'RangeVar', fk_attrs: S, pk_attrs: S,
    fk_with_period: S, pk_with_period: S, fk_matchtype: S, fk_upd_action: S, fk_del_action: S, fk_del_set_cols: S,
    old_conpfeqop: S, old_pktable_oid: S, location: S,
  }),
  pure('IndexElem', {
    name: S, expr: N, indexcolname: S, collation: S, opclass: S, opclassopts: L, ordering: S, nulls_ordering: S,
  }),
  pure('DefElem', { defnamespace: S, defname: S, arg: N, defaction: S, location: S }),
  pure('PartitionSpec', { strategy: S, partParams: L, location: S }),
  pure('PartitionElem', { name: S, expr: N, collation: S, opclass: S, location: S }),
  pure('PartitionBoundSpec', {
    strategy: S, is_default: S, modulus: S, remainder: S, listdatums: L, lowerdatums: L, upperdatums: L, location: S,
  }),
  pure('PartitionRangeDatum', { kind: S, value: N, location: S }),
  pure('PartitionCmd', { name: 'RangeVar', bound: 'PartitionBoundSpec', concurrent: S }),
  pure('FunctionParameter', { name: S, argType: 'TypeName', mode: S, defexpr: N, location: S }),
  pure('ObjectWithArgs', { objname: S, objargs: L, objfuncargs: L, args_unspecified: S }),
  pure('StatsElem', { name: S, expr: N }),
  pure('AlterTableCmd', {
    subtype: S, name: S, num: S, newowner: S, def: N, behavior: S, missing_ok: S, recurse: S,
  }),
  pure('CreateOpClassItem', {
    itemtype: S, name: 'ObjectWithArgs', number: S, order_family: S, class_args: L, storedtype: 'TypeName',
  }),
]);
