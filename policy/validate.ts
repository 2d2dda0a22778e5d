// Validation of airlock.dev documents (and the v1 Secrets local mode reads): every problem, each with
// its JSON path and a sentence saying what is allowed — the `field.ErrorList` habit of
// GoogleCloudPlatform/cloud-sql-proxy-operator/internal/api/v1/authproxyworkload_webhook.go.
// The schema walk covers shapes (schema.ts is the source of truth); checkPolicy/checkBinding/
// checkRequest add what a schema cannot say. formatIssues is the one printer for CLI, webhook and
// status conditions.
import { parseDuration, DURATION_HINT } from './duration.ts';
import { compileGlob, globHint, parseColumnName } from './glob.ts';
import { describeSubject } from './identity.ts';
import { KINDS, MetadataSchema, node } from './schema.ts';
import type { SchemaNode } from './schema.ts';
import { API_VERSION } from './types.ts';
import type { ValidationIssue } from './types.ts';

type Obj = Record<string, unknown>;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const TYPE_NAMES: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
};
function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}
const quote = (v: unknown) => JSON.stringify(v);
function child(path: string, key: string): string {
  const k = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : `[${quote(key)}]`;
  if (path === '') return k;
  return k.startsWith('[') ? `${path}${k}` : `${path}.${k}`;
}

/** Check `value` against a schema node, appending every problem to `out`. */
export function checkSchema(s: SchemaNode, value: unknown, path: string, out: ValidationIssue[]): void {
  switch (s.type) {
    case 'object': {
      if (!isObj(value)) {
        out.push({ path, message: `expected ${TYPE_NAMES.object}, got ${typeOf(value)}` });
        return;
      }
      const props = s.properties ?? {};
      for (const r of s.required ?? []) {
        if (value[r] === undefined) {
          const d = props[r]?.description;
          out.push({
            path: child(path, r),
            message: `required field is missing${d ? ` (${d.replace(/\.$/, '')})` : ''}`,
          });
        }
      }
      for (const [k, v] of Object.entries(value)) {
        const p = props[k];
        if (p !== undefined) {
          if (v !== undefined) checkSchema(p, v, child(path, k), out);
          continue;
        }
        if (isObj(s.additionalProperties)) checkSchema(s.additionalProperties, v, child(path, k), out);
        else if (s.additionalProperties === false) {
          out.push({
            path: child(path, k),
            message: `unknown field ${quote(k)}; expected one of ${Object.keys(props).join(', ')}`,
          });
        }
      }
      return;
    }
    case 'array': {
      if (!Array.isArray(value)) {
        out.push({ path, message: `expected ${TYPE_NAMES.array}, got ${typeOf(value)}` });
        return;
      }
      if (s.minItems !== undefined && value.length < s.minItems) {
        out.push({ path, message: `must list at least ${s.minItems} ${s.minItems === 1 ? 'entry' : 'entries'}` });
      }
      if (s.items !== undefined)
        for (let i = 0; i < value.length; i++) checkSchema(s.items, value[i], `${path}[${i}]`, out);
      return;
    }
    case 'string': {
      if (typeof value !== 'string') {
        out.push({ path, message: `expected ${TYPE_NAMES.string}, got ${typeOf(value)}` });
        return;
      }
      if (s.enum !== undefined) {
        if (!s.enum.includes(value))
          out.push({
            path,
            message: `unknown ${s.noun ?? 'value'} ${quote(value)}; expected one of ${s.enum.join(', ')}`,
          });
        return;
      }
      if (s.minLength !== undefined && value.length < s.minLength) {
        out.push({
          path,
          message: s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters`,
        });
        return;
      }
      if (s.maxLength !== undefined && value.length > s.maxLength) {
        out.push({ path, message: `${quote(value)} is longer than ${s.maxLength} characters` });
        return;
      }
      if (s.pattern !== undefined && !new RegExp(s.pattern).test(value)) {
        out.push({
          path,
          message: `${quote(value)} is not allowed here; ${s.patternMessage ?? `it must match ${s.pattern}`}`,
        });
      }
      if (s.format === 'date-time' && !RFC3339.test(value)) {
        out.push({ path, message: `${quote(value)} is not an RFC 3339 date-time` });
      }
      return;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || (s.type === 'integer' && !Number.isInteger(value))) {
        out.push({ path, message: `expected ${TYPE_NAMES[s.type]}, got ${typeOf(value)}` });
        return;
      }
      if (s.minimum !== undefined && value < s.minimum)
        out.push({ path, message: `must be at least ${s.minimum}, got ${value}` });
      if (s.maximum !== undefined && value > s.maximum)
        out.push({ path, message: `must be at most ${s.maximum}, got ${value}` });
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean')
        out.push({ path, message: `expected ${TYPE_NAMES.boolean}, got ${typeOf(value)}` });
      return;
    default:
      return;
  }
}

export const KNOWN_KINDS = ['DatabaseBinding', 'AccessPolicy', 'AccessRequest', 'Secret'] as const;

/** Validate one document of any kind we know. Never throws; returns every issue found. */
export function validate(doc: unknown): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  if (!isObj(doc)) {
    out.push({ path: '', message: `expected a Kubernetes object, got ${typeOf(doc)}` });
    return out;
  }
  const kind = doc.kind;
  if (kind === 'Secret') {
    checkSecret(doc, out);
    return out;
  }
  if (typeof kind !== 'string' || !(kind in KINDS)) {
    out.push({ path: 'kind', message: `unknown kind ${quote(kind)}; expected one of ${KNOWN_KINDS.join(', ')}` });
    return out;
  }
  if (doc.apiVersion !== API_VERSION) {
    out.push({
      path: 'apiVersion',
      message: `unknown apiVersion ${quote(doc.apiVersion)} for ${kind}; expected ${API_VERSION}`,
    });
  }
  for (const k of Object.keys(doc)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k)) {
      out.push({
        path: k,
        message: `unknown field ${quote(k)}; expected one of apiVersion, kind, metadata, spec, status`,
      });
    }
  }
  checkMetadata(doc, out);
  const k = KINDS[kind as keyof typeof KINDS];
  if (doc.spec === undefined) out.push({ path: 'spec', message: 'required field is missing' });
  else checkSchema(node(k.spec), doc.spec, 'spec', out);
  if (doc.status !== undefined) checkSchema(node(k.status), doc.status, 'status', out);
  if (!isObj(doc.spec)) return out;
  const ns = isObj(doc.metadata) && typeof doc.metadata.namespace === 'string' ? doc.metadata.namespace : undefined;
  if (kind === 'AccessPolicy') checkPolicy(doc.spec, ns, out);
  else if (kind === 'DatabaseBinding') checkBinding(doc.spec, out);
  else checkRequest(doc.spec, ns, out);
  return out;
}

function checkMetadata(doc: Obj, out: ValidationIssue[]): void {
  if (doc.metadata === undefined) {
    out.push({ path: 'metadata', message: 'required field is missing' });
    return;
  }
  checkSchema(node(MetadataSchema), doc.metadata, 'metadata', out);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
export function isBase64(s: string): boolean {
  return BASE64.test(s.replace(/\s+/g, ''));
}

function checkSecret(doc: Obj, out: ValidationIssue[]): void {
  if (doc.apiVersion !== 'v1')
    out.push({ path: 'apiVersion', message: `unknown apiVersion ${quote(doc.apiVersion)} for Secret; expected v1` });
  checkMetadata(doc, out);
  for (const field of ['data', 'stringData'] as const) {
    const m = doc[field];
    if (m === undefined) continue;
    if (!isObj(m)) {
      out.push({ path: field, message: `expected an object of key: value, got ${typeOf(m)}` });
      continue;
    }
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string') out.push({ path: child(field, k), message: `expected a string, got ${typeOf(v)}` });
      else if (field === 'data' && !isBase64(v)) {
        out.push({ path: child(field, k), message: 'is not valid base64; put plain text under stringData instead' });
      }
    }
  }
}

function checkRules(rules: unknown, base: string, out: ValidationIssue[]): void {
  if (!Array.isArray(rules)) return;
  const seen = new Map<string, number>();
  rules.forEach((r, i) => {
    if (!isObj(r)) return;
    const path = `${base}[${i}]`;
    if (typeof r.name === 'string') {
      const first = seen.get(r.name);
      if (first !== undefined)
        out.push({ path: `${path}.name`, message: `duplicate rule name ${quote(r.name)} (also ${base}[${first}])` });
      else seen.set(r.name, i);
    }
    for (const field of ['tables', 'functions'] as const) {
      const globs = r[field];
      if (!Array.isArray(globs)) continue;
      globs.forEach((g, j) => {
        if (typeof g === 'string' && g !== '' && compileGlob(g) === null) {
          const what = field === 'tables' ? 'schema.table' : 'schema.function';
          out.push({
            path: `${path}.${field}[${j}]`,
            message: `${quote(g)} is not a ${what} glob; ${globHint(field === 'tables' ? 'table' : 'function')}`,
          });
        }
      });
    }
    if (
      Array.isArray(r.functions)
      && Array.isArray(r.operations)
      && !r.operations.includes('CALL')
      && !r.operations.includes('ALL')
    ) {
      out.push({ path: `${path}.functions`, message: 'functions applies only to CALL; add CALL or ALL to operations' });
    }
    if (
      Array.isArray(r.channels)
      && Array.isArray(r.operations)
      && !r.operations.includes('NOTIFY')
      && !r.operations.includes('ALL')
    ) {
      out.push({
        path: `${path}.channels`,
        message: 'channels applies only to NOTIFY; add NOTIFY or ALL to operations',
      });
    }
    if (
      Array.isArray(r.operations)
      && r.operations.includes('NOTIFY')
      && r.channels === undefined
      && (r.tables !== undefined || r.functions !== undefined)
    ) {
      out.push({
        path: `${path}.operations`,
        message:
          'NOTIFY pairs are matched by channels, and a rule that lists tables or functions reaches no channel; add channels (["*"] for any channel) or move NOTIFY to a rule of its own',
      });
    }
  });
}

function checkSubjects(subjects: unknown, base: string, ns: string | undefined, out: ValidationIssue[]): void {
  if (!Array.isArray(subjects)) return;
  const seen = new Map<string, number>();
  subjects.forEach((s, i) => {
    if (!isObj(s) || typeof s.kind !== 'string' || typeof s.name !== 'string') return;
    const path = `${base}[${i}]`;
    const namespace = typeof s.namespace === 'string' ? s.namespace : undefined;
    if (s.kind === 'ServiceAccount' && namespace === undefined && ns === undefined) {
      out.push({
        path: `${path}.namespace`,
        message: 'required for a ServiceAccount subject when the object has no metadata.namespace',
      });
    }
    if ((s.kind === 'User' || s.kind === 'Group') && namespace !== undefined) {
      out.push({
        path: `${path}.namespace`,
        message: `applies only to ServiceAccount subjects; a ${s.kind} is cluster-wide`,
      });
    }
    const subj = {
      kind: s.kind,
      name: s.name,
      namespace: s.kind === 'ServiceAccount' ? (namespace ?? ns) : undefined,
    } as Parameters<typeof describeSubject>[0];
    const key = describeSubject(subj);
    const first = seen.get(key);
    if (first !== undefined) out.push({ path, message: `duplicate subject ${key} (also ${base}[${first}])` });
    else seen.set(key, i);
  });
}

function checkDuration(v: unknown, path: string, out: ValidationIssue[]): void {
  if (typeof v !== 'string' || v === '') return;
  const ms = parseDuration(v);
  if (ms === null) out.push({ path, message: `${quote(v)} is not a duration; ${DURATION_HINT}` });
  else if (ms <= 0) out.push({ path, message: `must be longer than zero; ${DURATION_HINT}` });
}

const DNS_SUBDOMAIN_RE = new RegExp(node(MetadataSchema).properties?.name?.pattern ?? '^$');

function checkPolicy(spec: Obj, ns: string | undefined, out: ValidationIssue[]): void {
  checkSubjects(spec.subjects, 'spec.subjects', ns, out);
  checkRules(spec.rules, 'spec.rules', out);
  if (Array.isArray(spec.databases)) {
    spec.databases.forEach((d, i) => {
      if (typeof d === 'string' && d !== '' && d !== '*' && !DNS_SUBDOMAIN_RE.test(d)) {
        out.push({
          path: `spec.databases[${i}]`,
          message: `${quote(d)} is not a DatabaseBinding name; use the binding's metadata.name or "*" for all`,
        });
      }
    });
  }
  if (Array.isArray(spec.masking)) {
    const seen = new Map<string, string>();
    spec.masking.forEach((m, i) => {
      if (!isObj(m) || !Array.isArray(m.columns)) return;
      m.columns.forEach((c, j) => {
        if (typeof c !== 'string' || c === '') return;
        const path = `spec.masking[${i}].columns[${j}]`;
        const parts = parseColumnName(c);
        if (parts === null) {
          out.push({
            path,
            message: `${quote(c)} is not a schema.table.column name (no wildcards); e.g. public.customers.email`,
          });
          return;
        }
        if (parts.some((x) => x.includes('.'))) {
          out.push({
            path,
            message: `${quote(c)}: a name containing "." cannot be masked by name; rename the object or mask a view over it`,
          });
          return;
        }
        const key = parts.join('.');
        const first = seen.get(key);
        if (first !== undefined) out.push({ path, message: `column ${key} is already masked by ${first}` });
        else seen.set(key, path);
      });
    });
  }
  if (isObj(spec.approval)) {
    checkSubjects(spec.approval.approvers, 'spec.approval.approvers', ns, out);
    checkDuration(spec.approval.maxDuration, 'spec.approval.maxDuration', out);
    checkDuration(spec.approval.holdTimeout, 'spec.approval.holdTimeout', out);
  }
}

function checkBinding(spec: Obj, out: ValidationIssue[]): void {
  if (isObj(spec.tls)) {
    if (spec.tls.mode === 'verify-full' && spec.tls.caSecretRef === undefined) {
      out.push({
        path: 'spec.tls.caSecretRef',
        message: 'required when tls.mode is verify-full (the Secret with the CA bundle to verify the server against)',
      });
    }
    if (spec.tls.caSecretRef !== undefined && spec.tls.mode !== 'verify-full') {
      out.push({
        path: 'spec.tls.caSecretRef',
        message: `is used only with tls.mode verify-full; mode ${quote(spec.tls.mode ?? 'require')} does not verify the server certificate`,
      });
    }
  }
  if (isObj(spec.audit) && typeof spec.audit.otlpEndpoint === 'string' && spec.audit.otlpEndpoint !== '') {
    const u = URL.parse(spec.audit.otlpEndpoint);
    if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      out.push({
        path: 'spec.audit.otlpEndpoint',
        message: `${quote(spec.audit.otlpEndpoint)} is not an http:// or https:// URL; e.g. http://otel-collector.observability:4317`,
      });
    }
  }
  const exprs = isObj(spec.workloadSelector) ? spec.workloadSelector.matchExpressions : undefined;
  if (Array.isArray(exprs)) {
    exprs.forEach((e, i) => {
      if (!isObj(e)) return;
      const n = Array.isArray(e.values) ? e.values.length : 0;
      const path = `spec.workloadSelector.matchExpressions[${i}].values`;
      if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0)
        out.push({ path, message: `must not be empty when operator is ${e.operator}` });
      if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0)
        out.push({ path, message: `must be empty when operator is ${e.operator}` });
    });
  }
}

function checkRequest(spec: Obj, ns: string | undefined, out: ValidationIssue[]): void {
  checkSubjects(spec.subject === undefined ? undefined : [spec.subject], 'spec.subject', ns, out);
  // checkSubjects indexes its paths; a single subject has none.
  for (const issue of out)
    if (issue.path.startsWith('spec.subject[0]'))
      issue.path = `spec.subject${issue.path.slice('spec.subject[0]'.length)}`;
  checkRules(spec.rules, 'spec.rules', out);
  if ((spec.rules === undefined) === (spec.statement === undefined)) {
    out.push({
      path: 'spec',
      message: 'set exactly one of rules (access to grant) or statement (one statement to allow)',
    });
  }
  checkDuration(spec.duration, 'spec.duration', out);
}

/** `Kind namespace/name` (or `Kind name`) for messages; tolerant of malformed documents. */
export function describeDoc(doc: unknown): string {
  if (!isObj(doc)) return 'document';
  const kind = typeof doc.kind === 'string' && doc.kind !== '' ? doc.kind : 'document';
  const md = isObj(doc.metadata) ? doc.metadata : {};
  const name = typeof md.name === 'string' && md.name !== '' ? md.name : '(unnamed)';
  return typeof md.namespace === 'string' && md.namespace !== ''
    ? `${kind} ${md.namespace}/${name}`
    : `${kind} ${name}`;
}

/**
 * One line per issue: `examples/orders.yaml: AccessPolicy ml/trainer: spec.rules[2].operations[0]:
 * unknown operation "DELTE"; expected one of …`. `source` may be empty (the webhook and status
 * conditions have no file), and then is left out.
 */
export function formatIssues(source: string, doc: unknown, issues: readonly ValidationIssue[]): string[] {
  const head = source === '' ? describeDoc(doc) : `${source}: ${describeDoc(doc)}`;
  return issues.map((i) => (i.path === '' ? `${head}: ${i.message}` : `${head}: ${i.path}: ${i.message}`));
}
