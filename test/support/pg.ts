// A real, throwaway PostgreSQL for tests and the benchmark (design.md "Real parts in tests").
//
// `npm test` starts ONE server for the whole run (scripts/run-tests.ts) and hands it to every test
// process in AIRLOCK_TEST_PG; a test file asks for a fresh database of its own with testDatabase().
// Run a file by hand (`sh scripts/node24.sh --test x.test.ts`) and the first testDatabase() call
// starts a private server that is stopped when the process exits.
//
// The server is tuned for tests, not durability: fsync, full_page_writes and synchronous_commit off.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';

/** What a test process needs to reach a server; the JSON in AIRLOCK_TEST_PG. */
export interface PgServerInfo {
  readonly host: string; // always 127.0.0.1
  readonly port: number;
  readonly socketDir: string; // unix socket directory (for psql -h <socketDir>)
  readonly superuser: string;
  readonly password: string;
  readonly dir: string; // temp root: data/, postgres.log, socket
  readonly bin: string; // PostgreSQL bin directory the server runs from
}

export interface PgServer extends PgServerInfo {
  /** The server's self-signed certificate (CN=localhost, SANs localhost and 127.0.0.1) when started with tls; else null. */
  readonly certPem: string | null;
  /** postgresql:// URL over TCP as the superuser; database defaults to `postgres`. */
  url(database?: string): string;
  /** Stop the server (fast shutdown) and delete its directory. */
  stop(): Promise<void>;
  /** Same, synchronously, for process 'exit' handlers (immediate shutdown). */
  stopSync(): void;
}

/**
 * pg_hba method for TCP connections. The default `md5` is deliberate: with it PostgreSQL runs
 * SCRAM-SHA-256 for roles whose password is stored as SCRAM (the default password_encryption, and
 * the superuser) and MD5 for roles stored as MD5 (createRole(..., { md5: true })), so one server
 * exercises both (PostgreSQL docs, 21.5 "Password Authentication"). `scram-sha-256` refuses
 * MD5-stored roles.
 */
export type HostAuth = 'md5' | 'scram-sha-256' | 'password' | 'trust';

export interface StartOptions {
  readonly hostAuth?: HostAuth;
  readonly superuser?: string; // default postgres
  readonly password?: string; // default random
  /** Extra postgresql.conf settings, e.g. { max_connections: 300 }. */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  /**
   * pg_hba.conf lines put before initdb's (first match wins), e.g. `host all md5user 127.0.0.1/32 md5`
   * to give one role another authentication method than hostAuth.
   */
  readonly hba?: readonly string[];
  /** Serve TLS with a self-signed certificate for localhost and 127.0.0.1 (PgServer.certPem). */
  readonly tls?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Binaries and the OS user

/** The PostgreSQL bin directory: $AIRLOCK_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin. */
export function pgBinDir(): string {
  const fromEnv = process.env.AIRLOCK_PG_BIN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(join(fromEnv, 'initdb'))) throw new Error(`AIRLOCK_PG_BIN=${fromEnv} has no initdb`);
    return fromEnv;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(
      'PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: run `sh scripts/ensure-postgres.sh` '
        + '(npm test does this), or set AIRLOCK_PG_BIN to a directory holding initdb, pg_ctl and postgres',
    );
  }
  return join(root, newest, 'bin');
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

interface OsUser {
  readonly uid: number;
  readonly gid: number;
}
let postgresUser: OsUser | undefined;

/**
 * initdb and postgres refuse to run as root ("cannot be run as root"), so as root we run them as
 * the `postgres` system user, creating it if the machine lacks it (the Debian package creates it).
 */
function ensurePostgresUser(): OsUser {
  if (postgresUser !== undefined) return postgresUser;
  const lookup = () => spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  if (lookup().status !== 0) {
    const made = spawnSync('useradd', ['-r', '-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', 'postgres'], {
      encoding: 'utf8',
    });
    if (made.status !== 0 && lookup().status !== 0)
      throw new Error(`could not create the postgres system user: ${made.stderr.trim()}`);
  }
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  postgresUser = { uid, gid };
  return postgresUser;
}

/** argv that runs `cmd` as the server's OS user (`postgres` when we are root, else ourselves). */
export function asServerUser(cmd: string, args: readonly string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, [...args]];
}

function run(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<{ code: number; out: string }> {
  const [file, argv] = asServerUser(cmd, args);
  return new Promise((resolve) => {
    execFile(file, argv, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, out: `${stdout}${stderr}`.trim() });
    });
  });
}

/** chown a file or directory to the server's OS user, so a server (or PgBouncer) running as it can use it. */
export function giveToServerUser(path: string): void {
  if (!isRoot) return;
  const { uid, gid } = ensurePostgresUser();
  chownSync(path, uid, gid);
}

function logTail(dir: string, lines = 40): string {
  try {
    return readFileSync(join(dir, 'postgres.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

// ---------------------------------------------------------------------------------------------
// Start and stop

/** server.crt and server.key in the data directory (PostgreSQL's defaults for ssl_cert_file, ssl_key_file). */
async function selfSignedCert(data: string): Promise<string> {
  const crt = join(data, 'server.crt');
  const key = join(data, 'server.key');
  await new Promise<void>((resolve, reject) => {
    execFile(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        crt,
      ],
      { timeout: 30_000 },
      (err, _out, stderr) =>
        err === null ? resolve() : reject(new Error(`openssl req failed: ${stderr || err.message}`)),
    );
  });
  chmodSync(key, 0o600); // the server refuses a key others can read
  giveToServerUser(key);
  giveToServerUser(crt);
  return readFileSync(crt, 'utf8');
}

function confValue(v: string | number | boolean): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return `'${v.replaceAll("'", "''")}'`;
}

function tempRoot(): string {
  // A unix socket path is limited to 107 bytes (sockaddr_un.sun_path); a long $TMPDIR would break it.
  const base = tmpdir().length <= 60 ? tmpdir() : '/tmp';
  return mkdtempSync(join(base, 'airlock-pg-'));
}

/** initdb into a fresh temp directory, start the server, wait until it accepts connections. */
export async function startPostgres(opts: StartOptions = {}): Promise<PgServer> {
  const bin = pgBinDir();
  const superuser = opts.superuser ?? 'postgres';
  const password = opts.password ?? randomBytes(12).toString('hex');
  const dir = tempRoot();
  let started = false;
  try {
    giveToServerUser(dir);
    const data = join(dir, 'data');
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    giveToServerUser(pwfile);
    const init = await run(join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      superuser,
      `--pwfile=${pwfile}`,
      '-E',
      'UTF8',
      '--no-locale',
      '--no-sync',
      '--no-instructions',
      // unix socket: trust (the directory is private to the server user and root); TCP: password auth.
      '--auth-local=trust',
      `--auth-host=${opts.hostAuth ?? 'md5'}`,
    ]);
    rmSync(pwfile, { force: true });
    if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}):\n${init.out}`);
    if (opts.hba !== undefined && opts.hba.length > 0) {
      const hbaFile = join(data, 'pg_hba.conf');
      writeFileSync(hbaFile, `${opts.hba.join('\n')}\n${readFileSync(hbaFile, 'utf8')}`);
    }
    const certPem = opts.tls === true ? await selfSignedCert(data) : null;

    // A free port can be taken between freePort() and the bind: try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const settings: Record<string, string | number | boolean> = {
        listen_addresses: '127.0.0.1',
        port,
        unix_socket_directories: dir,
        fsync: false,
        full_page_writes: false,
        synchronous_commit: false,
        max_connections: 200, // parallel test files each hold a few connections; bench runs 8 clients × 3 targets
        log_min_messages: 'warning',
        log_line_prefix: '%m [%p] ',
        ...(certPem === null ? {} : { ssl: true }),
        ...opts.settings,
      };
      writeFileSync(
        join(data, 'postgresql.auto.conf'),
        Object.entries(settings)
          .map(([k, v]) => `${k} = ${confValue(v)}\n`)
          .join(''),
      );
      giveToServerUser(join(data, 'postgresql.auto.conf'));
      // pg_ctl -w waits until the postmaster accepts connections or exits; pg_isready then checks TCP.
      const start = await run(join(bin, 'pg_ctl'), [
        'start',
        '-D',
        data,
        '-l',
        join(dir, 'postgres.log'),
        '-w',
        '-t',
        '60',
        '-s',
      ]);
      if (start.code === 0) {
        const ready = await run(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-t', '30']);
        if (ready.code !== 0) throw new Error(`pg_isready on 127.0.0.1:${port} failed: ${ready.out}`);
        started = true;
        return handle({ host: '127.0.0.1', port, socketDir: dir, superuser, password, dir, bin }, true, certPem);
      }
      const log = logTail(dir);
      if (attempt < 3 && /could not bind|Address already in use/i.test(log)) {
        appendFileSync(join(dir, 'postgres.log'), `-- airlock: port ${port} was taken, retrying\n`);
        continue;
      }
      throw new Error(
        `PostgreSQL did not start (pg_ctl exit ${start.code}): ${start.out}\n--- ${join(dir, 'postgres.log')} (tail) ---\n${log}`,
      );
    }
  } finally {
    if (!started) rmSync(dir, { recursive: true, force: true });
  }
}

/** A handle on a running server described by `info`; `owner` false makes stop() a no-op. */
function handle(info: PgServerInfo, owner: boolean, certPem: string | null = null): PgServer {
  let stopped = !owner;
  const data = join(info.dir, 'data');
  return {
    ...info,
    certPem,
    url(database = 'postgres') {
      return `postgresql://${encodeURIComponent(info.superuser)}:${encodeURIComponent(info.password)}@${info.host}:${info.port}/${encodeURIComponent(database)}`;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const fast = await run(join(info.bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30', '-s']);
      if (fast.code !== 0) await run(join(info.bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w', '-s']);
      rmSync(info.dir, { recursive: true, force: true });
    },
    stopSync() {
      if (stopped) return;
      stopped = true;
      const [file, argv] = asServerUser(join(info.bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w', '-s']);
      spawnSync(file, argv, { stdio: 'ignore', timeout: 30_000 });
      rmSync(info.dir, { recursive: true, force: true });
    },
  };
}

/** Serialize for AIRLOCK_TEST_PG. */
export function serverInfo(s: PgServerInfo): string {
  const { host, port, socketDir, superuser, password, dir, bin } = s;
  return JSON.stringify({ host, port, socketDir, superuser, password, dir, bin } satisfies PgServerInfo);
}

function parseInfo(json: string): PgServerInfo {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new Error('AIRLOCK_TEST_PG is not JSON');
  }
  const o = v as Partial<Record<keyof PgServerInfo, unknown>>;
  if (
    typeof o !== 'object'
    || o === null
    || typeof o.host !== 'string'
    || typeof o.port !== 'number'
    || typeof o.superuser !== 'string'
    || typeof o.password !== 'string'
    || typeof o.socketDir !== 'string'
  ) {
    throw new Error('AIRLOCK_TEST_PG must hold {host, port, socketDir, superuser, password}');
  }
  return {
    host: o.host,
    port: o.port,
    socketDir: o.socketDir,
    superuser: o.superuser,
    password: o.password,
    dir: typeof o.dir === 'string' ? o.dir : o.socketDir,
    bin: typeof o.bin === 'string' ? o.bin : pgBinDir(),
  };
}

// ---------------------------------------------------------------------------------------------
// The shared server and per-test databases

let shared: Promise<PgServer> | undefined;

/**
 * The run's server: the one in AIRLOCK_TEST_PG, or one started on first use and stopped at process
 * exit. Its stop() is a no-op: whoever started it stops it.
 */
export function sharedPostgres(): Promise<PgServer> {
  if (shared !== undefined) return shared;
  const env = process.env.AIRLOCK_TEST_PG;
  if (env !== undefined && env !== '') {
    shared = Promise.resolve(handle(parseInfo(env), false));
  } else {
    shared = startPostgres().then((server) => {
      process.once('exit', () => server.stopSync());
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () => {
          server.stopSync();
          process.exit(sig === 'SIGINT' ? 130 : 143);
        });
      }
      return { ...server, async stop() {} };
    });
  }
  return shared;
}

/** Run `fn` with a superuser client on a fresh connection, closed afterwards (no pooled client keeps the test process alive). */
export async function withAdmin<T>(
  server: PgServerInfo,
  fn: (client: pg.Client) => Promise<T>,
  database = 'postgres',
): Promise<T> {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.superuser,
    password: server.password,
    database,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Run SQL as the superuser. */
export function adminQuery(server: PgServerInfo, sql: string, database = 'postgres'): Promise<pg.QueryResult> {
  return withAdmin(server, (client) => client.query(sql), database);
}

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
/** A single-quoted SQL literal (standard_conforming_strings is on since PostgreSQL 9.1). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a SQL literal cannot hold NUL');
  return `'${value.replaceAll("'", "''")}'`;
}

let counter = 0;
/** A name unique across the run's parallel test processes: prefix_<pid>_<n>_<random>. */
export function uniqueName(prefix = 't'): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 30);
  return `${clean}_${process.pid}_${++counter}_${randomBytes(3).toString('hex')}`;
}

export interface TestDatabase {
  readonly database: string;
  /** Superuser URL for this database over TCP. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly superuser: string;
  readonly password: string;
  readonly server: PgServer;
  /** Drop the database, ending its sessions (DROP DATABASE … WITH (FORCE)). */
  drop(): Promise<void>;
}

/** A fresh, empty database with a unique name on the shared server. */
export async function testDatabase(name = 'test'): Promise<TestDatabase> {
  const server = await sharedPostgres();
  const database = uniqueName(name);
  await adminQuery(server, `CREATE DATABASE ${quoteIdent(database)}`);
  return {
    database,
    url: server.url(database),
    host: server.host,
    port: server.port,
    superuser: server.superuser,
    password: server.password,
    server,
    async drop() {
      await adminQuery(server, `DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
    },
  };
}

export interface RoleOptions {
  /** Store the password as MD5 (password_encryption = md5) instead of SCRAM-SHA-256. */
  readonly md5?: boolean;
  readonly superuser?: boolean;
  /** Server to create the role on; default the shared one. */
  readonly server?: PgServerInfo;
}

/**
 * A LOGIN role on the shared server (roles are cluster-wide: use uniqueName() in parallel tests).
 * An existing role of that name gets the new password and attributes.
 */
export async function createRole(
  name: string,
  password: string,
  opts: RoleOptions = {},
): Promise<{ user: string; password: string; url(database: string): string }> {
  const server = opts.server ?? (await sharedPostgres());
  const attrs = `LOGIN ${opts.superuser === true ? 'SUPERUSER' : 'NOSUPERUSER'} PASSWORD ${quoteLiteral(password)}`;
  const encryption = opts.md5 === true ? 'md5' : 'scram-sha-256';
  await withAdmin(server, async (client) => {
    await client.query(`SET password_encryption = '${encryption}'`);
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    await client.query(`${exists.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${quoteIdent(name)} ${attrs}`);
  });
  return {
    user: name,
    password,
    url: (database: string) =>
      `postgresql://${encodeURIComponent(name)}:${encodeURIComponent(password)}@${server.host}:${server.port}/${encodeURIComponent(database)}`,
  };
}
