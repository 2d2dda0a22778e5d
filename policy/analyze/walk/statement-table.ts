// STMT: every statement type the walker accepts, each with the complete list of its fields (the ddl()
// entries, and the F_ lists of those handled inline), and the ones refused whatever the policy says.
// A statement type missing here, or a field missing from its list, denies.

import { CONSTANT, OPAQUE } from '../lineage.ts';
import { relFromParts } from '../names.ts';
import { hiddenSetting } from '../functions.ts';
import { type Raw, S, N, L, X, spec, bad, access, effect, keyOf, checkFields, strings, targetRel, createdRel, type StmtHandler } from './state.ts';
import { walkFields, writtenFrom, stmtAny } from './dispatch.ts';
import { INTO, selectStmt } from './queries.ts';
import { insertStmt, updateStmt, deleteStmt, mergeStmt } from './dml.ts';
import { objectName, objectAccess, noun, ALL_RELATIONS, catalog, ddl, unsupported, namesTarget, rangeVarsTarget, copyStmt, variableSet, grantStmt, GRANT, sideways, RELATION_TYPES } from './utility.ts';

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
  ['ExplainStmt', (st, b) => {
    walkFields(st, 'ExplainStmt', b, F_EXPLAIN_STMT, null, null);
    // EXPLAIN ANALYZE runs the statement; plain EXPLAIN is treated the same (safest, and the
    // ANALYZE option's value is a literal the shape cache would not see).
    stmtAny(st, b.query, null, false);
    return [{ name: 'QUERY PLAN', src: CONSTANT }];
  }],
  ['PrepareStmt', (st, b, _o, want) => {
    walkFields(st, 'PrepareStmt', b, F_PREPARE_STMT, null, null);
    st.prepares = b.name ?? '';
    effect(st, { kind: 'prepare', name: b.name ?? '' });
    return stmtAny(st, b.query, null, want);
  }],
  ['ExecuteStmt', (st, b) => {
    walkFields(st, 'ExecuteStmt', b, F_EXECUTE_STMT, null, null);
    st.executes = b.name ?? '';
    return null;
  }],
  ['DeallocateStmt', (st, b) => {
    walkFields(st, 'DeallocateStmt', b, F_DEALLOCATE_STMT, null, null);
    effect(st, { kind: 'deallocate', name: b.isall === true ? null : (b.name ?? null) });
    return null;
  }],
  ['DoStmt', (st, b) => {
    walkFields(st, 'DoStmt', b, F_DO_STMT, null, null);
    // An anonymous code block runs arbitrary procedural code: a CALL of the pseudo-function
    // pg_catalog.do, which a policy must name to allow (see README).
    st.cacheable = false;
    access(st, 'CALL', { schema: 'pg_catalog', name: 'do' }, 'function');
    return null;
  }],
  ['CallStmt', (st, b) => {
    walkFields(st, 'CallStmt', b, F_CALL_STMT, null, null);
    return [{ name: null, src: OPAQUE }]; // OUT parameters come back as a row
  }],
  ['TransactionStmt', (st, b) => {
    walkFields(st, 'TransactionStmt', b, F_TRANSACTION_STMT, null, null);
    st.transaction = true;
    if (b.kind === 'TRANS_STMT_PREPARE' || b.kind === 'TRANS_STMT_COMMIT_PREPARED' || b.kind === 'TRANS_STMT_ROLLBACK_PREPARED') {
      bad(st, 'two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) is not supported');
    }
    return null;
  }],
  ['VariableSetStmt', (st, b) => variableSet(st, b)],
  ['VariableShowStmt', (st, b) => {
    checkFields(st, 'VariableShowStmt', b, F_VARIABLE_SHOW_STMT);
    const hidden = typeof b.name === 'string' ? hiddenSetting(b.name) : null;
    if (hidden !== null) bad(st, hidden);
    return [{ name: b.name ?? null, src: CONSTANT }];
  }],
  ['DiscardStmt', (st, b) => {
    checkFields(st, 'DiscardStmt', b, F_DISCARD_STMT);
    effect(st, { kind: 'discard' });
    if (b.target === 'DISCARD_ALL') {
      // DISCARD ALL = RESET ALL + DEALLOCATE ALL + UNLISTEN * + … (PostgreSQL docs, DISCARD)
      effect(st, { kind: 'reset', name: null });
      effect(st, { kind: 'deallocate', name: null });
      effect(st, { kind: 'unlisten' });
    }
    return null;
  }],
  ['ListenStmt', (st, b) => { checkFields(st, 'ListenStmt', b, F_LISTEN_STMT); effect(st, { kind: 'listen' }); return null; }],
  ['UnlistenStmt', (st, b) => { checkFields(st, 'UnlistenStmt', b, F_UNLISTEN_STMT); effect(st, { kind: 'unlisten' }); return null; }],
  ['NotifyStmt', (st, b) => {
    checkFields(st, 'NotifyStmt', b, F_NOTIFY_STMT);
    effect(st, { kind: 'notify' });
    access(st, 'NOTIFY', { schema: null, name: b.conditionname ?? '' }, 'channel');
    return null;
  }],
  ['DeclareCursorStmt', (st, b, _o, want) => {
    checkFields(st, 'DeclareCursorStmt', b, F_DECLARE_CURSOR_STMT);
    return stmtAny(st, b.query, null, want);
  }],
  ['ClosePortalStmt', (st, b) => { checkFields(st, 'ClosePortalStmt', b, F_CLOSE_PORTAL_STMT); return null; }],
  ['FetchStmt', (st, b) => { checkFields(st, 'FetchStmt', b, F_FETCH_STMT); return null; }],
  ['ConstraintsSetStmt', (st, b) => { checkFields(st, 'ConstraintsSetStmt', b, F_CONSTRAINTS_SET_STMT); return null; }],
  // --- DDL
  ddl('CreateStmt', {
    relation: X, tableElts: L, inhRelations: X, partbound: 'PartitionBoundSpec', partspec: 'PartitionSpec',
    ofTypename: 'TypeName', constraints: L, nnconstraints: L, options: L, oncommit: S, tablespacename: S,
    accessMethod: S, if_not_exists: S,
  }, (st, b) => {
    createdRel(st, b.relation);
    // INHERITS / PARTITION OF: the parent's scans start returning the new table's rows
    rangeVarsTarget('inhRelations', 'DDL')(st, b);
  }),
  ['CreateTableAsStmt', (st, b) => {
    walkFields(st, 'CreateTableAsStmt', b, F_CREATE_TABLE_AS_STMT, null, null);
    walkFields(st, 'IntoClause', b.into, INTO, null, null);
    createdRel(st, b.into.rel);
    writtenFrom(st, stmtAny(st, b.query, null, true));
    return null;
  }],
  ['ViewStmt', (st, b) => {
    walkFields(st, 'ViewStmt', b, F_VIEW_STMT, null, null);
    createdRel(st, b.view);
    // the view's query is reported as this statement's reads: a view cannot launder a SELECT; and its
    // outputs count as stored values, so it cannot launder masking either (reads of the view carry the
    // view's OID, not the masked table's)
    writtenFrom(st, stmtAny(st, b.query, null, true));
    return null;
  }],
  ddl('IndexStmt', {
    idxname: S, relation: X, accessMethod: S, tableSpace: S, indexParams: L, indexIncludingParams: L, options: L,
    whereClause: N, excludeOpNames: S, idxcomment: S, indexOid: S, oldNumber: S, oldCreateSubid: S,
    oldFirstRelfilelocatorSubid: S, unique: S, nulls_not_distinct: S, primary: S, isconstraint: S,
    iswithoutoverlaps: S, deferrable: S, initdeferred: S, transformed: S, concurrent: S, if_not_exists: S,
    reset_default_tblspc: S,
  }, (st, b) => { targetRel(st, b.relation, 'DDL'); }),
  ddl('AlterTableStmt', { relation: X, cmds: L, objtype: S, missing_ok: S }, (st, b) => {
    const rel = targetRel(st, b.relation, 'DDL');
    for (const c of Array.isArray(b.cmds) ? b.cmds : []) {
      if (c.AlterTableCmd?.subtype === 'AT_ChangeOwner') access(st, 'GRANT', rel, 'relation');
    }
  }),
  ddl('CreateFunctionStmt', {
    is_procedure: S, replace: S, funcname: X, parameters: L, returnType: 'TypeName', options: L, sql_body: S,
  }, (st, b) => {
    st.cacheable = false; // the body is code inside a string
    namesTarget('funcname', 'function')(st, b);
  }),
  ddl('AlterFunctionStmt', { objtype: S, func: X, actions: L }, (st, b) => {
    objectAccess(st, 'DDL', b.objtype, { ObjectWithArgs: b.func }, 'ALTER');
  }),
  ['CreateSchemaStmt', (st, b) => {
    walkFields(st, 'CreateSchemaStmt', b, F_CREATE_SCHEMA_STMT, null, null);
    const schema: string = b.schemaname ?? b.authrole?.rolename ?? '';
    access(st, 'DDL', { schema, name: '*' }, 'relation');
    if (b.authrole !== undefined) access(st, 'GRANT', { schema, name: '*' }, 'relation');
    // sub-commands run with search_path set to the new schema (CreateSchemaCommand)
    const saved = st.defaultSchema;
    st.defaultSchema = schema;
    for (const e of Array.isArray(b.schemaElts) ? b.schemaElts : []) stmtAny(st, e, null, false);
    st.defaultSchema = saved;
    return null;
  }],
  ddl('CreateSeqStmt', { sequence: X, options: L, ownerId: S, for_identity: S, if_not_exists: S }, (st, b) => { createdRel(st, b.sequence); }),
  ddl('AlterSeqStmt', { sequence: X, options: L, for_identity: S, missing_ok: S }, (st, b) => { targetRel(st, b.sequence, 'DDL'); }),
  ddl('DefineStmt', { kind: S, oldstyle: S, defnames: X, args: L, definition: L, if_not_exists: S, replace: S }, (st, b) => {
    namesTarget('defnames', b.kind === 'OBJECT_AGGREGATE' ? 'function' : 'relation')(st, b);
  }),
  ddl('CreateDomainStmt', { domainname: X, typeName: 'TypeName', collClause: 'CollateClause', constraints: L }, namesTarget('domainname')),
  ddl('CompositeTypeStmt', { typevar: X, coldeflist: L }, (st, b) => { targetRel(st, b.typevar, 'DDL'); }),
  ddl('CreateEnumStmt', { typeName: X, vals: S }, namesTarget('typeName')),
  ddl('CreateRangeStmt', { typeName: X, params: L }, namesTarget('typeName')),
  ddl('AlterEnumStmt', {
    typeName: X, oldVal: S, newVal: S, newValNeighbor: S, newValIsAfter: S, skipIfNewValExists: S,
  }, namesTarget('typeName')),
  ddl('AlterTypeStmt', { typeName: X, options: L }, namesTarget('typeName')),
  ddl('AlterDomainStmt', { subtype: S, typeName: X, name: S, def: N, behavior: S, missing_ok: S }, namesTarget('typeName')),
  ddl('CreateExtensionStmt', { extname: S, if_not_exists: S, options: L }, (st, b) => {
    access(st, 'DDL', { schema: null, name: b.extname ?? '' }, 'relation');
  }),
  ddl('AlterExtensionStmt', { extname: S, options: L }, (st, b) => {
    access(st, 'DDL', { schema: null, name: b.extname ?? '' }, 'relation');
  }),
  ddl('AlterExtensionContentsStmt', { extname: S, action: S, objtype: S, object: X }, (st, b) => {
    access(st, 'DDL', { schema: null, name: b.extname ?? '' }, 'relation');
    objectAccess(st, 'DDL', b.objtype, b.object, 'ALTER EXTENSION');
  }),
  ddl('CreateTrigStmt', {
    replace: S, isconstraint: S, trigname: S, relation: X, funcname: X, args: S, row: S, timing: S, events: S,
    columns: S, whenClause: N, transitionRels: L, deferrable: S, initdeferred: S, constrrel: X,
  }, (st, b) => {
    targetRel(st, b.relation, 'DDL');
    if (b.constrrel !== undefined) targetRel(st, b.constrrel, 'DDL');
    // the trigger function will run on every matching change: creating it calls it
    const f = relFromParts(strings(b.funcname), null);
    if (f !== null) access(st, 'CALL', f, 'function');
  }),
  ['RuleStmt', (st, b) => {
    walkFields(st, 'RuleStmt', b, F_RULE_STMT, null, null);
    targetRel(st, b.relation, 'DDL');
    // rule actions run later, on every matching event: their accesses are this statement's too
    sideways(st, () => {
      for (const a of Array.isArray(b.actions) ? b.actions : []) stmtAny(st, a, null, false);
    });
    return null;
  }],
  ddl('CreatePolicyStmt', {
    policy_name: S, table: X, cmd_name: S, permissive: S, roles: S, qual: N, with_check: N,
  }, (st, b) => { targetRel(st, b.table, 'DDL'); }),
  ddl('AlterPolicyStmt', { policy_name: S, table: X, roles: S, qual: N, with_check: N }, (st, b) => { targetRel(st, b.table, 'DDL'); }),
  ddl('CreateStatsStmt', {
    defnames: S, stat_types: S, exprs: L, relations: X, stxcomment: S, transformed: S, if_not_exists: S,
  }, rangeVarsTarget('relations', 'DDL')),
  ddl('AlterStatsStmt', { defnames: X, stxstattarget: N, missing_ok: S }, namesTarget('defnames')),
  ddl('CommentStmt', { objtype: S, object: X, comment: S }, (st, b) => {
    objectAccess(st, 'DDL', b.objtype, b.object, 'COMMENT');
  }),
  ddl('RenameStmt', {
    renameType: S, relationType: S, relation: X, object: X, subname: S, newname: S, behavior: S, missing_ok: S,
  }, (st, b) => {
    if (b.relation !== undefined) {
      const rel = targetRel(st, b.relation, 'DDL');
      // renaming into a name is creating it: the new name must be allowed too
      if (RELATION_TYPES.has(b.renameType)) access(st, 'DDL', { schema: rel.schema, name: b.newname ?? '' }, 'relation');
      return;
    }
    if (b.renameType === 'OBJECT_SCHEMA') {
      access(st, 'DDL', { schema: b.subname ?? '', name: '*' }, 'relation');
      access(st, 'DDL', { schema: b.newname ?? '', name: '*' }, 'relation');
      return;
    }
    if (b.renameType === 'OBJECT_ROLE') { access(st, 'GRANT', catalog('pg_authid'), 'relation'); return; }
    const o = b.object === undefined ? null : objectName(st, b.renameType, b.object);
    if (o === null) { bad(st, `ALTER … RENAME on ${noun(b.renameType).toLowerCase()} objects is not supported`); return; }
    access(st, 'DDL', o.rel, o.kind);
    if (b.renameType === 'OBJECT_SCHEMA') access(st, 'DDL', { schema: b.newname ?? '', name: '*' }, 'relation');
    else access(st, 'DDL', { schema: o.rel.schema, name: b.newname ?? '' }, o.kind);
  }),
  ddl('AlterObjectSchemaStmt', { objectType: S, relation: X, object: X, newschema: S, missing_ok: S }, (st, b) => {
    const o = b.relation !== undefined
      ? { rel: targetRel(st, b.relation, 'DDL'), kind: 'relation' as const }
      : objectName(st, b.objectType, b.object);
    if (o === null) { bad(st, `ALTER … SET SCHEMA on ${noun(b.objectType).toLowerCase()} objects is not supported`); return; }
    access(st, 'DDL', o.rel, o.kind);
    access(st, 'DDL', { schema: b.newschema ?? '', name: o.rel.name }, o.kind);
  }),
  ddl('AlterOwnerStmt', { objectType: S, relation: X, object: X, newowner: S }, (st, b) => {
    const o = b.relation !== undefined
      ? { rel: targetRel(st, b.relation, 'DDL'), kind: 'relation' as const }
      : objectName(st, b.objectType, b.object);
    if (o === null) { bad(st, `ALTER … OWNER on ${noun(b.objectType).toLowerCase()} objects is not supported`); return; }
    access(st, 'DDL', o.rel, o.kind);
    access(st, 'GRANT', o.rel, o.kind); // the owner holds every privilege
  }),
  ddl('AlterObjectDependsStmt', { objectType: S, relation: X, object: X, extname: S, remove: S }, (st, b) => {
    if (b.relation !== undefined) targetRel(st, b.relation, 'DDL');
    else objectAccess(st, 'DDL', b.objectType, b.object, 'ALTER … DEPENDS ON EXTENSION');
  }),
  ddl('DropStmt', { objects: X, removeType: S, behavior: S, missing_ok: S, concurrent: S }, (st, b) => {
    // CASCADE may drop more than named; the named objects are what the policy can check
    for (const o of Array.isArray(b.objects) ? b.objects : []) objectAccess(st, 'DROP', b.removeType, o, 'DROP');
  }),
  ddl('TruncateStmt', { relations: X, restart_seqs: S, behavior: S }, rangeVarsTarget('relations', 'TRUNCATE')),
  ddl('RefreshMatViewStmt', { concurrent: S, skipData: S, relation: X }, (st, b) => { targetRel(st, b.relation, 'DDL'); }),
  ddl('VacuumStmt', { options: L, rels: X, is_vacuumcmd: S }, (st, b) => {
    const rels: Raw[] = Array.isArray(b.rels) ? b.rels : [];
    if (rels.length === 0) access(st, 'DDL', ALL_RELATIONS, 'relation');
    for (const r of rels) {
      const v = r.VacuumRelation;
      if (v === undefined) { bad(st, `${keyOf(r)} is not supported in VACUUM`); continue; }
      checkFields(st, 'VacuumRelation', v, F_VACUUM_RELATION);
      targetRel(st, v.relation, 'DDL');
    }
  }),
  ddl('ClusterStmt', { relation: X, indexname: S, params: L }, (st, b) => {
    if (b.relation !== undefined) targetRel(st, b.relation, 'DDL');
    else access(st, 'DDL', ALL_RELATIONS, 'relation');
  }),
  ddl('ReindexStmt', { kind: S, relation: X, name: S, params: L }, (st, b) => {
    if (b.relation !== undefined) targetRel(st, b.relation, 'DDL');
    else if (b.kind === 'REINDEX_OBJECT_SCHEMA') access(st, 'DDL', { schema: b.name ?? '', name: '*' }, 'relation');
    else access(st, 'DDL', ALL_RELATIONS, 'relation');
  }),
  // LOCK blocks other sessions; it is treated as DDL (see README)
  ddl('LockStmt', { relations: X, mode: S, nowait: S }, rangeVarsTarget('relations', 'DDL')),
  ddl('GrantStmt', {
    is_grant: S, targtype: S, objtype: S, objects: X, privileges: L, grantees: L, grant_option: S, grantor: S, behavior: S,
  }, grantStmt),
  ddl('GrantRoleStmt', { granted_roles: S, grantee_roles: S, is_grant: S, opt: L, grantor: S, behavior: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
  }),
  ddl('AlterDefaultPrivilegesStmt', { options: L, action: X }, (st, b) => {
    walkFields(st, 'GrantStmt', b.action, GRANT, null, null);
    let schemas = false;
    for (const o of Array.isArray(b.options) ? b.options : []) {
      if (o.DefElem?.defname !== 'schemas') continue;
      for (const s of strings(o.DefElem.arg?.List?.items)) { access(st, 'GRANT', { schema: s, name: '*' }, 'relation'); schemas = true; }
    }
    if (!schemas) access(st, 'GRANT', catalog('pg_default_acl'), 'relation');
  }),
  ddl('CreateRoleStmt', { stmt_type: S, role: S, options: L }, (st) => { access(st, 'GRANT', catalog('pg_authid'), 'relation'); }),
  ddl('AlterRoleStmt', { role: S, options: L, action: S }, (st) => { access(st, 'GRANT', catalog('pg_authid'), 'relation'); }),
  ddl('AlterRoleSetStmt', { role: S, database: S, setstmt: S }, (st) => { access(st, 'GRANT', catalog('pg_authid'), 'relation'); }),
  ddl('DropRoleStmt', { roles: S, missing_ok: S }, (st) => { access(st, 'GRANT', catalog('pg_authid'), 'relation'); }),
  ddl('DropOwnedStmt', { roles: S, behavior: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
    access(st, 'DROP', ALL_RELATIONS, 'relation'); // drops whatever the roles own
  }),
  ddl('ReassignOwnedStmt', { roles: S, newrole: S }, (st) => {
    access(st, 'GRANT', catalog('pg_authid'), 'relation');
    access(st, 'GRANT', ALL_RELATIONS, 'relation');
  }),
  ddl('AlterCollationStmt', { collname: X }, namesTarget('collname')),
  ddl('CreateOpClassStmt', { opclassname: X, opfamilyname: S, amname: S, datatype: 'TypeName', items: L, isDefault: S }, namesTarget('opclassname')),
  ddl('CreateOpFamilyStmt', { opfamilyname: X, amname: S }, namesTarget('opfamilyname')),
  ddl('AlterOpFamilyStmt', { opfamilyname: X, amname: S, isDrop: S, items: L }, namesTarget('opfamilyname')),
  ddl('AlterOperatorStmt', { opername: X, options: L }, (st, b) => { objectAccess(st, 'DDL', 'OBJECT_OPERATOR', { ObjectWithArgs: b.opername }, 'ALTER OPERATOR'); }),
  ddl('AlterTSDictionaryStmt', { dictname: X, options: L }, namesTarget('dictname')),
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
