// Airlock benchmark: pgbench -S through nothing, PgBouncer and Airlock, in ONE run on one machine,
// plus a 1M-row masked bulk read; checks design.md "Targets". See bench/README.md.
//
//   sh scripts/node24.sh bench/run.ts [--duration 20] [--clients 1,8] [--modes simple,prepared]
//        [--scale 10] [--bulk-rows 1000000] [--sampling-rate 0.1] [--targets direct,pgbouncer,node-relay,airlock,airlock-audit-off]
//
// Prints the tables and PASS/MISS per target (a MISS does not fail the run) and writes the raw
// results to bench/results/<time>.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import {
  asServerUser,
  createRole,
  giveToServerUser,
  quoteIdent,
  startPostgres,
  withAdmin,
  type PgServer,
} from '../test/support/pg.ts';
import { freePort } from '../test/support/ports.ts';
import { toolArgs, usageError } from '../test/support/tool-args.ts';
import { runPgbench, tail } from './pgbench.ts';
import { SIDECAR_MALLOC_ARENA_MAX, SIDECAR_NODE_OPTIONS } from '../operator/pod.ts';
import { childPids, commOf, cpuSeconds, peakRssBytes, rssBytes, userCpuSeconds } from './procstat.ts';
import {
  bulkTable,
  checkTargets,
  DEFAULT_TARGETS,
  issueTargets,
  roundMedians,
  pgbenchTable,
  targetsTable,
  TARGETS,
  type BulkRead,
  type Peaks,
  type Cell,
  type QueryMode,
  type Startup,
  type Target,
} from './report.ts';

const root = resolve(import.meta.dirname, '..');
const IDENTITY = 'system:serviceaccount:bench:pgbench';
const BENCH_USER = 'bench';
const BENCH_DB = 'bench';

// ---------------------------------------------------------------------------------------------
// Options

const USAGE = `usage: sh scripts/node24.sh bench/run.ts [options]

pgbench -S through nothing, PgBouncer and Airlock in one run, plus a masked bulk read; prints the tables
and PASS/MISS per design.md target (a MISS does not fail the run); raw results go to bench/results/.

  --duration S          seconds per pgbench cell (default 20)
  --clients LIST        client counts, e.g. 1,8 (default 1,8)
  --modes LIST          simple,prepared (default both)
  --scale N             pgbench scale (default 10)
  --bulk-rows N         rows for the masked bulk read; 0 skips it (default 1000000)
  --sampling-rate R     pgbench latency log sampling rate (default 0.1)
  --targets LIST        ${TARGETS.join(',')} (default ${DEFAULT_TARGETS.join(',')})
  --airlock-bin FILE    proxy entry point taking \`proxy\` arguments (default bin/airlock.ts)
  --image-tree          build the image's tree (scripts/build-image-tree.sh: precompiled JavaScript, production
                        dependencies) into the run's directory and measure its bin/airlock.js, which is what
                        the sidecar runs in a pod; without it the source runs through Node's type stripping
  --airlock-node-options S
                        NODE_OPTIONS of the Airlock processes (default: the sidecar's, operator/pod.ts SIDECAR_NODE_OPTIONS)
  --baseline-bin FILE   another entry point, for before/after in one run (e.g. a checkout of the commit before a
                        change): target airlock-baseline-audit-off (selected by default) runs it with audit off,
                        target airlock-baseline with audit on, to the same sink as airlock
  --node-option OPT     a Node option for every Airlock process (repeatable), e.g. --perf-basic-prof
  --perf DIR            perf record -g of the Airlock process during each of its cells, into DIR (root, perf installed)
  --rounds N            repeat all pgbench cells N times, interleaved (default 1); on a loaded machine compare
                        targets per round (the pgbench table shows every round; each target reports its median
                        round, bench/report.ts roundMedians)
  --cpu-prof DIR        write a V8 CPU profile of each Airlock process to DIR (read it with bench/cpuprofile-top.ts)
  -h, --help            this text
`;
const { values: opt } = toolArgs(USAGE, {
  options: {
    duration: { type: 'string', default: '20' },
    clients: { type: 'string', default: '1,8' },
    modes: { type: 'string', default: 'simple,prepared' },
    scale: { type: 'string', default: '10' },
    'bulk-rows': { type: 'string', default: '1000000' },
    'sampling-rate': { type: 'string', default: '0.1' },
    targets: { type: 'string', default: DEFAULT_TARGETS.join(',') },
    // The proxy entry point; another file taking the same `proxy` arguments can be measured in its place.
    'airlock-bin': { type: 'string', default: 'bin/airlock.ts' },
    'image-tree': { type: 'boolean' },
    // A second entry point (e.g. a checkout of the commit before a change), audit off, measured in the same run.
    'baseline-bin': { type: 'string' },
    // Extra Node options for every Airlock process (repeatable), e.g. --perf-basic-prof for perf's symbols.
    'node-option': { type: 'string', multiple: true, default: [] },
    // Record `perf record -g` of the Airlock process during each of its pgbench cells into this directory.
    perf: { type: 'string' },
    // Repeat the pgbench cells (all modes, client counts and targets) this many times, interleaved.
    rounds: { type: 'string', default: '1' },
    // Write a V8 CPU profile of each Airlock process into this directory (node --cpu-prof), for bench/cpuprofile-top.ts.
    'cpu-prof': { type: 'string' },
    'airlock-node-options': { type: 'string' },
  },
});

function positive(name: string, raw: string, integer = true): number {
  const n = Number(raw);
  if (!(n > 0) || (integer && !Number.isInteger(n)))
    usageError(USAGE, `--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  return n;
}
const durationS = positive('duration', opt.duration);
const clientCounts = opt.clients.split(',').map((c) => positive('clients', c));
const modes = opt.modes.split(',').map((m) => {
  if (m !== 'simple' && m !== 'prepared') usageError(USAGE, `--modes: unknown mode "${m}"; expected simple, prepared`);
  return m as QueryMode;
});
const scale = positive('scale', opt.scale);
const airlockNodeOptions = opt['airlock-node-options'] ?? SIDECAR_NODE_OPTIONS;
if (opt['image-tree'] === true && process.argv.some((a) => a === '--airlock-bin' || a.startsWith('--airlock-bin=')))
  usageError(USAGE, '--image-tree and --airlock-bin exclude each other');
/** The entry point measured: --airlock-bin, or the image tree's once --image-tree built it (main). */
let airlockBin = opt['airlock-bin'];
const rounds = positive('rounds', opt.rounds);
const bulkRows = Number(opt['bulk-rows']); // 0 skips the bulk read
if (!Number.isInteger(bulkRows) || bulkRows < 0) usageError(USAGE, '--bulk-rows must be an integer >= 0');
const samplingRate = positive('sampling-rate', opt['sampling-rate'], false);
const targets = opt.targets.split(',').map((t) => {
  if (!(TARGETS as readonly string[]).includes(t))
    usageError(USAGE, `--targets: unknown target "${t}"; expected ${TARGETS.join(', ')}`);
  return t as Target;
});
if (
  opt['baseline-bin'] !== undefined
  && !targets.includes('airlock-baseline-audit-off')
  && !targets.includes('airlock-baseline')
)
  targets.push('airlock-baseline-audit-off');
for (const t of ['airlock-baseline', 'airlock-baseline-audit-off'] as const) {
  if (targets.includes(t) && opt['baseline-bin'] === undefined)
    usageError(USAGE, `--targets ${t} needs --baseline-bin FILE`);
}

// ---------------------------------------------------------------------------------------------
// Helpers

const log = (msg: string) => console.log(`bench: ${msg}`);

function pgbenchBin(server: PgServer): string {
  return existsSync(join(server.bin, 'pgbench')) ? join(server.bin, 'pgbench') : 'pgbench';
}

async function queryAs(port: number, password: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port,
    user: BENCH_USER,
    password,
    database: BENCH_DB,
    connectionTimeoutMillis: 10_000,
  });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Stop a child we started: SIGTERM, then SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Keeps the last lines a child wrote, for error messages. */
function captureTail(child: ChildProcess): () => string {
  let buf = '';
  const add = (d: Buffer) => {
    buf = (buf + d.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => tail(buf, 20);
}

// ---------------------------------------------------------------------------------------------
// OTLP sink: a stand-in collector so Airlock's audit export has somewhere to go. It accepts
// OTLP/HTTP (POST /v1/traces, protobuf or JSON) and answers success with an empty response.

interface Sink {
  readonly server: Server;
  readonly port: number;
  requests: number;
  bytes: number;
}

async function startSink(): Promise<Sink> {
  const port = await freePort();
  const sink: Sink = { server: createServer(), port, requests: 0, bytes: 0 };
  sink.server.on('request', (req, res) => {
    req.on('data', (d: Buffer) => {
      sink.bytes += d.length;
    });
    req.on('end', () => {
      sink.requests++;
      const json = (req.headers['content-type'] ?? '').includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined); // an empty ExportTraceServiceResponse
    });
  });
  await new Promise<void>((r) => sink.server.listen(port, '127.0.0.1', r));
  return sink;
}

// ---------------------------------------------------------------------------------------------
// PgBouncer (Debian package), transaction pooling, SCRAM auth from an auth_file.

interface Bouncer {
  readonly port: number;
  readonly pid: number;
  readonly version: string;
  readonly prepared: boolean;
  stop(): Promise<void>;
}

function bouncerVersion(): string | null {
  const r = spawnSync('pgbouncer', ['--version'], { encoding: 'utf8' });
  const m = /PgBouncer (\d+\.\d+(?:\.\d+)?)/.exec(`${r.stdout ?? ''}`);
  return r.status === 0 && m !== null ? m[1]! : null;
}

async function startBouncer(server: PgServer, password: string): Promise<Bouncer> {
  const install = spawnSync('sh', [join(root, 'scripts/ensure-postgres.sh'), 'pgbouncer'], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (install.status !== 0) throw new Error(`PgBouncer could not be installed: ${tail(install.stderr ?? '')}`);
  const version = bouncerVersion();
  if (version === null) throw new Error('pgbouncer --version failed');
  const [major = 0, minor = 0] = version.split('.').map(Number);
  // Protocol-level prepared statements in transaction mode arrived in PgBouncer 1.21 (max_prepared_statements).
  const prepared = major > 1 || (major === 1 && minor >= 21);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pgbouncer-'));
  giveToServerUser(dir);
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(join(dir, 'userlist.txt'), `"${BENCH_USER}" "${password}"\n`, { mode: 0o600 });
  writeFileSync(
    ini,
    [
      '[databases]',
      `${BENCH_DB} = host=127.0.0.1 port=${server.port} dbname=${BENCH_DB}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      'max_client_conn = 200',
      'default_pool_size = 16',
      ...(prepared ? ['max_prepared_statements = 200'] : []),
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      'log_connections = 0',
      'log_disconnections = 0',
    ].join('\n') + '\n',
  );
  giveToServerUser(join(dir, 'userlist.txt'));
  giveToServerUser(ini);
  // PgBouncer refuses to run as root; asServerUser runs it as `postgres` (via runuser, a parent process).
  const [file, argv] = asServerUser('pgbouncer', [ini]);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lastOutput = captureTail(child);
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited ${child.exitCode}: ${lastOutput()}`);
      try {
        await queryAs(port, password, 'SELECT 1');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`pgbouncer not ready: ${(err as Error).message}\n${lastOutput()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // The process to charge CPU to is pgbouncer itself, not runuser.
    const pid =
      commOf(child.pid!) === 'pgbouncer' ? child.pid! : childPids(child.pid!).find((p) => commOf(p) === 'pgbouncer');
    if (pid === undefined) throw new Error('cannot find the pgbouncer process');
    return { port, pid, version, prepared, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The Node.js framing relay (the floor of Node's socket path)

async function startRelay(server: PgServer): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(root, 'bench/node-relay.ts'), '--listen', String(port), '--upstream', String(server.port)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lastOutput = captureTail(child);
  const stop = () => stopChild(child);
  try {
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`node-relay not ready in 10 s: ${lastOutput()}`)), 10_000);
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolveReady();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`node-relay exited ${code}: ${lastOutput()}`));
      });
    });
    return { port, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Airlock local mode

interface Airlock {
  readonly port: number;
  readonly pid: number;
  readonly startup: Startup;
  readonly maskingVerified: boolean;
  stop(): Promise<void>;
}

/**
 * `sink` null: no audit endpoint, so audit is off (proxy/run.ts openAudit); everything else is the same. The
 * endpoint ends in /v1/traces so the proxy speaks OTLP/HTTP (proxy/run.ts auditSettings) to the HTTP sink; a
 * bare host:port means gRPC, which this sink cannot answer: every export failed and was retried, unseen.
 */
function airlockConfig(server: PgServer, password: string, sink: Sink | null): string {
  return `# Generated by bench/run.ts
apiVersion: airlock.dev/v1alpha1
kind: DatabaseBinding
metadata: { name: ${BENCH_DB}, namespace: bench }
spec:
  engine: postgres
  endpoint: { host: 127.0.0.1, port: ${server.port}, database: ${BENCH_DB} }
  credentialsSecretRef: { name: bench-airlock }
  tls: { mode: disable }
${sink === null ? '' : `  audit: { otlpEndpoint: "http://127.0.0.1:${sink.port}/v1/traces", onFailure: drop-oldest }\n`}---
apiVersion: v1
kind: Secret
metadata: { name: bench-airlock, namespace: bench }
stringData: { username: ${BENCH_USER}, password: "${password}" }
---
apiVersion: airlock.dev/v1alpha1
kind: AccessPolicy
metadata: { name: pgbench, namespace: bench }
spec:
  mode: enforce
  subjects: [{ kind: ServiceAccount, name: pgbench, namespace: bench }]
  databases: [${BENCH_DB}]
  rules:
    - { name: read-app-tables, effect: allow, operations: [SELECT, COPY_TO], tables: ["public.*"] }
    # pgbench reads the catalog at start (scale and partition checks)
    - { name: read-catalog, effect: allow, operations: [SELECT], tables: ["pg_catalog.*"] }
    - { name: builtin-functions, effect: allow, operations: [CALL], functions: ["pg_catalog.*"] }
  masking:
    # pgbench -S reads only abalance: the rule is evaluated on every statement but masks nothing there
    - { columns: ["public.pgbench_accounts.filler"], strategy: redact }
    - { columns: ["public.bulk_customers.email"], strategy: partial }
`;
}

/**
 * Times the Airlock proxies logged "Audited a statement of an unannounced session" (issue 16: it appeared under
 * load; a statement answered after its client left must keep its session, audit/lean-span.ts). Counted over the
 * whole run, every cell included; a line split across two reads is still counted once (last partial line kept).
 */
const proxyLog = { unannouncedSession: 0 };

function countWarnings(child: ChildProcess): void {
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines)
        if (line.includes('Audited a statement of an unannounced session')) proxyLog.unannouncedSession++;
    });
  }
}

async function startAirlock(
  server: PgServer,
  password: string,
  sink: Sink | null,
  dir: string,
  entry = airlockBin,
): Promise<Airlock> {
  const bin = resolve(root, entry);
  if (!existsSync(bin)) throw new Error(`${entry} does not exist yet`);
  const config = join(dir, sink === null ? 'airlock-bench-audit-off.yaml' : 'airlock-bench.yaml');
  writeFileSync(config, airlockConfig(server, password, sink), { mode: 0o600 });
  const port = await freePort();
  const t0 = performance.now();
  // node24.sh execs node, so this pid is the proxy's own.
  const prof = [
    ...opt['node-option'],
    ...(opt['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', resolve(opt['cpu-prof'])]),
  ];
  const child = spawn(
    'sh',
    [
      join(root, 'scripts/node24.sh'),
      ...prof,
      bin,
      'proxy',
      '--config',
      config,
      '--identity',
      IDENTITY,
      '--listen',
      `127.0.0.1:${port}`,
      // A spool of its own: the default (<tmpdir>/airlock-audit-<ns>-<binding>) is shared by every bench run on the
      // machine, so a run would export (and pay for) the spans earlier runs left unsent.
      ...(sink === null ? [] : ['--audit-spool', join(dir, `audit-spool-${port}`)]),
    ],
    // The V8 and malloc settings the webhook gives an injected sidecar, so that the memory targets measure what
    // runs in a pod.
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: airlockNodeOptions, MALLOC_ARENA_MAX: SIDECAR_MALLOC_ARENA_MAX },
    },
  );
  const lastOutput = captureTail(child);
  countWarnings(child);
  try {
    const readyMs = await new Promise<number>((resolveReady, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`no "airlock: listening on" line within 20 s\n${lastOutput()}`)),
        20_000,
      );
      const onData = (d: Buffer) => {
        out += d.toString('utf8');
        if (/^airlock: listening on \S+/m.test(out)) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          child.stderr?.off('data', onData);
          resolveReady(performance.now() - t0);
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`airlock exited ${code}: ${lastOutput()}`));
      });
    });
    await new Promise((r) => setTimeout(r, 1000)); // idle: nothing connected yet
    const cpu0 = cpuSeconds(child.pid!);
    await new Promise((r) => setTimeout(r, 2000));
    const idleCpuMsPerS = ((cpuSeconds(child.pid!) - cpu0) * 1000) / 2;
    const rssIdleBytes = rssBytes(child.pid!);
    const r = await queryAs(port, 'any-password', 'SELECT abalance FROM pgbench_accounts WHERE aid = 1');
    if (r.rowCount !== 1) throw new Error(`sanity query through Airlock returned ${r.rowCount} rows`);
    // The masking rule must really apply, or the numbers measure a proxy that does less than it should.
    const probes = [
      'SELECT filler AS v FROM pgbench_accounts WHERE aid = 1',
      ...(bulkRows > 0 ? ['SELECT email AS v FROM bulk_customers WHERE id = 1'] : []),
    ];
    let maskingVerified = true;
    for (const sql of probes) {
      const raw: unknown = (await queryAs(server.port, password, sql)).rows[0]?.v;
      const seen: unknown = (await queryAs(port, 'any-password', sql)).rows[0]?.v;
      if (seen === raw) maskingVerified = false;
    }
    // The audit sink hands its first records to the encoder within its flush interval (200 ms).
    await new Promise((r) => setTimeout(r, 1500));
    const startup: Startup = { readyMs, rssIdleBytes, idleCpuMsPerS, rssAfterFirstBytes: rssBytes(child.pid!) };
    return { port, pid: child.pid!, startup, maskingVerified, stop: () => stopChild(child) };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/**
 * `perf record` of one process (call graphs), stopped by stopChild (SIGTERM: perf writes its file and exits) when the cell ends. With
 * --node-option --perf-basic-prof the proxy writes /tmp/perf-<pid>.map, so perf names JIT-compiled JavaScript.
 */
function startPerf(pid: number, out: string): ChildProcess {
  mkdirSync(join(out, '..'), { recursive: true });
  const child = spawn('perf', ['record', '-g', '-F', '1999', '-p', String(pid), '-o', out], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.on('error', (err) => log(`perf: ${err.message}`));
  return child;
}

// ---------------------------------------------------------------------------------------------
// Bulk read: psql reading every row of a table with a masked column, output discarded.

async function timePsql(server: PgServer, port: number, password: string, sql: string): Promise<number> {
  const psql = existsSync(join(server.bin, 'psql')) ? join(server.bin, 'psql') : 'psql';
  const t0 = performance.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = spawn(
      psql,
      [
        '-X',
        '-q',
        '-A',
        '-t',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        BENCH_USER,
        '-d',
        BENCH_DB,
        '-c',
        sql,
      ],
      {
        env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4096);
    });
    child.on('exit', (c) => done({ code: c, stderr: err }));
  });
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0 || stderr.trim() !== '') throw new Error(`psql exited ${code}: ${tail(stderr)}`);
  return seconds;
}

// ---------------------------------------------------------------------------------------------

function gitCommit(): string | null {
  try {
    const head = readFileSync(join(root, '.git/HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head;
    const ref = head.slice(5);
    const loose = join(root, '.git', ref);
    if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
    const packed = readFileSync(join(root, '.git/packed-refs'), 'utf8')
      .split('\n')
      .find((l) => l.endsWith(` ${ref}`));
    return packed?.split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const work = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  const cleanups: (() => Promise<void>)[] = [async () => rmSync(work, { recursive: true, force: true })];
  if (opt['image-tree'] === true) {
    const tree = join(work, 'image-tree');
    log(`building the image tree into ${tree}`);
    // The script needs Node 24 as `node` on the PATH: the one running this benchmark.
    const r = spawnSync('sh', [join(root, 'scripts/build-image-tree.sh'), tree], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}` },
    });
    if (r.status !== 0) throw new Error(`scripts/build-image-tree.sh failed (${r.status ?? r.signal})`);
    airlockBin = join(tree, 'bin/airlock.js');
  }
  const available: Record<Target, string | null> = {
    direct: null,
    pgbouncer: null,
    'node-relay': null,
    airlock: null,
    'airlock-audit-off': null,
    'airlock-baseline': null,
    'airlock-baseline-audit-off': null,
  }; // null = available
  for (const t of TARGETS) if (!targets.includes(t)) available[t] = 'not selected (--targets)';
  const cells: Cell[] = [];
  const bulk: BulkRead[] = [];
  let startup: Startup | null = null;
  let maskingVerified: boolean | null = null;
  let bouncerInfo: { version: string; prepared: boolean } | null = null;
  let sink = null as Sink | null; // set by sinkOnce(), which TypeScript does not follow
  let pgVersion = '';
  const peaks: { afterLoadBytes: number | null; afterBulkBytes: number | null } = {
    afterLoadBytes: null,
    afterBulkBytes: null,
  };
  const peakOf = (pid: number): number | null => {
    try {
      return pid === 0 ? null : peakRssBytes(pid);
    } catch {
      return null;
    }
  };
  let airlockPid = 0;

  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      void stopAll().finally(() => process.exit(130));
    });

  try {
    log(`starting PostgreSQL, pgbench -i -s ${scale}`);
    const server = await startPostgres({ settings: { shared_buffers: '256MB', max_connections: 100 } });
    cleanups.push(() => server.stop());
    const password = randomBytes(12).toString('hex');
    await createRole(BENCH_USER, password, { server });
    await withAdmin(server, async (c) => {
      await c.query(`CREATE DATABASE ${quoteIdent(BENCH_DB)} OWNER ${quoteIdent(BENCH_USER)}`);
      pgVersion = (await c.query('SHOW server_version')).rows[0].server_version;
    });
    const init = spawnSync(
      pgbenchBin(server),
      ['-i', '-s', String(scale), '-q', '-h', '127.0.0.1', '-p', String(server.port), '-U', BENCH_USER, BENCH_DB],
      { env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable' }, encoding: 'utf8' },
    );
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${tail(`${init.stdout}\n${init.stderr}`)}`);
    if (bulkRows > 0) {
      log(`creating bulk_customers (${bulkRows} rows)`);
      await queryAs(
        server.port,
        password,
        `CREATE TABLE bulk_customers AS
        SELECT g AS id, 'Customer ' || g AS name, 'user' || g || '@example.com' AS email, md5(g::text) AS note
        FROM generate_series(1, ${bulkRows}) AS g`,
      );
      await queryAs(server.port, password, 'ALTER TABLE bulk_customers ADD PRIMARY KEY (id)');
      await queryAs(server.port, password, 'VACUUM ANALYZE bulk_customers'); // not in a transaction block
    }

    const ports: Record<Target, number> = {
      direct: server.port,
      pgbouncer: 0,
      'node-relay': 0,
      airlock: 0,
      'airlock-audit-off': 0,
      'airlock-baseline': 0,
      'airlock-baseline-audit-off': 0,
    };
    const pids: Record<Target, number> = {
      direct: 0,
      pgbouncer: 0,
      'node-relay': 0,
      airlock: 0,
      'airlock-audit-off': 0,
      'airlock-baseline': 0,
      'airlock-baseline-audit-off': 0,
    };
    /**
     * Starts target `t` if it was selected: its port and pid are recorded and its stop joins the cleanups. A
     * failure marks it not available (its cells say why, with `name`) and the run goes on.
     */
    const startTarget = async <R extends { port: number; pid: number; stop(): Promise<void> }>(
      t: Target,
      name: string,
      start: () => Promise<R>,
      started: (r: R) => string,
    ): Promise<R | null> => {
      if (!targets.includes(t)) return null;
      try {
        const r = await start();
        cleanups.push(r.stop);
        ports[t] = r.port;
        pids[t] = r.pid;
        log(started(r));
        return r;
      } catch (err) {
        available[t] = (err as Error).message;
        log(`${name} not available: ${available[t].split('\n')[0]}`);
        return null;
      }
    };
    const bouncer = await startTarget(
      'pgbouncer',
      'PgBouncer',
      () => startBouncer(server, password),
      (b) => `PgBouncer ${b.version} on 127.0.0.1:${b.port} (transaction pooling)`,
    );
    if (bouncer !== null) bouncerInfo = { version: bouncer.version, prepared: bouncer.prepared };
    await startTarget(
      'node-relay',
      'Node.js relay',
      () => startRelay(server),
      (r) => `Node.js framing relay (bench/node-relay.ts) on 127.0.0.1:${r.port}`,
    );
    // The OTLP sink of the audit-on targets, started with the first of them.
    const sinkOnce = async (): Promise<Sink> => {
      if (sink !== null) return sink;
      const s = await startSink();
      sink = s;
      cleanups.push(() => new Promise<void>((r) => s.server.close(() => r())));
      return s;
    };
    const audited = await startTarget(
      'airlock',
      'Airlock',
      async () => startAirlock(server, password, await sinkOnce(), work),
      (a) =>
        `Airlock on 127.0.0.1:${a.port}: ready in ${a.startup.readyMs.toFixed(0)} ms, idle RSS ${(a.startup.rssIdleBytes / 2 ** 20).toFixed(1)} MiB, `
        + `idle CPU ${a.startup.idleCpuMsPerS?.toFixed(1)} ms/s, RSS after the first statements ${((a.startup.rssAfterFirstBytes ?? 0) / 2 ** 20).toFixed(1)} MiB`
        + (a.maskingVerified ? '' : '; WARNING: a masked column came back unmasked'),
    );
    if (audited !== null) {
      airlockPid = audited.pid;
      startup = audited.startup;
      maskingVerified = audited.maskingVerified;
    }
    // A second proxy process, idle while the others are measured: same policy and masking, no audit.
    await startTarget(
      'airlock-audit-off',
      'Airlock (audit off)',
      () => startAirlock(server, password, null, work),
      (a) => `Airlock with audit off on 127.0.0.1:${a.port}`,
    );
    // The baseline entry point as production runs it: audit on, to the same sink; and with audit off.
    await startTarget(
      'airlock-baseline',
      'Airlock baseline',
      async () => startAirlock(server, password, await sinkOnce(), work, opt['baseline-bin']),
      (a) => `Airlock baseline (${opt['baseline-bin']}, audit on) on 127.0.0.1:${a.port}`,
    );
    await startTarget(
      'airlock-baseline-audit-off',
      'Airlock baseline',
      () => startAirlock(server, password, null, work, opt['baseline-bin']),
      (a) => `Airlock baseline (${opt['baseline-bin']}, audit off) on 127.0.0.1:${a.port}`,
    );

    const threads = (clients: number) => Math.max(1, Math.min(clients, cpus().length));
    const pgbenchFor = (target: Target, mode: QueryMode, clients: number, seconds: number) =>
      runPgbench({
        pgbench: pgbenchBin(server),
        host: '127.0.0.1',
        port: ports[target],
        user: BENCH_USER,
        password: target.startsWith('airlock') ? 'any-password' : password,
        database: BENCH_DB,
        mode,
        clients,
        threads: threads(clients),
        durationS: seconds,
        samplingRate,
      });

    // Warm caches (shared buffers, the proxies' decision caches, JIT) so the first measured target is not penalised.
    for (const target of targets) {
      if (available[target] !== null) continue;
      await pgbenchFor(target, 'simple', 1, 2).catch((err: Error) =>
        log(`warm-up on ${target} failed: ${err.message.split('\n')[0]}`),
      );
    }

    // Interleave targets per (mode, clients) so slow drift of the machine hits all of them alike.
    for (let round = 0; round < rounds; round++)
      for (const mode of modes) {
        for (const clients of clientCounts) {
          for (const target of targets) {
            let error = available[target];
            if (error === null && target === 'pgbouncer' && mode === 'prepared' && bouncerInfo?.prepared === false) {
              error = `PgBouncer ${bouncerInfo.version} has no prepared statements in transaction mode (1.21+)`;
            }
            if (error !== null) {
              cells.push({ mode, clients, target, run: null, error, proxyCpuSeconds: null, round });
              continue;
            }
            log(
              `pgbench -S -M ${mode} -c ${clients} -T ${durationS} → ${target}${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ''}`,
            );
            const pid = pids[target];
            const cpu0 = pid === 0 ? 0 : cpuSeconds(pid);
            const user0 = pid === 0 ? 0 : userCpuSeconds(pid);
            const perf =
              opt.perf !== undefined && target.startsWith('airlock')
                ? startPerf(pid, join(resolve(opt.perf), `perf-${target}-${mode}-c${clients}.data`))
                : null;
            try {
              const run = await pgbenchFor(target, mode, clients, durationS);
              const proxyCpuSeconds = pid === 0 ? null : cpuSeconds(pid) - cpu0;
              const proxyUserSeconds = pid === 0 ? null : userCpuSeconds(pid) - user0;
              cells.push({ mode, clients, target, run, error: null, proxyCpuSeconds, proxyUserSeconds, round });
            } catch (err) {
              cells.push({
                mode,
                clients,
                target,
                run: null,
                error: (err as Error).message,
                proxyCpuSeconds: null,
                round,
              });
              log(`  failed: ${(err as Error).message.split('\n')[0]}`);
            } finally {
              if (perf !== null) await stopChild(perf, 30_000);
            }
          }
        }
      }

    peaks.afterLoadBytes = peakOf(airlockPid);
    if (bulkRows > 0) {
      const reads = {
        select: 'SELECT id, name, email, note FROM bulk_customers',
        copy: 'COPY (SELECT id, name, email, note FROM bulk_customers) TO STDOUT',
      } as const;
      for (const kind of ['select', 'copy'] as const) {
        for (const target of ['direct', 'airlock'] as const) {
          if (available[target] !== null) {
            bulk.push({ kind, target, rows: bulkRows, seconds: null, error: available[target] });
            continue;
          }
          log(`bulk ${kind} of ${bulkRows} rows → ${target}`);
          try {
            // Best of two: the first may still be paging the table in.
            const pw = target === 'airlock' ? 'any-password' : password;
            const a = await timePsql(server, ports[target], pw, reads[kind]);
            const b = await timePsql(server, ports[target], pw, reads[kind]);
            bulk.push({ kind, target, rows: bulkRows, seconds: Math.min(a, b), error: null });
          } catch (err) {
            bulk.push({ kind, target, rows: bulkRows, seconds: null, error: (err as Error).message });
            log(`  failed: ${(err as Error).message.split('\n')[0]}`);
          }
        }
      }
    }
    if (bulkRows > 0) peaks.afterBulkBytes = peakOf(airlockPid);
  } finally {
    await stopAll();
  }

  // A bulk read that was not masked measures something else than the target: report it as such. With rounds,
  // every round is checked on its own cells and each target reports its median round (report.ts roundMedians).
  const perRound = Array.from({ length: rounds }, (_, round) => {
    const ofRound = cells.filter((c) => (c.round ?? 0) === round);
    return [
      ...checkTargets(
        ofRound,
        maskingVerified === false ? bulk.filter((b) => b.target !== 'airlock') : bulk,
        startup,
        clientCounts,
      ),
      ...issueTargets(
        ofRound,
        maskingVerified === false ? { ...peaks, afterBulkBytes: null } : (peaks as Peaks),
        clientCounts,
      ),
    ];
  });
  const checks = roundMedians(perRound);
  console.log(
    `\npgbench -S, ${durationS}s per cell, scale ${scale}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`,
  );
  console.log(pgbenchTable(cells));
  if (bulk.length > 0) console.log(`\nmasked bulk read (psql, best of 2)\n${bulkTable(bulk)}`);
  console.log(
    `\ndesign.md and issue 16 targets${rounds > 1 ? ` (each: its median round of ${rounds})` : ''}${available.airlock === null ? '' : ' (Airlock not available: see above)'}\n${targetsTable(checks)}`,
  );
  if (targets.includes('airlock') && startup !== null && (sink?.requests ?? 0) === 0) {
    console.log('\nWARNING: the audit sink received no export request: the audit-on numbers do not include exporting.');
  }
  if (targets.includes('airlock') && startup !== null) {
    console.log(`\nproxy log: "Audited a statement of an unannounced session" ${proxyLog.unannouncedSession} times`);
  }
  if (startup !== null && airlockBin.endsWith('.ts')) {
    console.log(
      `\nNOTE: idle RSS and start to ready are those of the TypeScript source (${airlockBin}, type-stripped at start); `
        + "a pod runs the image's precompiled tree: measure that with --image-tree.",
    );
  }
  if (maskingVerified === false) {
    console.log(
      '\nWARNING: a masked column came back unmasked through Airlock: its numbers do not include masking, '
        + 'and the masked bulk read targets are reported as N/A.',
    );
  }

  const resultsDir = join(root, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(
    resultsDir,
    `${startedAt
      .toISOString()
      .replaceAll(':', '-')
      .replace(/\.\d+Z$/, 'Z')}.json`,
  );
  writeFileSync(
    file,
    JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        machine: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model ?? null,
          memoryBytes: totalmem(),
          kernel: release(),
          node: process.version,
        },
        versions: { postgres: pgVersion, pgbouncer: bouncerInfo?.version ?? null, airlockCommit: gitCommit() },
        settings: {
          durationS,
          rounds,
          clients: clientCounts,
          modes,
          scale,
          bulkRows,
          samplingRate,
          identity: IDENTITY,
          airlockBin: opt['image-tree'] === true ? 'image tree (--image-tree)' : airlockBin,
          airlockNodeOptions,
          ...(opt['baseline-bin'] === undefined ? {} : { baselineBin: opt['baseline-bin'] }),
          ...(opt['node-option'].length === 0 ? {} : { nodeOptions: opt['node-option'] }),
        },
        unavailable: Object.fromEntries(Object.entries(available).filter(([, v]) => v !== null)),
        airlock: {
          startup,
          peaks,
          maskingVerified,
          auditExportRequests: sink?.requests ?? 0,
          auditExportBytes: sink?.bytes ?? 0,
          unannouncedSessionWarnings: proxyLog.unannouncedSession,
        },
        cells,
        bulk,
        targets: checks,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nresults: ${file}`);
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
