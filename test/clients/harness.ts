// The differential client harness (issue 12): one client program, run twice from the same database
// state — directly against PostgreSQL as the upstream role, then through `airlock proxy` (the real
// CLI, local mode, as a child process) — and the two JSON transcripts compared field by field.
//
// Each client program (test/clients/<language>/…) reads the standard libpq variables PGHOST, PGPORT,
// PGUSER, PGPASSWORD, PGDATABASE (pgJDBC builds its URL from them), runs every scenario of
// SCENARIOS on connections of its own, and prints one JSON object on stdout:
//   { "client": NAME, "version": DRIVER_VERSION, "scenarios": { SCENARIO: RESULT, … } }
// A scenario's RESULT is whatever the driver returned, canonicalised; an expected error is part of it.
//
// Both runs start from a fresh copy of one template database (CREATE DATABASE … TEMPLATE), so
// sequences, rows and OIDs are the same; the proxy's binding points at that database name.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { testDatabase, createRole, uniqueName, adminQuery, quoteIdent } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';
import { FIXTURE_SQL, IDENTITY, configYaml } from './fixture.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLIENTS_DIR = fileURLToPath(new URL('./', import.meta.url));

/** Every scenario the harness knows; a client lists the ones it runs (docs/compatibility.md says why one is not). */
export const SCENARIOS = [
  'startup',
  'types_text',
  'types_binary',
  'prepared',
  'pipeline',
  'transactions',
  'errors_notices',
  'listen_notify',
  'backend_key',
  'cancel_timeout',
  'copy',
  'copy_in',
  'large_cursor',
  'pool_reconnect',
  'pool_reset',
  'masking',
  'masked_copy_query',
  'masked_errors',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Transcript {
  readonly client: string;
  readonly version: string;
  readonly scenarios: Record<string, unknown>;
}

export interface ProgramRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

function run(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number; cwd?: string },
): Promise<ProgramRun> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...args],
      {
        timeout: opts.timeoutMs,
        killSignal: 'SIGKILL',
        encoding: 'utf8',
        maxBuffer: 64 << 20,
        env: opts.env,
        cwd: opts.cwd,
      },
      (e, out, err) =>
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1,
          out,
          err: e !== null && e.killed ? `${err}\n(killed after ${opts.timeoutMs} ms)` : err,
        }),
    );
  });
}

let installed: Promise<Record<string, string>> | undefined;
/**
 * Paths of the installed clients (scripts/install-clients.sh: idempotent; `npm test` runs it in its
 * set-up phase, so here it only prints paths, unless a test file is run by hand on a fresh machine).
 */
export function installedClients(): Promise<Record<string, string>> {
  installed ??= run('sh', [join(ROOT, 'scripts/install-clients.sh')], { timeoutMs: 900_000 }).then((r) => {
    if (r.code !== 0) throw new Error(`scripts/install-clients.sh failed (exit ${r.code}):\n${r.err}`);
    const paths: Record<string, string> = {};
    for (const line of r.out.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) paths[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return paths;
  });
  return installed;
}

export interface Program {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
}

export interface Differential {
  readonly direct: Transcript;
  readonly proxy: Transcript;
  /** stderr of the proxy process (for failure messages). */
  readonly proxyLog: string;
}

/** Start `airlock proxy` on a free port; resolves once it printed its listening line. */
async function startAirlock(config: string): Promise<{ port: number; child: ChildProcess; log: () => string }> {
  const child = spawn(
    'sh',
    [
      'scripts/node24.sh',
      'bin/airlock.ts',
      'proxy',
      '--config',
      config,
      '--identity',
      IDENTITY,
      '--listen',
      '127.0.0.1:0',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`airlock proxy printed no listening line in 60 s:\n${err}`)),
      60_000,
    );
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /airlock: listening on 127\.0\.0\.1:(\d+)\n/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`airlock proxy exited ${code}:\n${err}`));
    });
  });
  return { port, child, log: () => err };
}

async function recreate(db: TestDatabase, name: string, template: string): Promise<void> {
  await adminQuery(db.server, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  await adminQuery(db.server, `CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
}

function parseTranscript(where: string, r: ProgramRun): Transcript {
  if (r.code !== 0)
    throw new Error(`the ${where} run failed (exit ${r.code}):\n${r.err.slice(-4000)}\n${r.out.slice(-2000)}`);
  let t: Transcript;
  try {
    t = JSON.parse(r.out) as Transcript;
  } catch {
    throw new Error(`the ${where} run printed no JSON transcript:\n${r.out.slice(0, 2000)}\n${r.err.slice(-4000)}`);
  }
  if (typeof t.scenarios !== 'object' || t.scenarios === null)
    throw new Error(`the ${where} transcript has no scenarios`);
  return t;
}

/**
 * Run `program` directly and through the proxy, each from a fresh copy of the fixture database.
 * `program` gets the target in PG* variables; it must exit 0 and print its transcript.
 */
export async function differential(
  name: string,
  program: (paths: Record<string, string>) => Program,
  timeoutMs = 150_000,
): Promise<Differential> {
  const paths = await installedClients();
  const prog = program(paths);
  const template = await testDatabase(`clients_${name}`);
  const role = await createRole(uniqueName('client'), uniqueName('pw'));
  const user = quoteIdent(role.user);
  await withDb(
    template,
    `GRANT CREATE, USAGE ON SCHEMA public TO ${user}; SET ROLE ${user};\n${FIXTURE_SQL}\nRESET ROLE;`,
  );
  const runDb = `${template.database}_run`;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-clients-'));
  const config = join(dir, 'airlock.yaml');
  writeFileSync(config, configYaml({ host: template.host, port: template.port, database: runDb }, role));
  const airlock = await startAirlock(config);
  try {
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      PGHOST: '127.0.0.1',
      PGSSLMODE: 'disable',
      PGCONNECT_TIMEOUT: '10',
      ...prog.env,
    };
    for (const k of ['PGAPPNAME', 'PGOPTIONS', 'PGSERVICE', 'PGTZ', 'PGDATESTYLE']) delete base[k];
    await recreate(template, runDb, template.database);
    const direct = parseTranscript(
      'direct',
      await run(prog.cmd, prog.args, {
        timeoutMs,
        cwd: CLIENTS_DIR,
        env: {
          ...base,
          PGPORT: String(template.port),
          PGUSER: role.user,
          PGPASSWORD: role.password,
          PGDATABASE: runDb,
        },
      }),
    );
    await recreate(template, runDb, template.database);
    const proxy = parseTranscript(
      'proxy',
      await run(prog.cmd, prog.args, {
        timeoutMs,
        cwd: CLIENTS_DIR,
        env: { ...base, PGPORT: String(airlock.port), PGUSER: 'whoever', PGPASSWORD: 'anything', PGDATABASE: 'shop' },
      }),
    );
    const dump = process.env.AIRLOCK_CLIENTS_DUMP;
    if (dump !== undefined && dump !== '') {
      // For a person comparing by hand: AIRLOCK_CLIENTS_DUMP=DIR writes both transcripts there.
      mkdirSync(dump, { recursive: true });
      writeFileSync(join(dump, `${name}.direct.json`), `${JSON.stringify(direct, null, 1)}\n`);
      writeFileSync(join(dump, `${name}.proxy.json`), `${JSON.stringify(proxy, null, 1)}\n`);
    }
    return { direct, proxy, proxyLog: airlock.log() };
  } finally {
    airlock.child.kill('SIGTERM');
    await new Promise((r) => {
      if (airlock.child.exitCode !== null) r(null);
      else airlock.child.once('exit', r);
    });
    await adminQuery(template.server, `DROP DATABASE IF EXISTS ${quoteIdent(runDb)} WITH (FORCE)`).catch(() => {});
    await template.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withDb(db: TestDatabase, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
