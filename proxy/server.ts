// The listener: accepts client connections, runs one Session per connection, keeps the session registry
// and the cancel-key map, swaps the policy state on reload and closes gracefully.
import net from 'node:net';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import type { Identity } from '../policy/types.ts';
import { NULL_AUDIT } from '../audit/types.ts';
import type { AuditSink } from '../audit/types.ts';
import type { MaskSettings } from './mask/types.ts';
import { MAX_MESSAGE_BYTES_DEFAULT } from './wire/frames.ts';
import { grantsFor, hasAccess } from './enforce/gate.ts';
import type { PolicyState } from './enforce/gate.ts';
import type { ViolationCounter } from './violations.ts';
import { LogLimiter } from './log-limiter.ts';
import { Session } from './session/session.ts';
import {
  AUTHENTICATION_TIMEOUT_MS_DEFAULT,
  MAX_CLIENT_CONNECTIONS_DEFAULT,
  MAX_STATEMENT_BYTES_DEFAULT,
  UPSTREAM_CONNECT_TIMEOUT_MS_DEFAULT,
} from './session/shared.ts';
import type { Approvals, Limits, ProxyShared, UpstreamTarget } from './session/shared.ts';

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
  /** Where repeated errors are aggregated (default: one over `log`, 10 s windows). */
  readonly events?: LogLimiter;
}

export interface Proxy {
  readonly address: { readonly host: string; readonly port: number };
  sessions(): Session[];
  /** Counted, rate-limited errors (metrics read airlock_errors_total from here). */
  readonly events: LogLimiter;
  /**
   * Swap in a new policy state (and endpoint): live sessions pick it up at their next statement; sessions
   * whose identity lost access, or that ran statements on an AccessRequest that is no longer granted
   * (revoked, expired), are closed now. `ended` says why a request ended (the snapshot's `revoked`).
   */
  reload(state: PolicyState, target?: UpstreamTarget, ended?: ReadonlyMap<string, string>): void;
  /**
   * Stop: close the listener at once (new connections are refused), end idle sessions with 57P01, let sessions
   * with a statement or transaction in flight finish it for up to `drainMs`, then send PostgreSQL a
   * CancelRequest for what is still running and end those sessions too. Resolves when every session is closed
   * and the audit sink is flushed. Default drainMs 0: cancel and close everything now.
   */
  close(drainMs?: number): Promise<void>;
}

const SHUTDOWN = 'terminating connection because the Airlock proxy is shutting down';
/** After a drain's CancelRequests: how long the cancelled statements get to report 57014 before the sessions end. */
const CANCEL_SETTLE_MS = 1000;

/**
 * The `hash` strategy's HMAC key when none is configured: stable per binding (hashes stay joinable across
 * restarts) and secret (derived from the upstream password, which the application never sees).
 */
export function hashKeyFor(target: UpstreamTarget): Buffer {
  return createHash('sha256')
    .update(`airlock mask hash key\u0000${target.binding}\u0000${target.user}\u0000${target.password}`)
    .digest();
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
      upstreamConnectTimeoutMs: opts.limits?.upstreamConnectTimeoutMs ?? UPSTREAM_CONNECT_TIMEOUT_MS_DEFAULT,
      authenticationTimeoutMs: opts.limits?.authenticationTimeoutMs ?? AUTHENTICATION_TIMEOUT_MS_DEFAULT,
      maxClientConnections: opts.limits?.maxClientConnections ?? MAX_CLIENT_CONNECTIONS_DEFAULT,
    },
    maskSettings: opts.maskSettings ?? { hashKey: hashKeyFor(opts.target) },
    clientTls: opts.tls === undefined ? null : tls.createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }),
    cancelKeys: new Map(),
    sessions: new Set(),
    established: 0,
    catalogNames: new Map(),
    maskCatalogs: new Map(),
    catalogEpoch: 0,
    violations: opts.violations ?? null,
    approvals: opts.approvals ?? null,
    log,
    events: opts.events ?? new LogLimiter(log),
  };
  const server = net.createServer({ noDelay: true }, (sock) => {
    sock.on('error', () => sock.destroy());
    // Connections still sending their startup packet are bounded too (a slowloris of partial packets): at
    // maxClientConnections of them, the oldest goes. A real client finishes its startup packet in one round
    // trip, so it is never the oldest; the timeout (authenticationTimeoutMs) closes the rest.
    if (shared.sessions.size - shared.established >= shared.limits.maxClientConnections) {
      for (const s of shared.sessions)
        if (s.inStartup) {
          s.evict();
          break;
        }
    }
    try {
      new Session(sock, shared);
    } catch (e) {
      log(`airlock: could not start a session: ${(e as Error).message}`);
      sock.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  let closed: Promise<void> | null = null;
  return {
    address: { host: addr.address, port: addr.port },
    sessions: () => [...shared.sessions],
    events: shared.events,
    reload(state, target, ended) {
      shared.state = state;
      if (target !== undefined) shared.target = target;
      const granted = new Set(grantsFor(state.grants, shared.identity, Date.now()).map((g) => g.request));
      // Revocation reaches idle sessions too: walk them now rather than at their next statement.
      for (const s of [...shared.sessions]) {
        if (!s.ready) continue;
        if (!hasAccess(state, shared.identity, shared.target.binding)) {
          s.terminate(
            '42501',
            `access revoked: no AccessPolicy gives ${shared.identity.user} access to "${shared.target.binding}" any more`,
          );
          continue;
        }
        let gone: string | null = null;
        for (const g of s.grantsUsed)
          if (!granted.has(g)) {
            gone = g;
            break;
          }
        if (gone !== null) {
          const why = ended?.get(gone);
          s.terminate(
            '42501',
            `access revoked: AccessRequest ${gone} ${why === 'Revoked' ? 'was revoked' : why === 'Expired' ? 'expired' : 'is no longer granted'}; this session ran statements it granted`,
          );
          continue;
        }
        s.policyChanged();
      }
    },
    close(drainMs = 0) {
      closed ??= (async () => {
        const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        const t0 = Date.now();
        const all = [...shared.sessions];
        const busy = all.filter((s) => s.busy);
        for (const s of all) if (!s.busy) s.terminate('57P01', SHUTDOWN);
        // Each busy session ends as soon as it is idle: its statement answered, its transaction over.
        let left = busy.length;
        let allIdle: () => void = () => {};
        const idle = new Promise<void>((resolve) => {
          allIdle = resolve;
          if (left === 0) resolve();
        });
        for (const s of busy)
          s.whenIdle(() => {
            s.terminate('57P01', SHUTDOWN);
            if (--left === 0) allIdle();
          });
        const within = (ms: number): Promise<void> =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms);
            void idle.then(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        if (busy.length > 0 && drainMs > 0) {
          log(
            `airlock: draining: ${busy.length} session(s) with a statement or transaction in flight, up to ${drainMs} ms`,
          );
          await within(drainMs);
        }
        const cut = busy.filter((s) => !s.closing);
        if (cut.length > 0) {
          // PostgreSQL would keep running a statement whose client went away until it next writes to it: cancel
          // it (the CancelRequest travels on a new connection), give the client the statement's own 57014 error,
          // then end the session.
          log(
            `airlock: drain ${drainMs > 0 ? `timeout (${drainMs} ms)` : 'skipped'}: cancelling ${cut.length} statement(s) still in flight`,
          );
          await Promise.all(cut.map((s) => s.cancelUpstream()));
          await within(CANCEL_SETTLE_MS);
          for (const s of cut)
            s.terminate(
              '57P01',
              `${SHUTDOWN}: its drain timeout (${drainMs} ms) ended before this session's statement or transaction did`,
            );
        }
        if (busy.length > 0)
          log(
            `airlock: drained in ${Date.now() - t0} ms (${busy.length - cut.length} finished, ${cut.length} cancelled)`,
          );
        await listenerClosed;
        shared.events.flush();
        await shared.audit.close();
      })();
      return closed;
    },
  };
}
