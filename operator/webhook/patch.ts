// JSON Patch (RFC 6902) as the difference of two JSON documents: the webhook answers with
// diff(pod, inject(pod)) (style.md §5, after defenseunicorns/pepr mutate-processor.ts), so the patch
// can never disagree with the golden pods. Paths are JSON Pointers (RFC 6901): `~` → `~0`, `/` → `~1`
// — annotation keys like `airlock.dev/injected` need it. Equality is node:util's isDeepStrictEqual, as in
// accessrequest.ts: for JSON values (plain objects, arrays, primitives) it is exactly structural equality.
import { isDeepStrictEqual } from 'node:util';

export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: unknown };

export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The operations that turn `before` into `after`. Both must be JSON values (no undefined inside). */
export function diff(before: unknown, after: unknown): JsonPatchOp[] {
  const out: JsonPatchOp[] = [];
  walk(before, after, '', out);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: JsonPatchOp[]): void {
  if (isDeepStrictEqual(a, b)) return;
  if (isObject(a) && isObject(b)) {
    for (const k of Object.keys(a))
      if (!Object.hasOwn(b, k)) out.push({ op: 'remove', path: `${path}/${escapePointer(k)}` });
    for (const k of Object.keys(b)) {
      const p = `${path}/${escapePointer(k)}`;
      if (Object.hasOwn(a, k)) walk(a[k], b[k], p, out);
      else out.push({ op: 'add', path: p, value: b[k] });
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    // Keep the common head and tail; pair the middles by position when they are as long (an element
    // edited in place, e.g. a container that got env), else remove the old middle and add the new one.
    // Not minimal, always correct: removals run from the back so earlier indexes stay valid.
    let head = 0;
    while (head < a.length && head < b.length && isDeepStrictEqual(a[head], b[head])) head++;
    let tail = 0;
    while (
      tail < a.length - head
      && tail < b.length - head
      && isDeepStrictEqual(a[a.length - 1 - tail], b[b.length - 1 - tail])
    )
      tail++;
    const am = a.length - head - tail;
    const bm = b.length - head - tail;
    if (am === bm) {
      for (let i = head; i < head + am; i++) walk(a[i], b[i], `${path}/${i}`, out);
      return;
    }
    for (let i = head + am - 1; i >= head; i--) out.push({ op: 'remove', path: `${path}/${i}` });
    for (let i = head; i < head + bm; i++) out.push({ op: 'add', path: `${path}/${i}`, value: b[i] });
    return;
  }
  if (path === '') throw new Error('cannot patch the document root');
  out.push({ op: 'replace', path, value: b });
}

function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`JSON pointer "${path}" does not start with /`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Applies add/remove/replace to a copy of `doc` (RFC 6902 §4.1–4.3); for tests and the integration check. */
export function applyPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  const root = structuredClone(doc) as unknown;
  for (const op of ops) {
    const tokens = parsePointer(op.path);
    const last = tokens.pop();
    if (last === undefined) throw new Error('cannot patch the document root');
    let parent = root as any; // untyped JSON
    for (const t of tokens) {
      parent = Array.isArray(parent) ? parent[Number(t)] : Object.hasOwn(parent, t) ? parent[t] : undefined;
      if (parent === null || typeof parent !== 'object') throw new Error(`path ${op.path} does not exist`);
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length || (op.op !== 'add' && i >= parent.length))
        throw new Error(`index ${last} out of range at ${op.path}`);
      if (op.op === 'add') parent.splice(i, 0, structuredClone(op.value));
      else if (op.op === 'remove') parent.splice(i, 1);
      else parent[i] = structuredClone(op.value);
    } else {
      if (op.op !== 'add' && !Object.hasOwn(parent, last)) throw new Error(`path ${op.path} does not exist`);
      if (op.op === 'remove') delete parent[last];
      // defineProperty, not assignment: a key named `__proto__` is data in JSON, never a prototype.
      else
        Object.defineProperty(parent, last, {
          value: structuredClone(op.value),
          writable: true,
          enumerable: true,
          configurable: true,
        });
    }
  }
  return root as T;
}
