// Issue 15, items 2 and 4: what a client sees when the upstream cannot be reached or refuses the login.
//  - An upstream that drops SYNs (a firewall, a dead node) used to hold the client for the kernel's SYN retries
//    (~127 s) before 08006; connect + TLS + login + setup now share one deadline, --upstream-connect-timeout.
//  - A login PostgreSQL refuses with its own SQLSTATE (53300 too many connections, 57P03 shutting down) used to
//    reach the client as 08006 with the code only in the text; the server's code and message now pass through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { startHarness, configYaml } from './harness.ts';
import { RawClient } from './raw-client.ts';
import { startBlackhole } from '../support/blackhole.ts';
import { adminQuery, asServerUser, quoteIdent, startPostgres } from '../support/pg.ts';
import { policyState } from '../../proxy/enforce/gate.ts';
import { loadAnalyzer } from '../../proxy/enforce/analyzer.ts';
import { loadLocalConfig } from '../../proxy/local.ts';
import { startProxy } from '../../proxy/server.ts';
import { makeIdentity } from '../../policy/identity.ts';

test("issue 15: an upstream that drops SYNs fails the client's login with 08006 at --upstream-connect-timeout, not after the kernel's retries", async (t) => {
  const h = await startHarness({ proxy: { limits: { upstreamConnectTimeoutMs: 1000 } } });
  let bh: Awaited<ReturnType<typeof startBlackhole>> | null = null;
  try {
    bh = await startBlackhole();
    h.proxy.reload(policyState(h.config.set, await loadAnalyzer()), { ...h.config.target, port: bh.port });
    const t0 = Date.now();
    const c = await RawClient.connect(h.port);
    const ms = Date.now() - t0;
    t.diagnostic(`time to error on a SYN-dropping upstream: ${ms} ms (timeout 1000 ms)`);
    const e = c.startup.find((m) => m.type === 'E');
    assert.equal(e?.code, '08006', JSON.stringify(c.startup));
    assert.match(e!.message!, /127\.0\.0\.1:\d+ did not complete connect and login within 1000 ms/);
    assert.ok(ms >= 950 && ms < 4000, `error after ${ms} ms`);
    assert.equal(h.proxy.sessions().length, 0, 'the session is gone');
  } finally {
    bh?.close();
    await h.stop();
  }
});

test('issue 15: an upstream that accepts TCP but never answers the startup is bounded by the same deadline', async () => {
  const silent = net.createServer((s) => {
    s.on('error', () => {});
  }); // accepts, reads, never writes
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const h = await startHarness({ proxy: { limits: { upstreamConnectTimeoutMs: 800 } } });
  try {
    h.proxy.reload(policyState(h.config.set, await loadAnalyzer()), {
      ...h.config.target,
      port: (silent.address() as net.AddressInfo).port,
    });
    const t0 = Date.now();
    const c = await RawClient.connect(h.port);
    const ms = Date.now() - t0;
    const e = c.startup.find((m) => m.type === 'E');
    assert.equal(e?.code, '08006');
    assert.match(e!.message!, /within 800 ms/);
    assert.ok(ms >= 750 && ms < 4000, `error after ${ms} ms (the login alone used to wait 15 s)`);
  } finally {
    silent.close();
    await h.stop();
  }
});

test("issue 15: PostgreSQL's own SQLSTATE reaches the client when it refuses the login: 53300 too many connections", async () => {
  const h = await startHarness();
  try {
    await adminQuery(h.db.server, `ALTER ROLE ${quoteIdent(h.role.user)} CONNECTION LIMIT 0`);
    const c = new pg.Client({ host: '127.0.0.1', port: h.port, user: 'app', password: 'x', database: 'shop' });
    c.on('error', () => {});
    const e = await c.connect().then(
      () => null,
      (err: unknown) => err as { code: string; message: string; detail?: string },
    );
    assert.ok(e !== null, 'the login must fail');
    assert.equal(e.code, '53300');
    assert.equal(e.message, `too many connections for role "${h.role.user}"`);
    assert.match(e.detail ?? '', /login to the upstream server .* was refused/);
  } finally {
    await adminQuery(h.db.server, `ALTER ROLE ${quoteIdent(h.role.user)} CONNECTION LIMIT -1`);
    await h.stop();
  }
});

test("issue 15: PostgreSQL's own SQLSTATE reaches the client when it refuses the login: 57P03 shutting down", async () => {
  const server = await startPostgres();
  const held = new pg.Client({ connectionString: server.url() });
  try {
    await adminQuery(server, `CREATE ROLE app57 LOGIN PASSWORD 'pw57'`);
    await adminQuery(server, 'CREATE DATABASE shop57 OWNER app57');
    const loaded = loadLocalConfig(
      configYaml({ host: server.host, port: server.port, database: 'shop57' }, { user: 'app57', password: 'pw57' }),
      'test.yaml',
      {},
      1,
    );
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const proxy = await startProxy({
      listen: { host: '127.0.0.1', port: 0 },
      target: loaded.config.target,
      identity: makeIdentity('system:serviceaccount:team:trainer'),
      state: policyState(loaded.config.set, await loadAnalyzer()),
      log: () => {},
    });
    try {
      // A smart shutdown waits for this session to end and refuses every new login meanwhile with 57P03.
      await held.connect();
      const [file, argv] = asServerUser(join(server.bin, 'pg_ctl'), [
        'stop',
        '-D',
        join(server.dir, 'data'),
        '-m',
        'smart',
        '--no-wait',
        '-s',
      ]);
      await new Promise((r) => spawn(file, argv, { stdio: 'ignore' }).once('exit', r));
      let e: { code: string; message: string } | null = null;
      for (let i = 0; i < 100 && e?.code !== '57P03'; i++) {
        const c = new pg.Client({
          host: '127.0.0.1',
          port: proxy.address.port,
          user: 'app',
          password: 'x',
          database: 'shop',
        });
        c.on('error', () => {});
        e = await c.connect().then(
          async () => {
            await c.end();
            return null;
          },
          (err: unknown) => err as { code: string; message: string },
        );
        if (e?.code !== '57P03') await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(e?.code, '57P03', `got ${JSON.stringify(e)}`);
      assert.equal(e!.message, 'the database system is shutting down');
    } finally {
      await proxy.close();
    }
  } finally {
    await held.end().catch(() => {});
    await server.stop();
  }
});
