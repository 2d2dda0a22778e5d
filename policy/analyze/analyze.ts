// Statement analysis: what a SQL string does, as StatementFacts the policy can check pair by pair.
// Pure: no I/O and no module state. Loading libpg-query's WebAssembly module is the composition root's job
// (proxy/enforce/analyzer.ts, with the V8 flags of docs/adr/0004): it awaits libpg-query's loadModule() once
// before the first analyze(). Until then the parser throws and every statement fails closed as one that does
// not parse. analyze() is synchronous and never throws.

import type { Access, Analysis, StatementFacts } from '../types.ts';
import { normalizeSync, parseSync, scanSync } from 'libpg-query';
import { newState, noun, walkTop } from './walk.ts';
import { qualifiedName } from './names.ts';
import { scrubParseError } from '../sql-message.ts';
import { lexerHostile } from './hostile.ts';

function failed(error: string): Analysis {
  // Literals of a string that did not parse are not shown anywhere: normalized stays empty.
  return { statements: [], error, normalized: '', shapeCacheable: false };
}

/**
 * Decompose `sql` into one StatementFacts per statement. A parse failure sets `error`.
 * `normalized`: libpg-query's normalized text of this same `sql` when the caller has it already (the shape-cache
 * lookup computed it on the way to this cache miss), so it is not computed twice.
 */
export function analyze(sql: string, normalized?: string): Analysis {
  // libpg-query throws "Query cannot be empty" for '' alone ('  ' and '-- c' parse to no statements).
  // PostgreSQL answers it with EmptyQueryResponse; pools send it as their health check.
  if (sql === '') return { statements: [], error: null, normalized: '', shapeCacheable: true };
  const hostile = lexerHostile(sql);
  if (hostile !== null) return failed(hostile);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let tree: any;
  try {
    tree = parseSync(sql);
    normalized ??= normalizeSync(sql);
  } catch (e) {
    // The parser's message quotes the statement (`syntax error at or near "'secret'"`): keep what and
    // where, not the quoted text, which would reach the audit trail as the denial's reason.
    return failed(scrubParseError(e));
  }
  const raws = Array.isArray(tree?.stmts) ? tree.stmts : [];
  const statements: StatementFacts[] = [];
  let shapeCacheable = true;
  for (const raw of raws) {
    const walked = statement(raw?.stmt);
    if (walked.facts.copyTo !== null && walked.facts.copyTo.relation === null) {
      // Locations are byte offsets into the UTF-8 text; stmt_len 0 means "to the end".
      const bytes = Buffer.from(sql, 'utf8');
      const loc = typeof raw?.stmt_location === 'number' ? raw.stmt_location : 0;
      const len = typeof raw?.stmt_len === 'number' && raw.stmt_len > 0 ? raw.stmt_len : bytes.length - loc;
      const query = copyQueryText(bytes.toString('utf8', loc, loc + len));
      if (query !== null) walked.facts = { ...walked.facts, copyTo: { ...walked.facts.copyTo, query } };
    }
    if (!walked.cacheable) shapeCacheable = false;
    statements.push(walked.facts);
  }
  return { statements, error: null, normalized, shapeCacheable };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function statement(node: any): { facts: StatementFacts; cacheable: boolean } {
  let type = '';
  for (const key in node) {
    type = key;
    break;
  }
  const body = node?.[type];
  const st = newState();
  let outputs = null;
  try {
    outputs = walkTop(st, type, body);
  } catch (e) {
    // A walker bug must deny, not crash the session.
    st.unsupported.push(`internal analyzer error: ${e instanceof Error ? e.message : String(e)}`);
  }
  const transaction = st.transaction;
  return {
    cacheable: st.cacheable && !transaction,
    facts: {
      tag: type,
      command: commandOf(type, body),
      accesses: st.accesses,
      unsupported: st.unsupported,
      effects: st.effects,
      unfilteredWrite: st.unfiltered,
      written: st.written,
      notified: st.notified,
      writes: st.writes,
      outputs: outputs === null ? [] : outputs.map((output) => output.src),
      copyTo: st.copyTo,
      transaction,
      executes: st.executes,
      prepares: st.prepares,
    },
  };
}

/**
 * The query of `COPY (query) TO …`, as written: the text between the parenthesis after COPY and its match.
 * Found with PostgreSQL's lexer (scanSync), so parentheses in strings, comments and quoted names do not count.
 * libpg-query locations are byte offsets into the UTF-8 text: the slicing is done on bytes.
 */
export function copyQueryText(stmt: string): string | null {
  let tokens;
  try {
    tokens = scanSync(stmt).tokens.filter(
      (token) => token.tokenName !== 'C_COMMENT' && token.tokenName !== 'SQL_COMMENT',
    );
  } catch {
    return null;
  }
  if (tokens.length < 3 || tokens[0]!.text.toUpperCase() !== 'COPY' || tokens[1]!.text !== '(') return null;
  let depth = 0;
  for (let i = 1; i < tokens.length; i++) {
    const token = tokens[i]!.text;
    if (token === '(') depth++;
    else if (token === ')' && --depth === 0) {
      const bytes = Buffer.from(stmt, 'utf8');
      return bytes.toString('utf8', tokens[1]!.end, tokens[i]!.start);
    }
  }
  return null;
}

const TRANSACTION_TAGS: Readonly<Record<string, string>> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'START TRANSACTION',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

const FIXED_TAGS: Readonly<Record<string, string>> = {
  SelectStmt: 'SELECT',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  CopyStmt: 'COPY',
  ExplainStmt: 'EXPLAIN',
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  DoStmt: 'DO',
  CallStmt: 'CALL',
  VariableShowStmt: 'SHOW',
  ListenStmt: 'LISTEN',
  UnlistenStmt: 'UNLISTEN',
  NotifyStmt: 'NOTIFY',
  DeclareCursorStmt: 'DECLARE CURSOR',
  ConstraintsSetStmt: 'SET CONSTRAINTS',
  CreateStmt: 'CREATE TABLE',
  ViewStmt: 'CREATE VIEW',
  IndexStmt: 'CREATE INDEX',
  CreateSeqStmt: 'CREATE SEQUENCE',
  AlterSeqStmt: 'ALTER SEQUENCE',
  CreateSchemaStmt: 'CREATE SCHEMA',
  CreateExtensionStmt: 'CREATE EXTENSION',
  AlterExtensionStmt: 'ALTER EXTENSION',
  AlterExtensionContentsStmt: 'ALTER EXTENSION',
  CreateTrigStmt: 'CREATE TRIGGER',
  RuleStmt: 'CREATE RULE',
  CreatePolicyStmt: 'CREATE POLICY',
  AlterPolicyStmt: 'ALTER POLICY',
  CreateDomainStmt: 'CREATE DOMAIN',
  CompositeTypeStmt: 'CREATE TYPE',
  CreateEnumStmt: 'CREATE TYPE',
  CreateRangeStmt: 'CREATE TYPE',
  AlterEnumStmt: 'ALTER TYPE',
  AlterTypeStmt: 'ALTER TYPE',
  AlterDomainStmt: 'ALTER DOMAIN',
  CommentStmt: 'COMMENT',
  TruncateStmt: 'TRUNCATE TABLE',
  RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW',
  ClusterStmt: 'CLUSTER',
  ReindexStmt: 'REINDEX',
  LockStmt: 'LOCK TABLE',
  AlterDefaultPrivilegesStmt: 'ALTER DEFAULT PRIVILEGES',
  CreateRoleStmt: 'CREATE ROLE',
  AlterRoleStmt: 'ALTER ROLE',
  AlterRoleSetStmt: 'ALTER ROLE',
  DropRoleStmt: 'DROP ROLE',
  DropOwnedStmt: 'DROP OWNED',
  ReassignOwnedStmt: 'REASSIGN OWNED',
  CreateStatsStmt: 'CREATE STATISTICS',
  AlterStatsStmt: 'ALTER STATISTICS',
  AlterCollationStmt: 'ALTER COLLATION',
  CreateOpClassStmt: 'CREATE OPERATOR CLASS',
  CreateOpFamilyStmt: 'CREATE OPERATOR FAMILY',
  AlterOpFamilyStmt: 'ALTER OPERATOR FAMILY',
  AlterOperatorStmt: 'ALTER OPERATOR',
  AlterTSDictionaryStmt: 'ALTER TEXT SEARCH DICTIONARY',
  AlterTSConfigurationStmt: 'ALTER TEXT SEARCH CONFIGURATION',
  LoadStmt: 'LOAD',
  AlterSystemStmt: 'ALTER SYSTEM',
  CreatedbStmt: 'CREATE DATABASE',
  DropdbStmt: 'DROP DATABASE',
  AlterDatabaseStmt: 'ALTER DATABASE',
  AlterDatabaseSetStmt: 'ALTER DATABASE',
  AlterDatabaseRefreshCollStmt: 'ALTER DATABASE',
  CheckPointStmt: 'CHECKPOINT',
  SecLabelStmt: 'SECURITY LABEL',
  ImportForeignSchemaStmt: 'IMPORT FOREIGN SCHEMA',
  CreateForeignServerStmt: 'CREATE SERVER',
  CreateForeignTableStmt: 'CREATE FOREIGN TABLE',
  CreateUserMappingStmt: 'CREATE USER MAPPING',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER',
  CreatePublicationStmt: 'CREATE PUBLICATION',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION',
  CreateAmStmt: 'CREATE ACCESS METHOD',
  CreatePLangStmt: 'CREATE LANGUAGE',
  CreateCastStmt: 'CREATE CAST',
  CreateTransformStmt: 'CREATE TRANSFORM',
  CreateConversionStmt: 'CREATE CONVERSION',
  CreateTableSpaceStmt: 'CREATE TABLESPACE',
  DropTableSpaceStmt: 'DROP TABLESPACE',
};

/** The command tag PostgreSQL reports in CommandComplete (without row counts). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function commandOf(type: string, body: any): string {
  switch (type) {
    case 'SelectStmt':
      return 'SELECT';
    case 'CreateTableAsStmt':
      return body?.objtype === 'OBJECT_MATVIEW'
        ? 'CREATE MATERIALIZED VIEW'
        : body?.is_select_into === true
          ? 'SELECT'
          : 'CREATE TABLE AS';
    case 'CreateFunctionStmt':
      return body?.is_procedure === true ? 'CREATE PROCEDURE' : 'CREATE FUNCTION';
    case 'AlterFunctionStmt':
      return `ALTER ${noun(body?.objtype ?? 'OBJECT_FUNCTION')}`;
    case 'DefineStmt':
      return `CREATE ${noun(body?.kind ?? '')}`;
    case 'DropStmt':
      return `DROP ${noun(body?.removeType ?? '')}`;
    case 'AlterTableStmt':
      return `ALTER ${noun(body?.objtype ?? 'OBJECT_TABLE')}`;
    case 'RenameStmt': {
      const renameType: string = body?.renameType ?? '';
      const onRelation =
        renameType === 'OBJECT_COLUMN' || renameType === 'OBJECT_TABCONSTRAINT' || renameType === 'OBJECT_ATTRIBUTE';
      return `ALTER ${noun(onRelation ? (body?.relationType ?? 'OBJECT_TABLE') : renameType)}`;
    }
    case 'AlterObjectSchemaStmt':
    case 'AlterOwnerStmt':
    case 'AlterObjectDependsStmt':
      return `ALTER ${noun(body?.objectType ?? '')}`;
    case 'GrantStmt':
    case 'GrantRoleStmt':
      return body?.is_grant === true ? 'GRANT' : 'REVOKE';
    case 'VariableSetStmt':
      return body?.kind === 'VAR_RESET' || body?.kind === 'VAR_RESET_ALL' ? 'RESET' : 'SET';
    case 'DiscardStmt':
      return `DISCARD ${String(body?.target ?? 'DISCARD_ALL').replace('DISCARD_', '')}`;
    case 'TransactionStmt':
      return TRANSACTION_TAGS[body?.kind ?? ''] ?? 'BEGIN';
    case 'ClosePortalStmt':
      return body?.portalname === undefined ? 'CLOSE CURSOR ALL' : 'CLOSE CURSOR';
    case 'FetchStmt':
      return body?.ismove === true ? 'MOVE' : 'FETCH';
    case 'DeallocateStmt':
      return body?.isall === true ? 'DEALLOCATE ALL' : 'DEALLOCATE';
    case 'VacuumStmt':
      return body?.is_vacuumcmd === true ? 'VACUUM' : 'ANALYZE';
    default:
      return (
        FIXED_TAGS[type]
        ?? type
          .replace(/Stmt$/, '')
          .replace(/([a-z])([A-Z])/g, '$1 $2')
          .toUpperCase()
      );
  }
}

/** `DELETE on public.orders`, `CALL on function pg_catalog.pg_read_file`: for messages and audit. */
export function describeAccess(access: Access): string {
  if (access.kind === 'channel') return `${access.operation} on channel ${access.relation.name}`;
  return access.kind === 'function'
    ? `${access.operation} on function ${qualifiedName(access.relation)}`
    : `${access.operation} on ${qualifiedName(access.relation)}`;
}
