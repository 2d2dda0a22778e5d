// The image without a container engine: the Dockerfile's build stage is replayed — its COPY lines give
// the only files a staging directory gets, its dependencies are the lockfile's, and its RUN is
// scripts/build-image-tree.sh — then the tree is run as the image's entry point would run it: the
// operator's and the sidecar's --help, a local-mode session (masking, a denial, audit through the
// encoder worker), and the sidecar as the webhook injects it, fed by a real operator on a real
// apiserver. Records the tree's size and the sidecar's idle RSS.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { adminQuery, createRole, quoteIdent, testDatabase, uniqueName } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';
import { startLocalProxy } from '../support/local-proxy.ts';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  accessPolicy,
  eventually,
  operatorOptions,
  registerWebhooks,
  seedOrdersScenario,
  startInjectedSidecar,
} from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { KubeClient } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'airlock-image-'));
const tree = join(tmp, 'app');
const entry = join(tree, 'bin', 'airlock.js');

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(
      cmd,
      args,
      {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 16 << 20,
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        env: opts.env ?? process.env,
      },
      (e, out, err) => res({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, out, err }),
    );
  });
}
const app = (...args: string[]) => run(process.execPath, [entry, ...args]);

/** The build stage's COPY sources (relative to the context), from the Dockerfile itself. */
function buildStageCopies(): string[] {
  const text = readFileSync(join(repo, 'Dockerfile'), 'utf8');
  const build = text.slice(text.indexOf(' AS build'), text.indexOf('\nFROM ', text.indexOf(' AS build')));
  return [...build.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] as string).trim().split(/\s+/));
}

function du(path: string): number {
  const s = statSync(path, { throwIfNoEntry: false });
  if (s === undefined || s.isSymbolicLink()) return 0;
  if (!s.isDirectory()) return s.size;
  let n = 0;
  for (const e of readdirSync(path)) n += du(join(path, e));
  return n;
}
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

before(
  async () => {
    // The build context as the Dockerfile sees it: only what its build stage copies.
    const ctx = join(tmp, 'context');
    for (const src of buildStageCopies()) {
      mkdirSync(dirname(join(ctx, src)), { recursive: true });
      cpSync(join(repo, src), join(ctx, src), { recursive: true, filter: (f) => !f.endsWith('.test.ts') });
    }
    // `RUN npm ci` of the build stage: the same lockfile, so the repository's node_modules is that install.
    assert.equal(
      readFileSync(join(ctx, 'package-lock.json'), 'utf8'),
      readFileSync(join(repo, 'package-lock.json'), 'utf8'),
    );
    symlinkSync(join(repo, 'node_modules'), join(ctx, 'node_modules'));
    const env = { ...process.env, PATH: [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter) };
    const r = await run('sh', ['scripts/build-image-tree.sh', tree], { cwd: ctx, env, timeoutMs: 600_000 });
    assert.equal(r.code, 0, `build-image-tree.sh failed:\n${r.out}${r.err}`);
  },
  { timeout: 900_000 },
);
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the tree holds JavaScript and production dependencies only; its size is recorded', () => {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'node_modules') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(relative(tree, p));
    }
  };
  walk(tree);
  assert.deepEqual(
    files.filter((f) => f.endsWith('.ts')),
    [],
    'no TypeScript left',
  );
  // Nor what only tests and benchmarks use (check-layers.ts counts them as tests): fixtures and measurement
  // programs in testdata/, bench.js micro-benchmarks, testing-*.js helpers. Until session 8 tsconfig.image.json
  // excluded only *.test.ts, and 13 of them shipped.
  assert.deepEqual(
    files.filter((f) => /\.test\.js$|(^|\/)testing-[^/]*\.js$|(^|\/)testdata\/|(^|\/)bench\.js$|^test\//.test(f)),
    [],
    'no tests, test fixtures or benchmarks',
  );
  for (const f of [
    'bin/airlock.js',
    'bin/sidecar.js',
    'bin/operator.js',
    'audit/encoder-worker.js',
    'distribution/codec.js',
    'examples/orders.yaml',
    'package.json',
  ]) {
    assert.ok(files.includes(f), `${f} is in the tree`);
  }
  // The gRPC messages are encoded by distribution/codec.js: nothing reads the .proto at run time.
  assert.deepEqual(
    files.filter((f) => f.startsWith('distribution/proto/')),
    [],
    'no .proto in the tree',
  );
  const pkg = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.bin, { airlock: './bin/airlock.js' });
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.devDependencies, undefined);
  // Every package the lockfile marks dev-only (a devDependency and what only it needs) is absent.
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')).packages as Record<
    string,
    { dev?: boolean }
  >;
  const devOnly = Object.entries(lock)
    .filter(([k, v]) => k.startsWith('node_modules/') && v.dev === true)
    .map(([k]) => k);
  assert.ok(devOnly.includes('node_modules/typescript') && devOnly.includes('node_modules/fast-check'));
  for (const d of devOnly) assert.ok(!existsSync(join(tree, d)), `dev-only ${d} is not installed`);
  for (const d of Object.keys(pkg.dependencies))
    assert.ok(existsSync(join(tree, 'node_modules', d, 'package.json')), `${d} is installed`);
  const total = du(tree);
  const modules = du(join(tree, 'node_modules'));
  process.stdout.write(
    `# image tree: ${mib(total)} (node_modules ${mib(modules)}, application ${mib(total - modules)})\n`,
  );
  // A ceiling, so a dev dependency or a build artefact creeping in shows: today ~140 MiB.
  assert.ok(total < 200 * 1048576, `tree is ${mib(total)}`);
});

test("the operator's and the sidecar's --help run from the tree", async () => {
  const op = await app('operator', '--help');
  assert.equal(op.code, 0, op.err);
  assert.match(op.out, /^usage: airlock operator/);
  const sc = await app('proxy', '--operator', 'airlock-operator.airlock-system.svc:9090', '--help');
  assert.equal(sc.code, 0, sc.err);
  assert.match(sc.out, /^usage: airlock proxy --operator HOST:PORT --binding NS\/NAME --token-file FILE/);
  const v = await app('version');
  assert.equal(v.out.trim(), `airlock ${JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version}`);
  const pt = await app(
    'policy',
    'test',
    join(repo, 'examples', 'quickstart'),
    '--cases',
    join(repo, 'examples', 'quickstart', 'tests', 'cases.yaml'),
  );
  assert.equal(pt.code, 0, pt.out + pt.err);
});

describe('from the tree, against a real PostgreSQL', () => {
  let db: TestDatabase;
  const spool = join(tmp, 'spool');
  before(async () => {
    db = await testDatabase('image');
    await adminQuery(db.server, readFileSync(join(repo, 'examples', 'demo-seed.sql'), 'utf8'), db.database);
  });
  after(async () => {
    await db?.drop();
  });

  test('a local-mode session: masked rows, a denied DROP, audit records written through the encoder worker', async () => {
    const role = await createRole(uniqueName('airlock_app'), 'image-pw');
    await adminQuery(db.server, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${quoteIdent(role.user)}`, db.database);
    const config = join(tmp, 'orders.yaml');
    writeFileSync(
      config,
      readFileSync(join(repo, 'examples', 'orders.yaml'), 'utf8')
        .replace('username: airlock_app', `username: ${role.user}`)
        .replace('password: change-me-local-only', 'password: image-pw'),
    );
    const proxy = await startLocalProxy(entry, [
      '--config',
      config,
      '--identity',
      'system:serviceaccount:ml:trainer',
      '--upstream',
      `postgres://${db.host}:${db.port}/${db.database}`,
      '--audit-spool',
      spool,
    ]);
    const c = new pg.Client({ host: '127.0.0.1', port: proxy.port, database: 'orders', user: 'anyone', password: 'x' });
    try {
      await c.connect();
      const r = await c.query('SELECT name, email, ssn FROM customers ORDER BY id LIMIT 2');
      assert.deepEqual(r.rows, [
        { name: 'Ava Costa', email: 'a***@example.org', ssn: '***' },
        { name: 'Liam Johansson', email: 'l***@example.net', ssn: '***' },
      ]);
      await assert.rejects(
        c.query('DROP TABLE orders'),
        (e: { code?: string; message: string }) =>
          e.code === '42501' && /AccessPolicy "ml\/trainer", rule "no-destructive"/.test(e.message),
      );
      assert.equal(
        (await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n > 0,
        true,
        'the session stays usable',
      );
    } finally {
      await c.end().catch(() => {});
      await proxy.stop();
    }
    const tail = await app('audit', 'tail', '--spool', spool, '-n', '10');
    assert.equal(tail.code, 0, tail.err);
    assert.match(tail.out, /deny\s+DROP/);
    assert.match(tail.out, /allow\s+SELECT\s+.*customers/);
  });
});

describe('the sidecar from the tree, injected by a real operator on a real apiserver', () => {
  let kube: Kube;
  let db: TestDatabase;
  let op: Operator;
  let log = '';
  let side: Awaited<ReturnType<typeof startInjectedSidecar>>;
  const readyz = (port: number): Promise<number> =>
    new Promise((res, rej) => {
      http
        .get({ host: '127.0.0.1', port, path: '/readyz' }, (r) => {
          r.resume();
          res(r.statusCode ?? 0);
        })
        .on('error', rej);
    });

  before(
    async () => {
      [kube, db] = await Promise.all([startKube(), testDatabase('image-sidecar')]);
      const role = await createRole(uniqueName('airlock_app'), 'sidecar-pw');
      await adminQuery(
        db.server,
        `CREATE TABLE public.items (id int PRIMARY KEY, name text); INSERT INTO public.items VALUES (1, 'one');
      GRANT SELECT ON public.items TO ${quoteIdent(role.user)}`,
        db.database,
      );
      await seedOrdersScenario(kube, db, role, accessPolicy('trainer'));
      const webhookPort = await freePort();
      await registerWebhooks(kube, webhookPort, { pods: true });
      op = new Operator(operatorOptions(KubeClient.fromFile(kube.kubeconfigPath), webhookPort));
      const started = await op.start();
      const dir = join(tmp, 'pod');
      mkdirSync(dir);
      side = await startInjectedSidecar(kube, {
        grpcPort: started.grpcPort,
        dir,
        entry,
        onOutput: (t) => {
          log += t;
        },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    if (side?.child.exitCode === null) {
      side.child.kill('SIGTERM');
      await side.exited;
    }
    await op?.stop();
    await kube?.stop();
    await db?.drop();
  });

  test('it gets its policy, serves a session, and its idle RSS is recorded', async () => {
    await eventually(
      'sidecar /readyz',
      async () => ((await readyz(side.healthPort)) === 200 ? true : undefined),
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${log}`);
    });
    const c = new pg.Client({
      host: '127.0.0.1',
      port: side.listenPort,
      database: 'orders',
      user: 'app',
      password: 'x',
    });
    await c.connect();
    assert.deepEqual((await c.query('SELECT id, name FROM public.items')).rows, [{ id: 1, name: 'one' }]);
    await assert.rejects(c.query('DELETE FROM public.items WHERE id = 1'), { code: '42501' });
    await c.end();
    // Idle: connected to the operator, policy held, no session. Let start-up garbage be collected.
    await new Promise((r) => setTimeout(r, 3000));
    const status = readFileSync(`/proc/${side.child.pid}/status`, 'utf8');
    const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
    // The chart's memory limit for injected sidecars: above it the kubelet kills the pod's sidecar at idle.
    const values = readFileSync(join(repo, 'charts', 'airlock', 'values.yaml'), 'utf8');
    const limitMi = Number(/^sidecar:[\s\S]*?limits:\s*\n\s*memory: (\d+)Mi$/m.exec(values)?.[1]);
    assert.ok(limitMi > 0, 'charts/airlock/values.yaml: sidecar.resources.limits.memory');
    process.stdout.write(
      `# sidecar from the image tree, idle RSS: ${(rssKiB / 1024).toFixed(1)} MiB (chart limit ${limitMi} MiB; design.md target <= 80 MiB)\n`,
    );
    assert.ok(
      rssKiB < limitMi * 1024,
      `idle RSS ${(rssKiB / 1024).toFixed(1)} MiB is over the chart's sidecar memory limit ${limitMi} MiB`,
    );
  });
});
