// What the sidecar tests (and bench/sidecar-idle.ts) hand an in-process PolicyDistribution server: a
// ServiceAccount token the server's StaticTokenReviewer knows, the trainer's AccessPolicy, and the snapshot of
// a DatabaseBinding named `orders`; and, for those that run the sidecar as a process, its arguments, its
// readiness and its main thread's wake-ups.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { Snapshot } from '../../distribution/types.ts';
import { reviewed, StaticTokenReviewer } from '../../operator/distribution/auth.ts';
import { DistributionServer } from '../../operator/distribution/server.ts';
import { compile } from '../../policy/compile.ts';
import type { AccessPolicy, DatabaseBinding } from '../../policy/types.ts';

/** An unsigned JWT with these claims: StaticTokenReviewer keys on the whole string, the sidecar reads `sub`. */
export const jwt = (claims: object): string => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

export const TRAINER = 'system:serviceaccount:ml:trainer';
export const TRAINER_TOKEN = jwt({ sub: TRAINER });

export const READ_ALL = { name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] };

/** AccessPolicy ml/trainer for the ServiceAccount trainer on database `orders`. */
export const trainerPolicy = (rules: object[] = [READ_ALL]): AccessPolicy =>
  ({
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name: 'trainer', namespace: 'ml' },
    spec: { subjects: [{ kind: 'ServiceAccount', name: 'trainer' }], databases: ['orders'], rules },
  }) as unknown as AccessPolicy;

/**
 * An in-process PolicyDistribution server, not yet listening, that admits `token` as `subject` (default: the
 * trainer's) and lets it watch any binding.
 */
export function distributionServer(token = TRAINER_TOKEN, subject = TRAINER): DistributionServer {
  return new DistributionServer({
    reviewer: new StaticTokenReviewer(new Map([[token, reviewed(subject)]])),
    authorize: () => ({ ok: true }),
  });
}

/** The snapshot of binding `<namespace>/orders` (default ml/orders) for `policies`, no grants, no revocations. */
export function ordersSnapshot(o: {
  readonly endpoint: { readonly host: string; readonly port: number; readonly database: string };
  readonly credentials: { readonly username: string; readonly password: string };
  readonly policies?: AccessPolicy[];
  readonly generation?: number;
  readonly namespace?: string;
}): Snapshot {
  const { host, port, database } = o.endpoint;
  return {
    policySet: compile(o.policies ?? [trainerPolicy()], o.generation ?? 1),
    binding: {
      namespace: o.namespace ?? 'ml',
      name: 'orders',
      generation: 1,
      spec: {
        engine: 'postgres',
        endpoint: { host, database },
        credentialsSecretRef: { name: 's' },
      } as DatabaseBinding['spec'],
    },
    endpoint: { host, port, database, tlsMode: 'disable', caPem: null },
    credentials: { username: o.credentials.username, password: o.credentials.password },
    grants: [],
    revoked: [],
    shutdown: null,
  };
}

/**
 * `airlock proxy` in sidecar mode with the flags the webhook writes (operator/webhook/inject.ts), moved to this
 * machine: the operator's PolicyDistribution on 127.0.0.1:`operatorPort`, everything else on loopback too.
 * The caller puts Node, its preloads and the entry point (bin/airlock.ts or an image tree's bin/airlock.js) first.
 */
export function sidecarArgs(o: {
  readonly operatorPort: number;
  readonly binding?: string;
  readonly tokenFile: string;
  readonly listenPort: number;
  readonly healthPort: number;
  readonly spoolDir: string;
}): string[] {
  return [
    'proxy',
    '--operator',
    `127.0.0.1:${o.operatorPort}`,
    '--binding',
    o.binding ?? 'ml/orders',
    '--token-file',
    o.tokenFile,
    '--listen',
    `127.0.0.1:${o.listenPort}`,
    '--health-listen',
    `127.0.0.1:${o.healthPort}`,
    '--spool-dir',
    o.spoolDir,
  ];
}

/** The status of GET /readyz on a sidecar's health port; 0 while nothing answers there. */
export const readyz = (port: number): Promise<number> =>
  new Promise((res) => {
    http
      .get({ host: '127.0.0.1', port, path: '/readyz' }, (r) => {
        r.resume();
        res(r.statusCode ?? 0);
      })
      .on('error', () => res(0));
  });

/**
 * Voluntary and involuntary context switches of a process's main thread so far (proc(5): /proc/PID/task/PID/
 * status): how often something (a timer) woke it while idle.
 */
export function mainThreadSwitches(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  const count = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return count('voluntary_ctxt_switches') + count('nonvoluntary_ctxt_switches');
}
