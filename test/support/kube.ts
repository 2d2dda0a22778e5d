// A real Kubernetes control plane for tests: etcd and kube-apiserver, built from source by
// scripts/build-kube.sh (design.md, "Real parts in tests"; style.md §9: fakes become "poorly-written
// impressions of a real API server"). Only the apiserver runs — no controller-manager, scheduler or
// kubelet — so what needs a controller does not happen here:
//   - a namespace's `default` ServiceAccount is not created: createNamespace() creates it, because the
//     ServiceAccount admission plugin (kept on: pods reach our webhook with the token volume already
//     mounted, as in a real cluster) refuses a pod whose ServiceAccount does not exist;
//   - a deleted namespace stays Terminating forever (the namespace controller empties it): use a fresh,
//     uniquely named namespace per test instead of deleting;
//   - no garbage collection of ownerReferences, pods stay Pending (nothing schedules or runs them).
// The built-in namespaces default, kube-system, kube-public and kube-node-lease are created by the
// apiserver itself (its bootstrap controller / post-start hooks); the smoke test checks that.
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** The admin user: group system:masters, which RBAC lets do everything. */
export const ADMIN_USER = 'airlock-admin';

/**
 * Plain users for RBAC tests, with their groups. They hold no RoleBinding: a test grants what it needs.
 * `alice` and `bob` sit in the groups design.md's examples use (`data-oncall`, `dba` approvers).
 */
export const TEST_USERS: Readonly<Record<string, readonly string[]>> = {
  'alice@example.com': ['data-oncall'],
  'bob@example.com': ['dba'],
  'mallory@example.com': [],
};

/** Issuer and audience of ServiceAccount tokens, as in a kubeadm cluster. */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';

export interface KubeResponse {
  readonly status: number;
  /** Parsed JSON when the server sent JSON, otherwise the text. */
  readonly body: any;
}

export interface KubeRequestOptions {
  /** JSON-serialised; a string is sent as is (e.g. a YAML or merge-patch body). */
  readonly body?: unknown;
  /** Bearer token; defaults to the admin token. */
  readonly token?: string;
  readonly contentType?: string;
}

export interface Kube {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** PEM of the CA that signed the serving certificate (and the clients' certificates, if any). */
  readonly caPem: string;
  readonly adminToken: string;
  /** kubeconfig for the admin user. */
  readonly kubeconfigPath: string;
  /** The temp dir holding certificates, kubeconfigs, etcd data and logs (apiserver.log, etcd.log). */
  readonly dir: string;
  /** Kubernetes version the apiserver reports, e.g. v1.37.2. */
  readonly version: string;
  /** Token of ADMIN_USER or one of TEST_USERS; throws for anyone else. */
  tokenFor(user: string): string;
  /** kubeconfig path for ADMIN_USER or one of TEST_USERS; throws for anyone else. */
  kubeconfigFor(user: string): string;
  /** One API call, JSON in and out. Never throws on an HTTP status: tests assert on it. */
  request(method: string, path: string, options?: KubeRequestOptions): Promise<KubeResponse>;
  /** Creates a namespace and its `default` ServiceAccount (see the file comment). */
  createNamespace(name: string, labels?: Record<string, string>): Promise<void>;
  /** A token for a ServiceAccount from the TokenRequest API, as a projected volume would hold it. */
  serviceAccountToken(namespace: string, name: string, audiences?: readonly string[]): Promise<string>;
  /** Kills both processes and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const kubeModule = join(repo, 'test', 'kube');

/** Where scripts/build-kube.sh puts the binaries, and the stamp it writes (keep the two in step). */
export function kubeBinaries(): { readonly dir: string; readonly version: string; readonly problem: string | null } {
  const goMod = readFileSync(join(kubeModule, 'go.mod'), 'utf8');
  const goSum = readFileSync(join(kubeModule, 'go.sum'), 'utf8');
  const version = /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(goMod)?.[1];
  if (version === undefined) throw new Error(`${kubeModule}/go.mod does not require k8s.io/kubernetes`);
  const cache = process.env.AIRLOCK_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'airlock');
  const dir = join(cache, 'kube', version, 'bin');
  const stamp = createHash('sha256').update(goMod).update(goSum).digest('hex');
  let problem: string | null = null;
  for (const name of ['kube-apiserver', 'etcd']) {
    if (problem !== null) break;
    try {
      if ((statSync(join(dir, name)).mode & 0o111) === 0) problem = `${join(dir, name)} is not executable`;
    } catch {
      problem = `${join(dir, name)} does not exist`;
    }
  }
  if (problem === null) {
    let built = '';
    try {
      built = readFileSync(join(dir, '.stamp'), 'utf8').trim();
    } catch {
      /* reported below */
    }
    if (built !== stamp) problem = `the binaries in ${dir} were not built from the current test/kube/go.mod and go.sum`;
  }
  return { dir, version, problem };
}

function missingBinariesMessage(version: string, problem: string): string {
  const why =
    process.env.CI === 'true'
      ? 'CI must build them before the tests run (the test suite never skips a real part)'
      : 'the tests need a real kube-apiserver and never skip it';
  return (
    `kube-apiserver ${version} and etcd are not built: ${problem}. Run scripts/build-kube.sh `
    + `(the first build takes ~4-6 minutes on 2 cores); ${why}.`
  );
}

// Children still running when this process exits are killed here. 'exit' does not run on a signal or
// SIGKILL; for those, each child is started under a watchdog shell (WATCHDOG) that kills it when our
// end of its stdin pipe closes, which the kernel does however this process ends.
const live = new Set<() => void>();
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const kill of live) kill();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

// $1... is the command. Prints the child's pid, then waits for it. A background list's stdin is
// /dev/null (POSIX), so the pipe is kept on fd 3 for the watcher; the child's stdout joins stderr
// (the log file), leaving our stdout for the pid line alone. The watcher kills the child only while
// this shell lives (until then the pid is the child's, running or unreaped; afterwards it may be
// reused), and is not killed itself: it ends when the pipe closes, which Proc.kill() always does.
// $AIRLOCK_KUBE_DIR, if set, is removed then: etcd preallocates 2 x 62 MB of WAL there, too much to
// leave behind per killed run.
const WATCHDOG = `exec 3<&0
"$@" </dev/null >&2 &
child=$!
echo "$child"
( read -r _ <&3
  if kill -0 $$ 2>/dev/null; then kill -KILL "$child" 2>/dev/null; fi
  [ -z "\${AIRLOCK_KUBE_DIR:-}" ] || rm -rf "$AIRLOCK_KUBE_DIR" ) >/dev/null 2>&1 &
wait "$child"`;

interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly log: string;
  readonly exited: Promise<number | null>;
  hasExited(): boolean;
  kill(): Promise<void>;
}

async function startProcess(
  name: string,
  bin: string,
  args: readonly string[],
  log: string,
  removeOnKill?: string,
): Promise<Proc> {
  const logFile = await open(log, 'a');
  let shell: ChildProcess;
  try {
    const env = removeOnKill === undefined ? process.env : { ...process.env, AIRLOCK_KUBE_DIR: removeOnKill };
    shell = spawn('sh', ['-c', WATCHDOG, 'watchdog', bin, ...args], { stdio: ['pipe', 'pipe', logFile.fd], env });
  } finally {
    await logFile.close();
  }
  let done = false;
  const exited = new Promise<number | null>((resolveExit) => {
    shell.once('exit', (code) => {
      done = true;
      resolveExit(code);
    });
  });
  const pidLine = await new Promise<string>((resolvePid, reject) => {
    let text = '';
    shell.stdout!.setEncoding('utf8');
    shell.stdout!.on('data', (chunk: string) => {
      text += chunk;
      const nl = text.indexOf('\n');
      if (nl >= 0) resolvePid(text.slice(0, nl));
    });
    shell.once('error', reject);
    void exited.then(() => reject(new Error(`${name}: watchdog shell exited before starting ${bin}`)));
  });
  // Nothing more comes on stdout. Neither the shell nor its stdin pipe keeps this process alive: a test
  // that forgets stop() ends anyway (and the 'exit' handler cleans up) instead of hanging the suite.
  shell.stdout!.destroy();
  (shell.stdin as unknown as Socket).unref();
  shell.unref();
  const pid = Number(pidLine);
  if (!Number.isInteger(pid) || pid <= 0)
    throw new Error(`${name}: watchdog printed ${JSON.stringify(pidLine)}, not a pid`);
  const killSync = (): void => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  live.add(killSync);
  void exited.then(() => live.delete(killSync));
  return {
    name,
    pid,
    log,
    exited,
    hasExited: () => done,
    // SIGKILL, not SIGTERM: the data is thrown away, and the apiserver's graceful shutdown takes seconds.
    kill: async () => {
      shell.ref(); // keep the loop alive until the exit is seen
      if (!done) killSync();
      shell.stdin!.end();
      await exited;
    },
  };
}

async function tail(path: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

/** A port the kernel just handed out and released; a race with another process is possible, so startKube retries. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP port from listen(0)');
  return address.port;
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** CA, serving certificate for 127.0.0.1/localhost/kubernetes.default.svc, and the ServiceAccount signing key. */
async function makeCertificates(dir: string): Promise<void> {
  await openssl(
    [
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
      '/CN=airlock-test-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'apiserver.key',
      '-out',
      'apiserver.csr',
      '-subj',
      '/CN=kube-apiserver',
    ],
    dir,
  );
  await writeFile(
    join(dir, 'apiserver.ext'),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      // In-cluster names too, so a client configured as if inside the cluster verifies the same certificate.
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,'
        + 'DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1',
      '',
    ].join('\n'),
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'apiserver.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'apiserver.crt',
      '-days',
      '2',
      '-extfile',
      'apiserver.ext',
    ],
    dir,
  );
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function kubeconfig(server: string, caPem: string, user: string, token: string): string {
  // JSON is YAML, and kubectl and @kubernetes/client-node both read it.
  return (
    JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'airlock-test',
            cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
          },
        ],
        users: [{ name: user, user: { token } }],
        contexts: [{ name: user, context: { cluster: 'airlock-test', user } }],
        'current-context': user,
      },
      null,
      2,
    ) + '\n'
  );
}

function call(
  port: number,
  caPem: string,
  method: string,
  path: string,
  token: string,
  options: KubeRequestOptions,
): Promise<KubeResponse> {
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  return new Promise((resolveCall, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca: caPem,
        headers: {
          Accept: 'application/json',
          Authorization: `Bearer ${token}`,
          ...(body === undefined
            ? {}
            : {
                'Content-Type': options.contentType ?? 'application/json',
                'Content-Length': Buffer.byteLength(body),
              }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').startsWith('application/json')) {
            try {
              parsed = JSON.parse(text);
            } catch {
              /* keep the text */
            }
          }
          resolveCall({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function etcdHealthy(port: number): Promise<boolean> {
  return new Promise((resolveHealth) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/health', timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolveHealth(res.statusCode === 200 && text.includes('"health":"true"')));
    });
    req.on('error', () => resolveHealth(false));
    req.on('timeout', () => {
      req.destroy();
      resolveHealth(false);
    });
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `ready` until it holds, failing at once with the log's tail if `proc` exits first. */
async function waitFor(proc: Proc, what: string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.hasExited()) {
      throw new StartError(
        `${proc.name} exited (code ${await proc.exited}) before ${what}; last lines of ${proc.log}:\n`
          + (await tail(proc.log)),
      );
    }
    if (await ready()) return;
    if (Date.now() > deadline) {
      throw new StartError(
        `${proc.name} not ${what} after ${timeoutMs / 1000}s; last lines of ${proc.log}:\n` + (await tail(proc.log)),
      );
    }
    await sleep(200);
  }
}

class StartError extends Error {}

// Readiness on a 2-core machine that runs other test files at the same time: etcd starts in well under
// a second and the apiserver in 5-15 s when idle; the margin is for a loaded machine.
const ETCD_READY_TIMEOUT_MS = 30_000;
const APISERVER_READY_TIMEOUT_MS = 120_000;
const PORT_RACE_ATTEMPTS = 3;

/** Starts etcd and kube-apiserver on loopback and waits until /readyz passes. Call stop() when done. */
export async function startKube(): Promise<Kube> {
  const bins = kubeBinaries();
  if (bins.problem !== null) throw new Error(missingBinariesMessage(bins.version, bins.problem));
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bins.dir, bins.version);
    } catch (e) {
      // Only a lost race for a port is worth another go; anything else is a real failure.
      if (attempt < PORT_RACE_ATTEMPTS && e instanceof StartError && /address already in use/.test(e.message)) continue;
      throw e;
    }
  }
}

async function startOnce(binDir: string, version: string): Promise<Kube> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-kube-'));
  const procs: Proc[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // The apiserver first, so it does not log a storm of etcd connection errors on the way down.
    for (const p of procs.slice().reverse()) await p.kill();
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };
  liveDirs.add(dir); // removed at exit if stop() is never called
  try {
    await makeCertificates(dir);
    const caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
    const tokens = new Map<string, string>();
    const rows: string[] = [];
    // Token file rows: token,user,uid,"group1,group2" (kube-apiserver --token-auth-file).
    for (const [user, groups] of [[ADMIN_USER, ['system:masters']] as const, ...Object.entries(TEST_USERS)]) {
      const token = randomBytes(24).toString('hex');
      tokens.set(user, token);
      rows.push(`${token},${user},${user},"${groups.join(',')}"`);
    }
    await writeFile(join(dir, 'tokens.csv'), rows.join('\n') + '\n', { mode: 0o600 });
    const adminToken = tokens.get(ADMIN_USER)!;

    const etcdClient = await freePort();
    const etcdPeer = await freePort();
    const etcd = await startProcess(
      'etcd',
      join(binDir, 'etcd'),
      [
        '--name=airlock-test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=airlock-test=http://127.0.0.1:${etcdPeer}`,
        // Throwaway data: skip fsync, which would otherwise dominate on a shared disk.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      join(dir, 'etcd.log'),
      dir,
    );
    procs.push(etcd);
    await waitFor(etcd, 'healthy', ETCD_READY_TIMEOUT_MS, () => etcdHealthy(etcdClient));

    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const apiserver = await startProcess(
      'kube-apiserver',
      join(binDir, 'kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        // The endpoint reconciler publishes the advertise address as the `kubernetes` Service's endpoint
        // and refuses a loopback one; with no pods running, nothing here needs that endpoint.
        '--endpoint-reconciler-type=none',
        `--secure-port=${port}`,
        `--cert-dir=${dir}`,
        `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
        `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
        `--client-ca-file=${join(dir, 'ca.crt')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        `--api-audiences=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        // Explicit rather than the release's defaults, so the admission chain our webhook sits in does
        // not change under us with a version bump.
        '--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,Priority,'
          + 'RuntimeClass,PodSecurity,MutatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,'
          + 'ValidatingAdmissionWebhook,ResourceQuota',
        // On by default, but each adds a finalizer that only a controller we do not run removes
        // (kubernetes.io/pvc-protection, kubernetes.io/pv-protection, the PodGroup one): objects would
        // never finish deleting.
        '--disable-admission-plugins=StorageObjectInUseProtection,PodGroupProtection',
        '--allow-privileged=true',
        '--profiling=false',
      ],
      join(dir, 'apiserver.log'),
    );
    procs.push(apiserver);
    await waitFor(apiserver, 'ready (/readyz)', APISERVER_READY_TIMEOUT_MS, async () => {
      try {
        return (await call(port, caPem, 'GET', '/readyz', adminToken, {})).status === 200;
      } catch {
        return false; // not listening yet
      }
    });

    const kubeconfigs = new Map<string, string>();
    for (const [user, token] of tokens) {
      const path = join(dir, `kubeconfig-${user.replace(/[^A-Za-z0-9.-]/g, '_')}.yaml`);
      await writeFile(path, kubeconfig(server, caPem, user, token), { mode: 0o600 });
      kubeconfigs.set(user, path);
    }
    const known = <T>(map: Map<string, T>, user: string): T => {
      const value = map.get(user);
      if (value === undefined) throw new Error(`no test user "${user}"; known: ${[...map.keys()].join(', ')}`);
      return value;
    };
    const request = (method: string, path: string, options: KubeRequestOptions = {}): Promise<KubeResponse> =>
      call(port, caPem, method, path, options.token ?? adminToken, options);
    const must = async (
      what: string,
      res: Promise<KubeResponse>,
      ok: (status: number) => boolean,
    ): Promise<KubeResponse> => {
      const r = await res;
      if (!ok(r.status)) throw new Error(`${what}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
      return r;
    };
    return {
      server,
      caPem,
      adminToken,
      dir,
      version,
      kubeconfigPath: known(kubeconfigs, ADMIN_USER),
      tokenFor: (user) => known(tokens, user),
      kubeconfigFor: (user) => known(kubeconfigs, user),
      request,
      createNamespace: async (name, labels = {}) => {
        await must(
          `create namespace ${name}`,
          request('POST', '/api/v1/namespaces', {
            body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
          }),
          (s) => s === 201,
        );
        await must(
          `create serviceaccount ${name}/default`,
          request('POST', `/api/v1/namespaces/${name}/serviceaccounts`, {
            body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
          }),
          (s) => s === 201,
        );
      },
      serviceAccountToken: async (namespace, name, audiences = [SERVICE_ACCOUNT_ISSUER]) => {
        const r = await must(
          `token for serviceaccount ${namespace}/${name}`,
          request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
            body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences } },
          }),
          (s) => s === 201,
        );
        return r.body.status.token as string;
      },
      stop,
    };
  } catch (e) {
    // The message already carries the log's tail; the dir goes.
    await stop().catch(() => {});
    throw e;
  }
}
