// The local-mode FILE (design.md "Local mode"): multi-document YAML holding DatabaseBinding,
// AccessPolicy, AccessRequest and v1 Secret documents exactly as they would be applied to a cluster.
// Pure: the caller reads the file and passes its text. Every problem is reported, not the first.
import { parseAllDocuments } from 'yaml';
import { applyDefaults, KINDS } from './schema.ts';
import type { AccessPolicy, AccessRequest, DatabaseBinding, Secret } from './types.ts';
import { describeDoc, formatIssues, isBase64, KNOWN_KINDS, validate } from './validate.ts';

export type ConfigResult =
  | { readonly ok: true; readonly bindings: DatabaseBinding[]; readonly policies: AccessPolicy[];
      readonly requests: AccessRequest[]; readonly secrets: Secret[] }
  | { readonly ok: false; readonly errors: string[] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parse and validate a local-mode file. `source` names it in messages (usually the path as given).
 * Documents come back with schema defaults applied, as the apiserver would store them.
 */
export function parseConfig(text: string, source: string): ConfigResult {
  const errors: string[] = [];
  const bindings: DatabaseBinding[] = [];
  const policies: AccessPolicy[] = [];
  const requests: AccessRequest[] = [];
  const secrets: Secret[] = [];
  const seen = new Map<string, number>();           // "Kind ns/name" → document number
  const invalid = new Set<string>();

  // uniqueKeys: a repeated key is an error in YAML 1.2 and would silently drop a rule otherwise.
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((d, index) => {
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
    if (value === null || value === undefined) return;          // empty document (a trailing ---)
    const line = d.contents === null || d.contents.range === undefined ? 0 : lineOf(text, d.contents.range[0]);
    const at = line > 0 ? `${source}:${line}` : source;
    if (!isObj(value)) { errors.push(`${at}: document ${n} is not a Kubernetes object (got ${Array.isArray(value) ? 'a list' : typeof value})`); return; }
    const kind = value.kind;
    if (typeof kind !== 'string' || !(KNOWN_KINDS as readonly string[]).includes(kind)) {
      errors.push(`${at}: document ${n}: unknown kind ${JSON.stringify(kind)}; expected one of ${KNOWN_KINDS.join(', ')}`);
      return;
    }
    const issues = validate(value);
    if (issues.length > 0) {
      errors.push(...formatIssues(source, value, issues));
      invalid.add(describeDoc(value));       // reported once; references to it are not reported again
      return;
    }
    const key = describeDoc(value);
    const first = seen.get(key);
    if (first !== undefined) { errors.push(`${at}: ${key}: defined twice (documents ${first} and ${n})`); return; }
    seen.set(key, n);
    if (kind === 'Secret') secrets.push(value as unknown as Secret);
    else {
      const withDefaults = { ...value, spec: applyDefaults(KINDS[kind as keyof typeof KINDS].spec, value.spec) };
      if (kind === 'DatabaseBinding') bindings.push(withDefaults as unknown as DatabaseBinding);
      else if (kind === 'AccessPolicy') policies.push(withDefaults as unknown as AccessPolicy);
      else requests.push(withDefaults as unknown as AccessRequest);
    }
  });

  // Cross-document references: the binding's Secrets must be in the file, in the same namespace.
  for (const b of bindings) {
    const ns = b.metadata.namespace;
    const ref = b.spec.credentialsSecretRef.name;
    const secret = secrets.find((s) => s.metadata.name === ref && s.metadata.namespace === ns);
    const head = `${source}: ${describeDoc(b)}: spec.credentialsSecretRef.name`;
    const secretKey = describeDoc({ kind: 'Secret', metadata: { name: ref, namespace: ns } });
    if (invalid.has(secretKey)) continue;
    if (secret === undefined) {
      errors.push(`${head}: no Secret ${JSON.stringify(ref)}${ns === undefined ? '' : ` in namespace ${ns}`} in this file; add one with keys username and password`);
    } else {
      const r = resolveCredentials(b, secrets);
      if (!r.ok) errors.push(`${head}: ${r.error}`);
    }
    const ca = b.spec.tls?.caSecretRef?.name;
    if (ca !== undefined && !secrets.some((s) => s.metadata.name === ca && s.metadata.namespace === ns)) {
      errors.push(`${source}: ${describeDoc(b)}: spec.tls.caSecretRef.name: no Secret ${JSON.stringify(ca)} in this file`);
    }
  }
  for (const p of policies) {
    for (const [i, db] of p.spec.databases.entries()) {
      if (db !== '*' && !bindings.some((b) => b.metadata.name === db && b.metadata.namespace === p.metadata.namespace)) {
        errors.push(`${source}: ${describeDoc(p)}: spec.databases[${i}]: no DatabaseBinding ${JSON.stringify(db)}${p.metadata.namespace === undefined ? '' : ` in namespace ${p.metadata.namespace}`} in this file`);
      }
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, bindings, policies, requests, secrets };
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
export function resolveCredentials(binding: DatabaseBinding, secrets: readonly Secret[]):
    { ok: true; username: string; password: string } | { ok: false; error: string } {
  const ref = binding.spec.credentialsSecretRef.name;
  const ns = binding.metadata.namespace;
  const s = secrets.find((x) => x.kind === 'Secret' && x.metadata.name === ref && x.metadata.namespace === ns);
  if (s === undefined) return { ok: false, error: `no Secret ${JSON.stringify(ref)}${ns === undefined ? '' : ` in namespace ${ns}`}` };
  const missing: string[] = [];
  const got: Record<string, string> = {};
  for (const key of ['username', 'password']) {
    const v = secretValue(s, key);
    if (v === null) missing.push(key);
    else if ('error' in v) return { ok: false, error: v.error };
    else got[key] = v.value;
  }
  if (missing.length > 0) {
    return { ok: false, error: `Secret ${JSON.stringify(ref)} has no ${missing.join(' or ')} key (under data, base64, or stringData, plain)` };
  }
  if (got.username === '') return { ok: false, error: `Secret ${JSON.stringify(ref)} has an empty username` };
  return { ok: true, username: got.username as string, password: got.password as string };
}

// yaml's message ends with "at line L, column C:" and a code frame; we print the position first.
function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return (i === -1 ? s : s.slice(0, i)).replace(/ at line \d+, column \d+:?$/, '');
}
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

