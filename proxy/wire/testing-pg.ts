// Test-only: a throwaway PostgreSQL 15 server for proxy/wire's tests (initdb into a temp dir, started on a
// free 127.0.0.1 port, removed by stop()). The project-wide helper is test/support/pg.ts; this one stays
// small and local so the codec's tests depend on nothing else.
//
// PostgreSQL refuses to run as root, so when the tests run as root the server and initdb run as the
// `postgres` user (spawn's uid/gid, equivalent to `runuser -u postgres --` but leaving us the server's own
// pid to signal), with the temp dir owned by it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PG_BIN = process.env['AIRLOCK_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

export interface TestPg {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dir: string;
  /** Superuser `postgres` and its password (scram-sha-256). */
  readonly superPassword: string;
  /** The server certificate (self-signed, CN=localhost, SANs localhost and 127.0.0.1) when started with tls. */
  readonly certPem: string | null;
  /** Runs SQL as the superuser with psql; returns its unaligned, tuples-only output. */
  sql(text: string): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

async function postgresIds(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

/**
 * Starts a server. `hba` lines go before the default `host all all 127.0.0.1/32 scram-sha-256`, so a test can
 * give one role md5 or cleartext ("password") authentication.
 */
export async function startTestPg(opts: { tls?: boolean; hba?: readonly string[] } = {}): Promise<TestPg> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-wire-pg-'));
  const ids = await postgresIds();
  const own = (p: string): void => { if (ids !== null) chownSync(p, ids.uid, ids.gid); };
  chmodSync(dir, 0o700);
  own(dir);
  const data = join(dir, 'data');
  const superPassword = 'super-' + Math.random().toString(36).slice(2);
  writeFileSync(join(dir, 'pw'), superPassword + '\n', { mode: 0o600 });
  own(join(dir, 'pw'));
  const asPg = ids === null ? {} : { uid: ids.uid, gid: ids.gid };
  const env = { ...process.env, HOME: dir, LC_ALL: 'C' };
  await run(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${join(dir, 'pw')}`,
    '-E', 'UTF8', '--locale=C', '--no-sync'], { ...asPg, env });

  writeFileSync(join(data, 'pg_hba.conf'),
    ['local all all scram-sha-256', ...(opts.hba ?? []), 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'));
  let certPem: string | null = null;
  if (opts.tls === true) {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(data, 'server.key'), '-out', join(data, 'server.crt')]);
    chmodSync(join(data, 'server.key'), 0o600);
    own(join(data, 'server.key'));
    own(join(data, 'server.crt'));
    certPem = readFileSync(join(data, 'server.crt'), 'utf8');
  }

  const port = await freePort();
  const child: ChildProcess = spawn(join(PG_BIN, 'postgres'), ['-D', data, '-p', String(port), '-k', dir,
    '-c', 'listen_addresses=127.0.0.1', '-c', `ssl=${opts.tls === true ? 'on' : 'off'}`, '-c', 'fsync=off',
    '-c', 'max_connections=50'], { ...asPg, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`PostgreSQL did not start within 30 s:\n${log}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('database system is ready to accept connections')) { clearTimeout(timer); resolve(); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`PostgreSQL exited with ${code}:\n${log}`)); });
  });
  try {
    await ready;
  } catch (err) {
    if (child.exitCode === null) { child.kill('SIGKILL'); await exited; }
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    host: '127.0.0.1', port, dir, superPassword, certPem,
    async sql(text: string): Promise<string> {
      const r = await run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres',
        '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', text],
        { env: { ...process.env, PGPASSWORD: superPassword, PGSSLMODE: 'prefer' } });
      return r.stdout.trim();
    },
    async stop(): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');   // fast shutdown; the child is the postmaster itself (no runuser in between)
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
