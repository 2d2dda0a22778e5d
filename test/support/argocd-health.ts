// Runs Argo CD resource health checks (Lua, from examples/gitops/argocd/argocd-cm.yaml) with a real Lua
// 5.1 interpreter (Debian's lua5.1, installed by scripts/ensure-lua.sh on first use). Argo CD evaluates
// these scripts in gopher-lua, a Lua 5.1 implementation, with the live object as the global `obj` and
// takes the returned table's status and message; this does the same.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARGOCD_CM = join(repo, 'examples', 'gitops', 'argocd', 'argocd-cm.yaml');

/** The health scripts of the argocd-cm snippet, by `group_Kind` as Argo CD keys them. */
export function healthScripts(): Record<string, string> {
  const cm = parse(readFileSync(ARGOCD_CM, 'utf8')) as { data: Record<string, string> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(cm.data)) {
    const m = /^resource\.customizations\.health\.(.+)$/.exec(k);
    if (m !== null) out[m[1] as string] = v;
  }
  return out;
}

let lua: string | null = null;
/** Path of lua5.1, installing it from Debian once. */
export function luaInterpreter(): string {
  lua ??= execFileSync('sh', [join(repo, 'scripts', 'ensure-lua.sh')], { encoding: 'utf8', timeout: 300_000 }).trim();
  return lua;
}

/** A Lua 5.1 string literal: printable ASCII as is, every other byte as \ddd (5.1 has no \u or \x). */
function luaString(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`;
  }
  return `${out}"`;
}

/** JSON value → Lua table constructor; null becomes absent (nil), as Argo CD's conversion does. */
export function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return luaString(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`not a JSON number: ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== null && x !== undefined)
    .map(([k, x]) => `[${luaString(k)}] = ${toLua(x)}`)
    .join(', ')}}`;
}

export interface Health {
  readonly status: string;
  readonly message: string;
}

/** Evaluate the health script for `kind` ('airlock.dev_AccessPolicy') on `obj`, as Argo CD would. */
export async function health(script: string, obj: unknown): Promise<Health> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-lua-'));
  try {
    const file = join(dir, 'check.lua');
    // The script runs as a function body: Argo CD wraps it likewise and reads what it returns.
    writeFileSync(
      file,
      `obj = ${toLua(obj)}\nlocal check = function()\n${script}\nend\nlocal hs = check()\n`
        + 'if type(hs) ~= "table" then error("health script returned " .. type(hs)) end\n'
        + 'io.write(tostring(hs.status), "\\n", tostring(hs.message or ""), "\\n")\n',
    );
    const out = await new Promise<string>((res, rej) => {
      execFile(luaInterpreter(), [file], { encoding: 'utf8', timeout: 10_000 }, (e, stdout, stderr) => {
        if (e !== null) rej(new Error(`lua5.1 failed: ${stderr || e.message}`));
        else res(stdout);
      });
    });
    const i = out.indexOf('\n');
    return { status: out.slice(0, i), message: out.slice(i + 1).replace(/\n$/, '') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
