// What the sidecar tests (and bench/sidecar-idle.ts) hand an in-process PolicyDistribution server: a
// ServiceAccount token the server's StaticTokenReviewer knows, the trainer's AccessPolicy, and the snapshot of
// a DatabaseBinding named `orders`.
import type { Snapshot } from '../../distribution/types.ts';
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
