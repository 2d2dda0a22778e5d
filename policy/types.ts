// The contract between policy/, proxy/ and operator/. Pure data: no I/O, no clock, no randomness.
// Names of resource fields follow ../shared/design.md exactly.
import type { DerivedCatalog } from './derived.ts';
import type { InvokerViews } from './invoker.ts';

// ---------------------------------------------------------------------------------------------
// Resources (group airlock.dev, version v1alpha1). The TypeBox schemas in policy/schema.ts are
// the source of truth for validation and CRDs; these types mirror them for the rest of the code.

export const API_GROUP = 'airlock.dev';
export const API_VERSION = 'airlock.dev/v1alpha1';

export const OPERATIONS = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'MERGE',
  'TRUNCATE',
  'COPY_TO',
  'COPY_FROM',
  'DDL',
  'DROP',
  'GRANT',
  'CALL',
  'NOTIFY',
  'ALL',
] as const;
export type Operation = (typeof OPERATIONS)[number];
/** An operation a statement actually performs: every Operation except the wildcard ALL. */
export type ConcreteOperation = Exclude<Operation, 'ALL'>;

export const EFFECTS = ['allow', 'deny', 'approve'] as const;
export type Effect = (typeof EFFECTS)[number];
export const MODES = ['enforce', 'warn', 'observe'] as const;
export type Mode = (typeof MODES)[number];
export const MASK_STRATEGIES = ['redact', 'partial', 'hash', 'null'] as const;
export type MaskStrategy = (typeof MASK_STRATEGIES)[number];
export const SUBJECT_KINDS = ['ServiceAccount', 'User', 'Group'] as const;
export type SubjectKind = (typeof SUBJECT_KINDS)[number];

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generation?: number;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  /** Set by the apiserver (RFC 3339). */
  creationTimestamp?: string;
  annotations?: Record<string, string>;
}

export interface Subject {
  kind: SubjectKind;
  name: string;
  namespace?: string;
}

export interface Rule {
  name: string;
  effect: Effect;
  operations: Operation[];
  /** schema.table globs (`*` matches within one name part); omitted = any table. */
  tables?: string[];
  /** schema.function globs for CALL pairs. Dangerous server functions match only exact names. */
  functions?: string[];
  /** Notification channel globs for NOTIFY pairs (`*` matches any run of characters); omitted = any channel, unless tables or functions is set. */
  channels?: string[];
}

export interface MaskingRule {
  columns: string[];
  strategy: MaskStrategy;
}

export interface AccessPolicySpec {
  mode?: Mode; // default enforce
  subjects: Subject[];
  databases: string[]; // DatabaseBinding names in the same namespace; "*" = all
  rules: Rule[];
  masking?: MaskingRule[];
  guardrails?: { blockUnfilteredWrites?: boolean; maxAffectedRows?: number };
  approval?: {
    approvers: Subject[];
    minApprovals?: number;
    maxDuration?: string; // Go-style duration, e.g. 4h
    holdTimeout?: string; // e.g. 60s
  };
}

export interface DatabaseBindingSpec {
  engine: 'postgres';
  endpoint: { host: string; port?: number; database: string };
  credentialsSecretRef: { name: string };
  tls?: { mode: 'disable' | 'require' | 'verify-full'; caSecretRef?: { name: string } };
  workloadSelector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
  sidecar?: { port?: number };
  audit?: { otlpEndpoint?: string; onFailure?: 'block' | 'drop-oldest' };
}

export interface AccessRequestSpec {
  subject: { kind: SubjectKind; name: string; namespace?: string };
  database: string;
  rules?: Rule[];
  statement?: string;
  duration?: string;
  reason?: string;
  /**
   * Kubernetes user who created the request. Stamped by the operator's admission webhook from the
   * request's authenticated user (any value a client sends is overwritten), except when the operator
   * itself creates the request for a sidecar: then it names the sidecar's ServiceAccount user.
   */
  requestedBy?: string;
}
export const APPROVAL_DECISIONS = ['Approve', 'Deny', 'Revoke'] as const;
/**
 * What `airlock request approve` writes as the approver before the admission webhook stamps the real user.
 * An entry still carrying it was never stamped (webhook not installed): it never counts.
 */
export const UNSTAMPED_APPROVER = '(not stamped by the Airlock webhook)';
export type ApprovalDecision = (typeof APPROVAL_DECISIONS)[number];
/** One approver's action, appended to status.approvals through the status subresource. */
export interface AccessRequestApproval {
  /** Kubernetes user name; stamped by the admission webhook from the authenticated user. */
  approver: string;
  /** The approver's groups at the time, stamped by the webhook (policy approvers may name a Group). */
  groups?: string[];
  decision: ApprovalDecision;
  at: string;
  comment?: string;
}
export type AccessRequestPhase = 'Pending' | 'Approved' | 'Denied' | 'Expired' | 'Revoked';
export interface AccessRequestStatus {
  phase?: AccessRequestPhase;
  approvals?: AccessRequestApproval[];
  /** Set when the request becomes Approved: approval time + duration (capped by the policy's maxDuration). */
  expiresAt?: string;
  /** Why the phase is what it is, for `kubectl get -o wide` and `airlock request list`. */
  message?: string;
  observedGeneration?: number;
}

export interface Resource<K extends string, S, St = unknown> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: St;
}
export type AccessPolicy = Resource<'AccessPolicy', AccessPolicySpec>;
export type DatabaseBinding = Resource<'DatabaseBinding', DatabaseBindingSpec>;
export type AccessRequest = Resource<'AccessRequest', AccessRequestSpec, AccessRequestStatus>;
export interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  data?: Record<string, string>; // base64
  stringData?: Record<string, string>;
}

/** One validation problem, with the path into the document and a sentence that says what to fix. */
export interface ValidationIssue {
  path: string;
  message: string;
}

// ---------------------------------------------------------------------------------------------
// Identity: who the session is. `user` is a Kubernetes user name, e.g.
// `system:serviceaccount:ml:trainer` or `alice@example.com`.
export interface Identity {
  readonly user: string;
  readonly groups: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Statement analysis (policy/analyze): what a SQL string does, decided from libpg-query's tree.

/** A relation name as written; schema null = unqualified, resolved later against search_path. */
export interface RelName {
  readonly schema: string | null;
  readonly name: string;
}

export interface Access {
  readonly operation: ConcreteOperation;
  /** For CALL: the function or procedure; for NOTIFY: the channel (schema null); otherwise the relation. */
  readonly relation: RelName;
  readonly kind: 'relation' | 'function' | 'channel';
}

/** Where one output column's value comes from, for masking. */
export type ColumnSource =
  /** a column of a base relation, passed through unchanged (casts count as unchanged) */
  | { readonly kind: 'column'; readonly relation: RelName; readonly column: string }
  /** a whole row of a relation (`t`, `t.*::text`, `row_to_json(t)`): every masked column in it leaks */
  | { readonly kind: 'row'; readonly relation: RelName }
  /** computed from these sources (expressions, aggregates, set operations, function results) */
  | { readonly kind: 'derived'; readonly from: readonly ColumnSource[] }
  /** a `*` expanded by the server: one entry stands for all columns of these relations, in order */
  | { readonly kind: 'star'; readonly relations: readonly RelName[] }
  /** unknowable statically (e.g. the result of a user function that reads tables) */
  | { readonly kind: 'opaque' };

/** Session-level effects the enforcement layer must track or refuse. */
export type SessionEffect =
  /** SET name / set_config; `value` is the literal value when it is one (null for DEFAULT or an expression). */
  | { readonly kind: 'set'; readonly name: string; readonly local: boolean; readonly value?: string | null }
  | { readonly kind: 'reset'; readonly name: string | null } // RESET name | RESET ALL
  | { readonly kind: 'role' } // SET ROLE / SESSION AUTHORIZATION
  | { readonly kind: 'discard'; readonly target?: 'all' | 'plans' | 'sequences' | 'temp' }
  | { readonly kind: 'prepare'; readonly name: string }
  | { readonly kind: 'deallocate'; readonly name: string | null }
  | { readonly kind: 'listen' | 'unlisten' | 'notify' };

/** COPY … TO options that shape text and CSV output (sql-copy); absent fields are PostgreSQL's defaults. */
export interface CopyTextOptions {
  /** PostgreSQL sends the column names as the first line (its own CopyData). */
  readonly header: boolean;
  readonly delimiter?: string;
  readonly quote?: string;
  readonly escape?: string;
  readonly null?: string;
}

export interface StatementFacts {
  /** libpg-query node tag of the top-level statement, e.g. SelectStmt. */
  readonly tag: string;
  /** PostgreSQL command tag for the client/audit, e.g. SELECT, INSERT, CREATE TABLE. */
  readonly command: string;
  /** Every (operation, relation|function) pair, deduplicated, in order of appearance. */
  readonly accesses: readonly Access[];
  /** Reasons this statement cannot be allowed whatever the policy says (unknown node, …). */
  readonly unsupported: readonly string[];
  readonly effects: readonly SessionEffect[];
  /** UPDATE/DELETE (anywhere in the statement) without a WHERE clause. */
  readonly unfilteredWrite: boolean;
  /**
   * Lineage of every value the statement stores in a relation: INSERT sources, UPDATE SET and ON CONFLICT
   * values, MERGE actions, CREATE TABLE AS / SELECT INTO / CREATE VIEW outputs. A value derived from a
   * masked column stored elsewhere would be read back unmasked, so the evaluator refuses it. Absent = none.
   */
  readonly written?: readonly ColumnSource[];
  /**
   * Lineage of every notification payload the statement sends (`pg_notify(channel, payload)`): listeners in
   * other sessions receive it as it is, so a value derived from a masked column may not flow into it. Absent = none.
   */
  readonly notified?: readonly ColumnSource[];
  /** True when the statement writes (INSERT/UPDATE/DELETE/MERGE) so maxAffectedRows applies. */
  readonly writes: boolean;
  /** Output columns in order for the statement's result (SELECT, RETURNING, COPY (query) TO). */
  readonly outputs: readonly ColumnSource[];
  /** COPY … TO: the relation (table form) or null (query form: use outputs). */
  readonly copyTo: {
    readonly relation: RelName | null;
    readonly columns: readonly string[] | null;
    readonly format: 'text' | 'csv' | 'binary';
    readonly optionsDefault: boolean;
    /**
     * Query form: the query's text as written, cut out by PostgreSQL's own lexer (absent when it could not be):
     * the proxy describes it to learn each output column's source and type before the COPY runs.
     */
    readonly query?: string;
    /** Text and CSV options besides FORMAT, when every one is one the masker follows (absent otherwise). */
    readonly textOptions?: CopyTextOptions;
  } | null;
  /** Transaction control: BEGIN/COMMIT/ROLLBACK/SAVEPOINT… (never denied, never cached by shape). */
  readonly transaction: boolean;
  /** EXECUTE name: the prepared statement whose facts apply. */
  readonly executes: string | null;
  /** PREPARE name AS …: the facts above describe the inner statement. */
  readonly prepares: string | null;
}

export interface Analysis {
  /** One entry per statement in the string (a simple Query may hold several). */
  readonly statements: readonly StatementFacts[];
  /** Set when the string did not parse: the whole string is denied with this reason. */
  readonly error: string | null;
  /** libpg-query's normalized text (literals → $n); the audit `db.query.text` and the cache key. */
  readonly normalized: string;
  /** False when a literal can change the verdict (DO body, '…'::regclass, set_config, …): cache on exact text only. */
  readonly shapeCacheable: boolean;
}

// ---------------------------------------------------------------------------------------------
// Compiled policy and decisions (policy/compile, policy/decide). CompiledPolicySet is plain JSON
// so the operator can push it to sidecars unchanged.

export interface CompiledRule {
  readonly name: string;
  readonly effect: Effect;
  readonly operations: readonly ConcreteOperation[];
  readonly tables: readonly string[] | null; // null = any
  readonly functions: readonly string[] | null; // null = any non-dangerous function
  /** NOTIFY channel globs; null = any channel. Absent (a set from an older operator) = none, unless tables and functions are both null. */
  readonly channels?: readonly string[] | null;
}
export interface CompiledPolicy {
  readonly name: string; // namespace/name in cluster mode, name in local mode
  readonly mode: Mode;
  readonly subjects: readonly Subject[];
  readonly databases: readonly string[];
  readonly rules: readonly CompiledRule[];
  /** fully qualified column "schema.table.column" → strategy */
  readonly masking: Readonly<Record<string, MaskStrategy>>;
  readonly blockUnfilteredWrites: boolean;
  readonly maxAffectedRows: number | null;
  readonly approval: {
    readonly approvers: readonly Subject[];
    readonly minApprovals: number;
    readonly maxDurationMs: number;
    readonly holdTimeoutMs: number;
  } | null;
}
export interface CompiledPolicySet {
  /** Monotonic; part of every decision-cache key. */
  readonly generation: number;
  readonly policies: readonly CompiledPolicy[];
}

/** Facts about the upstream database the evaluator needs to resolve names (fetched by the proxy). */
export interface SessionContext {
  readonly identity: Identity;
  /** DatabaseBinding name the session goes through. */
  readonly database: string;
  /** Effective search_path, existing schemas only, in order, without pg_catalog/pg_temp. */
  readonly searchPath: readonly string[];
  /** Relation names that exist in pg_catalog (an unqualified one resolves there first). */
  readonly catalogRelations: ReadonlySet<string>;
  /** Function names that exist in pg_catalog. */
  readonly catalogFunctions: ReadonlySet<string>;
  /** Approved, unexpired grants for this identity (AccessRequests), by policy name. */
  readonly grants: readonly Grant[];
  /**
   * Views, rule-rewritten tables and SQL functions that read masked tables (policy/derived.ts), from the
   * catalog: masking follows a value through them. Absent = none known.
   */
  readonly derived?: DerivedCatalog;
  /**
   * security_invoker views and the relations PostgreSQL checks against the caller when one is used
   * (policy/invoker.ts), from the catalog. Absent = none known.
   */
  readonly invoker?: InvokerViews;
}
export interface Grant {
  readonly request: string;
  readonly rules: readonly CompiledRule[] | null;
  readonly statement: string | null;
  readonly expiresAtMs: number;
}

/** Masking for one statement's result: per qualified column, and per output position. */
export interface MaskPlan {
  /** "schema.table.column" → strategy, for every masked column this identity is subject to. */
  readonly columns: Readonly<Record<string, MaskStrategy>>;
  /** Per output position (same order as StatementFacts.outputs): strategy, or null = pass through. */
  readonly outputs: readonly (MaskStrategy | null)[];
  /** A `*` in the output touches a relation with masked columns: resolve per RowDescription field. */
  readonly needsRowDescription: boolean;
  /**
   * The outputs contain a `*` (over any relation). Positions of later outputs then depend on how many
   * columns the server expanded, so `outputs[i]` may only be matched to RowDescription field i when this
   * is false. Absent means unknown and is treated as true (fail closed).
   */
  readonly hasStar?: boolean;
  /** The proxy cannot prove the result safe (e.g. COPY binary of a masked table): refuse it. */
  readonly refuse: string | null;
  /**
   * "schema.table.column" of every masked column of a relation whose rows the statement reads or writes (every
   * access but DROP, TRUNCATE and GRANT, all candidates of an unqualified name): the values PostgreSQL could echo
   * in an ErrorResponse or NoticeResponse for this statement (proxy/mask/errors.ts). Empty: nothing to hide.
   * Absent means unknown and is treated as every masked column (fail closed).
   */
  readonly touched?: readonly string[];
}
/**
 * The plan that masks nothing, for a decision with no statement behind it (an empty query): every field says so
 * itself (no `*`, nothing touched), none is left to its fail-closed default. The proxy's one empty plan.
 */
export const NO_MASKS: MaskPlan = Object.freeze({
  columns: Object.freeze({}),
  outputs: Object.freeze([]),
  needsRowDescription: false,
  hasStar: false,
  refuse: null,
  touched: Object.freeze([]),
});

export type Decision =
  | {
      readonly verdict: 'allow' | 'warn';
      readonly policy: string;
      readonly rule: string;
      readonly masks: MaskPlan;
      /** in warn/observe, what enforcement would have denied (per policy/rule), for status counters */
      readonly wouldDeny: readonly { readonly policy: string; readonly rule: string | null; readonly reason: string }[];
      readonly guardrails: { readonly maxAffectedRows: number | null; readonly policy: string | null };
      /** The AccessRequest whose grant allowed a pair an `approve` rule governs (audit: airlock.access_request). */
      readonly grant?: string;
    }
  | {
      readonly verdict: 'approve';
      readonly policy: string;
      readonly rule: string;
      readonly holdTimeoutMs: number;
      /** The pair that needs the approval, as the client's error names it (`UPDATE on public.orders`). */
      readonly what?: string;
    }
  | {
      readonly verdict: 'deny';
      readonly policy: string | null;
      readonly rule: string | null;
      readonly reason: string;
      /**
       * What was denied, for the client's error headline: the (operation, object) pair with the relation
       * qualified as it was resolved (`SELECT on public.customers`, `CALL of function pg_catalog.pg_sleep`), or the
       * session change (`SET search_path`). Absent when the denial is about the statement as a whole.
       */
      readonly what?: string;
      /** An approval hold ended without approval: the AccessRequest it created (audit: airlock.access_request). */
      readonly accessRequest?: string;
      /**
       * What kind of denial it is when not a rule's or the analyzer's (absent): an `approve` rule whose statement
       * has no approved AccessRequest, an approval hold the client cancelled, or a guardrail the proxy enforces
       * on the result (maxAffectedRows). The client's error is built from it (proxy/enforce/denial.ts).
       */
      readonly kind?: DenialKind;
    };

export type DenialKind = 'approval' | 'cancelled' | 'guardrail';
