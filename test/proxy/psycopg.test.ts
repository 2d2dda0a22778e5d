// psycopg 3 (libpq underneath, via psycopg[binary]) as a real client through the proxy: masking, server-side
// prepared statements, denials as InsufficientPrivilege, a transaction failed by a denial, COPY TO.
// The client is installed from PyPI into a venv under the Airlock cache dir once; no network means the test
// fails (it does not skip): this client is part of what Airlock must work with.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarness } from './harness.ts';
import type { Harness } from './harness.ts';

const PSYCOPG = 'psycopg[binary]==3.3.9';
const VENV = join(process.env.AIRLOCK_CACHE ?? join(homedir(), '.cache', 'airlock'), 'py');
const PY = join(VENV, 'bin', 'python');
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'clients', 'psycopg_check.py');

function run(cmd: string, args: string[], timeoutMs = 180_000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 << 20 }, (e, out, err) => {
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, out, err });
    });
  });
}

async function ensurePsycopg(): Promise<void> {
  const want = PSYCOPG.split('==')[1];
  if (existsSync(PY) && (await run(PY, ['-c', 'import psycopg; print(psycopg.__version__)'])).out.trim() === want)
    return;
  process.stderr.write(`psycopg.test: installing ${PSYCOPG} into ${VENV} (once, ~30 s)\n`);
  mkdirSync(dirname(VENV), { recursive: true });
  if (!existsSync(PY)) {
    const v = await run('python3', ['-m', 'venv', VENV]);
    if (v.code !== 0) throw new Error(`python3 -m venv ${VENV} failed:\n${v.out}${v.err}`);
  }
  const p = await run(PY, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', PSYCOPG]);
  if (p.code !== 0) throw new Error(`pip install ${PSYCOPG} failed (network needed once):\n${p.out}${p.err}`);
}

let h: Harness;
let got: Record<string, unknown>;

before(
  async () => {
    await ensurePsycopg();
    h = await startHarness();
    const before = await h.writes();
    const r = await run(
      PY,
      [SCRIPT, `host=127.0.0.1 port=${h.port} user=whoever password=x dbname=shop sslmode=disable`],
      60_000,
    );
    if (r.code !== 0) throw new Error(`psycopg_check.py failed (exit ${r.code}):\n${r.out}${r.err}`);
    got = JSON.parse(r.out) as Record<string, unknown>;
    got.writes = (await h.writes()) - before;
  },
  { timeout: 300_000 },
);

after(async () => {
  await h?.stop();
});

test('the installed client is the pinned psycopg', () => {
  assert.equal(got.version, PSYCOPG.split('==')[1]);
});

test('a SELECT returns masked email and ssn, unmasked name', () => {
  const rows = got.masked as [number, string, string, string][];
  assert.deepEqual(
    rows.map((r) => r[0]),
    [1, 2, 3],
  );
  const [, name, email, ssn] = rows[0]!;
  assert.equal(name, 'Ava Costa');
  assert.notEqual(email, 'ava.costa@example.org');
  assert.notEqual(ssn, '919-56-7042');
  assert.doesNotMatch(JSON.stringify(rows), /919-56-7042|915-16-7669|ava\.costa@example\.org/);
});

test('server-side prepared statements (prepare_threshold=0) run, reuse the statement and stay masked', () => {
  const rows = got.prepared as [string, string][];
  assert.deepEqual(
    rows.map((r) => r[0]),
    ['Ava Costa', 'Liam Johansson', 'Sofia Haddad', 'Ava Costa'],
  );
  assert.doesNotMatch(JSON.stringify(rows), /919-56-7042|915-16-7669|915-13-4325/);
  // log_statement=all logs a named prepared statement's runs as "execute _pg3_N": it really was prepared.
  const executes = h.logged('psycopg-prepared').filter((l) => /execute _pg3_\d+/.test(l));
  assert.ok(
    executes.length >= 4,
    `expected 4 executions of a named statement, log has:\n${h.logged('psycopg-prepared').join('\n')}`,
  );
});

test('a denied statement raises InsufficientPrivilege naming the policy, and the connection stays usable', () => {
  const d = got.denied as { type: string; sqlstate: string; message: string } | null;
  assert.ok(d !== null, 'the DELETE was not denied');
  assert.equal(d.type, 'InsufficientPrivilege');
  assert.equal(d.sqlstate, '42501');
  assert.match(d.message, /AccessPolicy "team\/trainer", rule "no-deletes"/);
  assert.equal(got.after_denial, 3);
});

test('a denial fails the transaction (25P02 after it) and ROLLBACK undoes its earlier insert', () => {
  assert.equal(got.tx_denied, '42501');
  assert.equal(got.tx_after_denial, '25P02');
  assert.equal(got.tx_rows_after_rollback, 0);
});

test('COPY TO via cursor.copy: rows arrive, masked columns masked', () => {
  const rows = got.copy_customers as string[][];
  assert.equal(rows.length, 3);
  assert.doesNotMatch(JSON.stringify(rows), /919-56-7042|ava\.costa@example\.org/);
  assert.ok((got.copy_orders_lines as number) >= 20);
});

test('nothing was written: the only write (in the rolled-back transaction) fired its trigger but was undone', () => {
  assert.equal(got.writes, 0);
});
