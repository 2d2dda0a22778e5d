// The test phase of `npm test` (scripts/test.sh): ONE throwaway PostgreSQL for the whole run, handed
// to every test process in AIRLOCK_TEST_PG, then `node --test` over every *.test.ts outside
// node_modules (or the files given as arguments). The server is stopped however the run ends.
//
//   sh scripts/node24.sh scripts/run-tests.ts [file.test.ts ...]
//
// Environment: AIRLOCK_TEST_CONCURRENCY (default 2: test files in parallel, sized for a 2-core CI
// machine), AIRLOCK_TEST_TIMEOUT_MS (default 180000: per test, so nothing hangs forever),
// AIRLOCK_KEEP_TMP=1 (keep the run's temporary directory for a post-mortem).
//
// Every test process gets TMPDIR set to one directory of this run, removed at the end: what a test (or a
// proxy, psql, Python or Go program it starts) leaves in its temporary directory does not pile up in /tmp.
import { spawn } from 'node:child_process';
import { chmodSync, globSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { serverInfo, startPostgres } from '../test/support/pg.ts';
import { toolArgs } from '../test/support/tool-args.ts';

const root = resolve(import.meta.dirname, '..');

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

function testFiles(args: readonly string[]): string[] {
  if (args.length > 0) return args.map((a) => relative(root, resolve(a)));
  return globSync('**/*.test.ts', {
    cwd: root,
    exclude: (p: string) => /(^|\/)(node_modules|\.git|\.tmp)$/.test(p),
  }).sort();
}

const USAGE = `usage: sh scripts/node24.sh scripts/run-tests.ts [FILE.test.ts ...]

The test phase of npm test: one throwaway PostgreSQL for the whole run, then node --test over every *.test.ts
outside node_modules, or over the files given.

Environment: AIRLOCK_TEST_CONCURRENCY (test files in parallel, default 2), AIRLOCK_TEST_TIMEOUT_MS (per test,
default 180000), AIRLOCK_KEEP_TMP=1 (keep the run's temporary directory).

  -h, --help   this text
`;

async function main(): Promise<number> {
  const { positionals } = toolArgs(USAGE, { allowPositionals: true });
  const files = testFiles(positionals);
  if (files.length === 0) {
    console.error('run-tests: no *.test.ts files found');
    return 1;
  }
  const concurrency = positiveInt('AIRLOCK_TEST_CONCURRENCY', 2);
  const timeoutMs = positiveInt('AIRLOCK_TEST_TIMEOUT_MS', 180_000);

  const server = await startPostgres();
  const runTmp = mkdtempSync(join(tmpdir(), 'airlock-run-'));
  // As /tmp is (sticky, everyone may create): as root, tests run initdb and PostgreSQL as `postgres`.
  chmodSync(runTmp, 0o1777);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= server.stop().finally(() => {
      if (process.env.AIRLOCK_KEEP_TMP !== '1') rmSync(runTmp, { recursive: true, force: true });
    }));
  process.once('exit', () => server.stopSync()); // last resort; a no-op once stop() has run
  console.log(
    `run-tests: PostgreSQL on ${server.host}:${server.port} (${server.dir}); ${files.length} test files, `
      + `${concurrency} at a time, ${timeoutMs / 1000}s per test; TMPDIR ${runTmp}`,
  );

  const child = spawn(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${concurrency}`,
      `--test-timeout=${timeoutMs}`,
      // No --test-force-exit: with it, node ends a file once the tests it knows of are done, and tests a
      // file registers after a top-level await (table-driven ones after initAnalyzer()) silently never ran:
      // 277 of 355 in policy/. A file that leaves a handle open is a bug to fix, caught by the timeout.
      '--test-reporter=spec',
      ...files,
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, AIRLOCK_TEST_PG: serverInfo(server), TMPDIR: runTmp } },
  );

  // Ctrl-C reaches the whole foreground process group (the test runner too); a plain SIGTERM reaches
  // only us, so pass it on. Either way the server is stopped before we exit.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      child.kill(sig);
      void stop().finally(() => process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)));
    });
  }

  const code = await new Promise<number>((done) => {
    child.on('error', (err) => {
      console.error(`run-tests: could not start node --test: ${err.message}`);
      done(1);
    });
    child.on('exit', (c, signal) => done(c ?? (signal === null ? 1 : 128)));
  });
  await stop();
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`run-tests: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
