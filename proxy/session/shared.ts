// What every session of one proxy shares with the server that accepted it: the upstream target, the limits
// (with their documented defaults), the swappable policy state and the registries. A file of its own so the
// composition root (run.ts, server.ts, local.ts, sidecar.ts) can name these without importing the state machine.
import type tls from 'node:tls';
import type { Identity } from '../../policy/types.ts';
import type { DerivedCatalog } from '../../policy/derived.ts';
import type { AuditSink } from '../../audit/types.ts';
import type { PolicyState } from '../enforce/gate.ts';
import type { MaskCatalog, MaskSettings } from '../mask/types.ts';
import type { CatalogNames, KnownObjects } from '../catalog.ts';
import type { ViolationCounter } from '../violations.ts';
import type { LogLimiter } from '../log-limiter.ts';
import type { Session } from './session.ts';

export interface UpstreamTarget {
  /** DatabaseBinding name: what the client may name as its database, and the audit's binding. */
  readonly binding: string;
  readonly database: string;
  readonly host: string;
  readonly port: number;
  readonly tlsMode: 'disable' | 'require' | 'verify-full';
  readonly ca?: string;
  readonly user: string;
  readonly password: string;
}

export interface Limits {
  /** Query/Parse text larger than this is refused with 54000 before it is parsed (pgdogdev/pgdog#1061). */
  readonly maxStatementBytes: number;
  /** Any message from the client (CopyData and Bind carry values). */
  readonly maxClientMessageBytes: number;
  /** Any message from the server (a DataRow with a large value). */
  readonly maxServerMessageBytes: number;
  /**
   * Upstream connect + TLS + login + the setup query, together (issue 15): an upstream that drops SYNs would
   * otherwise hold the client for the kernel's SYN retries (~127 s on Linux) before any error.
   */
  readonly upstreamConnectTimeoutMs: number;
  /** From accept until the client's startup packet (and TLS handshake) is complete; PostgreSQL's authentication_timeout. */
  readonly authenticationTimeoutMs: number;
  /**
   * Client connections past their startup packet (logging in upstream or ready); one more is refused with
   * PostgreSQL's own FATAL 53300. Connections still sending their startup packet are bounded separately, by the
   * same number and authenticationTimeoutMs (server.ts): a slow one never takes a place a real client needs.
   */
  readonly maxClientConnections: number;
}

export const MAX_STATEMENT_BYTES_DEFAULT = 1024 * 1024;
/** PgBouncer's server_connect_timeout is 15 s; the login timeout the proxy had alone was 15 s too. */
export const UPSTREAM_CONNECT_TIMEOUT_MS_DEFAULT = 15_000;
/** PostgreSQL's authentication_timeout default (1 min). */
export const AUTHENTICATION_TIMEOUT_MS_DEFAULT = 60_000;
/** PostgreSQL's max_connections default. */
export const MAX_CLIENT_CONNECTIONS_DEFAULT = 100;

export interface ProxyShared {
  /** Swapped by reload(); sessions pick it up at their next statement. */
  state: PolicyState;
  target: UpstreamTarget;
  readonly identity: Identity;
  readonly audit: AuditSink;
  readonly limits: Limits;
  readonly maskSettings: MaskSettings;
  readonly clientTls: tls.SecureContext | null;
  /** Proxy-issued cancel key (hex of pid + secret) → session. */
  readonly cancelKeys: Map<string, Session>;
  /** Every session, in the order they were accepted (server.ts evicts the oldest still in startup). */
  readonly sessions: Set<Session>;
  /** Sessions past their startup packet and not closed: what maxClientConnections counts. */
  established: number;
  /** pg_catalog names by upstream "host:port/db" (they change only with a major upgrade). */
  readonly catalogNames: Map<string, CatalogNames>;
  /** Mask catalogs (and the views and SQL functions over masked tables) by upstream "host:port/db", for one policy generation. */
  readonly maskCatalogs: Map<
    string,
    {
      generation: number;
      catalog: MaskCatalog;
      derived: DerivedCatalog;
      known: KnownObjects | null;
      atMs: number;
      epoch: number;
    }
  >;
  /**
   * Bumped when DDL run by any session of this process has committed: every session refetches its views and
   * SQL functions over masked tables before its next statement (a view replaced in place keeps its OID).
   */
  catalogEpoch: number;
  /** Sidecar mode: what warn/observe policies would have denied, reported to the operator (proxy/violations.ts). */
  readonly violations?: ViolationCounter | null;
  /**
   * Sidecar mode: asks the operator for an AccessRequest when a statement hits an `approve` rule
   * (RequestAccess). Absent (local mode): such statements are denied at once, saying why.
   */
  readonly approvals?: Approvals | null;
  log(message: string): void;
  /** Errors that come in storms (one per failed connection): logged once per kind and window, counted. */
  readonly events: LogLimiter;
}

/** Creates (or finds) the AccessRequest for one statement; resolves with its namespaced name. */
export interface Approvals {
  request(intent: { statement: string; policy: string; rule: string }): Promise<{ namespace: string; name: string }>;
}
