// examples/ml-training/train.py — the training Job's own code — against the proxy in local mode, with the
// example's own policy (examples/ml-training/policy.yaml, plus the Secret a cluster keeps out of Git), a
// real PostgreSQL seeded with examples/ml-training/seed.sql, and the pinned psycopg + pandas of
// requirements.txt installed from PyPI into a venv under the Airlock cache (once). The features arrive by
// COPY and SELECT through the proxy, e-mails hashed; a policy edit reaches the running job at its next epoch.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { adminQuery, createRole, testDatabase, uniqueName } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';
import { startLocalProxy } from '../support/local-proxy.ts';
import type { LocalProxy } from '../support/local-proxy.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = join(repo, 'examples', 'ml-training');
const VENV = join(process.env.AIRLOCK_CACHE ?? join(homedir(), '.cache', 'airlock'), 'py-examples');
const PY = join(VENV, 'bin', 'python');
const REQUIREMENTS = join(example, 'requirements.txt');

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 300_000,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', env, maxBuffer: 16 << 20 }, (e, out, err) => {
      res({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, out, err });
    });
  });
}

/** The pinned versions of requirements.txt, installed once; reinstalled when the file changes. */
async function ensureVenv(): Promise<void> {
  const want = readFileSync(REQUIREMENTS, 'utf8');
  const stamp = join(VENV, '.requirements');
  if (existsSync(PY) && existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  process.stderr.write(`ml-training.test: installing ${REQUIREMENTS} into ${VENV} (once, ~1 min)\n`);
  mkdirSync(dirname(VENV), { recursive: true });
  if (!existsSync(PY)) {
    const v = await run('python3', ['-m', 'venv', VENV]);
    if (v.code !== 0) throw new Error(`python3 -m venv ${VENV} failed:\n${v.out}${v.err}`);
  }
  const p = await run(PY, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', REQUIREMENTS]);
  if (p.code !== 0) throw new Error(`pip install -r ${REQUIREMENTS} failed (PyPI needed once):\n${p.out}${p.err}`);
  writeFileSync(stamp, want);
}

let db: TestDatabase;
let proxy: LocalProxy;
let config = '';
const dir = mkdtempSync(join(tmpdir(), 'airlock-ml-'));

before(
  async () => {
    await ensureVenv();
    db = await testDatabase('features');
    await adminQuery(db.server, readFileSync(join(example, 'seed.sql'), 'utf8'), db.database);
    // The proxy's upstream login: may read the feature tables and append runs, as the policy's rules ask.
    const role = await createRole(uniqueName('trainer_ro'), 'trainer-pw');
    await adminQuery(
      db.server,
      `GRANT USAGE ON SCHEMA features TO ${role.user};
    GRANT SELECT ON ALL TABLES IN SCHEMA features TO ${role.user};
    GRANT INSERT ON features.model_runs TO ${role.user};`,
      db.database,
    );
    // The cluster file as it is, plus the Secret a cluster keeps out of Git; TLS off for the loopback server.
    const policy = readFileSync(join(example, 'policy.yaml'), 'utf8');
    assert.match(policy, /tls: \{ mode: require \}/);
    config = join(dir, 'features.yaml');
    writeFileSync(
      config,
      `${policy.replace('tls: { mode: require }', 'tls: { mode: disable }')}---
apiVersion: v1
kind: Secret
metadata: { name: features-airlock, namespace: ml }
stringData: { username: ${role.user}, password: trainer-pw }
`,
    );
    proxy = await startLocalProxy(join(repo, 'bin', 'airlock.ts'), [
      '--config',
      config,
      '--identity',
      'system:serviceaccount:ml:churn-trainer',
      '--upstream',
      `postgres://${db.host}:${db.port}/${db.database}`,
    ]);
  },
  { timeout: 600_000 },
);
after(async () => {
  await proxy?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({
  ...process.env,
  DATABASE_URL: `postgresql://trainer:any@127.0.0.1:${proxy.port}/features?sslmode=disable`,
});

test('the pinned psycopg and pandas are what runs', async () => {
  const r = await run(PY, [
    '-c',
    'import psycopg, pandas, numpy; print(psycopg.__version__, pandas.__version__, numpy.__version__)',
  ]);
  const pins = Object.fromEntries(
    [...readFileSync(REQUIREMENTS, 'utf8').matchAll(/^([a-z]+)(?:\[\w+\])?==(\S+)$/gm)].map((m) => [m[1], m[2]]),
  );
  assert.equal(r.out.trim(), `${pins.psycopg} ${pins.pandas} ${pins.numpy}`);
});

test('train.py reads features by COPY and labels by SELECT through the proxy, e-mails hashed, and records its run', async () => {
  const runs = Number(
    (await adminQuery(db.server, 'SELECT count(*) AS n FROM features.model_runs', db.database)).rows[0].n,
  );
  const r = await run(PY, [join(example, 'train.py'), '--epochs', '1'], env(), 120_000);
  assert.equal(r.code, 0, r.out + r.err);
  const e = JSON.parse(r.out.trim());
  assert.equal(e.rows, 200);
  assert.deepEqual(e.columns, [
    'customer_id',
    'email',
    'country',
    'tenure_days',
    'orders_90d',
    'spend_90d',
    'support_tickets',
    'churned',
  ]);
  for (const v of e.email_sample) assert.match(v, /^[0-9a-f]{16}$/, 'hash: 16 hex digits of an HMAC, no address');
  assert.equal(e.distinct_emails, 200, 'a hash keeps distinct values distinct: still a key');
  assert.doesNotMatch(r.out, /@example\./);
  assert.ok(e.auc > 0.7, `the model learned the seeded signal (auc ${e.auc})`);
  assert.equal(Object.values(e.by_country as Record<string, number>).reduce((a, b) => a + b, 0) > 0, true);
  const after = Number(
    (await adminQuery(db.server, 'SELECT count(*) AS n FROM features.model_runs', db.database)).rows[0].n,
  );
  assert.equal(after, runs + 1);
  // The raw e-mails really are in the database: the masking happened in the proxy.
  const raw = await adminQuery(db.server, 'SELECT email FROM features.customers WHERE customer_id = 1', db.database);
  assert.equal(raw.rows[0].email, 'customer1@example.net');
});

test('a policy change reaches the running job: the next epoch reads e-mails redacted, then losing the labels is a denial the job survives', async () => {
  const child = spawn(PY, [join(example, 'train.py'), '--epochs', '3', '--sleep', '2'], {
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const lines: Record<string, any>[] = [];
  const next = () =>
    new Promise<Record<string, any>>((res, rej) => {
      const check = () => {
        const all = out.split('\n').filter((l) => l !== '');
        if (all.length > lines.length) {
          const l = JSON.parse(all[lines.length] as string);
          lines.push(l);
          res(l);
          return true;
        }
        return false;
      };
      if (check()) return;
      const onData = (d: string) => {
        out += d;
        if (check()) child.stdout.off('data', onData);
      };
      child.stdout.setEncoding('utf8').on('data', onData);
      child.once('exit', (c) => rej(new Error(`train.py exited ${c} early:\n${out}${err}`)));
    });
  const first = await next();
  assert.match(first.email_sample[0], /^[0-9a-f]{16}$/);
  // The platform team tightens the policy while the job runs: e-mails redacted instead of hashed.
  writeFileSync(config, readFileSync(config, 'utf8').replace('strategy: hash', 'strategy: redact'));
  const second = await next();
  assert.deepEqual(second.email_sample, ['***', '***', '***']);
  assert.equal(second.distinct_emails, 1);
  // Then labels are taken away: the job's next read is denied (42501, naming the policy), the session lives on.
  writeFileSync(
    config,
    readFileSync(config, 'utf8').replace(
      'tables: ["features.customers", "features.activity", "features.labels"]',
      'tables: ["features.customers", "features.activity"]',
    ),
  );
  const third = await next();
  assert.equal(third.denied, '42501');
  assert.equal(
    third.message,
    'permission denied for SELECT on features.labels: no AccessPolicy allows it (no rule allows SELECT on features.labels)',
  );
  const code = await new Promise<number | null>((res) => {
    if (child.exitCode !== null) res(child.exitCode);
    else child.once('exit', res);
  });
  assert.equal(code, 0, err);
});
