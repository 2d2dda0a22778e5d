// The local-mode FILE (design.md "Local mode"): multi-document YAML holding DatabaseBinding,
// AccessPolicy, AccessRequest and v1 Secret documents exactly as they would be applied to a cluster.
// Pure: the caller reads the file and passes its text. Every problem is reported, not the first.
import { isMap, isNode, isScalar, LineCounter, parseAllDocuments } from 'yaml';
import type { Document as YamlDocument } from 'yaml';
import { applyDefaults, KINDS } from './schema.ts';
import { API_GROUP } from './types.ts';
import type { AccessPolicy, AccessRequest, DatabaseBinding, Secret, ValidationIssue } from './types.ts';
import { describeDoc, formatIssues, isBase64, KNOWN_KINDS, validate } from './validate.ts';

export type ConfigResult =
  | {
      readonly ok: true;
      readonly bindings: DatabaseBinding[];
      readonly policies: AccessPolicy[];
      readonly requests: AccessRequest[];
      readonly secrets: Secret[];
    }
  | { readonly ok: false; readonly errors: string[] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parse and validate a local-mode file. `source` names it in messages (usually the path as given).
 * Documents come back with schema defaults applied, as the apiserver would store them. Every message
 * starts `source:LINE:COLUMN:` at the YAML node it is about (the nearest one that exists, for a missing
 * field): the form compilers print, which editors and CI log viewers link to the source.
 */
export function parseConfig(text: string, source: string): ConfigResult {
  const c = collect(text, source, false);
  const { errors, bindings, policies, secrets, invalid } = c;

  // Cross-document references: the binding's Secrets must be in the file, in the same namespace.
  for (const b of bindings) {
    const ns = b.metadata.namespace;
    const ref = b.spec.credentialsSecretRef.name;
    const secret = secrets.find((s) => s.metadata.name === ref && s.metadata.namespace === ns);
    const head = `${c.at(b, 'spec.credentialsSecretRef.name')}: ${describeDoc(b)}: spec.credentialsSecretRef.name`;
    const secretKey = describeDoc({ kind: 'Secret', metadata: { name: ref, namespace: ns } });
    if (invalid.has(secretKey)) continue;
    if (secret === undefined) {
      errors.push(
        `${head}: no Secret ${JSON.stringify(ref)}${ns === undefined ? '' : ` in namespace ${ns}`} in this file; add one with keys username and password`,
      );
    } else {
      const r = resolveCredentials(b, secrets);
      if (!r.ok) errors.push(`${head}: ${r.error}`);
    }
    const ca = b.spec.tls?.caSecretRef?.name;
    if (ca !== undefined && !secrets.some((s) => s.metadata.name === ca && s.metadata.namespace === ns)) {
      errors.push(
        `${c.at(b, 'spec.tls.caSecretRef.name')}: ${describeDoc(b)}: spec.tls.caSecretRef.name: no Secret ${JSON.stringify(ca)} in this file`,
      );
    }
  }
  errors.push(...unknownDatabases(c, bindings, 'in this file'));
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, bindings, policies, requests: c.requests, secrets };
}

export type ManifestsResult =
  | {
      readonly ok: true;
      readonly bindings: DatabaseBinding[];
      readonly policies: AccessPolicy[];
      readonly requests: AccessRequest[];
      readonly secrets: Secret[];
      /** Documents of other kinds (Namespace, Job, a SealedSecret, …), as `apiVersion Kind ns/name`: left alone. */
      readonly others: string[];
    }
  | { readonly ok: false; readonly errors: string[] };

/**
 * Parse and validate files as they sit in a GitOps repository (`airlock validate --manifests`, `airlock
 * policy test`): what would be applied to a cluster. Unlike a local-mode file, the binding's Secret may
 * live elsewhere (a SealedSecret, External Secrets), so it is not required; documents of other kinds
 * are skipped, except anything claiming the airlock.dev group, which must be a kind we know. A policy's
 * `databases` must name a DatabaseBinding in one of the files.
 */
export function parseManifests(files: readonly { readonly text: string; readonly source: string }[]): ManifestsResult {
  const all = files.map((f) => collect(f.text, f.source, true));
  const errors = all.flatMap((c) => c.errors);
  const bindings = all.flatMap((c) => c.bindings);
  for (const c of all) errors.push(...unknownDatabases(c, bindings, 'in the files given'));
  const seen = new Map<string, string>();
  for (const c of all) {
    for (const d of [...c.bindings, ...c.policies, ...c.requests]) {
      const key = describeDoc(d);
      const first = seen.get(key);
      if (first !== undefined) errors.push(`${c.at(d, '')}: ${key}: defined twice (also in ${first})`);
      else seen.set(key, c.source);
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    bindings,
    policies: all.flatMap((c) => c.policies),
    requests: all.flatMap((c) => c.requests),
    secrets: all.flatMap((c) => c.secrets),
    others: all.flatMap((c) => c.others),
  };
}

interface Collected {
  readonly source: string;
  readonly errors: string[];
  readonly bindings: DatabaseBinding[];
  readonly policies: AccessPolicy[];
  readonly requests: AccessRequest[];
  readonly secrets: Secret[];
  readonly others: string[];
  /** "Kind ns/name" of documents that failed validation: references to them are not reported again. */
  readonly invalid: Set<string>;
  /** `source:line:col` of the node at a dotted path (validate.ts's paths) inside a collected document. */
  at(doc: object, path: string): string;
}

function collect(text: string, source: string, skipOthers: boolean): Collected {
  const errors: string[] = [];
  const c: Collected = {
    source,
    errors,
    bindings: [],
    policies: [],
    requests: [],
    secrets: [],
    others: [],
    invalid: new Set(),
    at: (doc, path) => {
      const d = docs.get(doc);
      return d === undefined ? source : position(d, path);
    },
  };
  const docs = new Map<object, { doc: YamlDocument; lines: LineCounter }>();
  const seen = new Map<string, number>(); // "Kind ns/name" → document number
  const lines = new LineCounter();
  const position = (d: { doc: YamlDocument }, path: string): string => {
    const off = offsetOf(d.doc, path);
    if (off === null) return source;
    const p = lines.linePos(off);
    return `${source}:${p.line}:${p.col}`;
  };

  // uniqueKeys: a repeated key is an error in YAML 1.2 and would silently drop a rule otherwise.
  const list = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
  (Array.isArray(list) ? list : [list]).forEach((d, index) => {
    const n = index + 1;
    if (d.errors.length > 0) {
      for (const e of d.errors) {
        const pos = e.linePos?.[0];
        const where = pos === undefined ? `${source}` : `${source}:${pos.line}:${pos.col}`;
        errors.push(`${where}: YAML syntax error in document ${n}: ${firstLine(e.message)}`);
      }
      return;
    }
    const value: unknown = d.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // empty document (a trailing ---)
    const here = { doc: d };
    const at = position(here, '');
    if (!isObj(value)) {
      errors.push(
        `${at}: document ${n} is not a Kubernetes object (got ${Array.isArray(value) ? 'a list' : typeof value})`,
      );
      return;
    }
    const kind = value.kind;
    if (typeof kind !== 'string' || !(KNOWN_KINDS as readonly string[]).includes(kind)) {
      const group =
        typeof value.apiVersion === 'string' && value.apiVersion.includes('/')
          ? value.apiVersion.slice(0, value.apiVersion.indexOf('/'))
          : '';
      if (skipOthers && typeof kind === 'string' && kind !== '' && group !== API_GROUP) {
        c.others.push(`${String(value.apiVersion)} ${describeDoc(value)}`);
        return;
      }
      // Neither kind nor apiVersion: not a Kubernetes object at all (policy test cases, Helm values).
      if (skipOthers && kind === undefined && value.apiVersion === undefined) {
        c.others.push(`(not a Kubernetes object) ${at}`);
        return;
      }
      errors.push(
        `${position(here, 'kind')}: document ${n}: unknown kind ${JSON.stringify(kind)}; expected one of ${KNOWN_KINDS.join(', ')}${skipOthers ? ' (documents of other API groups are skipped)' : ''}`,
      );
      return;
    }
    const issues = validate(value);
    if (issues.length > 0) {
      const head = describeDoc(value);
      for (const [i, line] of formatIssues('', value, issues).entries())
        errors.push(`${position(here, (issues[i] as ValidationIssue).path)}: ${line}`);
      c.invalid.add(head); // reported once; references to it are not reported again
      return;
    }
    const key = describeDoc(value);
    const first = seen.get(key);
    if (first !== undefined) {
      errors.push(`${at}: ${key}: defined twice (documents ${first} and ${n})`);
      return;
    }
    seen.set(key, n);
    if (kind === 'Secret') {
      c.secrets.push(value as unknown as Secret);
      docs.set(value, { doc: d, lines });
      return;
    }
    const withDefaults = { ...value, spec: applyDefaults(KINDS[kind as keyof typeof KINDS].spec, value.spec) };
    docs.set(withDefaults, { doc: d, lines });
    if (kind === 'DatabaseBinding') c.bindings.push(withDefaults as unknown as DatabaseBinding);
    else if (kind === 'AccessPolicy') c.policies.push(withDefaults as unknown as AccessPolicy);
    else c.requests.push(withDefaults as unknown as AccessRequest);
  });
  return c;
}

function unknownDatabases(c: Collected, bindings: readonly DatabaseBinding[], where: string): string[] {
  const out: string[] = [];
  for (const p of c.policies) {
    for (const [i, db] of p.spec.databases.entries()) {
      if (
        db !== '*'
        && !bindings.some((b) => b.metadata.name === db && b.metadata.namespace === p.metadata.namespace)
      ) {
        out.push(
          `${c.at(p, `spec.databases[${i}]`)}: ${describeDoc(p)}: spec.databases[${i}]: no DatabaseBinding ${JSON.stringify(db)}${p.metadata.namespace === undefined ? '' : ` in namespace ${p.metadata.namespace}`} ${where}`,
        );
      }
    }
  }
  return out;
}

/**
 * Offset in the text of the node at `path` (`spec.rules[2].operations[0]`, `data["a.b"]`), or of its
 * nearest existing ancestor when it is missing (a required field points at the object that lacks it).
 * For a map entry the key's offset, so the line is the one a person reads as "that field".
 */
function offsetOf(doc: YamlDocument, path: string): number | null {
  const segs = pathSegments(path);
  for (let n = segs.length; n >= 0; n--) {
    const parent = n === 0 ? null : doc.getIn(segs.slice(0, n - 1), true);
    const last = segs[n - 1];
    if (n > 0 && isMap(parent) && typeof last === 'string') {
      const pair = parent.items.find((it) => (isScalar(it.key) ? String(it.key.value) : String(it.key)) === last);
      const keyNode = pair?.key;
      if (isNode(keyNode) && keyNode.range !== undefined && keyNode.range !== null) return keyNode.range[0];
      continue;
    }
    const node: unknown = n === 0 ? doc.contents : doc.getIn(segs.slice(0, n), true);
    if (isNode(node) && node.range !== undefined && node.range !== null) return node.range[0];
  }
  return null;
}

/** `spec.rules[2].operations[0]` → ['spec', 'rules', 2, 'operations', 0]; `[\"a.b\"]` → 'a.b'. */
function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (let m = re.exec(path); m !== null; m = re.exec(path)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3] as string) as string);
  }
  return out;
}

/** A value from a Secret: `stringData` wins over `data`, as the apiserver merges them on write. */
function secretValue(s: Secret, key: string): { value: string } | { error: string } | null {
  const plain = s.stringData?.[key];
  if (plain !== undefined) return { value: plain };
  const enc = s.data?.[key];
  if (enc === undefined) return null;
  if (!isBase64(enc)) return { error: `Secret ${s.metadata.name}: data.${key} is not valid base64` };
  return { value: Buffer.from(enc, 'base64').toString('utf8') };
}

/** The upstream login a binding uses: its credentialsSecretRef's username and password. */
export function resolveCredentials(
  binding: DatabaseBinding,
  secrets: readonly Secret[],
): { ok: true; username: string; password: string } | { ok: false; error: string } {
  const ref = binding.spec.credentialsSecretRef.name;
  const ns = binding.metadata.namespace;
  const s = secrets.find((x) => x.kind === 'Secret' && x.metadata.name === ref && x.metadata.namespace === ns);
  if (s === undefined)
    return { ok: false, error: `no Secret ${JSON.stringify(ref)}${ns === undefined ? '' : ` in namespace ${ns}`}` };
  const missing: string[] = [];
  const got: Record<string, string> = {};
  for (const key of ['username', 'password']) {
    const v = secretValue(s, key);
    if (v === null) missing.push(key);
    else if ('error' in v) return { ok: false, error: v.error };
    else got[key] = v.value;
  }
  if (missing.length > 0) {
    return {
      ok: false,
      error: `Secret ${JSON.stringify(ref)} has no ${missing.join(' or ')} key (under data, base64, or stringData, plain)`,
    };
  }
  if (got.username === '') return { ok: false, error: `Secret ${JSON.stringify(ref)} has an empty username` };
  return { ok: true, username: got.username as string, password: got.password as string };
}

// yaml's message ends with "at line L, column C:" and a code frame; we print the position first.
function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return (i === -1 ? s : s.slice(0, i)).replace(/ at line \d+, column \d+:?$/, '');
}
