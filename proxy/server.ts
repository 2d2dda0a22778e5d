// The listener: accepts client connections, runs one Session per connection, keeps the session registry
// and the cancel-key map, swaps the policy state on reload and closes gracefully.
import net from 'node:net';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import type { Identity } from '../policy/types.ts';
import { NULL_AUDIT } from './audit/types.ts';
import type { AuditSink } from './audit/types.ts';
import type { MaskSettings } from './mask/types.ts';
import { MAX_MESSAGE_BYTES_DEFAULT } from './wire/frames.ts';
import { grantsFor, hasAccess } from './enforce/gate.ts';
import type { PolicyState } from './enforce/gate.ts';
import type { ViolationCounter } from './violations.ts';
import { MAX_STATEMENT_BYTES_DEFAULT, Session } from './session/session.ts';
import type { Approvals, Limits, ProxyShared, UpstreamTarget } from './session/session.ts';

export interface ProxyOptions {
  /** Default 127.0.0.1:6432 (design.md "Local mode"); port 0 picks a free one. */
  readonly listen?: { readonly host: string; readonly port: number };
  readonly target: UpstreamTarget;
  readonly identity: Identity;
  readonly state: PolicyState;
  readonly audit?: AuditSink;
  readonly limits?: Partial<Limits>;
  /** Key of the `hash` masking strategy; default derived from the binding and its credentials (hashKeyFor). */
  readonly maskSettings?: MaskSettings;
  /** Client-side TLS: with both, SSLRequest is answered 'S'. PEM text. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly log?: (message: string) => void;
  /** Sidecar mode: counts what warn/observe policies would have denied (proxy/violations.ts). */
  readonly violations?: ViolationCounter;
  /** Sidecar mode: asks the operator for AccessRequests (approve rules); absent = such statements are denied. */
  readonly approvals?: Approvals;
}

export interface Proxy {
  readonly address: { readonly host: string; readonly port: number };
  sessions(): Session[];
  /**
   * Swap in a new policy state (and endpoint): live sessions pick it up at their next statement; sessions
   * whose identity lost access, or that ran statements on an AccessRequest that is no longer granted
   * (revoked, expired), are closed now. `ended` says why a request ended (the snapshot's `revoked`).
   */
  reload(state: PolicyState, target?: UpstreamTarget, ended?: ReadonlyMap<string, string>): void;
  close(): Promise<void>;
}

/**
 * The `hash` strategy's HMAC key when none is configured: stable per binding (hashes stay joinable across
 * restarts) and secret (derived from the upstream password, which the application never sees).
 */
export function hashKeyFor(target: UpstreamTarget): Buffer {
  return createHash('sha256').update(`airlock mask hash key\u0000${target.binding}\u0000${target.user}\u0000${target.password}`).digest();
}

export async function startProxy(opts: ProxyOptions): Promise<Proxy> {
  const listen = opts.listen ?? { host: '127.0.0.1', port: 6432 };
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const shared: ProxyShared = {
    state: opts.state,
    target: opts.target,
    identity: opts.identity,
    audit: opts.audit ?? NULL_AUDIT,
    limits: {
      maxStatementBytes: opts.limits?.maxStatementBytes ?? MAX_STATEMENT_BYTES_DEFAULT,
      maxClientMessageBytes: opts.limits?.maxClientMessageBytes ?? MAX_MESSAGE_BYTES_DEFAULT,
      maxServerMessageBytes: opts.limits?.maxServerMessageBytes ?? MAX_MESSAGE_BYTES_DEFAULT,
    },
    maskSettings: opts.maskSettings ?? { hashKey: hashKeyFor(opts.target) },
    clientTls: opts.tls === undefined ? null : tls.createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }),
    cancelKeys: new Map(),
    sessions: new Set(),
    catalogNames: new Map(),
    maskCatalogs: new Map(),
    catalogEpoch: 0,
    violations: opts.violations ?? null,
    approvals: opts.approvals ?? null,
    log,
  };
  const server = net.createServer({ noDelay: true }, (sock) => {
    sock.on('error', () => sock.destroy());
    try {
      new Session(sock, shared);
    } catch (e) {
      log(`airlock: could not start a session: ${(e as Error).message}`);
      sock.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listen.host, port: listen.port }, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as net.AddressInfo;
  let closed: Promise<void> | null = null;
  return {
    address: { host: addr.address, port: addr.port },
    sessions: () => [...shared.sessions],
    reload(state, target, ended) {
      shared.state = state;
      if (target !== undefined) shared.target = target;
      const granted = new Set(grantsFor(state.grants, shared.identity, Date.now()).map((g) => g.request));
      // Revocation reaches idle sessions too: walk them now rather than at their next statement.
      for (const s of [...shared.sessions]) {
        if (!s.ready) continue;
        if (!hasAccess(state, shared.identity, shared.target.binding)) {
          s.terminate('42501', `access revoked: no AccessPolicy gives ${shared.identity.user} access to "${shared.target.binding}" any more`);
          continue;
        }
        let gone: string | null = null;
        for (const g of s.grantsUsed) if (!granted.has(g)) { gone = g; break; }
        if (gone !== null) {
          const why = ended?.get(gone);
          s.terminate('42501', `access revoked: AccessRequest ${gone} ${why === 'Revoked' ? 'was revoked' : why === 'Expired' ? 'expired' : 'is no longer granted'}; this session ran statements it granted`);
          continue;
        }
        s.policyChanged();
      }
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of [...shared.sessions]) s.terminate('57P01', 'terminating connection because the Airlock proxy is shutting down');
      }).then(() => shared.audit.close());
      return closed;
    },
  };
}
