// TLS on both legs, end to end. Client side: the proxy answers SSLRequest 'S' when started with a certificate
// (protocol-flow.html "SSL Session Encryption") and real clients (psql, pg) negotiate it; a plaintext client
// still works. Upstream side: DatabaseBinding spec.tls.mode require / verify-full (+ caSecretRef) against a
// PostgreSQL with ssl=on, checked from the server's own view (pg_stat_ssl), and `require` against a server
// without TLS refuses the client with 08006 instead of falling back to plain text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import pg from 'pg';
import { startHarness, IDENTITY, MemoryAudit, failure, runPsql } from './harness.ts';
import type { Harness } from './harness.ts';
import { startPostgres, sharedPostgres, createRole, uniqueName, giveToServerUser } from '../support/pg.ts';
import type { PgServer, PgServerInfo } from '../support/pg.ts';
import { caSecretYaml, localConfigYaml } from '../support/config.ts';
import { loadLocalConfig } from '../../proxy/local.ts';
import { policyState } from '../../proxy/enforce/gate.ts';
import { loadAnalyzer } from '../../proxy/enforce/analyzer.ts';
import { startProxy } from '../../proxy/server.ts';
import type { Proxy } from '../../proxy/server.ts';
import { makeIdentity } from '../../policy/identity.ts';

const certDir = mkdtempSync(join(tmpdir(), 'airlock-tls-'));

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: certDir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA and a server certificate it signs for 127.0.0.1 (IP SAN: what verify-full checks), plus an unrelated CA. */
function makeCerts(): void {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=airlock test CA',
  ]);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'other-ca.key',
    '-out',
    'other-ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=unrelated CA',
  ]);
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(join(certDir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  // PostgreSQL refuses a key readable by others, and runs as its own OS user.
  chmodSync(join(certDir, 'server.key'), 0o600);
  giveToServerUser(certDir);
  for (const f of ['ca.crt', 'server.crt', 'server.key']) giveToServerUser(join(certDir, f));
}

function spawnPsql(port: number, conninfo: string, input: string): Promise<{ code: number; out: string; err: string }> {
  return runPsql([`host=127.0.0.1 port=${port} user=whoever dbname=shop ${conninfo}`], input);
}

const POLICY = `
apiVersion: airlock.dev/v1alpha1
kind: AccessPolicy
metadata: { name: trainer, namespace: team }
spec:
  subjects: [{ kind: ServiceAccount, name: trainer, namespace: team }]
  databases: [shop]
  rules:
    - { name: read-ssl, effect: allow, operations: [SELECT], tables: ["pg_catalog.pg_stat_ssl"] }
`;

function bindingYaml(server: PgServerInfo, role: { user: string; password: string }, tls: string, extra = ''): string {
  return localConfigYaml({
    endpoint: { host: server.host, port: server.port, database: 'postgres' },
    role,
    policy: POLICY,
    tls,
    extra,
  });
}

let generation = 1;
const proxies: Proxy[] = [];

async function proxyFor(yaml: string): Promise<Proxy> {
  const loaded = loadLocalConfig(yaml, 'tls-test.yaml', {}, generation++);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const proxy = await startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    target: loaded.config.target,
    identity: makeIdentity(IDENTITY),
    state: policyState(loaded.config.set, await loadAnalyzer()),
    audit: new MemoryAudit(),
    log: () => {},
  });
  proxies.push(proxy);
  return proxy;
}

async function connect(proxy: Proxy): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: proxy.address.port,
    user: 'whoever',
    password: 'x',
    database: 'shop',
  });
  c.on('error', () => {});
  await c.connect();
  return c;
}

let h: Harness;
let sslServer: PgServer;
let sslRole: { user: string; password: string };
let plainRole: { user: string; password: string };
let plainServer: PgServerInfo;

before(async () => {
  makeCerts();
  h = await startHarness({
    proxy: { tls: { cert: readFileSync(join(certDir, 'server.crt')), key: readFileSync(join(certDir, 'server.key')) } },
  });
  sslServer = await startPostgres({
    settings: { ssl: true, ssl_cert_file: join(certDir, 'server.crt'), ssl_key_file: join(certDir, 'server.key') },
  });
  sslRole = await createRole(uniqueName('tls'), uniqueName('pw'), { server: sslServer });
  plainServer = await sharedPostgres();
  plainRole = await createRole(uniqueName('tls'), uniqueName('pw'));
});

after(async () => {
  for (const p of proxies) await p.close().catch(() => {});
  await h?.stop();
  await sslServer?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Client side

test('psql with sslmode=require gets a TLS session through the proxy and runs SELECT 1', async () => {
  const r = await spawnPsql(h.port, 'sslmode=require', 'SELECT 1 AS one;\n\\conninfo\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\bone\b[\s\S]*\b1\b/);
  assert.match(r.out, /SSL connection \(protocol: TLSv1\.[23]/);
});

test('psql with sslmode=disable still works against a TLS-capable proxy, in plain text', async () => {
  const r = await spawnPsql(h.port, 'sslmode=disable', 'SELECT 1 AS one;\n\\conninfo\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\bone\b[\s\S]*\b1\b/);
  assert.doesNotMatch(r.out, /SSL connection/);
});

test('pg with ssl gets a TLS socket to the proxy (the proxy certificate is presented) and SELECT 1 works', async () => {
  const c = await h.client({ ssl: { rejectUnauthorized: false } });
  const r = await c.query('SELECT 1 AS one');
  assert.equal(r.rows[0].one, 1);
  // pg keeps the socket it talks on; after the SSLRequest upgrade it is the TLSSocket.
  const stream = (c as unknown as { connection: { stream: unknown } }).connection.stream;
  assert.ok(stream instanceof tls.TLSSocket, 'the client connection is not TLS');
  assert.equal(stream.encrypted, true);
  const presented = stream.getPeerCertificate();
  assert.equal(presented.subject.CN, '127.0.0.1');
});

test('pg verifying the proxy certificate against the test CA connects', async () => {
  const c = await h.client({ ssl: { ca: readFileSync(join(certDir, 'ca.crt'), 'utf8'), rejectUnauthorized: true } });
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

// ---------------------------------------------------------------------------------------------
// Upstream side

test('tls.mode require: the upstream session is encrypted (pg_stat_ssl, as PostgreSQL sees it)', async () => {
  const proxy = await proxyFor(bindingYaml(sslServer, sslRole, '{ mode: require }'));
  const c = await connect(proxy);
  try {
    const r = await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.deepEqual(r.rows, [{ ssl: true }]);
  } finally {
    await c.end();
  }
});

test('tls.mode disable against the same ssl=on server: the upstream session is plain text', async () => {
  const proxy = await proxyFor(bindingYaml(sslServer, sslRole, '{ mode: disable }'));
  const c = await connect(proxy);
  try {
    const r = await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.deepEqual(r.rows, [{ ssl: false }]);
  } finally {
    await c.end();
  }
});

test('tls.mode verify-full with caSecretRef naming the signing CA: verified and encrypted', async () => {
  const pem = readFileSync(join(certDir, 'ca.crt'), 'utf8');
  const proxy = await proxyFor(
    bindingYaml(
      sslServer,
      sslRole,
      '{ mode: verify-full, caSecretRef: { name: shop-ca } }',
      caSecretYaml('shop-ca', pem),
    ),
  );
  const c = await connect(proxy);
  try {
    const r = await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.deepEqual(r.rows, [{ ssl: true }]);
  } finally {
    await c.end();
  }
});

test('tls.mode verify-full with an unrelated CA: the client is refused with 08006, nothing in plain text', async () => {
  const pem = readFileSync(join(certDir, 'other-ca.crt'), 'utf8');
  const proxy = await proxyFor(
    bindingYaml(
      sslServer,
      sslRole,
      '{ mode: verify-full, caSecretRef: { name: shop-ca } }',
      caSecretYaml('shop-ca', pem),
    ),
  );
  const e = await failure(connect(proxy));
  assert.equal(e.code, '08006');
  assert.match(
    e.message,
    /Airlock could not open the upstream connection for "shop": TLS to 127\.0\.0\.1 \(mode verify-full\) failed: .*certificate/i,
  );
});

test('tls.mode verify-full with a caSecretRef to a missing Secret is a config error', () => {
  const loaded = loadLocalConfig(
    bindingYaml(sslServer, sslRole, '{ mode: verify-full, caSecretRef: { name: nope } }'),
    'x.yaml',
    {},
    generation++,
  );
  assert.equal(loaded.ok, false);
  if (!loaded.ok) assert.match(loaded.errors.join('\n'), /spec\.tls\.caSecretRef\.name: no Secret "nope"/);
});

test('tls.mode require against a server with ssl=off: the client gets 08006 "server does not support TLS"', async () => {
  const proxy = await proxyFor(bindingYaml(plainServer, plainRole, '{ mode: require }'));
  const e = await failure(connect(proxy));
  assert.equal(e.code, '08006');
  assert.match(
    e.message,
    /Airlock could not open the upstream connection for "shop": TLS to 127\.0\.0\.1 \(mode require\) failed: server does not support TLS/,
  );
});
