// Expression handlers with code of their own: casts (regclass literals), function calls (the built-ins that
// read tables, run SQL text, change settings or notify), indirection, sub-links, COLLATE, and the DDL
// sub-nodes that name relations.

import type { ColumnSource, RelName } from '../../types.ts';
import { parseSync } from 'libpg-query';
import { lexerHostile } from '../hostile.ts';
import { addLeaves, CONSTANT, derivedOf, OPAQUE, type Out } from '../lineage.ts';
import { parseLiteralName } from '../names.ts';
import { scrubParseError } from '../../sql-message.ts';
import {
  BULK_READERS,
  hiddenSetting,
  PURE_BUILTINS,
  QUERY_RUNNERS,
  SEQUENCE_FUNCTIONS,
  SETTING_FUNCTIONS,
  TABLE_READERS,
} from '../functions.ts';
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
  effect,
  keyOf,
  checkFields,
  strings,
  targetRel,
} from './state.ts';
import { expr, walkStruct, walkFields, stmtAny } from './dispatch.ts';

export function stringLiteral(node: Raw): string | null {
  // Through explicit casts: 'x'::text is still a constant name.
  for (let current = node; current; current = current.TypeCast?.arg) {
    if (current.A_Const) return current.A_Const.sval !== undefined ? (current.A_Const.sval.sval ?? '') : null;
    if (!current.TypeCast) return null;
  }
  return null;
}

/** A string constant, bare or cast to text, varchar or name: the text PostgreSQL will see, unchanged. */
function settingName(node: Raw): string | null {
  if (node?.A_Const !== undefined) return node.A_Const.sval !== undefined ? (node.A_Const.sval.sval ?? '') : null;
  const cast = node?.TypeCast;
  if (cast === undefined || cast.arg?.A_Const?.sval === undefined) return null;
  const names = strings(cast.typeName?.names);
  const typeName = names[names.length - 1];
  if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return null;
  // A type modifier would cut the text ('search_pathx'::varchar(11) is 'search_path').
  if (
    cast.typeName?.arrayBounds !== undefined
    || cast.typeName?.typmods !== undefined
    || !TEXT_TYPES.has(typeName ?? '')
  )
    return null;
  return cast.arg.A_Const.sval.sval ?? '';
}
const TEXT_TYPES = new Set(['text', 'varchar', 'name']);

const REG_TYPES = new Set([
  'regclass',
  'regproc',
  'regprocedure',
  'regoper',
  'regoperator',
  'regtype',
  'regnamespace',
  'regrole',
  'regcollation',
  'regconfig',
  'regdictionary',
]);

export function typeCast(st: WalkState, body: Raw, scope: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'TypeCast', body, TYPE_CAST);
  const src = expr(st, body.arg, scope, want);
  walkStruct(st, 'TypeName', body.typeName, scope, false);
  const names = strings(body.typeName?.names);
  const last = names[names.length - 1];
  if (last !== undefined && REG_TYPES.has(last) && (names.length === 1 || names[0] === 'pg_catalog')) {
    // A name inside a string: the literal decides what it refers to (design.md, decision cache).
    st.cacheable = false;
    const lit = last === 'regclass' ? stringLiteral(body.arg) : null;
    if (lit !== null) {
      const parsed = parseLiteralName(lit);
      if (parsed.kind === 'name') access(st, 'SELECT', parsed.rel, 'relation');
    }
  }
  return src; // a cast passes the value through: masking still applies to it
}
const TYPE_CAST = spec({ arg: X, typeName: X, location: S });

export function funcCall(st: WalkState, body: Raw, scope: Scope | null, want: boolean): ColumnSource | null {
  walkFields(st, 'FuncCall', body, FUNC_CALL, scope, null);
  const names = strings(body.funcname);
  const name = names[names.length - 1] ?? '';
  const schema = names.length >= 2 ? names[names.length - 2]! : null;
  access(st, 'CALL', { schema, name }, 'function');
  const args: Raw[] = Array.isArray(body.args) ? body.args : [];
  const acc = want ? ([] as ColumnSource[]) : null;
  let stringArg = false;
  const builtin = schema === null || schema === 'pg_catalog';
  // pg_notify(channel, payload) sends the payload to every listener: its lineage is always wanted.
  const notify = builtin && name === 'pg_notify';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const source = expr(st, arg, scope, want || (notify && i === 1));
    if (acc !== null && source !== null) addLeaves(acc, source);
    if (notify && i === 1 && source !== null) st.notified.push(source);
    if (!stringArg && stringLiteral(arg) !== null) stringArg = true;
  }
  if (acc !== null && body.agg_within_group === true && Array.isArray(body.agg_order)) {
    // An ordered-set aggregate returns one of the values it sorts (percentile_disc(0.5) WITHIN GROUP
    // (ORDER BY ssn) is an ssn): the sort keys are part of its value. Found by the privilege oracle.
    for (const sortBy of body.agg_order as Raw[]) {
      const source = expr(st, sortBy?.SortBy?.node, scope, true);
      if (source !== null) addLeaves(acc, source);
    }
  }
  if (builtin) {
    const seqOp = SEQUENCE_FUNCTIONS.get(name);
    if (seqOp !== undefined) {
      st.cacheable = false;
      const rel = literalRelation(st, args[0], `${name}()`);
      if (rel !== null) access(st, seqOp, rel, 'relation');
      return acc === null ? null : CONSTANT;
    }
    if (name === 'regclass' || name === 'to_regclass') {
      // the function spelling of '…'::regclass
      st.cacheable = false;
      const lit = stringLiteral(args[0]);
      const parsed = lit === null ? null : parseLiteralName(lit);
      if (parsed !== null && parsed.kind === 'name') access(st, 'SELECT', parsed.rel, 'relation');
      return want ? CONSTANT : null;
    }
    if (notify) {
      // Sending a notification is a write to a channel other sessions read (design.md): a NOTIFY pair on
      // the channel. Its name is the literal: it decides the verdict, so the shape cache must not see it.
      effect(st, { kind: 'notify' });
      st.cacheable = false;
      const channel = stringLiteral(args[0]);
      if (channel === null || args.length !== 2)
        bad(st, 'pg_notify() with a channel that is not a constant cannot be checked');
      else access(st, 'NOTIFY', { schema: null, name: channel }, 'channel');
    }
    if (TABLE_READERS.has(name)) {
      st.cacheable = false;
      const rel = literalRelation(st, args[0], `${name}()`);
      if (rel === null) return want ? OPAQUE : null;
      access(st, 'SELECT', rel, 'relation');
      return want ? { kind: 'row', relation: rel } : null;
    }
    const runner = QUERY_RUNNERS.get(name);
    if (runner !== undefined && (runner.arity === null || runner.arity === args.length)) {
      st.cacheable = false;
      const text = stringLiteral(args[runner.arg]);
      if (text === null) {
        bad(st, `${name}() runs SQL text that is not a constant, which cannot be checked`);
        return want ? OPAQUE : null;
      }
      const outs = nestedQuery(st, text, name);
      if (acc === null) return null;
      if (outs === null) return OPAQUE;
      for (const sortBy of outs) addLeaves(acc, sortBy.src);
      return derivedOf(acc);
    }
    if (BULK_READERS.has(name)) {
      st.cacheable = false;
      bad(st, `${name}() reads every table of a schema or database`);
      return want ? OPAQUE : null;
    }
    if (SETTING_FUNCTIONS.has(name)) {
      st.cacheable = false;
      if (name === 'set_config') {
        // set_config(name, value, is_local) is `SET name` (design.md): decided by the setting's name, so
        // the name must be a plain string constant. Anything else — a parameter, an expression, a named
        // argument, a cast through a type whose conversion to text could rewrite it — is denied.
        const setting = args.length === 3 ? settingName(args[0]) : null;
        if (setting === null)
          bad(st, 'set_config() with a setting name that is not a string constant cannot be checked');
        else
          effect(st, {
            kind: 'set',
            name: setting.toLowerCase(),
            local: args[2]?.A_Const?.boolval?.boolval === true,
            value: settingName(args[1]),
          });
      }
      if (name === 'current_setting') {
        const setting = stringLiteral(args[0]);
        const hidden =
          setting === null
            ? 'current_setting() with a setting name that is not a constant cannot be checked'
            : hiddenSetting(setting);
        if (hidden !== null) bad(st, hidden);
      }
      return want ? CONSTANT : null;
    }
    if (PURE_BUILTINS.has(name)) return acc === null ? null : derivedOf(acc);
  }
  // Unknown function: it may read tables (its result is unknowable) and a string argument may be a
  // regclass/regproc name, so the literal may matter.
  if (stringArg) st.cacheable = false;
  return want ? OPAQUE : null;
}
const FUNC_CALL = spec({
  funcname: X,
  args: X,
  agg_order: L,
  agg_filter: N,
  over: 'WindowDef',
  agg_within_group: S,
  agg_star: S,
  agg_distinct: S,
  func_variadic: S,
  funcformat: S,
  location: S,
});

function literalRelation(st: WalkState, arg: Raw, what: string): RelName | null {
  const text = stringLiteral(arg);
  if (text === null) {
    bad(st, `${what} with a relation that is not a string constant cannot be checked`);
    return null;
  }
  const parsed = parseLiteralName(text);
  if (parsed.kind === 'oid') {
    bad(st, `${what} with a relation given by OID cannot be checked`);
    return null;
  }
  if (parsed.kind === 'invalid') {
    bad(st, `${what} with an invalid relation name`);
    return null;
  }
  return parsed.rel;
}

/** SQL text a built-in will run (query_to_xml & co): analysed as if written inline. */
function nestedQuery(st: WalkState, text: string, fn: string): Out[] | null {
  let tree: Raw;
  const hostile = lexerHostile(text);
  if (hostile !== null) {
    bad(st, `${fn}() query text: ${hostile}`);
    return null;
  }
  try {
    tree = parseSync(text);
  } catch (e) {
    bad(st, `${fn}() query text does not parse: ${scrubParseError(e)}`); // the text is a literal: never quote it
    return null;
  }
  const stmts: Raw[] = tree.stmts ?? [];
  if (stmts.length !== 1) {
    bad(st, `${fn}() query text must hold exactly one statement`);
    return null;
  }
  const type = keyOf(stmts[0].stmt);
  if (type === undefined || !QUERY_TYPES.has(type)) {
    bad(st, `${fn}() query text must be a query`);
    return null;
  }
  return stmtAny(st, stmts[0].stmt, null, true);
}
const QUERY_TYPES = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

export function indirection(st: WalkState, body: Raw, scope: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'A_Indirection', body, A_INDIRECTION);
  const src = expr(st, body.arg, scope, want);
  const ind: Raw[] = Array.isArray(body.indirection) ? body.indirection : [];
  let field: string | null = null;
  for (const step of ind) {
    const type = keyOf(step);
    if (type === 'String') field = step.String.sval ?? '';
    else if (type === 'A_Indices') expr(st, step, scope, false);
    else if (type !== 'A_Star') bad(st, `${type} is not supported in an indirection`);
  }
  if (!want || src === null) return null;
  // (t).col: column col of t's relation
  if (ind.length === 1 && field !== null && src.kind === 'row')
    return { kind: 'column', relation: src.relation, column: field };
  const acc: ColumnSource[] = [];
  addLeaves(acc, src);
  return derivedOf(acc);
}
const A_INDIRECTION = spec({ arg: X, indirection: X });

export function subLink(st: WalkState, body: Raw, scope: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'SubLink', body, SUB_LINK);
  const tested = body.testexpr !== undefined ? expr(st, body.testexpr, scope, want) : null;
  const outs = stmtAny(st, body.subselect, scope, want);
  if (!want) return null;
  if (body.subLinkType === 'EXISTS_SUBLINK') return CONSTANT;
  const acc: ColumnSource[] = [];
  if (tested !== null) addLeaves(acc, tested);
  if (outs !== null) for (const output of outs) addLeaves(acc, output.src);
  return derivedOf(acc);
}
const SUB_LINK = spec({ subLinkType: S, subLinkId: S, testexpr: X, operName: S, subselect: X, location: S });

export function jsonArrayQuery(st: WalkState, body: Raw, scope: Scope | null, want: boolean): ColumnSource | null {
  walkFields(st, 'JsonArrayQueryConstructor', body, JSON_ARRAY_QUERY, scope, null);
  const outs = stmtAny(st, body.query, scope, want);
  if (!want || outs === null) return want ? OPAQUE : null;
  const acc: ColumnSource[] = [];
  for (const output of outs) addLeaves(acc, output.src);
  return derivedOf(acc);
}
const JSON_ARRAY_QUERY = spec({ query: X, output: 'JsonOutput', format: 'JsonFormat', absent_on_null: S, location: S });

export function collate(st: WalkState, body: Raw, scope: Scope | null, want: boolean): ColumnSource | null {
  checkFields(st, 'CollateClause', body, COLLATE);
  return body.arg !== undefined ? expr(st, body.arg, scope, want) : want ? CONSTANT : null;
}
const COLLATE = spec({ arg: X, collname: S, location: S });

/** A relation reached through a DDL sub-node (INHERIT parent, ATTACH PARTITION, REFERENCES). */
export function ddlRangeVar(st: WalkState, body: Raw): ColumnSource | null {
  targetRel(st, body, 'DDL');
  return null;
}

/** CREATE TABLE … (LIKE other): copies other's definition, so it reads other's structure. */
export function tableLike(st: WalkState, body: Raw): ColumnSource | null {
  checkFields(st, 'TableLikeClause', body, F_TABLE_LIKE_CLAUSE);
  if (body.relation !== undefined) targetRel(st, body.relation, 'SELECT');
  return null;
}

const F_TABLE_LIKE_CLAUSE = spec({ relation: X, options: S, relationOid: S });
