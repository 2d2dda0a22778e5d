// The sidecar's opt-in Prometheus metrics (`airlock proxy --operator … --metrics`, proxy/sidecar.ts): the
// real binary, an in-process PolicyDistribution server and a real PostgreSQL. With --metrics, GET /metrics
// on the health port serves local mode's series (proxy/metrics.ts) fed by the sidecar's sessions; without
// it /metrics is 404 and prom-client is never imported (its idle memory is what the opt-in saves). Which
// modules load is observed with a module resolve hook in the child (node:module registerHooks).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Snapshot } from '../../distribution/types.ts';
import type { DistributionServer } from '../../operator/distribution/server.ts';
import { freePort } from '../support/ports.ts';
import { distributionServer, ordersSnapshot, sidecarArgs, TRAINER_TOKEN } from '../support/sidecar.ts';
import { adminQuery, createRole, quoteIdent, testDatabase, uniqueName } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';

const root = resolve(import.meta.dirname, '..', '..');
const LOADED = 'TEST-HOOK: prom-client imported';
// Runs before the sidecar's own modules: prints LOADED if anything in the process resolves prom-client.
const HOOK = `data:text/javascript,${encodeURIComponent(`import { registerHooks } from 'node:module';
registerHooks({ resolve(s, c, next) { if (s === 'prom-client') process.stderr.write(${JSON.stringify(`${LOADED}\n`)}); return next(s, c); } });`)}`;

interface Sidecar {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output: string;
  readonly listenPort: number;
  readonly healthPort: number;
}

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((done, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (c: string) => {
            body += c;
          })
          .on('end', () => done({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

/** The value of one sample line, e.g. `airlock_statements_total{decision="allow"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('sidecar metrics', () => {
  let db: TestDatabase;
  let role: { user: string; password: string };
  let server: DistributionServer;
  let grpcPort = 0;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sidecar-metrics-'));
  const tokenFile = join(dir, 'token');
  const running: Sidecar[] = [];

  const snapshot = (generation: number): Snapshot =>
    ordersSnapshot({ endpoint: db, credentials: { username: role.user, password: role.password }, generation });

  const until = async (what: string, f: () => Promise<boolean> | boolean): Promise<void> => {
    const end = Date.now() + 15_000;
    while (!(await f())) {
      if (Date.now() > end)
        throw new Error(
          `timed out waiting for ${what}; sidecar output:\n${running.map((s) => s.output).join('\n---\n')}`,
        );
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  /** The real `airlock proxy` in sidecar mode, with the args the webhook writes (moved to this machine). */
  async function startSidecar(extra: readonly string[]): Promise<Sidecar> {
    const [listenPort, healthPort] = await Promise.all([freePort(), freePort()]);
    const spool = join(dir, `spool-${listenPort}`);
    mkdirSync(spool);
    const child = spawn(
      process.execPath,
      [
        '--import',
        HOOK,
        join(root, 'bin', 'airlock.ts'),
        ...sidecarArgs({ operatorPort: grpcPort, tokenFile, listenPort, healthPort, spoolDir: spool }),
        ...extra,
      ],
      {
        env: { ...process.env, AIRLOCK_OPERATOR_CA: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const s: Sidecar = {
      child,
      exited: new Promise((r) => child.once('exit', (code) => r(code))),
      output: '',
      listenPort,
      healthPort,
    };
    child.stdout!.on('data', (c: Buffer) => {
      s.output += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      s.output += c.toString();
    });
    running.push(s);
    await until(
      'the sidecar to be ready',
      async () => (await get(healthPort, '/readyz').catch(() => ({ status: 0 }))).status === 200,
    );
    return s;
  }

  const connect = async (s: Sidecar): Promise<pg.Client> => {
    const c = new pg.Client({ host: '127.0.0.1', port: s.listenPort, database: 'orders', user: 'app', password: 'x' });
    c.on('error', () => {});
    await c.connect();
    return c;
  };

  before(async () => {
    db = await testDatabase('sidecar_metrics');
    await adminQuery(
      db.server,
      'CREATE TABLE public.items (id int PRIMARY KEY); INSERT INTO public.items VALUES (1)',
      db.database,
    );
    role = await createRole(uniqueName('airlock_app'), 'pw-1');
    await adminQuery(db.server, `GRANT SELECT ON public.items TO ${quoteIdent(role.user)}`, db.database);
    server = distributionServer();
    grpcPort = await server.listen('127.0.0.1:0');
    writeFileSync(tokenFile, TRAINER_TOKEN);
    server.publish({ namespace: 'ml', name: 'orders' }, snapshot(7));
  });
  after(async () => {
    for (const s of running) {
      if (s.child.exitCode === null) s.child.kill('SIGTERM');
      await s.exited;
    }
    await server?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("with --metrics: GET /metrics on the health port counts the sidecar's statements and shows its policy generation", async () => {
    const s = await startSidecar(['--metrics']);
    const c = await connect(s);
    try {
      assert.deepEqual((await c.query('SELECT id FROM public.items')).rows, [{ id: 1 }]);
      await assert.rejects(c.query('DELETE FROM public.items'), (e: { code?: string }) => e.code === '42501');
      const m = await get(s.healthPort, '/metrics');
      assert.equal(m.status, 200, m.body);
      assert.match(m.type, /^text\/plain; version=0\.0\.4/);
      assert.ok((sample(m.body, 'airlock_statements_total{decision="allow"}') ?? 0) >= 1, m.body);
      assert.ok((sample(m.body, 'airlock_statements_total{decision="deny"}') ?? 0) >= 1, m.body);
      // The sidecar's generation, as its log shows it: distribution/client.ts numbers the policy sets it
      // receives 1, 2, … (the decision cache's key), whatever the operator's numbering.
      assert.equal(sample(m.body, 'airlock_policy_generation'), 1, m.body);
      assert.equal(sample(m.body, 'airlock_connections'), 1, m.body);
      // The analyzer is the timed one (a first SELECT is a cache miss) and every statement's time is seen.
      assert.ok((sample(m.body, 'airlock_analysis_seconds_count') ?? 0) >= 1, m.body);
      assert.ok((sample(m.body, 'airlock_upstream_seconds_count') ?? 0) >= 2, m.body);
      // Read from the real audit spool sink (--spool-dir), not a stand-in.
      assert.notEqual(sample(m.body, 'airlock_audit_spool_bytes'), undefined, m.body);
      assert.equal(sample(m.body, 'airlock_audit_dropped_total'), 0, m.body);
    } finally {
      await c.end();
    }
    await until(
      'the session to be counted as closed',
      async () => sample((await get(s.healthPort, '/metrics')).body, 'airlock_connections') === 0,
    );
    // A policy update from the operator moves the generation gauge.
    server.publish({ namespace: 'ml', name: 'orders' }, snapshot(8));
    await until(
      'generation 2 on /metrics',
      async () => sample((await get(s.healthPort, '/metrics')).body, 'airlock_policy_generation') === 2,
    );
    assert.equal((await get(s.healthPort, '/readyz')).status, 200);
    assert.ok(s.output.includes(LOADED), 'prom-client is loaded with --metrics');
  });

  test('without --metrics: /metrics is 404 and prom-client is never imported', async () => {
    const s = await startSidecar([]);
    const c = await connect(s);
    try {
      assert.deepEqual((await c.query('SELECT id FROM public.items')).rows, [{ id: 1 }]);
    } finally {
      await c.end();
    }
    const m = await get(s.healthPort, '/metrics');
    assert.equal(m.status, 404, m.body);
    assert.equal((await get(s.healthPort, '/healthz')).status, 200);
    assert.ok(!s.output.includes(LOADED), `prom-client was imported without --metrics:\n${s.output}`);
  });

  test('--metrics without --health-listen is refused with a usage error', async () => {
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin', 'airlock.ts'),
        'proxy',
        '--operator',
        `127.0.0.1:${grpcPort}`,
        '--binding',
        'ml/orders',
        '--token-file',
        tokenFile,
        '--metrics',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--metrics serves \/metrics on the health listener: give --health-listen HOST:PORT too/);
  });
});
