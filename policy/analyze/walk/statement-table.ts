// STMT: every statement type the walker accepts, each with the complete list of its fields (the ddl()
// entries, and the F_ lists of those handled inline), and the ones refused whatever the policy says.
// A statement type missing here, or a field missing from its list, denies.

import { CONSTANT, OPAQUE } from '../lineage.ts';
import { relFromParts } from '../names.ts';
import { hiddenSetting } from '../functions.ts';
import {
  type Raw,
  S,
  N,
  L,
  X,
  spec,
  bad,
  access,
  effect,
  keyOf,
  checkFields,
  strings,
  targetRel,
  createdRel,
  type StmtHandler,
} from './state.ts';
import { walkFields, writtenFrom, stmtAny } from './dispatch.ts';
import { INTO, selectStmt } from './queries.ts';
import { insertStmt, updateStmt, deleteStmt, mergeStmt } from './dml.ts';
import {
  objectName,
  objectAccess,
  noun,
  ALL_RELATIONS,
  catalog,
  ddl,
  unsupported,
  namesTarget,
  rangeVarsTarget,
  copyStmt,
  variableSet,
  grantStmt,
  GRANT,
  sideways,
  RELATION_TYPES,
} from './utility.ts';

// Field lists of the utility statements handled inline below.
const F_EXPLAIN_STMT = spec({ query: X, options: L });
const F_PREPARE_STMT = spec({ name: S, argtypes: L, query: X });
const F_EXECUTE_STMT = spec({ name: S, params: L });
const F_DEALLOCATE_STMT = spec({ name: S, isall: S, location: S });
const F_DO_STMT = spec({ args: L });
const F_CALL_STMT = spec({ funccall: 'FuncCall', funcexpr: S, outargs: S });
const F_TRANSACTION_STMT = spec({ kind: S, options: L, savepoint_name: S, gid: S, chain: S, location: S });
const F_VARIABLE_SHOW_STMT = spec({ name: S });
const F_DISCARD_STMT = spec({ target: S });
const F_LISTEN_STMT = spec({ conditionname: S });
const F_UNLISTEN_STMT = spec({ conditionname: S });
const F_NOTIFY_STMT = spec({ conditionname: S, payload: S });
const F_DECLARE_CURSOR_STMT = spec({ portalname: S, options: S, query: X });
const F_CLOSE_PORTAL_STMT = spec({ portalname: S });
const F_FETCH_STMT = spec({ direction: S, howMany: S, portalname: S, ismove: S });
const F_CONSTRAINTS_SET_STMT = spec({ constraints: S, deferred: S });
const F_CREATE_TABLE_AS_STMT = spec({ query: X, into: X, objtype: S, is_select_into: S, if_not_exists: S });
const F_VIEW_STMT = spec({ view: X, aliases: S, query: X, replace: S, options: L, withCheckOption: S });
const F_CREATE_SCHEMA_STMT = spec({ schemaname: S, authrole: S, schemaElts: X, if_not_exists: S });
const F_RULE_STMT = spec({ relation: X, rulename: S, whereClause: N, event: S, instead: S, actions: X, replace: S });
const F_VACUUM_RELATION = spec({ relation: X, oid: S, va_cols: S });

export const STMT: ReadonlyMap<string, StmtHandler> = new Map<string, StmtHandler>([
  ['SelectStmt', selectStmt],
  ['InsertStmt', insertStmt],
  ['UpdateStmt', updateStmt],
  ['DeleteStmt', deleteStmt],
  ['MergeStmt', mergeStmt],
  ['CopyStmt', copyStmt],
  [
    'ExplainStmt',
    (st, body) => {
      walkFields(st, 'ExplainStmt', body, F_EXPLAIN_STMT, null, null);
      // EXPLAIN ANALYZE runs the statement; plain EXPLAIN is treated the same (safest, and the
      // ANALYZE option's value is a literal the shape cache would not see).
      stmtAny(st, body.query, null, false);
      return [{ name: 'QUERY PLAN', src: CONSTANT }];
    },
  ],
  [
    'PrepareStmt',
    (st, body, _o, want) => {
      walkFields(st, 'PrepareStmt', body, F_PREPARE_STMT, null, null);
      st.prepares = body.name ?? '';
      effect(st, { kind: 'prepare', name: body.name ?? '' });
      return stmtAny(st, body.query, null, want);
    },
  ],
  [
    'ExecuteStmt',
    (st, body) => {
      walkFields(st, 'ExecuteStmt', body, F_EXECUTE_STMT, null, null);
      st.executes = body.name ?? '';
      return null;
    },
  ],
  [
    'DeallocateStmt',
    (st, body) => {
      walkFields(st, 'DeallocateStmt', body, F_DEALLOCATE_STMT, null, null);
      effect(st, { kind: 'deallocate', name: body.isall === true ? null : (body.name ?? null) });
      return null;
    },
  ],
  [
    'DoStmt',
    (st, body) => {
      walkFields(st, 'DoStmt', body, F_DO_STMT, null, null);
      // An anonymous code block runs arbitrary procedural code: a CALL of the pseudo-function
      // pg_catalog.do, which a policy must name to allow (see README).
      st.cacheable = false;
      access(st, 'CALL', { schema: 'pg_catalog', name: 'do' }, 'function');
      return null;
    },
  ],
  [
    'CallStmt',
    (st, body) => {
      walkFields(st, 'CallStmt', body, F_CALL_STMT, null, null);
      return [{ name: null, src: OPAQUE }]; // OUT parameters come back as a row
    },
  ],
  [
    'TransactionStmt',
    (st, body) => {
      walkFields(st, 'TransactionStmt', body, F_TRANSACTION_STMT, null, null);
      st.transaction = true;
      if (
        body.kind === 'TRANS_STMT_PREPARE'
        || body.kind === 'TRANS_STMT_COMMIT_PREPARED'
        || body.kind === 'TRANS_STMT_ROLLBACK_PREPARED'
      ) {
        bad(st, 'two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) is not supported');
      }
      return null;
    },
  ],
  ['VariableSetStmt', (st, body) => variableSet(st, body)],
  [
    'VariableShowStmt',
    (st, body) => {
      checkFields(st, 'VariableShowStmt', body, F_VARIABLE_SHOW_STMT);
      const hidden = typeof body.name === 'string' ? hiddenSetting(body.name) : null;
      if (hidden !== null) bad(st, hidden);
      return [{ name: body.name ?? null, src: CONSTANT }];
    },
  ],
  [
    'DiscardStmt',
    (st, body) => {
      checkFields(st, 'DiscardStmt', body, F_DISCARD_STMT);
      effect(st, { kind: 'discard' });
      if (body.target === 'DISCARD_ALL') {
        // DISCARD ALL = RESET ALL + DEALLOCATE ALL + UNLISTEN * + … (PostgreSQL docs, DISCARD)
        effect(st, { kind: 'reset', name: null });
        effect(st, { kind: 'deallocate', name: null });
        effect(st, { kind: 'unlisten' });
      }
      return null;
    },
  ],
  [
    'ListenStmt',
    (st, body) => {
      checkFields(st, 'ListenStmt', body, F_LISTEN_STMT);
      effect(st, { kind: 'listen' });
      return null;
    },
  ],
  [
    'UnlistenStmt',
    (st, body) => {
      checkFields(st, 'UnlistenStmt', body, F_UNLISTEN_STMT);
      effect(st, { kind: 'unlisten' });
      return null;
    },
  ],
  [
    'NotifyStmt',
    (st, body) => {
      checkFields(st, 'NotifyStmt', body, F_NOTIFY_STMT);
      effect(st, { kind: 'notify' });
      access(st, 'NOTIFY', { schema: null, name: body.conditionname ?? '' }, 'channel');
      return null;
    },
  ],
  [
    'DeclareCursorStmt',
    (st, body, _o, want) => {
      checkFields(st, 'DeclareCursorStmt', body, F_DECLARE_CURSOR_STMT);
      return stmtAny(st, body.query, null, want);
    },
  ],
  [
    'ClosePortalStmt',
    (st, body) => {
      checkFields(st, 'ClosePortalStmt', body, F_CLOSE_PORTAL_STMT);
      return null;
    },
  ],
  [
    'FetchStmt',
    (st, body) => {
      checkFields(st, 'FetchStmt', body, F_FETCH_STMT);
      return null;
    },
  ],
  [
    'ConstraintsSetStmt',
    (st, body) => {
      checkFields(st, 'ConstraintsSetStmt', body, F_CONSTRAINTS_SET_STMT);
      return null;
    },
  ],
  // --- DDL
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('CreateStmt', {
    relation: X, tableElts: L, inhRelations: X, partbound: 'PartitionBoundSpec', partspec: 'PartitionSpec',
    ofTypename: 'TypeName', constraints: L, nnconstraints: L, options: L, oncommit: S, tablespacename: S,
    accessMethod: S, if_not_exists: S,
  }, (st, body) => {
    createdRel(st, body.relation);
    // INHERITS / PARTITION OF: the parent's scans start returning the new table's rows
    rangeVarsTarget('inhRelations', 'DDL')(st, body);
  }),
  [
    'CreateTableAsStmt',
    (st, body) => {
      walkFields(st, 'CreateTableAsStmt', body, F_CREATE_TABLE_AS_STMT, null, null);
      walkFields(st, 'IntoClause', body.into, INTO, null, null);
      createdRel(st, body.into.rel);
      writtenFrom(st, stmtAny(st, body.query, null, true));
      return null;
    },
  ],
  [
    'ViewStmt',
    (st, body) => {
      walkFields(st, 'ViewStmt', body, F_VIEW_STMT, null, null);
      createdRel(st, body.view);
      // the view's query is reported as this statement's reads: a view cannot launder a SELECT; and its
      // outputs count as stored values, so it cannot launder masking either (reads of the view carry the
      // view's OID, not the masked table's)
      writtenFrom(st, stmtAny(st, body.query, null, true));
      return null;
    },
  ],
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('IndexStmt', {
    idxname: S, relation: X, accessMethod: S, tableSpace: S, indexParams: L, indexIncludingParams: L, options: L,
    whereClause: N, excludeOpNames: S, idxcomment: S, indexOid: S, oldNumber: S, oldCreateSubid: S,
    oldFirstRelfilelocatorSubid: S, unique: S, nulls_not_distinct: S, primary: S, isconstraint: S,
    iswithoutoverlaps: S, deferrable: S, initdeferred: S, transformed: S, concurrent: S, if_not_exists: S,
    reset_default_tblspc: S,
  }, (st, body) => { targetRel(st, body.relation, 'DDL'); }),
  ddl('AlterTableStmt', { relation: X, cmds: L, objtype: S, missing_ok: S }, (st, body) => {
    const rel = targetRel(st, body.relation, 'DDL');
    for (const command of Array.isArray(body.cmds) ? body.cmds : []) {
      if (command.AlterTableCmd?.subtype === 'AT_ChangeOwner') access(st, 'GRANT', rel, 'relation');
    }
  }),
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('CreateFunctionStmt', {
    is_procedure: S, replace: S, funcname: X, parameters: L, returnType: 'TypeName', options: L, sql_body: S,
  }, (st, body) => {
    st.cacheable = false; // the body is code inside a string
    namesTarget('funcname', 'function')(st, body);
  }),
  ddl('AlterFunctionStmt', { objtype: S, func: X, actions: L }, (st, body) => {
    objectAccess(st, 'DDL', body.objtype, { ObjectWithArgs: body.func }, 'ALTER');
  }),
  [
    'CreateSchemaStmt',
    (st, body) => {
      walkFields(st, 'CreateSchemaStmt', body, F_CREATE_SCHEMA_STMT, null, null);
      const schema: string = body.schemaname ?? body.authrole?.rolename ?? '';
      access(st, 'DDL', { schema, name: '*' }, 'relation');
      if (body.authrole !== undefined) access(st, 'GRANT', { schema, name: '*' }, 'relation');
      // sub-commands run with search_path set to the new schema (CreateSchemaCommand)
      const saved = st.defaultSchema;
      st.defaultSchema = schema;
      for (const element of Array.isArray(body.schemaElts) ? body.schemaElts : []) stmtAny(st, element, null, false);
      st.defaultSchema = saved;
      return null;
    },
  ],
  ddl('CreateSeqStmt', { sequence: X, options: L, ownerId: S, for_identity: S, if_not_exists: S }, (st, body) => {
    createdRel(st, body.sequence);
  }),
  ddl('AlterSeqStmt', { sequence: X, options: L, for_identity: S, missing_ok: S }, (st, body) => {
    targetRel(st, body.sequence, 'DDL');
  }),
  ddl(
    'DefineStmt',
    { kind: S, oldstyle: S, defnames: X, args: L, definition: L, if_not_exists: S, replace: S },
    (st, body) => {
      namesTarget('defnames', body.kind === 'OBJECT_AGGREGATE' ? 'function' : 'relation')(st, body);
    },
  ),
  ddl(
    'CreateDomainStmt',
    { domainname: X, typeName: 'TypeName', collClause: 'CollateClause', constraints: L },
    namesTarget('domainname'),
  ),
  ddl('CompositeTypeStmt', { typevar: X, coldeflist: L }, (st, body) => {
    targetRel(st, body.typevar, 'DDL');
  }),
  ddl('CreateEnumStmt', { typeName: X, vals: S }, namesTarget('typeName')),
  ddl('CreateRangeStmt', { typeName: X, params: L }, namesTarget('typeName')),
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('AlterEnumStmt', {
    typeName: X, oldVal: S, newVal: S, newValNeighbor: S, newValIsAfter: S, skipIfNewValExists: S,
  }, namesTarget('typeName')),
  ddl('AlterTypeStmt', { typeName: X, options: L }, namesTarget('typeName')),
  ddl(
    'AlterDomainStmt',
    { subtype: S, typeName: X, name: S, def: N, behavior: S, missing_ok: S },
    namesTarget('typeName'),
  ),
  ddl('CreateExtensionStmt', { extname: S, if_not_exists: S, options: L }, (st, body) => {
    access(st, 'DDL', { schema: null, name: body.extname ?? '' }, 'relation');
  }),
  ddl('AlterExtensionStmt', { extname: S, options: L }, (st, body) => {
    access(st, 'DDL', { schema: null, name: body.extname ?? '' }, 'relation');
  }),
  ddl('AlterExtensionContentsStmt', { extname: S, action: S, objtype: S, object: X }, (st, body) => {
    access(st, 'DDL', { schema: null, name: body.extname ?? '' }, 'relation');
    objectAccess(st, 'DDL', body.objtype, body.object, 'ALTER EXTENSION');
  }),
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('CreateTrigStmt', {
    replace: S, isconstraint: S, trigname: S, relation: X, funcname: X, args: S, row: S, timing: S, events: S,
    columns: S, whenClause: N, transitionRels: L, deferrable: S, initdeferred: S, constrrel: X,
  }, (st, body) => {
    targetRel(st, body.relation, 'DDL');
    if (body.constrrel !== undefined) targetRel(st, body.constrrel, 'DDL');
    // the trigger function will run on every matching change: creating it calls it
    const trigger = relFromParts(strings(body.funcname), null);
    if (trigger !== null) access(st, 'CALL', trigger, 'function');
  }),
  [
    'RuleStmt',
    (st, body) => {
      walkFields(st, 'RuleStmt', body, F_RULE_STMT, null, null);
      targetRel(st, body.relation, 'DDL');
      // rule actions run later, on every matching event: their accesses are this statement's too
      sideways(st, () => {
        for (const action of Array.isArray(body.actions) ? body.actions : []) stmtAny(st, action, null, false);
      });
      return null;
    },
  ],
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('CreatePolicyStmt', {
    policy_name: S, table: X, cmd_name: S, permissive: S, roles: S, qual: N, with_check: N,
  }, (st, body) => { targetRel(st, body.table, 'DDL'); }),
  ddl('AlterPolicyStmt', { policy_name: S, table: X, roles: S, qual: N, with_check: N }, (st, body) => {
    targetRel(st, body.table, 'DDL');
  }),
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('CreateStatsStmt', {
    defnames: S, stat_types: S, exprs: L, relations: X, stxcomment: S, transformed: S, if_not_exists: S,
  }, rangeVarsTarget('relations', 'DDL')),
  ddl('AlterStatsStmt', { defnames: X, stxstattarget: N, missing_ok: S }, namesTarget('defnames')),
  ddl('CommentStmt', { objtype: S, object: X, comment: S }, (st, body) => {
    objectAccess(st, 'DDL', body.objtype, body.object, 'COMMENT');
  }),
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('RenameStmt', {
    renameType: S, relationType: S, relation: X, object: X, subname: S, newname: S, behavior: S, missing_ok: S,
  }, (st, body) => {
    if (body.relation !== undefined) {
      const rel = targetRel(st, body.relation, 'DDL');
      // renaming into a name is creating it: the new name must be allowed too
      if (RELATION_TYPES.has(body.renameType)) access(st, 'DDL', { schema: rel.schema, name: body.newname ?? '' }, 'relation');
      return;
    }
    if (body.renameType === 'OBJECT_SCHEMA') {
      access(st, 'DDL', { schema: body.subname ?? '', name: '*' }, 'relation');
      access(st, 'DDL', { schema: body.newname ?? '', name: '*' }, 'relation');
      return;
    }
    if (body.renameType === 'OBJECT_ROLE') { access(st, 'GRANT', catalog('pg_authid'), 'relation'); return; }
    const named = body.object === undefined ? null : objectName(st, body.renameType, body.object);
    if (named === null) { bad(st, `ALTER … RENAME on ${noun(body.renameType).toLowerCase()} objects is not supported`); return; }
    access(st, 'DDL', named.rel, named.kind);
    if (body.renameType === 'OBJECT_SCHEMA') access(st, 'DDL', { schema: body.newname ?? '', name: '*' }, 'relation');
    else access(st, 'DDL', { schema: named.rel.schema, name: body.newname ?? '' }, named.kind);
  }),
  ddl('AlterObjectSchemaStmt', { objectType: S, relation: X, object: X, newschema: S, missing_ok: S }, (st, body) => {
    const named =
      body.relation !== undefined
        ? { rel: targetRel(st, body.relation, 'DDL'), kind: 'relation' as const }
        : objectName(st, body.objectType, body.object);
    if (named === null) {
      bad(st, `ALTER … SET SCHEMA on ${noun(body.objectType).toLowerCase()} objects is not supported`);
      return;
    }
    access(st, 'DDL', named.rel, named.kind);
    access(st, 'DDL', { schema: body.newschema ?? '', name: named.rel.name }, named.kind);
  }),
  ddl('AlterOwnerStmt', { objectType: S, relation: X, object: X, newowner: S }, (st, body) => {
    const named =
      body.relation !== undefined
        ? { rel: targetRel(st, body.relation, 'DDL'), kind: 'relation' as const }
        : objectName(st, body.objectType, body.object);
    if (named === null) {
      bad(st, `ALTER … OWNER on ${noun(body.objectType).toLowerCase()} objects is not supported`);
      return;
    }
    access(st, 'DDL', named.rel, named.kind);
    access(st, 'GRANT', named.rel, named.kind); // the owner holds every privilege
  }),
  ddl('AlterObjectDependsStmt', { objectType: S, relation: X, object: X, extname: S, remove: S }, (st, body) => {
    if (body.relation !== undefined) targetRel(st, body.relation, 'DDL');
    else objectAccess(st, 'DDL', body.objectType, body.object, 'ALTER … DEPENDS ON EXTENSION');
  }),
  ddl('DropStmt', { objects: X, removeType: S, behavior: S, missing_ok: S, concurrent: S }, (st, body) => {
    // CASCADE may drop more than named; the named objects are what the policy can check
    for (const object of Array.isArray(body.objects) ? body.objects : [])
      objectAccess(st, 'DROP', body.removeType, object, 'DROP');
  }),
  ddl('TruncateStmt', { relations: X, restart_seqs: S, behavior: S }, rangeVarsTarget('relations', 'TRUNCATE')),
  ddl('RefreshMatViewStmt', { concurrent: S, skipData: S, relation: X }, (st, body) => {
    targetRel(st, body.relation, 'DDL');
  }),
  ddl('VacuumStmt', { options: L, rels: X, is_vacuumcmd: S }, (st, body) => {
    const rels: Raw[] = Array.isArray(body.rels) ? body.rels : [];
    if (rels.length === 0) access(st, 'DDL', ALL_RELATIONS, 'relation');
    for (const entry of rels) {
      const vacuumed = entry.VacuumRelation;
      if (vacuumed === undefined) {
        bad(st, `${keyOf(entry)} is not supported in VACUUM`);
        continue;
      }
      checkFields(st, 'VacuumRelation', vacuumed, F_VACUUM_RELATION);
      targetRel(st, vacuumed.relation, 'DDL');
    }
  }),
  ddl('ClusterStmt', { relation: X, indexname: S, params: L }, (st, body) => {
    if (body.relation !== undefined) targetRel(st, body.relation, 'DDL');
    else access(st, 'DDL', ALL_RELATIONS, 'relation');
  }),
  ddl('ReindexStmt', { kind: S, relation: X, name: S, params: L }, (st, body) => {
    if (body.relation !== undefined) targetRel(st, body.relation, 'DDL');
    else if (body.kind === 'REINDEX_OBJECT_SCHEMA')
      access(st, 'DDL', { schema: body.name ?? '', name: '*' }, 'relation');
    else access(st, 'DDL', ALL_RELATIONS, 'relation');
  }),
  // LOCK blocks other sessions; it is treated as DDL (see README)
  ddl('LockStmt', { relations: X, mode: S, nowait: S }, rangeVarsTarget('relations', 'DDL')),
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('GrantStmt', {
    is_grant: S, targtype: S, objtype: S, objects: X, privileges: L, grantees: L, grant_option: S, grantor: S, behavior: S,
  }, grantStmt),
  ddl('GrantRoleStmt', { granted_roles: S, grantee_roles: S, is_grant: S, opt: L, grantor: S, behavior: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
  }),
  ddl('AlterDefaultPrivilegesStmt', { options: L, action: X }, (st, body) => {
    walkFields(st, 'GrantStmt', body.action, GRANT, null, null);
    let schemas = false;
    for (const option of Array.isArray(body.options) ? body.options : []) {
      if (option.DefElem?.defname !== 'schemas') continue;
      for (const schema of strings(option.DefElem.arg?.List?.items)) {
        access(st, 'GRANT', { schema: schema, name: '*' }, 'relation');
        schemas = true;
      }
    }
    if (!schemas) access(st, 'GRANT', catalog('pg_default_acl'), 'relation');
  }),
  ddl('CreateRoleStmt', { stmt_type: S, role: S, options: L }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
  }),
  ddl('AlterRoleStmt', { role: S, options: L, action: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
  }),
  ddl('AlterRoleSetStmt', { role: S, database: S, setstmt: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
  }),
  ddl('DropRoleStmt', { roles: S, missing_ok: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
  }),
  ddl('DropOwnedStmt', { roles: S, behavior: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
    access(st, 'DROP', ALL_RELATIONS, 'relation'); // drops whatever the roles own
  }),
  ddl('ReassignOwnedStmt', { roles: S, newrole: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
    access(st, 'GRANT', ALL_RELATIONS, 'relation');
  }),
  ddl('AlterCollationStmt', { collname: X }, namesTarget('collname')),
  ddl(
    'CreateOpClassStmt',
    { opclassname: X, opfamilyname: S, amname: S, datatype: 'TypeName', items: L, isDefault: S },
    namesTarget('opclassname'),
  ),
  ddl('CreateOpFamilyStmt', { opfamilyname: X, amname: S }, namesTarget('opfamilyname')),
  ddl('AlterOpFamilyStmt', { opfamilyname: X, amname: S, isDrop: S, items: L }, namesTarget('opfamilyname')),
  ddl('AlterOperatorStmt', { opername: X, options: L }, (st, body) => {
    objectAccess(st, 'DDL', 'OBJECT_OPERATOR', { ObjectWithArgs: body.opername }, 'ALTER OPERATOR');
  }),
  ddl('AlterTSDictionaryStmt', { dictname: X, options: L }, namesTarget('dictname')),
  // biome-ignore format: a complete field list is data: kept wrapped, not one field a line
  ddl('AlterTSConfigurationStmt', {
    kind: S, cfgname: X, tokentype: S, dicts: S, override: S, replace: S, missing_ok: S,
  }, namesTarget('cfgname')),
  // --- refused whatever the policy says: server-wide, superuser-only or outside-the-database effects
  unsupported('LoadStmt', 'LOAD (loading a shared library into the server) is not allowed'),
  unsupported('AlterSystemStmt', 'ALTER SYSTEM is not allowed'),
  unsupported('CreatedbStmt', 'CREATE DATABASE is not allowed'),
  unsupported('DropdbStmt', 'DROP DATABASE is not allowed'),
  unsupported('AlterDatabaseStmt', 'ALTER DATABASE is not allowed'),
  unsupported('AlterDatabaseSetStmt', 'ALTER DATABASE is not allowed'),
  unsupported('AlterDatabaseRefreshCollStmt', 'ALTER DATABASE is not allowed'),
  unsupported('CheckPointStmt', 'CHECKPOINT is not allowed'),
  unsupported('CreateTableSpaceStmt', 'tablespace statements are not allowed'),
  unsupported('DropTableSpaceStmt', 'tablespace statements are not allowed'),
  unsupported('AlterTableSpaceOptionsStmt', 'tablespace statements are not allowed'),
  unsupported('AlterTableMoveAllStmt', 'tablespace statements are not allowed'),
  unsupported('SecLabelStmt', 'SECURITY LABEL is not supported'),
  unsupported('CreateFdwStmt', 'foreign-data wrapper statements are not allowed'),
  unsupported('AlterFdwStmt', 'foreign-data wrapper statements are not allowed'),
  unsupported('CreateForeignServerStmt', 'CREATE SERVER is not allowed'),
  unsupported('AlterForeignServerStmt', 'ALTER SERVER is not allowed'),
  unsupported('CreateForeignTableStmt', 'CREATE FOREIGN TABLE is not allowed'),
  unsupported('CreateUserMappingStmt', 'user mapping statements are not allowed'),
  unsupported('AlterUserMappingStmt', 'user mapping statements are not allowed'),
  unsupported('DropUserMappingStmt', 'user mapping statements are not allowed'),
  unsupported('ImportForeignSchemaStmt', 'IMPORT FOREIGN SCHEMA is not allowed'),
  unsupported('CreatePublicationStmt', 'publication statements are not allowed'),
  unsupported('AlterPublicationStmt', 'publication statements are not allowed'),
  unsupported('CreateSubscriptionStmt', 'subscription statements are not allowed'),
  unsupported('AlterSubscriptionStmt', 'subscription statements are not allowed'),
  unsupported('DropSubscriptionStmt', 'subscription statements are not allowed'),
  unsupported('CreateEventTrigStmt', 'event trigger statements are not allowed'),
  unsupported('AlterEventTrigStmt', 'event trigger statements are not allowed'),
  unsupported('CreateAmStmt', 'CREATE ACCESS METHOD is not allowed'),
  unsupported('CreatePLangStmt', 'CREATE LANGUAGE is not allowed'),
  unsupported('CreateCastStmt', 'CREATE CAST is not supported'),
  unsupported('CreateTransformStmt', 'CREATE TRANSFORM is not supported'),
  unsupported('CreateConversionStmt', 'CREATE CONVERSION is not supported'),
]);
