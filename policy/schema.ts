// TypeBox schemas for the airlock.dev/v1alpha1 resources: the single source of truth for
// validation (validate.ts walks them), defaulting (applyDefaults) and the CRDs (scripts/gen-crds.ts).
//
// Kept to the structural OpenAPI v3 subset Kubernetes accepts for CRDs
// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
// every node has a `type`, no $ref, no anyOf/oneOf, enums are string enums. Two extra keys live only
// here and are stripped by gen-crds: `noun` (what validate.ts calls a value: "unknown operation …")
// and `patternMessage` (the sentence shown when `pattern` fails).
import { Type } from '@sinclair/typebox';
import type { Static, TSchema } from '@sinclair/typebox';
import { APPROVAL_DECISIONS, EFFECTS, MASK_STRATEGIES, MODES, OPERATIONS, SUBJECT_KINDS } from './types.ts';
import type {
  AccessPolicySpec,
  AccessRequestSpec,
  AccessRequestStatus,
  DatabaseBindingSpec,
  Effect,
  MaskStrategy,
  Mode,
  Operation,
  SubjectKind,
} from './types.ts';

interface Extra {
  noun?: string;
  patternMessage?: string;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
  format?: string;
  [k: `x-kubernetes-${string}`]: unknown;
}

function strEnum<T extends string>(values: readonly T[], opts: Extra = {}) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...opts });
}
function stringMap(opts: Extra = {}) {
  return Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: { type: 'string' }, ...opts });
}

// DNS-1123 label: RFC 1123, as Kubernetes validates namespace and Service names.
export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
// DNS-1123 subdomain: what Kubernetes accepts for most object names.
export const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

const objectName = (what: string) =>
  Type.String({
    minLength: 1,
    maxLength: 253,
    pattern: DNS_SUBDOMAIN,
    description: `Name of the ${what}.`,
    patternMessage: "use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
  });
const LocalRef = (what: string) =>
  Type.Object(
    { name: objectName(what) },
    { additionalProperties: false, description: `Reference to a ${what} in the same namespace.` },
  );

export const SubjectSchema = Type.Object(
  {
    kind: strEnum<SubjectKind>(SUBJECT_KINDS, { noun: 'subject kind' }),
    name: Type.String({ minLength: 1, description: 'ServiceAccount name, Kubernetes user name, or group name.' }),
    namespace: Type.Optional(
      Type.String({
        pattern: DNS_LABEL,
        maxLength: 63,
        description: "ServiceAccount namespace; defaults to the policy's namespace.",
        patternMessage: "use a namespace name: lower-case letters, digits and '-', at most 63 characters",
      }),
    ),
  },
  { additionalProperties: false, description: 'Who a policy applies to (RBAC subject conventions).' },
);

export const RuleSchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: DNS_LABEL,
      description: 'Rule name, unique in the policy; shown in errors and audit spans.',
      patternMessage: "use lower-case letters, digits and '-' (a DNS label, at most 63 characters)",
    }),
    effect: strEnum<Effect>(EFFECTS, {
      noun: 'effect',
      description: 'allow, deny, or approve (needs an approved AccessRequest).',
    }),
    operations: Type.Array(strEnum<Operation>(OPERATIONS, { noun: 'operation' }), {
      minItems: 1,
      description: 'Operations the rule covers; ALL covers every operation.',
    }),
    tables: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'schema.table globs (`*` matches within one name part; `*` alone matches every relation). '
          + 'Omitted: any relation, unless functions is set.',
      }),
    ),
    functions: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'schema.function globs for CALL. Airlock extension: a dangerous server function '
          + '(pg_read_file, dblink, pg_sleep, …) is allowed only when listed here by its exact qualified name.',
      }),
    ),
    channels: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'Notification channel globs for NOTIFY (NOTIFY and pg_notify); `*` matches any run of characters. '
          + 'Names compare as PostgreSQL stores them (NOTIFY folds unquoted names to lower case). '
          + 'Omitted: any channel, unless tables or functions is set.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const MaskingRuleSchema = Type.Object(
  {
    columns: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'schema.table.column names.' }),
    strategy: strEnum<MaskStrategy>(MASK_STRATEGIES, { noun: 'masking strategy' }),
  },
  { additionalProperties: false },
);

const DurationString = (description: string, dflt?: string) =>
  Type.String({
    minLength: 1,
    description: `${description} Go-style duration, e.g. 90s, 15m, 4h, 1h30m.`,
    ...(dflt === undefined ? {} : { default: dflt }),
  });

export const AccessPolicySpecSchema = Type.Object(
  {
    mode: Type.Optional(
      strEnum<Mode>(MODES, {
        noun: 'mode',
        default: 'enforce',
        description: 'enforce; warn (allow, audit as violation); observe (allow, audit only).',
      }),
    ),
    subjects: Type.Array(SubjectSchema, { minItems: 1, description: 'Any matching subject applies the policy.' }),
    databases: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'DatabaseBinding names in the same namespace; "*" means all.',
    }),
    rules: Type.Array(RuleSchema, {
      minItems: 1,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
    masking: Type.Optional(Type.Array(MaskingRuleSchema)),
    guardrails: Type.Optional(
      Type.Object(
        {
          blockUnfilteredWrites: Type.Optional(Type.Boolean({ description: 'Deny UPDATE/DELETE without WHERE.' })),
          maxAffectedRows: Type.Optional(
            Type.Integer({
              minimum: 1,
              description: 'A write touching more rows is rolled back.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    approval: Type.Optional(
      Type.Object(
        {
          approvers: Type.Array(SubjectSchema, { minItems: 1 }),
          minApprovals: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
          maxDuration: Type.Optional(DurationString('Longest access an approval may grant.')),
          holdTimeout: Type.Optional(DurationString('How long a statement waits for approval.', '60s')),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const LabelSelectorRequirement = Type.Object(
  {
    key: Type.String({ minLength: 1 }),
    operator: strEnum(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, { noun: 'selector operator' }),
    values: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);

export const TLS_MODES = ['disable', 'require', 'verify-full'] as const;
export const AUDIT_FAILURE_MODES = ['block', 'drop-oldest'] as const;

export const DatabaseBindingSpecSchema = Type.Object(
  {
    engine: strEnum(['postgres'] as const, { noun: 'engine' }),
    endpoint: Type.Object(
      {
        host: Type.String({ minLength: 1, description: 'Database server host name or address.' }),
        port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 5432 })),
        database: Type.String({ minLength: 1, description: 'Database name on the server.' }),
      },
      { additionalProperties: false },
    ),
    credentialsSecretRef: LocalRef('Secret holding keys username and password'),
    tls: Type.Optional(
      Type.Object(
        {
          mode: strEnum(TLS_MODES, { noun: 'TLS mode', default: 'require' }),
          caSecretRef: Type.Optional(LocalRef('Secret holding the CA bundle (key ca.crt)')),
        },
        {
          additionalProperties: false,
          default: { mode: 'require' },
          'x-kubernetes-validations': [
            {
              rule: "self.mode != 'verify-full' || has(self.caSecretRef)",
              message: 'tls.mode verify-full needs caSecretRef',
            },
          ],
        },
      ),
    ),
    workloadSelector: Type.Optional(
      Type.Object(
        {
          matchLabels: Type.Optional(stringMap()),
          matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement)),
        },
        { additionalProperties: false, description: 'Pods that get the sidecar.' },
      ),
    ),
    sidecar: Type.Optional(
      Type.Object(
        {
          port: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 65535,
              default: 5432,
              description: 'The application connects to 127.0.0.1:<port>.',
            }),
          ),
        },
        { additionalProperties: false, default: { port: 5432 } },
      ),
    ),
    audit: Type.Optional(
      Type.Object(
        {
          otlpEndpoint: Type.Optional(Type.String({ minLength: 1, description: 'OTLP/gRPC collector URL.' })),
          onFailure: Type.Optional(strEnum(AUDIT_FAILURE_MODES, { noun: 'audit failure mode', default: 'block' })),
        },
        { additionalProperties: false, default: { onFailure: 'block' } },
      ),
    ),
  },
  { additionalProperties: false },
);

export const AccessRequestSpecSchema = Type.Object(
  {
    subject: SubjectSchema,
    database: Type.String({ minLength: 1, description: 'DatabaseBinding name in the same namespace.' }),
    rules: Type.Optional(Type.Array(RuleSchema, { minItems: 1 })),
    statement: Type.Optional(Type.String({ minLength: 1, description: 'One statement, as normalized text.' })),
    duration: Type.Optional(DurationString('How long the access lasts once approved.')),
    reason: Type.Optional(Type.String()),
    requestedBy: Type.Optional(
      Type.String({
        description: "Who created the request; set by the operator's admission webhook, never by clients.",
      }),
    ),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      { rule: 'has(self.rules) != has(self.statement)', message: 'set exactly one of rules or statement' },
      // What was approved must be what is granted: a request is never edited, only approved, denied or revoked.
      { rule: 'self == oldSelf', message: 'spec is immutable; create a new AccessRequest instead' },
    ],
  },
);

export const ConditionSchema = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    status: strEnum(['True', 'False', 'Unknown'] as const, { noun: 'condition status' }),
    reason: Type.String({ minLength: 1 }),
    message: Type.String(),
    lastTransitionTime: Type.String({ format: 'date-time' }),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
const Conditions = Type.Array(ConditionSchema, {
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

export const DatabaseBindingStatusSchema = Type.Object(
  {
    conditions: Type.Optional(Conditions),
    observedGeneration: Type.Optional(Type.Integer()),
    injectedPods: Type.Optional(Type.Integer({ minimum: 0 })),
    classification: Type.Optional(
      Type.Array(
        Type.Object(
          {
            column: Type.String({ description: 'schema.table.column' }),
            category: Type.String({ description: 'What the column appears to hold, e.g. email.' }),
            masked: Type.Boolean(),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

export const AccessPolicyStatusSchema = Type.Object(
  {
    conditions: Type.Optional(Conditions),
    observedGeneration: Type.Optional(Type.Integer()),
    compiledRules: Type.Optional(Type.Integer({ minimum: 0 })),
    // warn/observe staging counters (design.md: per rule, with the last example's normalised text).
    violations: Type.Optional(
      Type.Array(
        Type.Object(
          {
            rule: Type.String({ description: 'Rule name, or "(default deny)" when no rule allowed it.' }),
            count: Type.Integer({ minimum: 0 }),
            lastStatement: Type.Optional(Type.String({ description: 'Normalized text (literals as $n).' })),
            lastSeen: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

export const AccessRequestStatusSchema = Type.Object(
  {
    phase: Type.Optional(strEnum(['Pending', 'Approved', 'Denied', 'Expired', 'Revoked'] as const, { noun: 'phase' })),
    approvals: Type.Optional(
      Type.Array(
        Type.Object(
          {
            approver: Type.String({ description: 'Kubernetes user; stamped by the admission webhook.' }),
            groups: Type.Optional(Type.Array(Type.String())),
            decision: strEnum(APPROVAL_DECISIONS, { noun: 'decision' }),
            at: Type.String({ format: 'date-time' }),
            comment: Type.Optional(Type.String({ maxLength: 1024 })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 64 },
      ),
    ),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
    message: Type.Optional(Type.String()),
    observedGeneration: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

export const KINDS = {
  AccessPolicy: {
    plural: 'accesspolicies',
    singular: 'accesspolicy',
    shortNames: ['ap'],
    spec: AccessPolicySpecSchema,
    status: AccessPolicyStatusSchema,
  },
  DatabaseBinding: {
    plural: 'databasebindings',
    singular: 'databasebinding',
    shortNames: ['dbb'],
    spec: DatabaseBindingSpecSchema,
    status: DatabaseBindingStatusSchema,
  },
  AccessRequest: {
    plural: 'accessrequests',
    singular: 'accessrequest',
    shortNames: ['ar'],
    spec: AccessRequestSpecSchema,
    status: AccessRequestStatusSchema,
  },
} as const;
export type AirlockKind = keyof typeof KINDS;
export const AIRLOCK_KINDS = Object.keys(KINDS) as AirlockKind[];

export const MetadataSchema = Type.Object(
  {
    name: objectName('object'),
    namespace: Type.Optional(
      Type.String({
        pattern: DNS_LABEL,
        maxLength: 63,
        patternMessage: "use a namespace name: lower-case letters, digits and '-', at most 63 characters",
      }),
    ),
  },
  { description: 'Kubernetes object metadata; fields other than name and namespace are not checked here.' },
);

// Compile-time check that the schemas and the hand-written contract in types.ts agree both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const mirrors: [
  Same<Static<typeof AccessPolicySpecSchema>, AccessPolicySpec>,
  Same<Static<typeof AccessRequestSpecSchema>, AccessRequestSpec>,
  Same<Static<typeof AccessRequestStatusSchema>, AccessRequestStatus>,
  // matchExpressions is `unknown[]` in types.ts; the schema is the precise one.
  [Static<typeof DatabaseBindingSpecSchema>] extends [DatabaseBindingSpec] ? true : false,
] = [true, true, true, true];
void mirrors;

/** A JSON-schema node as validate.ts and gen-crds.ts read it (TypeBox adds symbol keys; ignored). */
export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  enum?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  default?: unknown;
  description?: string;
  noun?: string;
  patternMessage?: string;
  [k: string]: unknown;
}
export function node(s: TSchema): SchemaNode {
  return s as unknown as SchemaNode;
}

/**
 * Fill `default`s the way the apiserver does for structural schemas: a default applies where its
 * parent object exists and the field is absent. Returns a new value; the input is not changed.
 */
export function applyDefaults<T>(schema: TSchema | SchemaNode, value: T): T {
  return fill(schema as SchemaNode, value) as T;
}
function fill(s: SchemaNode, v: unknown): unknown {
  if (s.type === 'object' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    for (const [k, p] of Object.entries(s.properties ?? {})) {
      if (out[k] === undefined && p.default !== undefined) out[k] = structuredClone(p.default);
      if (out[k] !== undefined) out[k] = fill(p, out[k]);
    }
    return out;
  }
  if (s.type === 'array' && Array.isArray(v) && s.items !== undefined) {
    const items = s.items;
    return v.map((x) => fill(items, x));
  }
  return v;
}
