// The injected sidecar at rest (issue 16: idle RSS, idle CPU): `airlock proxy --operator …` is started as a
// process, fed one snapshot by an in-process PolicyDistribution server (the operator's own), and checked once
// ready and idle: what wakes its main thread (nothing should: no timer runs without work), and every module it
// has loaded. Packages it must not load, each with why:
// - protobufjs and @grpc/proto-loader: the PolicyDistribution messages are encoded by distribution/codec.ts
//   (proto-loader loads all of protobufjs, ~55 modules);
// - yaml: only local mode reads a config file (bin/airlock.ts imports it there);
// - @sinclair/typebox: the sidecar checks the operator's compiled set field by field
//   (distribution/types.ts), never with the policy validator (policy/select.ts apart from compile.ts).
// Nor Node's own undici (fetch, WebSocket) with web streams: ~3 MiB of idle RSS, loaded by any ES `import` of
// node:http (building the module namespace runs its lazy WebSocket getter); the sidecar takes node:http with
// process.getBuiltinModule (proxy/sidecar.ts, proxy/metrics.ts).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { freePort } from '../support/ports.ts';
import { startHttpReceiver } from '../support/otlp-receiver.ts';
import {
  distributionServer,
  mainThreadSwitches,
  ordersSnapshot,
  readyz,
  sidecarArgs,
  TRAINER_TOKEN,
} from '../support/sidecar.ts';

const root = join(import.meta.dirname, '..', '..');

const FORBIDDEN = ['protobufjs', '@protobufjs/', '@grpc/proto-loader', 'yaml', '@sinclair/typebox'];
const FORBIDDEN_INTERNAL = [
  'NativeModule internal/deps/undici/undici',
  'NativeModule internal/webstreams/readablestream',
];

/**
 * Starts the sidecar with record-modules.ts preloaded (`env` picks how it records) and `extraArgs`, waits until it is ready
 * and idle, runs `whileReady` (still running), and stops it.
 */
async function readySidecar(
  env: Record<string, string>,
  whileReady: (child: ChildProcess) => Promise<void>,
  extraArgs: readonly string[] = [],
) {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sidecar-at-rest-'));
  const server = distributionServer();
  try {
    const grpcPort = await server.listen('127.0.0.1:0');
    // The endpoint is never dialled: nothing connects to the sidecar.
    server.publish(
      { namespace: 'ml', name: 'orders' },
      ordersSnapshot({
        endpoint: { host: '127.0.0.1', port: 5432, database: 'orders' },
        credentials: { username: 'app', password: 'x' },
      }),
    );
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, TRAINER_TOKEN);
    const [listen, health] = [await freePort(), await freePort()];
    const child = spawn(
      process.execPath,
      [
        '--import',
        pathToFileURL(join(import.meta.dirname, 'record-modules.ts')).href,
        join(root, 'bin', 'airlock.ts'),
        ...sidecarArgs({
          operatorPort: grpcPort,
          tokenFile,
          listenPort: listen,
          healthPort: health,
          spoolDir: join(dir, 'spool'),
        }),
        ...extraArgs,
      ],
      {
        env: { ...process.env, AIRLOCK_OPERATOR_CA: '', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      const deadline = Date.now() + 60_000;
      while ((await readyz(health)) !== 200) {
        if (child.exitCode !== null || Date.now() > deadline)
          assert.fail(`sidecar not ready (exit ${child.exitCode}): ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // Ready means it holds the policy; anything loaded lazily after that (the audit sink's timers) gets a moment.
      await new Promise((r) => setTimeout(r, 1000));
      await whileReady(child);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the sidecar, ready and idle, has loaded neither protobufjs nor proto-loader, YAML or TypeBox', async () => {
  const modulesFile = join(mkdtempSync(join(tmpdir(), 'airlock-modules-')), 'modules');
  try {
    writeFileSync(modulesFile, '');
    await readySidecar({ AIRLOCK_MODULES_OUT: modulesFile }, async () => {});
    const urls = readFileSync(modulesFile, 'utf8').split('\n').filter(Boolean);
    const packages = new Set(urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []));
    assert.ok(packages.has('@grpc/grpc-js'), 'the module list is recorded (grpc-js is loaded)');
    for (const f of FORBIDDEN) {
      const hits = urls.filter((u) => u.includes(`/node_modules/${f}`));
      assert.deepEqual(hits.slice(0, 5), [], `the sidecar loaded ${f}`);
    }
    assert.ok(
      urls.some((u) => u.endsWith('/distribution/codec.ts')),
      'the codec is loaded',
    );
    process.stdout.write(
      `# sidecar ready and idle: ${urls.length} modules loaded, packages: ${[...packages].sort().join(', ')}\n`,
    );
  } finally {
    rmSync(dirname(modulesFile), { recursive: true, force: true });
  }
});

test("the sidecar, ready and idle, has not loaded Node's undici or web streams", async () => {
  const builtinsFile = join(mkdtempSync(join(tmpdir(), 'airlock-builtins-')), 'builtins');
  try {
    let list: string[] = [];
    await readySidecar({ AIRLOCK_BUILTINS_OUT: builtinsFile }, async (child) => {
      child.kill('SIGUSR2');
      const deadline = Date.now() + 10_000;
      while (!existsSync(builtinsFile) || !readFileSync(builtinsFile, 'utf8').endsWith('done\n')) {
        if (child.exitCode !== null || Date.now() > deadline) assert.fail('no module list from the sidecar');
        await new Promise((r) => setTimeout(r, 20));
      }
      list = readFileSync(builtinsFile, 'utf8').split('\n');
    });
    assert.ok(list.includes('NativeModule http2'), 'the list is recorded (grpc-js loaded http2)');
    assert.ok(list.includes('NativeModule http'), 'node:http is loaded (health and metrics)');
    for (const f of FORBIDDEN_INTERNAL) assert.ok(!list.includes(f), `the sidecar loaded ${f}`);
  } finally {
    rmSync(dirname(builtinsFile), { recursive: true, force: true });
  }
});

test('the sidecar, ready and idle with audit on, has no timer waking its main thread', async () => {
  // The audit sink's flush tick (200 ms) and the violation reporter's (1 s) run only while they have work
  // (audit/sink.ts #quiet, proxy/violations.ts); before, an idle sidecar woke six times a second for nothing.
  const rx = await startHttpReceiver();
  try {
    let woken = Number.NaN;
    await readySidecar(
      { AIRLOCK_BUILTINS_OUT: join(tmpdir(), 'unused') },
      async (child) => {
        const before = mainThreadSwitches(child.pid!);
        await new Promise((r) => setTimeout(r, 2000));
        woken = mainThreadSwitches(child.pid!) - before;
      },
      ['--audit-endpoint', `${rx.endpoint}/v1/traces`],
    );
    // gRPC's keepalive to the operator is every 30 s; a stray wake-up or two is no timer.
    process.stdout.write(`# sidecar idle with audit on: main thread woke ${woken} times in 2 s\n`);
    assert.ok(woken <= 3, `the main thread woke ${woken} times in 2 s of idling`);
  } finally {
    await rx.close();
  }
});
