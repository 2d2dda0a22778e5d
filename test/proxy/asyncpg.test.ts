// asyncpg as a real client through the proxy (issue 12: it failed 9 of 12 checks): type introspection (its
// set_config('jit', …)), copy_records_to_table (binary COPY FROM STDIN, data streamed without waiting for
// CopyInResponse), copy_from_query of a table with a masked column in text, CSV and binary format. Installed from
// PyPI into its own venv under the Airlock cache dir once; no network means the test fails (it does not skip).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarness } from './harness.ts';
import type { Harness } from './harness.ts';
import { OPEN_POLICY } from './open-policy.ts';

const ASYNCPG = 'asyncpg==0.32.0';
const VENV = join(process.env.AIRLOCK_CACHE ?? join(homedir(), '.cache', 'airlock'), 'py-asyncpg');
const PY = join(VENV, 'bin', 'python');
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'clients', 'asyncpg_check.py');

function run(cmd: string, args: string[], timeoutMs = 180_000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 << 20 }, (e, out, err) => {
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, out, err });
    });
  });
}

async function ensureAsyncpg(): Promise<void> {
  const want = ASYNCPG.split('==')[1];
  if (existsSync(PY) && (await run(PY, ['-c', 'import asyncpg; print(asyncpg.__version__)'])).out.trim() === want)
    return;
  process.stderr.write(`asyncpg.test: installing ${ASYNCPG} into ${VENV} (once)\n`);
  mkdirSync(dirname(VENV), { recursive: true });
  if (!existsSync(PY)) {
    const v = await run('python3', ['-m', 'venv', VENV]);
    if (v.code !== 0) throw new Error(`python3 -m venv ${VENV} failed:\n${v.out}${v.err}`);
  }
  const p = await run(PY, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', ASYNCPG]);
  if (p.code !== 0) throw new Error(`pip install ${ASYNCPG} failed (network needed once):\n${p.out}${p.err}`);
}

let h: Harness;
let got: Record<string, unknown>;

before(
  async () => {
    await ensureAsyncpg();
    h = await startHarness({ policy: OPEN_POLICY });
    await h.admin(`CREATE TYPE public.mood AS ENUM ('a', 'b'); CREATE TYPE public.pair AS (n int, s text)`);
    const r = await run(PY, [SCRIPT, `postgresql://whoever:x@127.0.0.1:${h.port}/shop?sslmode=disable`], 150_000);
    if (r.code !== 0) throw new Error(`asyncpg_check.py failed (exit ${r.code}):\n${r.out}${r.err}`);
    got = JSON.parse(r.out) as Record<string, unknown>;
  },
  { timeout: 300_000 },
);

after(async () => {
  await h?.stop();
});

test('the installed client is the pinned asyncpg', () => {
  assert.equal(got.version, ASYNCPG.split('==')[1]);
});

test("type introspection works: an enum and a composite decode (set_config('jit', …) is allowed)", () => {
  assert.deepEqual(got.introspect, ['b', [1, 'x']]);
  assert.equal(got.jit_after, 'on', "asyncpg restored jit with set_config('jit', $1, false)");
});

test('copy_records_to_table completes and the rows are there', () => {
  assert.deepEqual(got.copy_in, ['COPY 3', 3]);
  assert.equal(got.after_copy_in, 1);
});

test('copy_from_query of a table with a masked column: masked in text, CSV and binary; the connection stays', () => {
  const raw = /ava\.costa@|liam\.johansson@|sofia\.haddad@/;
  assert.equal(
    got.copy_out_text,
    '1\tAva Costa\ta***@example.org\t919-56-7042\n2\tLiam Johansson\tl***@example.net\t915-16-7669\n3\tSofia Haddad\ts***@example.com\t915-13-4325\n',
  );
  assert.equal(
    got.copy_out_csv,
    '1,Ava Costa,a***@example.org,919-56-7042\n2,Liam Johansson,l***@example.net,915-16-7669\n3,Sofia Haddad,s***@example.com,915-13-4325\n',
  );
  const bin = got.copy_out_binary as string;
  assert.ok(bin.startsWith('PGCOPY\n\u00ff\r\n\u0000'), JSON.stringify(bin).slice(0, 200));
  assert.match(bin, /a\*\*\*@example\.org/);
  assert.doesNotMatch(bin, raw);
  assert.equal(got.after_copy_out, 1);
});
