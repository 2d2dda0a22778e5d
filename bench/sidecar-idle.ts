// The injected sidecar at rest (issue 16: idle RSS ≤ 80 MiB, start to ready ≤ 1 s, idle CPU ~0): `airlock
// proxy --operator …` exactly as operator/webhook/inject.ts starts it, fed by an in-process PolicyDistribution
// server (operator/distribution/server.ts, the operator's own) with one snapshot, no Kubernetes needed.
//   sh scripts/node24.sh bench/sidecar-idle.ts [--airlock-bin FILE] [--node-options "FLAGS"] [--rounds N] [--idle S]
// --airlock-bin: the entry point to measure, e.g. the image tree's bin/airlock.js (scripts/build-image-tree.sh
// DIR), which is what the image runs. --node-options: NODE_OPTIONS of the sidecar (default: the one the webhook
// injects, operator/pod.ts SIDECAR_NODE_OPTIONS; MALLOC_ARENA_MAX is SIDECAR_MALLOC_ARENA_MAX). Prints one line per
// round and the medians; "main-thread wake-ups" are the main thread's context switches in the idle window.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AccessPolicy } from '../policy/types.ts';
import {
  distributionServer,
  jwt,
  mainThreadSwitches,
  ordersSnapshot,
  readyz,
  sidecarArgs,
} from '../test/support/sidecar.ts';
import { freePort } from '../test/support/ports.ts';
import { toolArgs, usageError } from '../test/support/tool-args.ts';
import { SIDECAR_MALLOC_ARENA_MAX, SIDECAR_NODE_OPTIONS } from '../operator/pod.ts';
import { cpuSeconds } from './procstat.ts';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const USAGE = `usage: sh scripts/node24.sh bench/sidecar-idle.ts [--airlock-bin FILE] [--node-options "FLAGS"] [--rounds N] [--idle S]

Idle RSS, CPU and main-thread wake-ups of the injected sidecar (\`airlock sidecar\`, policy from a distribution
server in this process), with the sidecar's NODE_OPTIONS and MALLOC_ARENA_MAX.

  --airlock-bin FILE     entry point (default bin/airlock.ts; the image tree's bin/airlock.js is what pods run)
  --node-options FLAGS   NODE_OPTIONS of the sidecar (default: operator/pod.ts SIDECAR_NODE_OPTIONS)
  --rounds N             sidecars started one after another (default 3)
  --idle S               seconds of the idle window (default 5)
  -h, --help             this text
`;
const { values: opt } = toolArgs(USAGE, {
  options: {
    'airlock-bin': { type: 'string', default: 'bin/airlock.ts' },
    'node-options': { type: 'string' },
    rounds: { type: 'string', default: '3' },
    idle: { type: 'string', default: '5' },
  },
});
const nodeOptions = opt['node-options'] ?? SIDECAR_NODE_OPTIONS;
const rounds = Number(opt.rounds);
const idleS = Number(opt.idle);
if (!Number.isInteger(rounds) || rounds <= 0 || !(idleS > 0))
  usageError(USAGE, '--rounds must be a positive integer and --idle a positive number of seconds');

const SUBJECT = 'system:serviceaccount:bench:app';
const TOKEN = jwt({ sub: SUBJECT });

const policy = {
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AccessPolicy',
  metadata: { name: 'app', namespace: 'bench' },
  spec: {
    subjects: [{ kind: 'ServiceAccount', name: 'app' }],
    databases: ['orders'],
    rules: [{ name: 'read', effect: 'allow', operations: ['SELECT', 'COPY_TO'], tables: ['public.*'] }],
    masking: [{ columns: ['public.customers.email'], strategy: 'partial' }],
  },
} as unknown as AccessPolicy;

function status(pid: number): Record<string, number> {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const out: Record<string, number> = {};
  for (const k of ['VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'Threads']) {
    const m = new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s);
    out[k] = m === null ? NaN : Number(m[1]);
  }
  return out;
}

interface Round {
  readyMs: number;
  rssMiB: number;
  hwmMiB: number;
  anonMiB: number;
  fileMiB: number;
  threads: number;
  idleCpuMs: number;
  /** Context switches of the main thread in the idle window: how often something (a timer) woke it. */
  wakeups: number;
}

async function round(grpcPort: number, dir: string): Promise<Round> {
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, TOKEN);
  const [listen, health] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const child = spawn(
    'sh',
    [
      join(root, 'scripts/node24.sh'),
      resolve(root, opt['airlock-bin']!),
      ...sidecarArgs({
        operatorPort: grpcPort,
        binding: 'bench/orders',
        tokenFile,
        listenPort: listen,
        healthPort: health,
        spoolDir: join(dir, `spool-${listen}`),
      }),
    ],
    {
      env: {
        ...process.env,
        NODE_OPTIONS: nodeOptions,
        MALLOC_ARENA_MAX: SIDECAR_MALLOC_ARENA_MAX,
        AIRLOCK_OPERATOR_CA: '',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  try {
    const deadline = Date.now() + 30_000;
    while ((await readyz(health)) !== 200) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`sidecar not ready (exit ${child.exitCode}): ${err}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const readyMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2000));
    const c0 = cpuSeconds(child.pid!);
    const w0 = mainThreadSwitches(child.pid!);
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const idleCpuMs = (cpuSeconds(child.pid!) - c0) * 1000;
    const wakeups = mainThreadSwitches(child.pid!) - w0;
    const s = status(child.pid!);
    return {
      readyMs,
      rssMiB: s['VmRSS']! / 1024,
      hwmMiB: s['VmHWM']! / 1024,
      anonMiB: s['RssAnon']! / 1024,
      fileMiB: s['RssFile']! / 1024,
      threads: s['Threads']!,
      idleCpuMs,
      wakeups,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'airlock-sidecar-idle-'));
const server = distributionServer(TOKEN, SUBJECT);
try {
  const grpcPort = await server.listen('127.0.0.1:0');
  // The endpoint is never dialled: nothing connects to the sidecar while it idles.
  server.publish(
    { namespace: 'bench', name: 'orders' },
    ordersSnapshot({
      endpoint: { host: '127.0.0.1', port: 5432, database: 'orders' },
      credentials: { username: 'app', password: 'x' },
      policies: [policy],
      namespace: 'bench',
    }),
  );
  process.stdout.write(`sidecar: ${opt['airlock-bin']}, NODE_OPTIONS=${JSON.stringify(nodeOptions)}\n`);
  const all: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await round(grpcPort, dir);
    all.push(r);
    process.stdout.write(
      `ready ${r.readyMs.toFixed(0)} ms, idle RSS ${r.rssMiB.toFixed(1)} MiB (anon ${r.anonMiB.toFixed(1)}, file ${r.fileMiB.toFixed(1)}), VmHWM ${r.hwmMiB.toFixed(1)} MiB, ${r.threads} threads, idle CPU ${r.idleCpuMs.toFixed(0)} ms and ${r.wakeups} main-thread wake-ups in ${idleS} s\n`,
    );
  }
  const med = (f: (r: Round) => number): string => {
    const v = all.map(f).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!.toFixed(1);
  };
  process.stdout.write(
    `median: ready ${med((r) => r.readyMs)} ms, idle RSS ${med((r) => r.rssMiB)} MiB, VmHWM ${med((r) => r.hwmMiB)} MiB, idle CPU ${med((r) => r.idleCpuMs)} ms and ${med((r) => r.wakeups)} main-thread wake-ups in ${idleS} s\n`,
  );
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
