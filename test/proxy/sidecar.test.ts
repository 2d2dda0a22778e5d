// Sidecar mode (proxy/sidecar.ts) against an in-process PolicyDistribution server and a real PostgreSQL:
// nothing listens before the first snapshot, the last good policy survives the operator going away and
// updates it cannot use. The full path through a real apiserver is test/operator/sidecar-e2e.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Snapshot } from '../../distribution/types.ts';
import type { DistributionServer } from '../../operator/distribution/server.ts';
import { loadAnalyzer } from '../../proxy/enforce/analyzer.ts';
import { identityFromToken, parseBindingRef, runSidecarProxy } from '../../proxy/sidecar.ts';
import type { SidecarProxy } from '../../proxy/sidecar.ts';
import { freePort } from '../support/ports.ts';
import { distributionServer, jwt, ordersSnapshot, READ_ALL, TRAINER_TOKEN, trainerPolicy } from '../support/sidecar.ts';
import { adminQuery, createRole, quoteIdent, testDatabase, uniqueName } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';

test('identityFromToken: the ServiceAccount of the token, with its implicit groups; anything else is refused', () => {
  const id = identityFromToken(`${TRAINER_TOKEN}\n`);
  assert.equal(id.user, 'system:serviceaccount:ml:trainer');
  assert.ok(id.groups.includes('system:serviceaccounts:ml'));
  assert.throws(() => identityFromToken(jwt({ sub: 'alice@example.com' })), /not hold a ServiceAccount token/);
  assert.throws(() => identityFromToken('not a jwt'), /not hold a ServiceAccount token/);
});

test('parseBindingRef: NAMESPACE/NAME only', () => {
  assert.deepEqual(parseBindingRef('ml/orders'), { namespace: 'ml', name: 'orders' });
  for (const bad of ['orders', 'ml/', '/orders', 'ml/orders/x', 'ML/orders'])
    assert.throws(() => parseBindingRef(bad), /NAMESPACE\/NAME/, bad);
});

describe('sidecar proxy', () => {
  let db: TestDatabase;
  let role: { user: string; password: string };
  let server: DistributionServer;
  let grpcPort = 0;
  let sidecar: SidecarProxy;
  let listenPort = 0;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sidecar-unit-'));
  const logs: string[] = [];

  const snapshot = (generation: number, rules: object[], over: Partial<Snapshot> = {}): Snapshot => ({
    ...ordersSnapshot({
      endpoint: db,
      credentials: { username: role.user, password: role.password },
      policies: [trainerPolicy(rules)],
      generation,
    }),
    ...over,
  });
  const readyz = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
  const until = async (what: string, f: () => Promise<boolean> | boolean): Promise<void> => {
    const end = Date.now() + 10_000;
    while (!(await f())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; log:\n${logs.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ host: '127.0.0.1', port: listenPort, database: 'orders', user: 'app', password: 'x' });
    c.on('error', () => {});
    await c.connect();
    return c;
  };

  before(async () => {
    db = await testDatabase('sidecar_unit');
    await adminQuery(
      db.server,
      'CREATE TABLE public.items (id int PRIMARY KEY); INSERT INTO public.items VALUES (1)',
      db.database,
    );
    role = await createRole(uniqueName('airlock_app'), 'pw-1');
    await adminQuery(db.server, `GRANT SELECT ON public.items TO ${quoteIdent(role.user)}`, db.database);
    server = distributionServer();
    grpcPort = await server.listen('127.0.0.1:0');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, TRAINER_TOKEN);
    listenPort = await freePort();
    sidecar = await runSidecarProxy(
      {
        operator: `127.0.0.1:${grpcPort}`,
        binding: 'ml/orders',
        tokenFile,
        listen: `127.0.0.1:${listenPort}`,
        healthListen: '127.0.0.1:0',
        watch: { initialBackoffMs: 20, maxBackoffMs: 100 },
      },
      await loadAnalyzer(),
      (m) => logs.push(m),
    );
  });
  after(async () => {
    await sidecar?.stop();
    await server?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('before the first snapshot: not ready, and the database port refuses connections', async () => {
    await until('the stream to connect', () => server.connections === 1);
    assert.equal(await readyz(sidecar.health!.port), 503);
    await assert.rejects(connect(), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  });

  test("the first snapshot: ready, listening, statements run with the operator's credentials", async () => {
    server.publish({ namespace: 'ml', name: 'orders' }, snapshot(1, [READ_ALL]));
    await until('ready', async () => (await readyz(sidecar.health!.port)) === 200);
    const c = await connect();
    try {
      assert.deepEqual((await c.query('SELECT id FROM public.items')).rows, [{ id: 1 }]);
      assert.deepEqual((await c.query('SELECT current_user AS u')).rows, [{ u: role.user }]);
    } finally {
      await c.end();
    }
  });

  test('an update it cannot use (no credentials) is ignored; the last good policy stays', async () => {
    server.publish({ namespace: 'ml', name: 'orders' }, snapshot(2, [READ_ALL], { credentials: null }));
    await until('the update to be logged', () =>
      logs.some((l) => /ignoring policy update .*no database credentials/.test(l)),
    );
    const c = await connect();
    try {
      assert.deepEqual((await c.query('SELECT id FROM public.items')).rows, [{ id: 1 }]);
    } finally {
      await c.end();
    }
  });

  test('the operator going away keeps the last good policy; live and new sessions keep working', async () => {
    const live = await connect();
    await server.close();
    await until('the stream to end', () =>
      logs.some((l) => /keeping the last good policy/.test(l) && /stream .* ended/.test(l)),
    );
    try {
      assert.deepEqual((await live.query('SELECT id FROM public.items')).rows, [{ id: 1 }]);
      const fresh = await connect();
      try {
        assert.deepEqual((await fresh.query('SELECT id FROM public.items')).rows, [{ id: 1 }]);
      } finally {
        await fresh.end();
      }
      assert.equal(await readyz(sidecar.health!.port), 200);
    } finally {
      await live.end();
    }
  });
});
