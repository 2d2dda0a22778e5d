import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import pg from 'pg';
import { adminQuery, createRole, sharedPostgres, startPostgres, testDatabase, uniqueName } from './pg.ts';

async function queryOnce(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('startPostgres runs a server with the test settings; stop removes its directory', async () => {
  const server = await startPostgres();
  try {
    assert.equal(server.host, '127.0.0.1');
    const r = await queryOnce(
      server.url(),
      `SELECT current_user AS who, current_setting('fsync') AS fsync,
      current_setting('synchronous_commit') AS sc, current_setting('full_page_writes') AS fpw, version() AS v`,
    );
    assert.deepEqual(
      { ...r.rows[0], v: undefined },
      { who: 'postgres', fsync: 'off', sc: 'off', fpw: 'off', v: undefined },
    );
    assert.match(r.rows[0].v, /^PostgreSQL \d+/);
    assert.ok(readdirSync(server.socketDir).includes(`.s.PGSQL.${server.port}`), 'unix socket in socketDir');
    await assert.rejects(
      queryOnce(server.url().replace(`:${server.password}@`, ':wrong@'), 'SELECT 1'),
      (err: { code?: string }) => err.code === '28P01',
    );
  } finally {
    await server.stop();
  }
  assert.equal(existsSync(server.dir), false, 'temp dir removed');
  assert.equal(await portAccepts(server.port), false, 'nothing listens any more');
});

test('startPostgres with tls and hba lines: TLS with the certificate it reports, and the extra lines match first', async () => {
  const server = await startPostgres({ tls: true, hba: ['host all blocked 127.0.0.1/32 reject'] });
  try {
    assert.ok(server.certPem !== null);
    const cert = new X509Certificate(server.certPem);
    assert.ok(cert.checkIP('127.0.0.1') !== undefined && cert.checkHost('localhost') !== undefined);
    const client = new pg.Client({
      connectionString: server.url(),
      ssl: { ca: server.certPem, servername: 'localhost' },
    });
    await client.connect();
    try {
      const r = await client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      assert.equal(r.rows[0].ssl, true, 'this session is encrypted, verified against certPem');
    } finally {
      await client.end();
    }
    const blocked = await createRole('blocked', 'pw', { server });
    await assert.rejects(queryOnce(blocked.url('postgres'), 'SELECT 1'), /pg_hba\.conf rejects/);
    const other = await createRole('other', 'pw', { server });
    assert.equal(
      (await queryOnce(other.url('postgres'), 'SELECT 1 AS one')).rows[0].one,
      1,
      "initdb's lines still apply after them",
    );
  } finally {
    await server.stop();
  }
  const plain = await sharedPostgres();
  assert.equal(plain.certPem, null);
});

test('createRole stores MD5 or SCRAM passwords and both log in over TCP', async () => {
  const server = await sharedPostgres();
  const scram = await createRole(uniqueName('scram'), 'pw-scram');
  const md5 = await createRole(uniqueName('md5'), "pw'md5", { md5: true });
  const stored = await adminQuery(
    server,
    `SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('${scram.user}', '${md5.user}')`,
  );
  const byName = new Map(stored.rows.map((r: { rolname: string; rolpassword: string }) => [r.rolname, r.rolpassword]));
  assert.match(byName.get(scram.user) ?? '', /^SCRAM-SHA-256\$/);
  assert.match(byName.get(md5.user) ?? '', /^md5[0-9a-f]{32}$/);
  for (const role of [scram, md5]) {
    const r = await queryOnce(role.url('postgres'), 'SELECT current_user AS who');
    assert.equal(r.rows[0].who, role.user);
  }
  await assert.rejects(
    queryOnce(md5.url('postgres').replace(encodeURIComponent("pw'md5"), 'nope'), 'SELECT 1'),
    (err: { code?: string }) => err.code === '28P01',
  );
  // Re-creating an existing role changes its password instead of failing.
  const again = await createRole(scram.user, 'pw-new');
  assert.equal((await queryOnce(again.url('postgres'), 'SELECT 1 AS one')).rows[0].one, 1);
  await adminQuery(server, `DROP ROLE "${scram.user}"; DROP ROLE "${md5.user}"`);
});

test('testDatabase gives each caller an isolated database; drop removes it', async () => {
  const a = await testDatabase('iso');
  const b = await testDatabase('iso');
  assert.notEqual(a.database, b.database);
  await queryOnce(a.url, 'CREATE TABLE only_in_a (id int); INSERT INTO only_in_a VALUES (1)');
  assert.equal((await queryOnce(a.url, 'SELECT count(*)::int AS n FROM only_in_a')).rows[0].n, 1);
  await assert.rejects(queryOnce(b.url, 'SELECT * FROM only_in_a'), (err: { code?: string }) => err.code === '42P01');
  // drop() works even while a session is still connected to the database.
  const open = new pg.Client({ connectionString: a.url });
  await open.connect();
  open.on('error', () => {}); // the forced drop terminates this session
  await a.drop();
  await b.drop();
  await open.end().catch(() => {});
  const left = await adminQuery(
    a.server,
    `SELECT datname FROM pg_database WHERE datname IN ('${a.database}', '${b.database}')`,
  );
  assert.equal(left.rowCount, 0);
});
