// Utility statements: the object a DDL statement names, COPY and its options, SET, GRANT, and the helpers
// the statement table builds its DDL entries with.

import type { ConcreteOperation, CopyTextOptions, RelName } from '../../types.ts';
import type { Out } from '../lineage.ts';
import { relFromParts } from '../names.ts';
import {
  type Raw,
  S,
  L,
  X,
  type Field,
  spec,
  type Scope,
  type WalkState,
  bad,
  access,
  effect,
  keyOf,
  strings,
  targetRel,
  type StmtHandler,
  newScope,
  item,
} from './state.ts';
import { expr, walkFields, stmtAny } from './dispatch.ts';
import { stringLiteral } from './expressions.ts';

export const COPY_FILE_MESSAGE = 'COPY to or from a server file or program is not allowed';

/** The DDL-ish object a (objtype, object node) pair names, as the policy sees it; null = cannot name. */
export function objectName(
  st: WalkState,
  objtype: string,
  node: Raw,
): { rel: RelName; kind: 'relation' | 'function' } | null {
  const type = keyOf(node);
  const body = type === undefined ? undefined : node[type];
  const list = (): string[] =>
    type === 'List'
      ? strings(body.items)
      : type === 'String'
        ? [body.sval ?? '']
        : type === 'TypeName'
          ? strings(body.names)
          : [];
  const rel = (parts: string[]): { rel: RelName; kind: 'relation' } | null => {
    const r = relFromParts(parts, st.defaultSchema);
    return r === null ? null : { rel: r, kind: 'relation' };
  };
  switch (objtype) {
    case 'OBJECT_FUNCTION':
    case 'OBJECT_PROCEDURE':
    case 'OBJECT_ROUTINE':
    case 'OBJECT_AGGREGATE':
    case 'OBJECT_OPERATOR': {
      if (type !== 'ObjectWithArgs') return null;
      expr(st, node, null, false);
      const relation = relFromParts(strings(body.objname), null);
      return relation === null ? null : { rel: relation, kind: 'function' };
    }
    case 'OBJECT_SCHEMA':
      return type === 'String' ? { rel: { schema: body.sval ?? '', name: '*' }, kind: 'relation' } : null;
    case 'OBJECT_EXTENSION':
      return type === 'String' ? { rel: { schema: null, name: body.sval ?? '' }, kind: 'relation' } : null;
    case 'OBJECT_TABLE':
    case 'OBJECT_VIEW':
    case 'OBJECT_MATVIEW':
    case 'OBJECT_INDEX':
    case 'OBJECT_SEQUENCE':
    case 'OBJECT_FOREIGN_TABLE':
    case 'OBJECT_TYPE':
    case 'OBJECT_DOMAIN':
    case 'OBJECT_COLLATION':
    case 'OBJECT_CONVERSION':
    case 'OBJECT_TSCONFIGURATION':
    case 'OBJECT_TSDICTIONARY':
    case 'OBJECT_TSPARSER':
    case 'OBJECT_TSTEMPLATE':
    case 'OBJECT_STATISTIC_EXT':
      return rel(list());
    case 'OBJECT_COLUMN':
    case 'OBJECT_TRIGGER':
    case 'OBJECT_POLICY':
    case 'OBJECT_RULE':
    case 'OBJECT_TABCONSTRAINT':
      // [schema.]table.name: the object lives on the table
      return rel(list().slice(0, -1));
    case 'OBJECT_DOMCONSTRAINT': {
      const items: Raw[] = type === 'List' ? (body.items ?? []) : [];
      return items[0]?.TypeName ? rel(strings(items[0].TypeName.names)) : null;
    }
    case 'OBJECT_OPCLASS':
    case 'OBJECT_OPFAMILY':
      return rel(list().slice(1)); // [access method, [schema,] name]
    default:
      return null;
  }
}

export function objectAccess(st: WalkState, op: ConcreteOperation, objtype: string, node: Raw, what: string): void {
  const named = objectName(st, objtype, node);
  if (named === null) {
    bad(st, `${what} on ${noun(objtype).toLowerCase()} objects is not supported`);
    return;
  }
  access(st, op, named.rel, named.kind);
}

const NOUNS: Readonly<Record<string, string>> = {
  OBJECT_TABLE: 'TABLE',
  OBJECT_VIEW: 'VIEW',
  OBJECT_MATVIEW: 'MATERIALIZED VIEW',
  OBJECT_INDEX: 'INDEX',
  OBJECT_SEQUENCE: 'SEQUENCE',
  OBJECT_FOREIGN_TABLE: 'FOREIGN TABLE',
  OBJECT_FUNCTION: 'FUNCTION',
  OBJECT_PROCEDURE: 'PROCEDURE',
  OBJECT_ROUTINE: 'ROUTINE',
  OBJECT_AGGREGATE: 'AGGREGATE',
  OBJECT_SCHEMA: 'SCHEMA',
  OBJECT_TYPE: 'TYPE',
  OBJECT_DOMAIN: 'DOMAIN',
  OBJECT_EXTENSION: 'EXTENSION',
  OBJECT_TRIGGER: 'TRIGGER',
  OBJECT_POLICY: 'POLICY',
  OBJECT_RULE: 'RULE',
  OBJECT_ROLE: 'ROLE',
  OBJECT_DATABASE: 'DATABASE',
  OBJECT_COLLATION: 'COLLATION',
  OBJECT_CONVERSION: 'CONVERSION',
  OBJECT_OPERATOR: 'OPERATOR',
  OBJECT_OPCLASS: 'OPERATOR CLASS',
  OBJECT_OPFAMILY: 'OPERATOR FAMILY',
  OBJECT_LANGUAGE: 'LANGUAGE',
  OBJECT_CAST: 'CAST',
  OBJECT_STATISTIC_EXT: 'STATISTICS',
  OBJECT_TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
  OBJECT_TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
  OBJECT_TSPARSER: 'TEXT SEARCH PARSER',
  OBJECT_TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
  OBJECT_EVENT_TRIGGER: 'EVENT TRIGGER',
  OBJECT_FDW: 'FOREIGN DATA WRAPPER',
  OBJECT_FOREIGN_SERVER: 'SERVER',
  OBJECT_PUBLICATION: 'PUBLICATION',
  OBJECT_SUBSCRIPTION: 'SUBSCRIPTION',
  OBJECT_TABLESPACE: 'TABLESPACE',
  OBJECT_ACCESS_METHOD: 'ACCESS METHOD',
  OBJECT_TRANSFORM: 'TRANSFORM',
  OBJECT_USER_MAPPING: 'USER MAPPING',
  OBJECT_COLUMN: 'COLUMN',
  OBJECT_TABCONSTRAINT: 'CONSTRAINT',
  OBJECT_DOMCONSTRAINT: 'DOMAIN CONSTRAINT',
  OBJECT_LARGEOBJECT: 'LARGE OBJECT',
};
export function noun(objtype: string): string {
  return NOUNS[objtype] ?? objtype.replace(/^OBJECT_/, '').replace(/_/g, ' ');
}

/** Whole-database targets (VACUUM with no table, REINDEX DATABASE): every schema, every relation. */
export const ALL_RELATIONS: RelName = Object.freeze({ schema: '*', name: '*' });
/** Role and privilege statements are GRANT on the catalog that holds the object (see README). */
export const catalog = (name: string): RelName => ({ schema: 'pg_catalog', name });

export function ddl(
  type: string,
  fieldList: Record<string, Field>,
  target: (st: WalkState, body: Raw) => void,
): [string, StmtHandler] {
  const fields = spec(fieldList);
  return [
    type,
    (st, body) => {
      target(st, body);
      walkFields(st, type, body, fields, null, null);
      return null;
    },
  ];
}

export function unsupported(type: string, reason: string): [string, StmtHandler] {
  return [
    type,
    (st) => {
      bad(st, reason);
      return null;
    },
  ];
}

export function namesTarget(field: string, kind: 'relation' | 'function' = 'relation') {
  return (st: WalkState, body: Raw): void => {
    const rel = relFromParts(strings(body[field]), kind === 'relation' ? st.defaultSchema : null);
    if (rel === null) bad(st, `cannot name the object of this statement`);
    else access(st, 'DDL', rel, kind);
  };
}

export function rangeVarsTarget(field: string, op: ConcreteOperation) {
  return (st: WalkState, body: Raw): void => {
    for (const entry of Array.isArray(body[field]) ? body[field] : []) {
      if (entry.RangeVar === undefined) {
        bad(st, `${keyOf(entry)} is not supported as a relation`);
        continue;
      }
      targetRel(st, entry.RangeVar, op);
    }
  };
}

const COPY = spec({
  relation: X,
  query: X,
  attlist: S,
  is_from: S,
  is_program: S,
  filename: S,
  options: L,
  whereClause: X,
});

export function copyStmt(st: WalkState, body: Raw, _outer: Scope | null, want: boolean): Out[] | null {
  walkFields(st, 'CopyStmt', body, COPY, null, null);
  st.cacheable = false; // options (FORMAT …) shape the masking of the output
  if (body.is_program === true || body.filename !== undefined) bad(st, COPY_FILE_MESSAGE);
  let format: 'text' | 'csv' | 'binary' = 'text';
  let optionsDefault = true;
  const text = copyTextOptions(Array.isArray(body.options) ? body.options : []);
  for (const option of Array.isArray(body.options) ? body.options : []) {
    const defElem = option.DefElem;
    if (defElem?.defname === 'format') {
      const named = defElem.arg?.String?.sval;
      if (named === 'csv' || named === 'binary' || named === 'text') format = named;
      else bad(st, 'COPY format must be text, csv or binary'); // not quoted: the option value is a literal
    } else {
      optionsDefault = false;
    }
  }
  const columns = strings(body.attlist);
  if (body.relation !== undefined) {
    const rel = targetRel(st, body.relation, body.is_from === true ? 'COPY_FROM' : 'COPY_TO');
    if (body.is_from === true) {
      st.writes = true;
      if (body.whereClause !== undefined) {
        const scope = newScope(null);
        scope.items.push(item({ alias: body.relation.relname, rel }));
        expr(st, body.whereClause, scope, false);
      }
      return want ? [] : null;
    }
    st.copyTo =
      text === null || optionsDefault
        ? { relation: rel, columns: columns.length > 0 ? columns : null, format, optionsDefault }
        : { relation: rel, columns: columns.length > 0 ? columns : null, format, optionsDefault, textOptions: text };
    if (!want) return null;
    return columns.length > 0
      ? columns.map((column) => ({ name: column, src: { kind: 'column', relation: rel, column } }))
      : [{ name: null, src: { kind: 'star', relations: [rel] } }];
  }
  if (body.query === undefined) {
    bad(st, 'COPY without a table or query');
    return want ? [] : null;
  }
  const mark = st.accesses.length;
  const outs = stmtAny(st, body.query, null, true);
  // COPY (query) TO bulk-exports what the query reads: COPY_TO on each of those relations too
  const reads = st.accesses.slice(mark).filter((found) => found.operation === 'SELECT' && found.kind === 'relation');
  for (const read of reads) access(st, 'COPY_TO', read.relation, 'relation');
  st.copyTo =
    text === null || optionsDefault
      ? { relation: null, columns: null, format, optionsDefault }
      : { relation: null, columns: null, format, optionsDefault, textOptions: text };
  return want ? outs : null;
}

/**
 * The options of a text or CSV COPY TO the masker can follow (mask/copy.ts): HEADER, DELIMITER, QUOTE, ESCAPE,
 * NULL, FORCE_QUOTE, and ENCODING when it is UTF-8; null when any other option is given, an option is given twice
 * (PostgreSQL refuses that too) or a value is not a plain constant. HEADER is true only when PostgreSQL is sure
 * to send the header line (defGetCopyHeaderChoice in commands/copy.c): the session passes the first CopyData
 * unmasked on that word, so a doubt must not say true.
 */
function copyTextOptions(options: readonly Raw[]): CopyTextOptions | null {
  const out: { header: boolean; delimiter?: string; quote?: string; escape?: string; null?: string } = {
    header: false,
  };
  const seen = new Set<string>();
  for (const option of options) {
    const defElem = option?.DefElem;
    const name: unknown = defElem?.defname;
    if (typeof name !== 'string' || seen.has(name)) return null;
    seen.add(name);
    const sval: unknown = defElem.arg?.String?.sval;
    switch (name) {
      case 'format':
        break;
      case 'header': {
        if (defElem.arg === undefined) {
          out.header = true;
          break;
        }
        if (defElem.arg.Boolean !== undefined) {
          out.header = defElem.arg.Boolean.boolval === true;
          break;
        }
        if (defElem.arg.Integer !== undefined) {
          const count = defElem.arg.Integer.ival ?? 0;
          if (count !== 0 && count !== 1) return null;
          out.header = count === 1;
          break;
        }
        const word = typeof sval === 'string' ? sval.toLowerCase() : null;
        if (word === 'true' || word === 'on') out.header = true;
        else if (word === 'false' || word === 'off') out.header = false;
        else return null;
        break;
      }
      case 'delimiter':
      case 'quote':
      case 'escape':
      case 'null':
        if (typeof sval !== 'string') return null;
        out[name] = sval;
        break;
      case 'force_quote':
        break; // the masker keeps a quoted field quoted
      case 'encoding':
        if (typeof sval !== 'string' || !['utf8', 'utf-8', 'unicode'].includes(sval.toLowerCase())) return null;
        break;
      default:
        return null;
    }
  }
  return out;
}

const SET_STMT = spec({ kind: S, name: S, args: L, jumble_args: S, is_local: S, location: S });

export function variableSet(st: WalkState, body: Raw): Out[] | null {
  walkFields(st, 'VariableSetStmt', body, SET_STMT, null, null);
  st.cacheable = false;
  const name = typeof body.name === 'string' ? body.name.toLowerCase() : null;
  if (name === 'role' || name === 'session_authorization') {
    effect(st, { kind: 'role' });
    return null;
  }
  switch (body.kind) {
    case 'VAR_RESET_ALL':
      effect(st, { kind: 'reset', name: null });
      break;
    case 'VAR_RESET':
      effect(st, { kind: 'reset', name });
      break;
    case 'VAR_SET_MULTI':
      effect(st, { kind: 'set', name: name ?? '', local: body.is_local === true || name === 'transaction' });
      break;
    default:
      effect(st, { kind: 'set', name: name ?? '', local: body.is_local === true, value: setValue(body) });
  }
  return null;
}

/** The value of `SET name = 'v'` / `SET name TO v` when it is a single constant; null for DEFAULT, lists, expressions. */
function setValue(body: Raw): string | null {
  const args: Raw[] = Array.isArray(body.args) ? body.args : [];
  if (body.kind !== 'VAR_SET_VALUE' || args.length !== 1) return null;
  return stringLiteral(args[0]);
}

export function grantStmt(st: WalkState, body: Raw): void {
  const objects: Raw[] = Array.isArray(body.objects) ? body.objects : [];
  if (body.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
    for (const object of objects) access(st, 'GRANT', { schema: object.String?.sval ?? '', name: '*' }, 'relation');
    return;
  }
  switch (body.objtype) {
    case 'OBJECT_TABLE':
    case 'OBJECT_SEQUENCE':
    case 'OBJECT_FOREIGN_TABLE':
      rangeVarsTarget('objects', 'GRANT')(st, body);
      return;
    case 'OBJECT_DATABASE':
      access(st, 'GRANT', catalog('pg_database'), 'relation');
      return;
    case 'OBJECT_TABLESPACE':
      access(st, 'GRANT', catalog('pg_tablespace'), 'relation');
      return;
    case 'OBJECT_LANGUAGE':
      access(st, 'GRANT', catalog('pg_language'), 'relation');
      return;
    case 'OBJECT_FDW':
      access(st, 'GRANT', catalog('pg_foreign_data_wrapper'), 'relation');
      return;
    case 'OBJECT_FOREIGN_SERVER':
      access(st, 'GRANT', catalog('pg_foreign_server'), 'relation');
      return;
    case 'OBJECT_LARGEOBJECT':
      access(st, 'GRANT', catalog('pg_largeobject_metadata'), 'relation');
      return;
    case 'OBJECT_PARAMETER_ACL':
      access(st, 'GRANT', catalog('pg_parameter_acl'), 'relation');
      return;
    default:
      for (const object of objects) objectAccess(st, 'GRANT', body.objtype, object, 'GRANT');
  }
}
export const GRANT = spec({
  is_grant: S,
  targtype: S,
  objtype: S,
  objects: X,
  privileges: L,
  grantees: L,
  grant_option: S,
  grantor: S,
  behavior: S,
});

/** Statements whose nested statements must not count as this statement's own writes (rule actions). */
export function sideways(st: WalkState, fn: () => void): void {
  const writes = st.writes;
  const unfiltered = st.unfiltered;
  const effects = st.effects.length;
  fn();
  st.writes = writes;
  st.unfiltered = unfiltered;
  st.effects.length = effects;
}

export const RELATION_TYPES = new Set([
  'OBJECT_TABLE',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_INDEX',
  'OBJECT_SEQUENCE',
  'OBJECT_FOREIGN_TABLE',
]);
