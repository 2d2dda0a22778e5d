// CancelRequest through the proxy, and abrupt disconnects on either side.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { cancelRequest } from '../../proxy/wire/startup.ts';
import { query } from '../../proxy/wire/messages.ts';
import { startHarness, failure, eventually } from './harness.ts';
import type { Harness } from './harness.ts';
import { RawClient } from './raw-client.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

async function backends(app: string): Promise<number[]> {
  const r = await h.admin('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app]);
  return r.rows.map((x) => x.pid as number);
}

function sendCancel(pid: number, secret: Buffer, port = h.port): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.end(cancelRequest(pid, secret)));
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

test('a CancelRequest with the proxy-issued key cancels the running statement (pg_sleep allowed by name)', async () => {
  const c = await h.client();
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  const key = Buffer.alloc(4);
  key.writeInt32BE(secretKey);
  const running = failure(c.query('SELECT pg_sleep(30)'));
  await eventually(
    async () =>
      (
        await h.admin(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'",
        )
      ).rows[0].n === 1,
    10_000,
    'pg_sleep to start',
  );
  await sendCancel(processID, key);
  const e = await running;
  assert.equal(e.code, '57014');
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('a CancelRequest with an unknown key does nothing and the connection is closed', async () => {
  await sendCancel(12345, Buffer.from([1, 2, 3, 4]));
  const c = await h.client();
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test("the client gets the upstream pid with the proxy's own secret: drivers see pg_backend_pid(), cancels come to the proxy", async () => {
  const c = await h.client({ application_name: 'keycheck' });
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  const [pid] = await backends('keycheck');
  assert.equal(processID, pid);
  const key = Buffer.alloc(4);
  key.writeInt32BE(secretKey);
  const running = failure(c.query('SELECT pg_sleep(30)'));
  const active = async () =>
    (
      await h.admin(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'keycheck' AND state = 'active'",
      )
    ).rows[0].n as number;
  await eventually(async () => (await active()) === 1, 10_000, 'pg_sleep to start');
  // The upstream's secret never leaves the proxy: the client's key sent straight to PostgreSQL cancels nothing.
  await sendCancel(processID, key, h.db.port);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await active(), 1, "a cancel sent directly with the client's key must not cancel");
  await sendCancel(processID, key);
  assert.equal((await running).code, '57014');
});

test('an abrupt client disconnect ends the upstream backend', async () => {
  const c = await RawClient.connect(h.port, { user: 'raw', database: 'shop', application_name: 'abrupt' });
  assert.equal((await backends('abrupt')).length, 1);
  c.sock.destroy();
  await eventually(async () => (await backends('abrupt')).length === 0, 10_000, 'the backend to exit');
});

test('an abrupt client disconnect mid-result ends the upstream backend', async () => {
  const c = await RawClient.connect(h.port, { user: 'raw', database: 'shop', application_name: 'abrupt2' });
  c.send(query("SELECT i, repeat('x', 1000) FROM generate_series(1, 200000) i"));
  await c.until((m) => m.type === 'D');
  c.sock.destroy();
  await eventually(async () => (await backends('abrupt2')).length === 0, 10_000, 'the backend to exit');
});

test('the upstream backend terminated: the client gets FATAL 57P01 and the proxy serves new sessions', async () => {
  const c = await RawClient.connect(h.port, { user: 'raw', database: 'shop', application_name: 'victim' });
  const [pid] = await backends('victim');
  await h.admin('SELECT pg_terminate_backend($1)', [pid]);
  const ms = await c.until((m) => m.type === 'E');
  const err = ms.find((m) => m.type === 'E')!;
  assert.equal(err.code, '57P01');
  await eventually(() => c.closed, 5000, 'the client connection to close');
  const fresh = await h.client();
  assert.equal((await fresh.query('SELECT 2 AS two')).rows[0].two, 2);
});

// Found by the differential client harness (issue 12, test/clients/pgjdbc): the proxy closed the client's
// cancel connection at once, before its own CancelRequest had reached the server. PostgreSQL closes it
// only after signalling the backend, and pgJDBC and libpq wait for that close: a cancel that arrived
// later than the client believed ended the client's *next* statement too (57014 twice, 2 ms apart).
test('a cancel connection is closed only once the upstream has taken the CancelRequest', async () => {
  const h2 = await startHarness();
  // A forwarder in front of PostgreSQL that holds new connections for 600 ms once `slow` is set.
  let slow = false;
  const fwd = net.createServer((c) => {
    const up = net.connect({ host: h2.config.target.host, port: h2.config.target.port });
    up.on('error', () => c.destroy());
    c.on('error', () => up.destroy());
    const join = () => {
      c.pipe(up);
      up.pipe(c);
    };
    if (slow) setTimeout(join, 600);
    else join();
  });
  await new Promise<void>((r) => fwd.listen(0, '127.0.0.1', r));
  try {
    const { policyState } = await import('../../proxy/enforce/gate.ts');
    const { loadAnalyzer } = await import('../../proxy/enforce/analyzer.ts');
    h2.proxy.reload(policyState(h2.config.set, await loadAnalyzer()), {
      ...h2.config.target,
      port: (fwd.address() as net.AddressInfo).port,
    });
    const c = await h2.client();
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    const key = Buffer.alloc(4);
    key.writeInt32BE(secretKey);
    const running = failure(c.query('SELECT pg_sleep(30) /* slow-cancel */'));
    await eventually(
      async () =>
        (
          await h2.admin(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%slow-cancel%' AND state = 'active' AND pid <> pg_backend_pid()",
          )
        ).rows[0].n === 1,
      10_000,
      'pg_sleep to start',
    );
    slow = true;
    const t0 = Date.now();
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: h2.port }, () => s.write(cancelRequest(processID, key)));
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    assert.ok(
      Date.now() - t0 >= 500,
      `the cancel connection closed after ${Date.now() - t0} ms, before the upstream had the CancelRequest`,
    );
    assert.equal((await running).code, '57014');
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the next statement is not cancelled');
  } finally {
    fwd.close();
    await h2.stop();
  }
});
