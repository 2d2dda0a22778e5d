// One state machine per client connection: startup, upstream login, then the relay that decides every
// statement, masks results and audits. See ../../docs/adr/0001-denial-by-poison-statement.md for how a denial
// travels, and requests.ts for the queue that matches responses to requests.
//
// Hot path (style.md §2): each chunk from either side is walked in place with FrameReader.drain; messages
// that need nothing leave as one subarray per run of consecutive frames, one socket write per chunk (cork).
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes, randomInt } from 'node:crypto';
import type { CompiledPolicySet, Decision, Identity, MaskPlan, SessionContext, StatementFacts } from '../../policy/types.ts';
import { Backend, Frontend, TxStatus } from '../wire/codes.ts';
import { FrameReader, WireError } from '../wire/frames.ts';
import {
  AUTH_OK, FLUSH, SYNC, TERMINATE, backendKeyData, errorResponse, parameterStatus, parse as parseMessage, query as queryMessage,
  describe as describeMessage, RFQ_IDLE, bind as bindMessage, close as closeMessage, execute as executeMessage,
} from '../wire/messages.ts';
import type { PgErrorFields } from '../wire/messages.ts';
import {
  InvalidTextError, readBind, readClose, readCommandComplete, readCopyResponse, readDescribe, readErrorFields, readExecute,
  readParameterStatus, readParse, readQuery, readReadyForQuery, readRowDescription, resultFormatFor,
} from '../wire/read.ts';
import { cancelRequest, negotiateProtocolVersionFor, parseStartup, readStartupLength } from '../wire/startup.ts';
import { loginUpstream, PgError } from '../wire/auth.ts';
import { upgradeUpstreamTls } from '../wire/tls.ts';
import { MaskError } from '../mask/mask-error.ts';
import { maskDataRow } from '../mask/datarow.ts';
import { binaryCopyState, maskCopyBinary, maskCopyData, copyBinaryMaskUnsupported } from '../mask/copy.ts';
import { resolveRowMask } from '../mask/resolve.ts';
import { scrubErrorFields } from '../mask/errors.ts';
import { notificationWithoutPayload } from '../mask/notification.ts';
import type { MaskCatalog, MaskSettings, RowMask } from '../mask/types.ts';
import type { FieldInfo } from '../wire/read.ts';
import type { AuditDecision, AuditSink, StatementRecord } from '../../audit/types.ts';
import { POISON_SQL, deniedWhat, denialFields, describeStatement, proxyRefusal } from '../enforce/denial.ts';
import type { DenyDecision } from '../enforce/denial.ts';
import type { ViolationCounter } from '../violations.ts';
import type { LogLimiter } from '../log-limiter.ts';
import { Gate, changesCatalog, changesResolution, hasAccess, masksAnything, runsUserCode, withExecuted } from '../enforce/gate.ts';
import type { ApproveDecision, Checked, PolicyState } from '../enforce/gate.ts';
import { ResultCollector, setupPlan, maskedTables, unknownObject, ownCreatedKeys, EMPTY_MASK_CATALOG } from '../catalog.ts';
import type { CatalogNames, KnownObjects } from '../catalog.ts';
import type { DerivedCatalog } from '../../policy/derived.ts';
import {
  CHANGED_ROWS_SQL, K_BIND, K_CLOSE, K_COPY_DESCRIBE, K_COUNT, K_DESCRIBE, K_DESCRIBE_INTERNAL, K_EXECUTE, K_INTERNAL, K_PARSE,
  K_QUERY, K_SYNC, guard as newGuard, req, run,
} from './requests.ts';
import type { Guard, Portal, Prepared, Req, Run } from './requests.ts';
import type { ProxyShared } from './shared.ts';

/** A statement held while its AccessRequest is decided (design.md: approval.holdTimeout). */
interface ApprovalHold {
  readonly text: string;
  readonly deadlineMs: number;
  /** "ns/name" once the operator answered; the error text when it could not. */
  request: string | null;
  error: string | null;
  /** The session is holding the client for it now (released by a policy change or the deadline). */
  waiting: boolean;
  /** The client sent a CancelRequest while it was held: answer 57014, as PostgreSQL does, and do not run it. */
  cancelled: boolean;
  timer: NodeJS.Timeout | null;
}

/**
 * Consecutive messages passed through unchanged from one read buffer: written as one slice when the run
 * ends (one socket write per run, not per message — the profile's largest cost is writing).
 */
class WriteRun {
  buf: Buffer | null = null;
  start = 0;
  end = 0;
  /** Appends [start, end) when it continues the run; false when it does not. */
  extend(buf: Buffer, start: number, end: number): boolean {
    if (this.buf !== buf || this.end !== start) return false;
    this.end = end;
    return true;
  }
  begin(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.start = start;
    this.end = end;
  }
  flushTo(out: { write(b: Buffer): unknown }): this {
    if (this.buf !== null) {
      out.write(this.buf.subarray(this.start, this.end));
      this.buf = null;
    }
    return this;
  }
}

const CANCELLED_WHILE_HELD = 'cancelled by the client while waiting for approval';
/** The error for a statement whose approval hold ended without approval (or was cancelled by the client). */
function heldFields(d: DenyDecision, what: string): PgErrorFields {
  return d.reason === CANCELLED_WHILE_HELD ? proxyRefusal('57014', 'canceling statement due to user request') : denialFields(d, what);
}

/** How long views and SQL functions over masked tables are trusted before a session refetches them (ms). */
const CATALOG_MAX_AGE_MS = 10_000;

const PHASE_STARTUP = 0;
const PHASE_CONNECTING = 1;
const PHASE_READY = 2;
const PHASE_CLOSED = 3;

const PASS_PARAMS = new Set(['application_name', 'DateStyle', 'TimeZone', 'IntervalStyle', 'extra_float_digits']);

let sessionCounter = 0;

function keyOf(pid: number, secret: Buffer): string {
  return `${pid}:${secret.toString('hex')}`;
}

/** A plan masks something for this identity (resolveRowMask is worth running). */
function planMasks(plan: MaskPlan): boolean {
  if (plan.needsRowDescription) return true;
  for (const _ in plan.columns) return true;
  for (const o of plan.outputs) if (o !== null) return true;
  return false;
}

/** The trailing row count of a CommandComplete tag ("UPDATE 3", "INSERT 0 5"), or null. */
function tagCount(buf: Buffer, start: number, end: number): number | null {
  let i = end - 2; // before the NUL
  let n = 0;
  let mul = 1;
  let digits = 0;
  while (i > start + 5 && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    n += (buf[i]! - 0x30) * mul;
    mul *= 10;
    digits++;
    i--;
  }
  if (digits === 0 || buf[i] !== 0x20) return null;
  return n;
}

function nowMs(): number { return performance.timeOrigin + performance.now(); }

// ---------------------------------------------------------------------------------------------

export class Session {
  readonly id: string;
  readonly shared: ProxyShared;
  client: net.Socket | tls.TLSSocket;
  up: net.Socket | tls.TLSSocket | null = null;
  phase = PHASE_STARTUP;

  #startBuf: Buffer = Buffer.alloc(0);
  #clientReader: FrameReader;
  #upReader: FrameReader;

  /** Upstream cancel key, and the one the client holds. */
  #upPid = 0;
  #upSecret: Buffer | null = null;
  #cancelKey: string | null = null;

  #gate: Gate | null = null;
  #ctx: SessionContext | null = null;
  #maskCatalog: MaskCatalog = EMPTY_MASK_CATALOG;
  #maskGeneration = -1;

  readonly #queue: Req[] = [];
  /** After an error in the extended protocol the server discards messages until Sync (protocol 55.2.3). */
  #skipping = false;
  readonly #prepared = new Map<string, Prepared>();
  /** Facts of prepared statements by name, for EXECUTE (kept in step with #prepared). */
  readonly #preparedFacts = new Map<string, StatementFacts>();
  readonly #portals = new Map<string, Portal>();
  /** Status of the last ReadyForQuery the client saw. */
  #tx: number = TxStatus.Idle;
  /** In COPY FROM STDIN: client CopyData/CopyDone/CopyFail go upstream. */
  #copyIn = false;
  /**
   * COPY FROM STDIN statements forwarded whose input the client has not ended (CopyDone/CopyFail) yet. A
   * client may stream its data right behind the statement without waiting for CopyInResponse (asyncpg's
   * copy_records_to_table does): while this is non-zero CopyData/CopyDone/CopyFail go upstream too. Should
   * the COPY fail before copy-in mode, PostgreSQL ignores them (postgres.c: "Accept but ignore these
   * messages, per protocol spec"). Back to 0 at a ReadyForQuery that leaves nothing outstanding.
   */
  #copyInAhead = 0;
  /** Client messages are not read while set (guarded write in flight, context refresh, waiting for idle). */
  #holdClient = 0;
  #waitIdle = false;
  #closing = false;

  /** Pass-through runs toward the client and toward the server. */
  readonly #toClient = new WriteRun();
  readonly #toUp = new WriteRun();

  readonly #onClientFrame = (buf: Buffer, type: number, start: number, end: number): boolean => {
    if (this.#clientMessage(buf, type, start, end)) return true;
    // Held (a guarded write or a context refresh in flight): FrameReader.drain consumes the message it
    // stops at, so keep a copy of it to decide once the hold is released.
    if (this.phase === PHASE_READY) this.#stashed = Buffer.from(buf.subarray(start, end));
    return false;
  };
  /** The one client message that arrived while the session was held, not yet decided. */
  #stashed: Buffer | null = null;
  readonly #onServerFrame = (buf: Buffer, type: number, start: number, end: number): boolean => { this.#serverMessage(buf, type, start, end); return true; };

  constructor(client: net.Socket, shared: ProxyShared) {
    this.id = `${process.pid.toString(16).padStart(6, '0').slice(-6)}${(++sessionCounter).toString(16).padStart(10, '0')}`;
    this.shared = shared;
    this.client = client;
    this.#clientReader = new FrameReader(shared.limits.maxClientMessageBytes);
    this.#upReader = new FrameReader(shared.limits.maxServerMessageBytes);
    client.setNoDelay(true);
    client.on('data', this.#onStartupData);
    client.on('error', () => this.#close());
    client.on('close', () => this.#clientGone());
    shared.sessions.add(this);
    this.#startupTimer = setTimeout(this.#startupTimedOut, shared.limits.authenticationTimeoutMs);
  }

  /** authenticationTimeoutMs: armed at accept, cleared once the startup packet is in (then upstreamConnectTimeoutMs runs). */
  #startupTimer: NodeJS.Timeout | null = null;
  readonly #startupTimedOut = (): void => {
    this.#startupTimer = null;
    if (this.phase !== PHASE_STARTUP) return;
    // As PostgreSQL does for an incomplete startup packet: no message (the client has not spoken the protocol
    // yet, and may not be a client at all), just the close.
    this.shared.events.event('startup_timeout', `airlock: closed a client connection that sent no complete startup packet within ${this.shared.limits.authenticationTimeoutMs} ms`);
    this.client.destroy();
    this.#close();
  };

  /** Still sending its startup packet (server.ts may evict it under a flood of such connections). */
  get inStartup(): boolean { return this.phase === PHASE_STARTUP; }

  /** Closed by the server before startup completed: too many connections were still in startup. */
  evict(): void {
    if (this.phase !== PHASE_STARTUP) return;
    this.shared.events.event('startup_evicted', `airlock: closed the oldest client connection still sending its startup packet: ${this.shared.limits.maxClientConnections} were`);
    this.client.destroy();
    this.#close();
  }

  get identity(): Identity { return this.shared.identity; }
  get ready(): boolean { return this.phase === PHASE_READY; }

  // -------------------------------------------------------------------------------------------
  // Startup

  readonly #onStartupData = (chunk: Buffer): void => {
    if (this.phase !== PHASE_STARTUP) return;
    this.#startBuf = this.#startBuf.length === 0 ? chunk : Buffer.concat([this.#startBuf, chunk]);
    try {
      for (;;) {
        const len = readStartupLength(this.#startBuf, 0);
        if (len === null || this.#startBuf.length < len) return;
        const pkt = parseStartup(this.#startBuf, 0, len);
        this.#startBuf = this.#startBuf.subarray(len);
        switch (pkt.kind) {
          case 'ssl':
            // Bytes after SSLRequest before the handshake would be read as if encrypted (CVE-2021-23214).
            if (this.#startBuf.length > 0) throw new WireError('data received after SSLRequest before the TLS handshake');
            if (this.shared.clientTls !== null) { this.#startTls(); return; }
            this.client.write('N');
            continue;
          case 'gssenc':
            if (this.#startBuf.length > 0) throw new WireError('data received after GSSENCRequest');
            this.client.write('N');
            continue;
          case 'cancel':
            // PostgreSQL closes a cancel connection only after it has signalled the backend, and clients
            // (libpq, pgJDBC) wait for that close before they go on: close ours once the upstream's closed.
            this.client.pause();
            this.#cancelFor(pkt.processId, pkt.secretKey, () => { this.client.destroy(); this.#close(); });
            return;
          case 'startup': {
            if (this.#startupTimer !== null) { clearTimeout(this.#startupTimer); this.#startupTimer = null; }
            if (this.shared.established >= this.shared.limits.maxClientConnections) {
              // PostgreSQL's own words and code (postmaster.c, canAcceptConnections): pools retry on 53300.
              this.shared.events.event('too_many_clients', `airlock: refused a client connection: ${this.shared.established} of --max-client-connections ${this.shared.limits.maxClientConnections} in use`);
              this.#fatal('53300', 'sorry, too many clients already');
              return;
            }
            const nego = negotiateProtocolVersionFor(pkt);
            if (nego !== null) this.client.write(nego);
            this.phase = PHASE_CONNECTING;
            this.shared.established++;
            this.client.pause();
            void this.#connect(pkt.params);
            return;
          }
        }
      }
    } catch (e) {
      this.#fatal('08P01', `invalid startup packet: ${(e as Error).message}`);
    }
  };

  #startTls(): void {
    const raw = this.client as net.Socket;
    raw.off('data', this.#onStartupData);
    raw.write('S');
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: this.shared.clientTls! });
    this.client = secure;
    secure.on('data', this.#onStartupData);
    secure.on('error', () => this.#close());
    secure.on('close', () => this.#clientGone());
  }

  #cancelFor(pid: number, secret: Buffer, done: () => void): void {
    const target = this.shared.cancelKeys.get(keyOf(pid, secret));
    // Unknown key: nothing, as PostgreSQL (it never says whether a key was valid).
    if (target === undefined) { done(); return; }
    if (target.#approval?.waiting === true) { target.#approval.cancelled = true; target.#releaseHold(); done(); return; }
    target.cancelUpstream(done);
  }

  /**
   * Send the upstream's own CancelRequest on a fresh connection (protocol 55.2.7), TLS as the binding says.
   * Resolves, and calls `done`, once that connection is closed (the server closes it after it has signalled
   * the backend) or gave up.
   */
  cancelUpstream(done?: () => void): Promise<void> {
    if (this.#upSecret === null) { done?.(); return Promise.resolve(); }
    const t = this.shared.target;
    const msg = cancelRequest(this.#upPid, this.#upSecret);
    const sock = net.connect({ host: t.host, port: t.port });
    const closed = new Promise<void>((resolve) => sock.once('close', () => { done?.(); resolve(); }));
    sock.on('error', () => sock.destroy());
    sock.setTimeout(10_000, () => sock.destroy());
    sock.once('connect', () => {
      upgradeUpstreamTls(sock, t.tlsMode, t.host, t.ca).then((s) => {
        s.on('error', () => s.destroy());
        // The server closes the connection once it has signalled the backend (half-closed until then).
        s.on('data', () => {});
        s.end(msg);
      }, () => sock.destroy());
    });
    return closed;
  }

  /**
   * A statement, transaction, COPY or approval hold is in flight: what a drain waits for (server.ts close()).
   * False also for a session not ready yet: it has nothing in flight to finish.
   */
  get busy(): boolean {
    return this.phase === PHASE_READY && (this.#queue.length > 0 || this.#tx !== TxStatus.Idle || this.#copyIn ||
      this.#holdClient > 0 || this.#waitIdle || this.#stashed !== null || this.#approval?.waiting === true);
  }

  /** Set by a drain: called (once, on a fresh stack) when the session is no longer busy. */
  #onIdle: (() => void) | null = null;
  whenIdle(fn: () => void): void {
    this.#onIdle = fn;
  }
  #checkIdle(): void {
    if (this.#onIdle === null || this.busy) return;
    const fn = this.#onIdle;
    this.#onIdle = null;
    setImmediate(fn);
  }

  /** FATAL in the startup phase: the client has not been authenticated, so say what is wrong and close. */
  #startupParams(params: Map<string, string>): Record<string, string> | PgErrorFields {
    if (params.has('replication')) {
      return { severity: 'FATAL', code: '08P01', message: 'replication connections are not allowed through Airlock' };
    }
    if (params.has('options')) {
      return {
        severity: 'FATAL', code: '42501',
        message: 'the startup parameter "options" is not allowed through Airlock: -c options could set role or search_path and bypass policy',
        hint: 'Remove options= / PGOPTIONS and set session parameters with SQL instead.',
      };
    }
    const t = this.shared.target;
    const db = params.get('database') ?? '';
    if (db !== '' && db !== t.database && db !== t.binding) {
      return { severity: 'FATAL', code: '3D000', message: `database "${db}" is not served here: this Airlock proxy serves "${t.binding}" (database "${t.database}")` };
    }
    const out: Record<string, string> = {};
    for (const [k, v] of params) if (PASS_PARAMS.has(k)) out[k] = v;
    if (out.application_name === undefined && params.has('fallback_application_name')) out.application_name = params.get('fallback_application_name')!;
    // The proxy pins client_encoding to UTF8 (its parser reads statements as UTF-8). A client asking for
    // another encoding gets UTF8 and is told so by ParameterStatus, as libpq expects.
    out.client_encoding = 'UTF8';
    return out;
  }

  /** Set when the connect deadline fired: the error the client gets says so, whatever failed underneath. */
  #connectTimer: NodeJS.Timeout | null = null;
  #connectTimedOut = false;

  async #connect(params: Map<string, string>): Promise<void> {
    const p = this.#startupParams(params);
    if ('severity' in p) { this.#fatal(p.code, p.message, p.hint); return; }
    const t = this.shared.target;
    const timeoutMs = this.shared.limits.upstreamConnectTimeoutMs;
    // One deadline for connect, TLS, login and the setup query: destroying the upstream socket fails
    // whichever of them is pending, and the catch below reports the timeout. Cleared when the session is ready.
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (this.phase !== PHASE_CONNECTING) return;
      this.#connectTimedOut = true;
      this.up?.destroy(new Error('connect timeout'));
    }, timeoutMs);
    let sock: net.Socket | tls.TLSSocket;
    try {
      const raw = net.connect({ host: t.host, port: t.port });
      raw.setNoDelay(true);
      this.up = raw;
      await new Promise<void>((resolve, reject) => {
        raw.once('connect', resolve);
        raw.once('error', reject);
        raw.once('close', () => reject(new Error('the connection closed before it was established')));
      });
      raw.removeAllListeners('error');
      raw.removeAllListeners('close');
      raw.on('error', () => {});
      sock = await upgradeUpstreamTls(raw, t.tlsMode, t.host, t.ca);
      this.up = sock;
      if (this.phase === PHASE_CLOSED) { sock.destroy(); return; }
      // The login's own timer is a backstop behind the deadline above, which reports the timeout.
      const login = await loginUpstream(sock, { user: t.user, password: t.password, database: t.database, params: p, timeoutMs: timeoutMs + 1000 });
      if (this.phase === PHASE_CLOSED) { sock.destroy(); return; }
      // Our parser assumes both (docs/adr/0002): a backslash or a byte must mean to us what it means upstream.
      const scs = login.parameters.get('standard_conforming_strings');
      if (scs !== 'on') throw new Error(`upstream server has standard_conforming_strings=${scs ?? 'unset'}; Airlock requires on`);
      const enc = login.parameters.get('server_encoding');
      if (enc !== 'UTF8') throw new Error(`upstream server_encoding is ${enc ?? 'unset'}; Airlock requires UTF8`);
      this.#upPid = login.processId;
      this.#upSecret = login.secretKey;
      sock.on('data', this.#onUpstreamData);
      sock.on('close', () => this.#upstreamGone());
      sock.on('end', () => this.#upstreamGone());
      sock.on('drain', () => { if (this.#holdClient === 0) this.client.resume(); });
      if (login.leftover.length > 0) this.#upReader.push(login.leftover);
      await this.#setup(login.parameters);
    } catch (e) {
      if (this.phase === PHASE_CLOSED) return;
      const err = e as Error & { code?: string };
      if (this.#connectTimedOut) {
        this.shared.events.event('upstream_timeout', `airlock: upstream ${t.host}:${t.port} did not answer within ${timeoutMs} ms (connect + login)`);
        this.#fatal('08006', `Airlock could not open the upstream connection for "${t.binding}": ${t.host}:${t.port} did not complete connect and login within ${timeoutMs} ms`,
          'The database server is unreachable or not answering; the proxy\'s limit is --upstream-connect-timeout.');
        return;
      }
      if (err instanceof PgError) {
        // The server refused the login with its own SQLSTATE (53300 too many connections, 57P03 starting up or
        // shutting down, 28P01, 3D000, …): pass code and message through, so drivers' and pools' retry logic
        // sees what PostgreSQL said rather than a generic 08006 (issue 15).
        this.shared.events.event('upstream_login_refused', `airlock: upstream ${t.host}:${t.port} refused the login: ${err.code} ${err.fields.get('M') ?? ''}`);
        const f: PgErrorFields = { severity: 'FATAL', code: err.code, message: err.fields.get('M') ?? err.message };
        f.detail = err.detail ?? `Airlock's login to the upstream server ${t.host}:${t.port} for "${t.binding}" was refused.`;
        if (err.hint !== undefined) f.hint = err.hint;
        this.#fatalFields(f);
        return;
      }
      this.shared.events.event('upstream_failed', `airlock: upstream ${t.host}:${t.port} failed: ${err.message}`);
      this.#fatal('08006', `Airlock could not open the upstream connection for "${t.binding}": ${err.message}`);
    }
  }

  /** The setup round trip (catalog.ts), then AuthenticationOk … ReadyForQuery to the client. */
  #setupParameters: Map<string, string> | null = null;

  async #setup(parameters: Map<string, string>): Promise<void> {
    this.#setupParameters = parameters;
    const t = this.shared.target;
    const where = `${t.host}:${t.port}/${t.database}`;
    const state = this.shared.state;
    const names = this.shared.catalogNames.get(where) ?? null;
    // Every session fetches the mask catalog and the views over masked tables itself, in this round trip: a
    // view created since another session's fetch must not be read through a stale one (issue 11). The
    // shared copy serves policy changes of live sessions (#maskCatalogFor).
    const plan = setupPlan({ needNames: names === null, maskTables: maskedTables(state.set), analyze: (q) => state.analyzer.analyze(q) });
    const epoch = this.shared.catalogEpoch;
    const got = plan.parse(await this.#internalQuery(plan.sql));
    const catalogNames = names ?? got.names!;
    if (names === null) this.shared.catalogNames.set(where, catalogNames);
    this.#catalogAtMs = nowMs();
    this.#catalogEpoch = epoch;
    this.#known = got.known;
    this.shared.maskCatalogs.set(where, { generation: state.set.generation, catalog: got.maskCatalog!, derived: got.derived!, known: got.known, atMs: this.#catalogAtMs, epoch });
    this.#maskCatalog = got.maskCatalog!;
    const derived = got.derived!;
    this.#maskGeneration = state.set.generation;
    this.#maskTables = maskedTables(state.set).join(',');
    this.#ctx = {
      identity: this.shared.identity, database: t.binding, searchPath: got.searchPath,
      catalogRelations: catalogNames.relations, catalogFunctions: catalogNames.functions, grants: [], derived,
      invoker: got.invoker,
    };
    if (!hasAccess(state, this.shared.identity, t.binding)) {
      this.#fatal('42501', `access denied: no AccessPolicy gives ${this.shared.identity.user} access to "${t.binding}"`);
      return;
    }
    this.#gate = new Gate(state, this.#ctx);
    // The client's cancel key is ours: the server's secret never leaves the proxy, so a client can cancel
    // only through it. The pid is the upstream backend's, as drivers expect (getBackendPID() =
    // pg_backend_pid(), and a notification the session sent itself carries it); a server that sent no key
    // gets a random one.
    const pid = this.#upPid > 0 ? this.#upPid : randomInt(1, 0x7fffffff);
    let secret: Buffer;
    do {
      secret = randomBytes(4);
    } while (this.shared.cancelKeys.has(keyOf(pid, secret)));
    this.#cancelKey = keyOf(pid, secret);
    this.shared.cancelKeys.set(this.#cancelKey, this);
    this.#setupParameters = null;
    if (parameters.get('standard_conforming_strings') !== 'on' || parameters.get('client_encoding') !== 'UTF8') {
      this.#fatal('08006', 'the upstream server changed standard_conforming_strings or client_encoding during setup; Airlock requires on and UTF8');
      return;
    }
    const out: Buffer[] = [AUTH_OK];
    for (const [k, v] of parameters) out.push(parameterStatus(k, v));
    out.push(backendKeyData(pid, secret), RFQ_IDLE);
    this.shared.audit.sessionStarted({
      sessionId: this.id, subject: this.shared.identity.user, database: t.database, binding: t.binding,
      serverAddress: t.host, serverPort: t.port, clientAddress: this.client.remoteAddress ?? '', startTimeMs: Date.now(),
    });
    this.phase = PHASE_READY;
    if (this.#connectTimer !== null) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
    this.client.write(Buffer.concat(out));
    this.client.off('data', this.#onStartupData);
    this.client.on('data', this.#onClientData);
    this.client.on('drain', () => this.up?.resume());
    const rest = this.#startBuf;
    this.#startBuf = Buffer.alloc(0);
    this.client.resume();
    if (rest.length > 0) this.#onClientData(rest);
  }

  /** The proxy's own query on the upstream connection, before the relay starts. */
  #internalQuery(sql: string): Promise<ResultCollector> {
    return new Promise((resolve, reject) => {
      const r = req(K_INTERNAL);
      r.collector = new ResultCollector();
      r.onDone = () => resolve(r.collector!);
      this.#queue.push(r);
      this.up!.write(queryMessage(sql));
      this.#onUpstreamFailure = reject;
      this.up!.resume();
    });
  }
  #onUpstreamFailure: ((e: Error) => void) | null = null;

  // -------------------------------------------------------------------------------------------
  // Client → server

  readonly #onClientData = (chunk: Buffer): void => {
    if (this.phase !== PHASE_READY) return;
    try {
      this.#clientReader.push(chunk);
    } catch (e) {
      this.#fatal('08P01', `invalid message from client: ${(e as Error).message}`);
      return;
    }
    this.#drainClient();
  };

  #drainClient(): void {
    const up = this.up!;
    up.cork();
    try {
      const st = this.#stashed;
      if (st !== null && this.#holdClient === 0 && !this.#waitIdle) {
        this.#stashed = null;
        this.#onClientFrame(st, st[0]!, 0, st.length);
      }
      // COPY FROM STDIN data flows even while a guarded COPY holds everything else.
      if (this.#stashed === null && ((this.#holdClient === 0 && !this.#waitIdle) || this.#copyFlows)) this.#clientReader.drain(this.#onClientFrame);
      this.#flushUp();
    } catch (e) {
      this.#flushUp();
      up.uncork();
      if (e instanceof WireError) this.#fatal('08P01', `invalid message from client: ${e.message}`);
      else this.#internalError(e as Error);
      return;
    }
    up.uncork();
    if ((this.#holdClient > 0 || this.#waitIdle) && !this.#copyFlows) this.client.pause();
    else if (up.writableNeedDrain) this.client.pause();
  }

  #passUp(buf: Buffer, start: number, end: number): void {
    if (!this.#toUp.extend(buf, start, end)) this.#toUp.flushTo(this.up!).begin(buf, start, end);
  }
  #flushUp(): void {
    this.#toUp.flushTo(this.up!);
  }
  #writeUp(b: Buffer): void {
    this.#flushUp();
    this.up!.write(b);
  }

  #enqueue(r: Req): void {
    if (this.#skipping) {
      // The server will discard this message unanswered (it is skipping to Sync after an error).
      if (r.kind !== K_SYNC) return;
      this.#skipping = false;
    }
    this.#queue.push(r);
  }

  /** Client COPY input may reach the server (in copy-in mode, or about to be). */
  get #copyFlows(): boolean { return this.#copyIn || this.#copyInAhead > 0; }

  /** Returns false to leave the message unread (the client is held). */
  #clientMessage(buf: Buffer, type: number, start: number, end: number): boolean {
    if ((this.#holdClient > 0 || this.#waitIdle) && !(this.#copyFlows && (type === Frontend.CopyData || type === Frontend.CopyDone || type === Frontend.CopyFail))
        // libpq sends Sync right behind an extended-protocol COPY FROM, before its data. Held (a guarded
        // Execute), that Sync would stop the data behind it. It may go: in copy-in mode the server ignores
        // it (Req.duringCopy); had the COPY failed first, there is nothing left for it to commit.
        && !(this.#copyInAhead > 0 && (type === Frontend.Sync || type === Frontend.Flush))) {
      return false;
    }
    try {
      return this.#clientMessageOf(buf, type, start, end);
    } catch (e) {
      if (!(e instanceof InvalidTextError)) throw e;
      // Every reader decodes its strings before the handler changes any state: refusing here loses nothing.
      this.#invalidText(type, e);
      return true;
    }
  }

  /**
   * A Query, Parse, Bind, Describe, Execute or Close holding a string that is not UTF-8: refused, not
   * forwarded, with the error PostgreSQL gives (22021), and the session goes on; in the extended protocol the
   * error fails the batch up to Sync, as it does in PostgreSQL. The audit names no bytes of it.
   */
  #invalidText(type: number, e: InvalidTextError): void {
    const f: PgErrorFields = { severity: 'ERROR', code: '22021', message: 'invalid byte sequence for encoding "UTF8"', detail: `${e.message}; Airlock did not run it.` };
    const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'invalid byte sequence for encoding "UTF8"' };
    if (type === Frontend.Query) { this.#poisonQuery(f, null, d, ''); return; }
    this.#inBatch = true;
    this.#poisonParse(f, d, null, '');
  }

  #clientMessageOf(buf: Buffer, type: number, start: number, end: number): boolean {
    switch (type) {
      case Frontend.Query: return this.#onQuery(buf, start, end);
      case Frontend.Parse: return this.#onParse(buf, start, end);
      case Frontend.Bind: return this.#onBind(buf, start, end);
      case Frontend.Describe: this.#onDescribe(buf, start, end); return true;
      case Frontend.Execute: this.#onExecute(buf, start, end); return true;
      case Frontend.Close: {
        const c = readClose(buf, start, end);
        this.#inBatch = true;
        if (c.kind === 'S') { this.#prepared.delete(c.name); this.#preparedFacts.delete(c.name); } else this.#portals.delete(c.name);
        this.#passUp(buf, start, end);
        this.#enqueue(req(K_CLOSE));
        return true;
      }
      case Frontend.Sync: {
        this.#inBatch = false;
        this.#passUp(buf, start, end);
        const r = req(K_SYNC);
        r.duringCopy = this.#copyInAhead > 0;
        this.#enqueue(r);
        return true;
      }
      case Frontend.Flush:
        this.#passUp(buf, start, end);
        return true;
      case Frontend.CopyData:
      case Frontend.CopyDone:
      case Frontend.CopyFail:
        // Outside COPY FROM STDIN PostgreSQL ignores these; we drop them rather than forward bytes we do not expect.
        if (this.#copyFlows) {
          this.#passUp(buf, start, end);
          if (type !== Frontend.CopyData) {
            this.#copyIn = false;
            if (this.#copyInAhead > 0) this.#copyInAhead--;
            // In the extended protocol the server keeps the COPY's CommandComplete in its output buffer until
            // a Flush or Sync. A held client (a guarded Execute waits for that very CommandComplete) cannot
            // send one that gets through, so we do: a Flush has no reply and changes nothing else.
            if (this.#holdClient > 0 || this.#waitIdle) this.#writeUp(FLUSH);
          }
        }
        return true;
      case Frontend.FunctionCall: {
        // The function call protocol runs a function by OID with no SQL to parse (style.md §3): deny.
        const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'the function call protocol is not allowed through Airlock' };
        this.#poisonQuery(denialFields(d, 'FunctionCall'), null, d, 'FUNCTION CALL');
        return true;
      }
      case Frontend.Terminate:
        this.#close();
        return false;
      default:
        throw new WireError(`unexpected message type 0x${type.toString(16)} from the client`);
    }
  }

  /** The state every statement is decided against: the current policy generation and search_path. */
  #currentGate(): Gate {
    const gate = this.#gate!;
    const state = this.shared.state;
    if (gate.state !== state) {
      gate.rebind(state, this.#ctx!);
      this.#maskCatalogFor(state.set);
    }
    return gate;
  }

  /** Inside an extended-protocol batch (between the first message and Sync) no simple Query may be injected. */
  #inBatch = false;
  /** True while the mask catalog does not match the policy generation (refetch waits for Sync). */
  get #catalogStale(): boolean {
    return this.#maskGeneration !== this.shared.state.set.generation;
  }

  /**
   * After a policy change: the mask catalog must cover the tables the new policies mask. When the set of
   * masked tables is unchanged the one we have is still right; otherwise use the server-wide cache or
   * refetch (queued before the statement being decided, so its rows are masked with the new catalog).
   */
  #maskCatalogFor(set: CompiledPolicySet): void {
    const tables = maskedTables(set).join(',');
    if (tables === this.#maskTables) { this.#maskGeneration = set.generation; return; }
    const t = this.shared.target;
    const cached = this.shared.maskCatalogs.get(`${t.host}:${t.port}/${t.database}`);
    if (cached !== undefined && cached.generation === set.generation) {
      this.#catalogAtMs = cached.atMs;
      this.#catalogEpoch = cached.epoch;
      this.#known = cached.known;
      this.#maskCatalog = cached.catalog;
      this.#maskGeneration = set.generation;
      this.#maskTables = tables;
      this.#ctx = { ...this.#ctx!, derived: cached.derived };
      this.#gate!.rebind(this.shared.state, this.#ctx);
      return;
    }
    if (this.#inBatch) { this.#refreshAfterSync = true; return; }
    this.#refreshContext();
  }
  #maskTables = '';
  /** When the mask catalog (and the views over masked tables) was fetched: refetched once older than CATALOG_MAX_AGE_MS. */
  #catalogAtMs = 0;

  /**
   * Views and SQL functions change under the proxy (DDL from other connections): a session deciding with
   * masked tables refetches them once they are older than CATALOG_MAX_AGE_MS, before the next statement.
   */
  #catalogTooOld(t0: number): boolean {
    return this.#maskTables !== '' && (t0 - this.#catalogAtMs > CATALOG_MAX_AGE_MS || this.#catalogEpoch !== this.shared.catalogEpoch)
      && this.#tx !== TxStatus.Failed;
  }
  /** shared.catalogEpoch when the catalog this session decides with was fetched. */
  #catalogEpoch = 0;
  /** What existed at that fetch (catalog.ts KnownObjects); null when no policy masks anything. */
  #known: KnownObjects | null = null;
  /** This session ran DDL in the transaction now open (or the statement now running): bump the epoch once it commits. */
  #ddlUncommitted = false;
  /** The statement being decided again was held for a refetch because it named an object created since. */
  #lineageRefetched = false;

  /**
   * A statement naming a relation or function created after the catalog was fetched (another connection's new
   * view) has no lineage: true when it must wait for a refetch (once; a name that still does not exist is the
   * server's to refuse). Only for an identity with masking in force.
   */
  #namesUnknownObject(checked: Checked): boolean {
    if (this.#lineageRefetched) { this.#lineageRefetched = false; return false; }
    if (this.#known === null || checked.denied !== null || this.#tx === TxStatus.Failed || !this.#masksNow()) return false;
    // A statement decided from the gate's cache is the same Analysis: asked once per catalog read (every
    // read, like every search_path change, makes a new context).
    const ctx = this.#ctx!;
    if (this.#allKnown.get(checked.analysis) === ctx) return false;
    if (unknownObject(this.#known, checked.analysis.statements, ctx.searchPath, ctx.catalogFunctions, this.#ownDdl) !== null) return true;
    if (this.#ownDdl === null) this.#allKnown.set(checked.analysis, ctx);
    return false;
  }
  /** Analyses whose every name existed at the read behind this context. */
  readonly #allKnown = new WeakMap<object, SessionContext>();
  /**
   * Names this session's DDL created since its catalog was read (ownCreatedKeys), until the read that follows
   * it: a batch may use what it created. While set, result fields from relations newer than the read are not
   * redacted either (they are this session's own, or a same-name replacement from outside: Threat model).
   */
  #ownDdl: Set<string> | null = null;

  /** masksAnything for the current policy state, computed once per state (RowDescription asks it). */
  #masksNow(): boolean {
    const state = this.shared.state;
    if (state !== this.#maskingState) {
      this.#maskingState = state;
      this.#masking = masksAnything(state, this.shared.identity, this.shared.target.binding);
    }
    return this.#masking;
  }
  #maskingState: PolicyState | null = null;
  #masking = false;

  #onQuery(buf: Buffer, start: number, end: number): boolean {
    const t0 = nowMs();
    if (end - start - 5 > this.shared.limits.maxStatementBytes) {
      this.#refuse(proxyRefusal('54000', `statement of ${end - start - 5} bytes exceeds the proxy's --max-statement-bytes ${this.shared.limits.maxStatementBytes}; it was not run`), 'statement too large');
      return true;
    }
    if (!this.shared.audit.accepting()) {
      this.#refuse(proxyRefusal('53400', 'the audit spool is full and the binding\'s audit.onFailure is block: statement refused, not run'), 'audit spool full');
      return true;
    }
    const gate = this.#currentGate();
    if (this.#catalogTooOld(t0) && this.#queue.length === 0 && this.#holdClient === 0) {
      // Left unread: decided once the refetched catalog is in (the refresh holds the client).
      this.#refreshContext();
      this.#flushUp();
      return false;
    }
    const sql = readQuery(buf, start, end);
    const checked = gate.check(sql, this.#preparedFacts);
    if (this.#namesUnknownObject(checked)) {
      this.#lineageRefetched = true;
      this.#refreshContext();
      this.#flushUp();
      return false;
    }
    if (checked.approval !== null) {
      const held = this.#holdForApproval(sql, checked.approval);
      if (held === null) return false;             // left unread until the request is decided or times out
      this.#poisonQuery(heldFields(held, checked.approval.what), checked.analysis.statements[0] ?? null, held, checked.analysis.normalized, t0);
      return true;
    }
    this.#approval = null;
    if (checked.denied !== null) {
      const f = denialFields(checked.denied.decision, checked.denied.what);
      this.#poisonQuery(f, checked.analysis.statements[0] ?? null, checked.denied.decision, checked.analysis.normalized, t0);
      return true;
    }
    const stmts = checked.analysis.statements;
    let copyQuery: string | null = null;
    for (let i = 0; i < stmts.length; i++) {
      const q = copyQueryToDescribe(this.#effectiveFacts(stmts[i]!), checked.decisions[i]!);
      if (q === null) continue;
      if (stmts.length > 1 || this.#inBatch || this.#skipping) {
        const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'a COPY (query) that reads masked columns must be sent as a statement on its own, outside an extended-protocol batch' };
        this.#poisonQuery(denialFields(d, 'COPY statement'), stmts[i]!, d, checked.analysis.normalized, t0);
        return true;
      }
      copyQuery = q;
    }
    // Guarded writes: maxAffectedRows (policy guardrails) needs the count before anything commits.
    let guardDecision: Decision | null = null;
    let guardFacts: StatementFacts | null = null;
    for (let i = 0; i < stmts.length; i++) {
      const d = checked.decisions[i]!;
      const f = stmts[i]!;
      const facts = this.#effectiveFacts(f);
      if ((d.verdict === 'allow' || d.verdict === 'warn') && d.guardrails.maxAffectedRows !== null && this.#mayChangeRows(facts)) {
        guardDecision = d;
        guardFacts = facts;
      }
    }
    if (guardDecision !== null && (stmts.length > 1 || this.#tx === TxStatus.Failed)) {
      if (stmts.length > 1) {
        const d: DenyDecision = { verdict: 'deny', policy: (guardDecision as { guardrails: { policy: string | null } }).guardrails.policy, rule: 'guardrails.maxAffectedRows', reason: 'guarded write in a multi-statement string' };
        const f = denialFields(d, describeStatement(guardFacts, this.#ctx));
        f.message += ': a write limited by maxAffectedRows must be sent as a statement on its own';
        this.#poisonQuery(f, guardFacts, d, checked.analysis.normalized, t0);
        return true;
      }
      guardDecision = null; // failed transaction: the server refuses it (25P02) and nothing can be written
    }
    if (guardDecision !== null && this.#queue.length > 0) {
      // The guard needs the transaction status this statement will run in: wait for earlier requests.
      this.#waitIdle = true;
      return false;
    }
    const r = req(K_QUERY);
    r.runs = [];
    for (let i = 0; i < stmts.length; i++) {
      const f = stmts[i]!;
      const facts = this.#effectiveFacts(f);
      const rn = run(facts, checked.decisions[i]!, t0, checked.analysis.normalized);
      r.runs.push(rn);
      if (isCopyFrom(facts)) this.#copyInAhead++;
      this.#noteSessionEffects(f, i === stmts.length - 1);
    }
    if (stmts.length === 0) r.runs.push(run(null, { verdict: 'allow', policy: '', rule: '', masks: NO_PLAN, wouldDeny: [], guardrails: { maxAffectedRows: null, policy: null } }, t0, ''));
    if (copyQuery !== null) { this.#describeCopy(r, copyQuery, Buffer.from(buf.subarray(start, end))); return true; }
    if (guardDecision !== null) {
      const g = guardDecision as Extract<Decision, { verdict: 'allow' | 'warn' }>;
      const guard = newGuard(g.guardrails.maxAffectedRows!, g.guardrails.policy, this.#tx === TxStatus.InTransaction, describeStatement(guardFacts, this.#ctx));
      r.guard = guard;
      const pre = req(K_INTERNAL);
      pre.collector = new ResultCollector();
      pre.onDone = () => { guard.before = changedRows(pre.collector!, 1); };
      this.#writeUp(queryMessage(`${guard.inBlock ? 'SAVEPOINT airlock_guard' : 'BEGIN'}; ${CHANGED_ROWS_SQL}`));
      this.#enqueue(pre);
      this.#holdClient++;   // released when the guard has finished (COMMIT/ROLLBACK answered)
    }
    this.#passUp(buf, start, end);
    this.#enqueue(r);
    if (this.#needsRefresh) { this.#needsRefresh = false; this.#refreshContext(); }
    return true;
  }

  #needsRefresh = false;

  /**
   * COPY (query) TO with masked columns in reach, simple protocol: describe the query first (Parse "" /
   * Describe S / Sync) with the client held, so its output can be masked like rows (K_COPY_DESCRIBE). The
   * unnamed statement is the client's to lose: its own Query would replace it anyway.
   */
  #describeCopy(r: Req, query: string, msg: Buffer): void {
    const pr = req(K_COPY_DESCRIBE);
    pr.runs = r.runs;   // notices and the error are the COPY's
    pr.copy = { extended: false, fields: null, error: null, query: msg, then: r, stmt: null };
    this.#writeUp(Buffer.concat([parseMessage('', query), describeMessage('S', ''), SYNC]));
    this.#enqueue(pr);
    this.#holdClient++;
  }

  #copyDescribeResponse(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    const c = r.copy!;
    switch (type) {
      case Backend.ParseComplete:
      case Backend.ParameterDescription:
        return;
      case Backend.RowDescription:
        c.fields = readRowDescription(buf, start, end);
        return;
      case Backend.NoData:
        c.fields = [];
        return;
      case Backend.CloseComplete:
        if (!c.extended) break;
        this.#queue.shift();
        if (c.stmt !== null) c.stmt.copyFields = c.fields;
        return;
      case Backend.ErrorResponse:
        // Extended: the batch's error (the server now skips to the client's Sync), reported as any other.
        if (c.extended) { this.#extendedError(r, buf, start, end); return; }
        c.error = Buffer.from(buf.subarray(start, end));
        return;
      case Backend.ReadyForQuery: {
        if (c.extended) break;
        this.#queue.shift();
        this.#tx = readReadyForQuery(buf, start, end);
        const q = c.then!;
        const rn = q.runs?.[0] ?? null;
        if (c.error !== null) {
          // The COPY would fail the same way: the client gets this error and ReadyForQuery in its place.
          this.#forwardError(rn, c.error, 0, c.error.length, r);
          if (rn !== null) this.#auditRun(rn, readErrorFields(c.error, 0, c.error.length).get('C') ?? null);
          this.#passClient(buf, start, end);
        } else {
          if (rn !== null) rn.copyFields = c.fields;
          // Written from the server side: flush toward the server now (this is not inside a client chunk).
          this.#writeUp(c.query!);
          this.#flushUp();
          this.#enqueue(q);
        }
        this.#holdClient--;
        this.#resumeClient();
        return;
      }
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to the proxy's Describe of a COPY query`);
  }

  /** Track what a statement does to the session that the proxy must mirror. */
  #noteSessionEffects(f: StatementFacts, _last: boolean): void {
    if (f.prepares !== null) {
      this.#preparedFacts.set(f.prepares, f);
    }
    for (const e of f.effects) {
      if (e.kind === 'deallocate') {
        if (e.name === null) { this.#preparedFacts.clear(); this.#prepared.clear(); } else { this.#preparedFacts.delete(e.name); this.#prepared.delete(e.name); }
      } else if (e.kind === 'discard') {
        this.#preparedFacts.clear();
        this.#prepared.clear();
      }
    }
    if (changesResolution(f) || changesCatalog(f) || (f.transaction && this.#localSet)) this.#needsRefresh = true;
    if (changesCatalog(f)) {
      this.#ddlUncommitted = true;
      ownCreatedKeys(f, this.#ownDdl ??= new Set());
    }
    for (const e of f.effects) if (e.kind === 'set' && e.local) this.#localSet = true;
  }
  #localSet = false;

  /**
   * Refetch search_path (and the mask catalog) after the statement just forwarded: an internal query
   * queued behind it, with the client held so nothing is decided on the stale context.
   */
  #refreshContext(): void {
    const state = this.shared.state;
    const tables = maskedTables(state.set);
    const plan = setupPlan({ needNames: false, maskTables: tables, analyze: (q) => state.analyzer.analyze(q) });
    const epoch = this.shared.catalogEpoch;
    const r = req(K_INTERNAL);
    r.collector = new ResultCollector();
    this.#holdClient++;
    r.onDone = () => {
      this.#holdClient--;
      try {
        const got = plan.parse(r.collector!);
        this.#ctx = { ...this.#ctx!, searchPath: got.searchPath, ...(got.derived === null ? {} : { derived: got.derived }), invoker: got.invoker };
        if (got.maskCatalog !== null) {
          this.#maskCatalog = got.maskCatalog;
          this.#maskGeneration = state.set.generation;
          this.#maskTables = tables.join(',');
          const t = this.shared.target;
          this.#catalogAtMs = nowMs();
          // max: this session's own DDL may have bumped the epoch (and its own copy) while this was in flight
          this.#catalogEpoch = Math.max(this.#catalogEpoch, epoch);
          this.#known = got.known;
          this.#ownDdl = null;
          this.shared.maskCatalogs.set(`${t.host}:${t.port}/${t.database}`, { generation: state.set.generation, catalog: got.maskCatalog, derived: got.derived!, known: got.known, atMs: this.#catalogAtMs, epoch });
        }
        this.#gate!.rebind(this.shared.state, this.#ctx);
        this.#localSet = false;
      } catch (e) {
        // A failed refresh (e.g. in a failed transaction block) leaves the context unknown: fail closed.
        if (this.#tx === TxStatus.Failed || r.collector!.error?.get('C') === '25P02') {
          // Retry after the transaction ends: the next statement to run will be ROLLBACK.
          this.#needsRefresh = true;
        } else {
          this.#fatal('XX000', `Airlock could not refresh the session's catalog context: ${(e as Error).message}`);
          return;
        }
      }
      this.#resumeClient();
    };
    this.#writeUp(queryMessage(plan.sql));
    this.#enqueue(r);
  }

  /** The facts a statement runs with: an EXECUTE's merged with the prepared statement's (gate.ts withExecuted). */
  #effectiveFacts(f: StatementFacts): StatementFacts {
    if (f.executes === null) return f;
    const stored = this.#preparedFacts.get(f.executes);
    return stored === undefined ? f : withExecuted(f, stored);
  }

  /** maxAffectedRows applies: the statement writes, or runs user code that may (gate.ts runsUserCode). */
  #mayChangeRows(f: StatementFacts): boolean {
    return f.writes || runsUserCode(f, this.#ctx!);
  }

  /** Deny a simple Query (or FunctionCall): the poison goes upstream, its error is replaced by `f`. */
  #poisonQuery(f: PgErrorFields, facts: StatementFacts | null, d: DenyDecision | null, normalized: string, t0 = nowMs()): void {
    const r = req(K_QUERY);
    r.denial = f;
    const decision: Decision = d ?? { verdict: 'deny', policy: null, rule: null, reason: f.message };
    const rn = run(facts, decision, t0, normalized);
    rn.code = f.code;
    r.runs = [rn];
    this.#writeUp(POISON_QUERY);
    this.#enqueue(r);
  }

  /** A refusal by the proxy itself (limits, audit): same path as a denial. */
  #refuse(f: PgErrorFields, reason: string): void {
    const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason };
    this.#poisonQuery(f, null, d, '');
  }

  /** Deny in the extended protocol: a Parse of the poison under a reserved name fails and skips to Sync. */
  #poisonParse(f: PgErrorFields, d: DenyDecision, facts: StatementFacts | null, normalized: string): void {
    const r = req(K_PARSE);
    r.denial = f;
    r.runs = [run(facts, d, nowMs(), normalized)];
    r.runs[0]!.code = f.code;
    this.#writeUp(POISON_PARSE);
    this.#enqueue(r);
  }

  /** Returns false to leave the Parse unread (held for approval). */
  #onParse(buf: Buffer, start: number, end: number): boolean {
    const t0 = nowMs();
    if (end - start - 5 > this.shared.limits.maxStatementBytes || !this.shared.audit.accepting()) this.#inBatch = true;
    if (end - start - 5 > this.shared.limits.maxStatementBytes) {
      const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'statement too large' };
      this.#poisonParse(proxyRefusal('54000', `statement of ${end - start - 5} bytes exceeds the proxy's --max-statement-bytes ${this.shared.limits.maxStatementBytes}; it was not run`), d, null, '');
      return true;
    }
    if (!this.shared.audit.accepting()) {
      const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'audit spool full' };
      this.#poisonParse(proxyRefusal('53400', 'the audit spool is full and the binding\'s audit.onFailure is block: statement refused, not run'), d, null, '');
      return true;
    }
    const p = readParse(buf, start, end);
    const gate = this.#currentGate();
    if (!this.#inBatch && this.#catalogTooOld(t0) && this.#queue.length === 0 && this.#holdClient === 0) {
      this.#refreshContext();
      this.#flushUp();
      return false;
    }
    const first = !this.#inBatch;
    this.#inBatch = true;
    if (this.#catalogStale) { this.#policyChangedMidBatch(); return true; }
    const checked: Checked = gate.check(p.query, this.#preparedFacts);
    const facts = checked.analysis.statements[0] ?? null;
    if (this.#namesUnknownObject(checked)) {
      if (first) {
        this.#inBatch = false;
        this.#lineageRefetched = true;
        this.#refreshContext();
        this.#flushUp();
        return false;
      }
      // No simple Query may be injected mid-batch: refuse, refetch after Sync (fail closed).
      this.#refreshAfterSync = true;
      const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'names an object created since the catalog was read' };
      this.#poisonParse(proxyRefusal('55000', 'this statement names a relation or function created after Airlock last read the catalog; run it again',
        'Airlock reads the catalog again at the next Sync. Inside one batch, a relation must exist before the batch starts.'), d, facts, checked.analysis.normalized);
      return true;
    }
    if (checked.approval !== null) {
      const held = this.#holdForApproval(p.query, checked.approval);
      if (held === null) return false;
      this.#poisonParse(heldFields(held, checked.approval.what), held, facts, checked.analysis.normalized);
      return true;
    }
    this.#approval = null;
    if (checked.denied !== null) {
      this.#poisonParse(denialFields(checked.denied.decision, checked.denied.what), checked.denied.decision, facts, checked.analysis.normalized);
      return true;
    }
    if (checked.analysis.statements.length > 1) {
      // PostgreSQL refuses this too (42601 "cannot insert multiple commands into a prepared statement").
      const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'multiple statements in one Parse' };
      this.#poisonParse(proxyRefusal('42601', 'cannot insert multiple commands into a prepared statement'), d, facts, checked.analysis.normalized);
      return true;
    }
    const decision = checked.decisions[0] ?? { verdict: 'allow', policy: '', rule: '', masks: NO_PLAN, wouldDeny: [], guardrails: { maxAffectedRows: null, policy: null } } as Decision;
    let effFacts = facts;
    if (facts !== null) effFacts = this.#effectiveFacts(facts);
    const stmt: Prepared = {
      name: p.name, text: p.query, facts: effFacts ?? EMPTY_FACTS, decision, generation: gate.generation, catalog: gate.catalogId,
      normalized: checked.analysis.normalized, fields: null, describeSent: false,
    };
    void t0;
    // A named statement that already exists makes the server fail this Parse (42P05) and keep the old one:
    // keep ours in step so its facts and masks stay the ones that apply.
    if (p.name === '' || !this.#prepared.has(p.name)) {
      this.#prepared.set(p.name, stmt);
      if (p.name !== '' && effFacts !== null) this.#preparedFacts.set(p.name, effFacts);
    }
    if (effFacts !== null) this.#noteSessionEffects(effFacts, true);
    const copyQuery = effFacts === null ? null : copyQueryToDescribe(effFacts, decision);
    if (copyQuery !== null) {
      // Described under a reserved name ahead of the client's Parse, in the same batch (K_COPY_DESCRIBE).
      const pr = req(K_COPY_DESCRIBE);
      pr.copy = { extended: true, fields: null, error: null, query: null, then: null, stmt };
      this.#writeUp(Buffer.concat([parseMessage(COPY_DESCRIBE_NAME, copyQuery), describeMessage('S', COPY_DESCRIBE_NAME), closeMessage('S', COPY_DESCRIBE_NAME)]));
      this.#enqueue(pr);
    }
    const r = req(K_PARSE);
    r.stmt = stmt;
    this.#passUp(buf, start, end);
    this.#enqueue(r);
    if (this.#needsRefresh) { this.#needsRefresh = false; this.#refreshAfterSync = true; }
    return true;
  }

  #refreshAfterSync = false;

  // -------------------------------------------------------------------------------------------
  // Approval holds (design.md: an `approve` rule needs an approved AccessRequest; approval.holdTimeout)

  #approval: ApprovalHold | null = null;

  /**
   * A statement needs approval and no grant covers it. Sidecar mode: ask the operator for the
   * AccessRequest (once per statement) and hold the client — the message stays unread, nothing of it
   * reaches PostgreSQL — until a policy update (the grant arriving) or holdTimeout; the statement is
   * then decided again from scratch. Returns null to hold, or the denial once holding is over.
   */
  #holdForApproval(text: string, a: { readonly decision: ApproveDecision; readonly what: string }): DenyDecision | null {
    const d = a.decision;
    const approvals = this.shared.approvals ?? null;
    if (approvals === null) {
      return { verdict: 'deny', policy: d.policy, rule: d.rule, reason: 'it needs an approved AccessRequest, and this proxy runs without the operator (local mode), so none can be requested' };
    }
    let h = this.#approval;
    if (h !== null && h.text !== text) { this.#releaseHold(); h = null; }
    if (h === null) {
      const hold: ApprovalHold = { text, deadlineMs: Date.now() + d.holdTimeoutMs, request: null, error: null, waiting: false, timer: null, cancelled: false };
      this.#approval = h = hold;
      approvals.request({ statement: text, policy: d.policy, rule: d.rule }).then(
        (r) => { hold.request = `${r.namespace}/${r.name}`; },
        (e: unknown) => { hold.error = (e as Error).message; if (this.#approval === hold) this.#releaseHold(); });
    }
    if (h.cancelled) {
      this.#approval = null;
      return { verdict: 'deny', policy: d.policy, rule: d.rule, reason: CANCELLED_WHILE_HELD, ...(h.request === null ? {} : { accessRequest: h.request }) };
    }
    if (h.error !== null || Date.now() >= h.deadlineMs) {
      this.#approval = null;                     // not waiting: releaseHold already cleared its timer
      const secs = Math.round(d.holdTimeoutMs / 1000);
      let reason: string;
      if (h.request !== null) {
        const [ns, name] = h.request.split('/') as [string, string];
        reason = `it needs an approved AccessRequest; ${h.request} was not approved within ${secs} s (holdTimeout). An approver runs \`airlock request approve ${name} -n ${ns}\`; then send the statement again`;
      } else reason = `it needs an approved AccessRequest, and none could be requested: ${h.error ?? `the operator did not answer within ${secs} s`}`;
      return { verdict: 'deny', policy: d.policy, rule: d.rule, reason, ...(h.request === null ? {} : { accessRequest: h.request }) };
    }
    if (!h.waiting) {
      h.waiting = true;
      this.#holdClient++;
      h.timer = setTimeout(() => this.#releaseHold(), Math.max(0, h.deadlineMs - Date.now()) + 1);
    }
    return null;
  }

  /** Lets the held message be decided again (policy update, deadline, or the request failed). */
  #releaseHold(): void {
    const h = this.#approval;
    if (h === null || !h.waiting) return;
    h.waiting = false;
    if (h.timer !== null) { clearTimeout(h.timer); h.timer = null; }
    this.#holdClient--;
    this.#resumeClient();
  }

  /** The proxy swapped the policy state (server.ts reload): a statement held for approval is decided again. */
  policyChanged(): void {
    if (this.#approval?.waiting === true) this.#releaseHold();
  }

  /** AccessRequests whose grants allowed a statement in this session: revoking one ends the session. */
  readonly grantsUsed = new Set<string>();

  /** The masked tables changed mid-batch: the catalog to mask with arrives after Sync; fail this batch. */
  #policyChangedMidBatch(): void {
    const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'policy changed' };
    this.#poisonParse(proxyRefusal('40001', 'the access policy changed during this batch of statements; run it again',
      'Airlock reloads which columns are masked at the next Sync.'), d, null, '');
  }

  /** Returns false to leave the Bind unread (the catalog is refetched first). */
  #onBind(buf: Buffer, start: number, end: number): boolean {
    const gate = this.#currentGate();
    // A statement prepared once and bound for hours must see views created since (as Query and Parse do).
    if (!this.#inBatch && this.#catalogTooOld(nowMs()) && this.#queue.length === 0 && this.#holdClient === 0) {
      this.#refreshContext();
      this.#flushUp();
      return false;
    }
    this.#inBatch = true;
    const b = readBind(buf, start, end);
    const stmt = this.#prepared.get(b.statement);
    if (stmt === undefined) {
      // Unknown to us (its Parse failed, or it never existed): the server would refuse it too; fail closed.
      const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: `prepared statement "${b.statement}" is not known to the proxy` };
      this.#poisonParse(proxyRefusal('26000', `prepared statement "${b.statement}" does not exist`), d, null, '');
      return true;
    }
    if (this.#catalogStale) { this.#policyChangedMidBatch(); return true; }
    const catalog = gate.catalogId;
    if (stmt.generation !== gate.generation || stmt.catalog !== catalog) {
      // A policy change (or new views) since Parse: decide the kept facts again (the statement text is unchanged).
      stmt.decision = gate.decideFacts(stmt.facts, stmt.text);
      stmt.generation = gate.generation;
      stmt.catalog = catalog;
    }
    if (stmt.decision.verdict === 'deny') {
      this.#poisonParse(denialFields(stmt.decision, deniedWhat(stmt.decision, stmt.facts, this.#ctx)), stmt.decision, stmt.facts, stmt.normalized);
      return true;
    }
    const portal: Portal = { name: b.portal, stmt, resultFormats: b.resultFormats, fields: null, describeSent: false };
    if (b.portal === '' || !this.#portals.has(b.portal)) this.#portals.set(b.portal, portal);
    this.#passUp(buf, start, end);
    const r = req(K_BIND);
    r.portal = portal;
    this.#enqueue(r);
    return true;
  }

  #onDescribe(buf: Buffer, start: number, end: number): void {
    this.#inBatch = true;
    const d = readDescribe(buf, start, end);
    const r = req(K_DESCRIBE);
    if (d.kind === 'S') {
      const stmt = this.#prepared.get(d.name) ?? null;
      if (stmt !== null) stmt.describeSent = true;
      r.stmt = stmt;
    } else {
      const portal = this.#portals.get(d.name) ?? null;
      if (portal !== null) portal.describeSent = true;
      r.portal = portal;
    }
    this.#passUp(buf, start, end);
    this.#enqueue(r);
  }

  #onExecute(buf: Buffer, start: number, end: number): void {
    this.#inBatch = true;
    const e = readExecute(buf, start, end);
    const portal = this.#portals.get(e.portal) ?? null;
    const r = req(K_EXECUTE);
    r.portal = portal;
    let guarded = false;
    if (portal !== null) {
      const stmt = portal.stmt;
      const rn = run(stmt.facts, stmt.decision, nowMs(), stmt.normalized);
      rn.copyFields = stmt.copyFields ?? null;
      r.runs = [rn];
      if (isCopyFrom(stmt.facts)) this.#copyInAhead++;
      const d = stmt.decision;
      if ((d.verdict === 'allow' || d.verdict === 'warn') && d.guardrails.maxAffectedRows !== null && this.#mayChangeRows(stmt.facts)) {
        if (e.maxRows !== 0) {
          const dd: DenyDecision = { verdict: 'deny', policy: d.guardrails.policy, rule: 'guardrails.maxAffectedRows', reason: 'guarded write fetched in parts' };
          const f = denialFields(dd, describeStatement(stmt.facts, this.#ctx));
          f.message += ': a write limited by maxAffectedRows must be executed in one Execute (row limit 0)';
          this.#poisonParse(f, dd, stmt.facts, stmt.normalized);
          return;
        }
        // maxAffectedRows in the extended protocol: the implicit transaction (or the client's block) commits
        // only at Sync, so the proxy holds everything after this Execute, asks for the result now (Flush),
        // and if the count is over the limit sends the poison before the client's Sync: the transaction
        // aborts and nothing commits (docs/adr/0001-denial-by-poison-statement.md).
        r.guard = newGuard(d.guardrails.maxAffectedRows, d.guardrails.policy, false, describeStatement(stmt.facts, this.#ctx));
        guarded = true;
      }
      if ((d.verdict === 'allow' || d.verdict === 'warn') && planMasks(d.masks) && portal.fields === null
          && !portal.describeSent && !stmt.describeSent) {
        // We must know the result's fields (and formats) to mask its rows: ask, and keep the answer to ourselves.
        const ir = req(K_DESCRIBE_INTERNAL);
        ir.portal = portal;
        portal.describeSent = true;
        this.#writeUp(describeMessage('P', portal.name));
        this.#enqueue(ir);
      }
    }
    if (guarded && this.#skipping) {
      // The server will skip it (an earlier message of the batch failed): nothing to guard.
      this.#passUp(buf, start, end);
      return;
    }
    if (guarded) {
      // The tuple counters before it, in the same (implicit or explicit) transaction; the count after it is
      // asked for when its CommandComplete arrives (not now: a COPY FROM STDIN must see only copy data).
      const g = r.guard!;
      this.#enqueue(this.#countChanges((n) => { g.before = n; }));
    }
    this.#passUp(buf, start, end);
    if (guarded) {
      this.#writeUp(FLUSH);
      this.#holdClient++;
    }
    this.#enqueue(r);
  }

  /**
   * Read CHANGED_ROWS_SQL inside the extended protocol without touching the client's unnamed statement or
   * portal: a reserved named statement and portal, closed around the read. Writes the messages; the caller
   * queues the returned request where its responses will arrive.
   */
  #countChanges(then: (n: number) => void): Req {
    const c = req(K_COUNT);
    c.onCount = then;
    this.#writeUp(COUNT_MESSAGES);
    return c;
  }

  #countResponse(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    switch (type) {
      case Backend.ParseComplete: case Backend.BindComplete: case Backend.CommandComplete: return;
      case Backend.DataRow:
        r.counted = Number(readFirstValue(buf, start, end));
        return;
      case Backend.CloseComplete:
        if (++r.closes < 2) return;
        this.#queue.shift();
        if (r.counted === null || !Number.isSafeInteger(r.counted)) throw new Error('the changed-rows count could not be read');
        r.onCount!(r.counted);
        return;
    }
    // An error here means the transaction is not what the guard expects: nothing of it can be trusted.
    throw new Error(`the proxy's changed-rows count failed: ${type === Backend.ErrorResponse ? readErrorFields(buf, start, end).get('M') ?? '?' : `message 0x${type.toString(16)}`}`);
  }

  // -------------------------------------------------------------------------------------------
  // Server → client

  readonly #onUpstreamData = (chunk: Buffer): void => {
    const client = this.client;
    client.cork();
    try {
      this.#upReader.push(chunk);
      this.#upReader.drain(this.#onServerFrame);
      this.#flushClient();
    } catch (e) {
      this.#flushClient();
      client.uncork();
      if (this.#onUpstreamFailure !== null && this.phase !== PHASE_READY) { this.#onUpstreamFailure(e as Error); return; }
      if (e instanceof WireError || e instanceof MaskError) this.#fatal('08P01', `invalid message from the upstream server: ${(e as Error).message}`);
      else this.#internalError(e as Error);
      return;
    }
    client.uncork();
    if (client.writableNeedDrain) this.up!.pause();
    if (this.#onIdle !== null) this.#checkIdle();
  };

  #passClient(buf: Buffer, start: number, end: number): void {
    if (!this.#toClient.extend(buf, start, end)) this.#toClient.flushTo(this.client).begin(buf, start, end);
  }
  #flushClient(): void {
    this.#toClient.flushTo(this.client);
  }
  #writeClient(b: Buffer): void {
    this.#flushClient();
    this.client.write(b);
  }

  #serverMessage(buf: Buffer, type: number, start: number, end: number): void {
    // Asynchronous messages may come at any time (protocol 55.2.8).
    if (this.phase !== PHASE_READY) {
      // During the setup round trip nothing may reach the client before AuthenticationOk: keep reported
      // parameters for the startup burst, drop notices (they answer our query, not the client's).
      if (type === Backend.ParameterStatus) {
        const p = readParameterStatus(buf, start, end);
        this.#setupParameters?.set(p.name, p.value);
        return;
      }
      if (type === Backend.NoticeResponse || type === Backend.NotificationResponse) return;
    }
    switch (type) {
      case Backend.NoticeResponse: this.#onNotice(buf, start, end); return;
      case Backend.NotificationResponse: this.#notification(buf, start, end); return;
      case Backend.ParameterStatus: this.#onParameterStatus(buf, start, end); return;
    }
    const r = this.#queue[0];
    if (r === undefined) {
      // A FATAL between requests (pg_terminate_backend, shutdown): PostgreSQL's own words go to the client.
      if (type === Backend.ErrorResponse) {
        this.#passClient(buf, start, end);
        this.#serverEnded = true;
        return;
      }
      throw new WireError(`unexpected message 0x${type.toString(16)} from the server with no request outstanding`);
    }
    switch (r.kind) {
      case K_QUERY: this.#queryResponse(r, buf, type, start, end); return;
      case K_INTERNAL: this.#internalResponse(r, buf, type, start, end); return;
      case K_COUNT: this.#countResponse(r, buf, type, start, end); return;
      case K_PARSE:
        if (type === Backend.ParseComplete) { this.#queue.shift(); this.#passClient(buf, start, end); return; }
        break;
      case K_BIND:
        if (type === Backend.BindComplete) { this.#queue.shift(); this.#passClient(buf, start, end); return; }
        break;
      case K_CLOSE:
        if (type === Backend.CloseComplete) { this.#queue.shift(); this.#passClient(buf, start, end); return; }
        break;
      case K_DESCRIBE:
      case K_DESCRIBE_INTERNAL: {
        const internal = r.kind === K_DESCRIBE_INTERNAL;
        if (type === Backend.ParameterDescription && !internal) { this.#passClient(buf, start, end); return; }
        if (type === Backend.RowDescription) {
          const fields = readRowDescription(buf, start, end);
          if (r.portal !== null) r.portal.fields = fields;
          else if (r.stmt !== null) r.stmt.fields = fields;
          this.#queue.shift();
          if (!internal) this.#passClient(buf, start, end);
          return;
        }
        if (type === Backend.NoData) { this.#queue.shift(); if (!internal) this.#passClient(buf, start, end); return; }
        break;
      }
      case K_EXECUTE: this.#executeResponse(r, buf, type, start, end); return;
      case K_COPY_DESCRIBE: this.#copyDescribeResponse(r, buf, type, start, end); return;
      case K_SYNC:
        if (type === Backend.ReadyForQuery) {
          this.#queue.shift();
          this.#readyForQuery(buf, start, end);
          this.#passClient(buf, start, end);
          if (this.#refreshAfterSync) { this.#refreshAfterSync = false; this.#flushClient(); this.#refreshContext(); this.#flushUp(); }
          this.#afterReady();
          return;
        }
        break;
    }
    if (type === Backend.ErrorResponse) { this.#extendedError(r, buf, start, end); return; }
    throw new WireError(`unexpected message 0x${type.toString(16)} from the server`);
  }

  #readyForQuery(buf: Buffer, start: number, end: number): void {
    const s = readReadyForQuery(buf, start, end);
    this.#setTx(s);
    this.#copyIn = false;
    if (this.#queue.length === 0) this.#copyInAhead = 0;
    if (s === TxStatus.Idle) {
      // Portals live until the transaction ends (protocol 55.2.3); WITH HOLD cursors are not portals.
      if (this.#portals.size > 0) this.#portals.clear();
    }
  }

  /** Every ReadyForQuery's status goes here: DDL this session ran is visible to others once it is Idle. */
  #setTx(s: number): void {
    this.#tx = s;
    if (this.#ddlUncommitted && s === TxStatus.Idle) {
      // Committed (or rolled back: a needless refetch). This session's own copy already reflects its DDL.
      this.#ddlUncommitted = false;
      const current = this.#catalogEpoch === this.shared.catalogEpoch;
      this.shared.catalogEpoch++;
      if (current) this.#catalogEpoch = this.shared.catalogEpoch;
    }
  }

  /** After a ReadyForQuery: anything that waited for the queue to empty may go. */
  #afterReady(): void {
    if (this.#waitIdle && this.#queue.length === 0) {
      this.#waitIdle = false;
      this.#resumeClient();
    }
  }

  #resumeClient(): void {
    if (this.phase !== PHASE_READY || this.#holdClient > 0 || this.#waitIdle) return;
    // Defer: we may be inside the upstream handler; the client's held frames are decided on a fresh stack.
    setImmediate(() => {
      if (this.phase !== PHASE_READY) return;
      this.#drainClient();
      if (this.#holdClient === 0 && !this.#waitIdle) this.client.resume();
    });
  }

  #extendedError(r: Req, buf: Buffer, start: number, end: number): void {
    if (r.denial !== null) {
      this.#writeClient(errorResponse(r.denial));
      this.#auditRun(r.runs?.[0] ?? null, r.denial.code);
      r.denial = null;
    } else {
      // A Parse, Bind or Describe that fails carries no run of its own: the statement that will not run is
      // the first Execute queued before Sync; audit it with this error's SQLSTATE (else it has no span).
      const rn = r.runs?.[0] ?? this.#skippedExecute();
      const code = readErrorFields(buf, start, end).get('C') ?? null;
      if (r.kind === K_PARSE && r.stmt !== null && this.#prepared.get(r.stmt.name) === r.stmt) {
        this.#prepared.delete(r.stmt.name);
        this.#preparedFacts.delete(r.stmt.name);
      }
      this.#forwardError(rn, buf, start, end, r);
      if (rn !== null) this.#auditRun(rn, code);
    }
    // The server now discards everything up to Sync: so do we with what we queued. A guarded Execute among
    // them holds the client until its result, which will never come: release it, or the client's Sync stays
    // unread and the session hangs.
    let released = false;
    while (this.#queue.length > 0 && this.#queue[0]!.kind !== K_SYNC) {
      const q = this.#queue.shift()!;
      if (q !== r && q.kind === K_EXECUTE && q.guard !== null) { this.#holdClient--; released = true; }
    }
    if (released) this.#resumeClient();
    if (this.#queue.length === 0) this.#skipping = true;
  }

  #skippedExecute(): Run | null {
    for (const q of this.#queue) {
      if (q.kind === K_SYNC) return null;
      if (q.kind === K_EXECUTE) return q.runs?.[0] ?? null;
    }
    return null;
  }

  /** An ErrorResponse or NoticeResponse for the client, with values of masked columns hidden (mask/errors.ts). */
  #forwardError(rn: Run | null, buf: Buffer, start: number, end: number, r?: Req): void {
    const touched = this.#echoable(rn, r);
    if (touched.length > 0) {
      const scrubbed = scrubErrorFields(buf, start, end, touched);
      if (scrubbed !== null) { this.#writeClient(scrubbed); return; }
    }
    this.#passClient(buf, start, end);
  }

  /**
   * The masked columns whose values a message answering `rn` could echo: the statement's MaskPlan.touched.
   * Parse, Bind, Describe and Close read no rows (Bind's input errors quote the client's own parameters). With
   * no statement to attribute it to (a Sync, whose COMMIT checks deferred constraints) or a transaction
   * statement (COMMIT does the same), every masked column of this identity.
   */
  #echoable(rn: Run | null, r: Req | undefined): readonly string[] {
    if (rn === null && r !== undefined && (r.kind === K_PARSE || r.kind === K_BIND || r.kind === K_DESCRIBE || r.kind === K_CLOSE)) return NO_COLUMNS;
    if (rn === null || rn.facts === null || rn.facts.transaction) return this.#allMasked();
    const runs = r?.kind === K_QUERY ? r.runs : null;
    if (runs !== null && runs.length > 1) {
      // Several statements in one Query run in one implicit transaction, committed with the last: a deferred
      // constraint's error arrives with a later statement than the one that caused it. Any of them counts.
      const all = new Set<string>();
      for (let i = 0; i < runs.length && i <= r!.runIndex; i++) for (const c of touchedBy(runs[i]!)) all.add(c);
      return [...all];
    }
    const touched = touchedBy(rn);
    // The result masks a field the statement's accesses did not account for (PostgreSQL's provenance through a
    // view): it reads masked values, so any of them may be in the message.
    return touched.length === 0 && rn.rowMask !== null ? this.#allMasked() : touched;
  }
  #allMasked(): readonly string[] {
    const cols = this.#gate?.sel.maskColumns;
    if (cols === undefined) return NO_COLUMNS;
    for (const _ in cols) return Object.keys(cols);
    return NO_COLUMNS;
  }

  #onNotice(buf: Buffer, start: number, end: number): void {
    const r = this.#queue[0];
    if (r !== undefined && (r.kind === K_INTERNAL || r.kind === K_DESCRIBE_INTERNAL)) return; // our own: not the client's
    this.#forwardError(r?.runs?.[r.runIndex] ?? null, buf, start, end, r);
  }

  /** A payload is forwarded only to an identity with nothing masked (proxy/mask/notification.ts says why). */
  #notification(buf: Buffer, start: number, end: number): void {
    // The current state, not the gate's: a policy that starts masking applies before the next statement.
    if (masksAnything(this.shared.state, this.shared.identity, this.shared.target.binding)) this.#writeClient(notificationWithoutPayload(buf, start, end));
    else this.#passClient(buf, start, end);
  }

  #onParameterStatus(buf: Buffer, start: number, end: number): void {
    const p = readParameterStatus(buf, start, end);
    if (p.name === 'standard_conforming_strings' && p.value !== 'on') {
      throw new WireError('the server turned standard_conforming_strings off; Airlock cannot parse statements safely');
    }
    if (p.name === 'client_encoding' && p.value !== 'UTF8') {
      throw new WireError(`client_encoding changed to ${p.value}; Airlock requires UTF8`);
    }
    this.#passClient(buf, start, end);
  }

  /** Rows of a result: masked when the statement's RowMask masks anything, else forwarded as they came. */
  #dataRow(rn: Run | null, buf: Buffer, start: number, end: number): void {
    if (rn !== null && rn.rowMask !== null) {
      this.#writeClient(maskDataRow(buf, start, end, rn.rowMask, rn.fields!, this.shared.maskSettings));
    } else {
      this.#passClient(buf, start, end);
    }
  }

  #rowDescription(rn: Run, fields: FieldInfo[]): void {
    rn.fields = fields;
    rn.rowMask = null;
    const d = rn.decision;
    if (d.verdict !== 'allow' && d.verdict !== 'warn') return;
    const masks = planMasks(d.masks);
    // With masking in force, a field from a relation created since the catalog was fetched is redacted.
    const fresh = this.#known !== null && this.#ownDdl === null && this.#masksNow();
    if (masks || fresh) {
      let mask = masks ? resolveRowMask(d.masks, fields, this.#maskCatalog) : null;
      if (fresh) mask = this.#redactUnknown(fields, mask);
      rn.rowMask = mask;
      if (mask !== null) {
        const cols: string[] = [];
        for (let i = 0; i < mask.length; i++) {
          if (mask[i] === null) continue;
          const f = fields[i]!;
          cols.push(this.#maskCatalog.byOid.get(f.tableOid)?.get(f.attnum) ?? f.name);
        }
        rn.maskedColumns = cols;
      }
    }
  }

  /** One CopyData of COPY … TO STDOUT: masked when the COPY's columns need it, else forwarded as it came. */
  #copyData(rn: Run | null, buf: Buffer, start: number, end: number): void {
    if (rn === null) { this.#passClient(buf, start, end); return; }
    if (rn.copyBinary !== null) this.#writeClient(maskCopyBinary(buf, start, end, rn.copyBinary, this.shared.maskSettings));
    else if (rn.copyHeader) { rn.copyHeader = false; this.#passClient(buf, start, end); }   // column names (copyto.c sends them alone)
    else if (rn.copyMask !== null) this.#writeClient(maskCopyData(buf, start, end, rn.copyMask, rn.copyOptions!, this.shared.maskSettings));
    else this.#passClient(buf, start, end);
  }

  /**
   * A field whose table OID is above the bound of the catalog's fetch comes from a relation created since
   * (another connection's new view): its lineage is not established, so it is redacted (issue 11), and the
   * catalog is refetched before the next statement. One compare per field.
   */
  #redactUnknown(fields: readonly FieldInfo[], mask: RowMask | null): RowMask | null {
    const bound = this.#known!.oidBound;
    let out: (RowMask[number])[] | null = null;
    for (let i = 0; i < fields.length; i++) {
      if (fields[i]!.tableOid <= bound) continue;
      out ??= mask === null ? new Array<RowMask[number]>(fields.length).fill(null) : [...mask];
      if (out[i] !== 'null') out[i] = 'redact';
    }
    if (out === null) return mask;
    this.#catalogAtMs = 0;
    return out;
  }

  /**
   * COPY … TO STDOUT of a statement with masks: per-column strategies, or refuse (fail closed). The table
   * form maps the table's columns through the catalog; the query form resolves the fields its query was
   * described with (K_COPY_DESCRIBE), exactly as a SELECT's RowDescription (resolveRowMask).
   */
  #copyOut(rn: Run, format: 0 | 1, columns: number): void {
    const d = rn.decision;
    if ((d.verdict !== 'allow' && d.verdict !== 'warn') || !planMasks(d.masks)) return;
    const ct = rn.facts?.copyTo ?? null;
    let mask: (typeof d.masks.outputs[number])[] | null = null;
    if (ct !== null && ct.relation !== null) {
      const schema = ct.relation.schema ?? this.#ctx!.searchPath.find((s) => this.#maskCatalog.columnsOf.has(`${s}.${ct.relation!.name}`)) ?? null;
      const table = schema === null ? null : `${schema}.${ct.relation.name}`;
      const all = table === null ? undefined : this.#maskCatalog.columnsOf.get(table);
      const cols = ct.columns ?? all ?? null;
      if (cols !== null && table !== null) {
        mask = cols.map((c) => d.masks.columns[`${table}.${c}`] ?? null);
      } else if (table === null || !Object.keys(d.masks.columns).some((k) => k.startsWith(`${table}.`))) {
        // The table has no masked columns in the catalog, and (when named with its schema) none in the
        // policy either: nothing of it is masked. A policy-masked table missing from the catalog still throws.
        mask = new Array(columns).fill(null);
      }
    } else if (rn.copyFields !== null) {
      const fields = rn.copyFields.map((f) => (f.format === format ? f : { ...f, format }));
      if (fields.length !== columns) throw new MaskError(`COPY output has ${columns} columns, its query was described with ${fields.length}`);
      let m = resolveRowMask(d.masks, fields, this.#maskCatalog);
      // As for a RowDescription: a field of a relation created since the catalog was read is redacted.
      if (this.#known !== null && this.#ownDdl === null && this.#masksNow()) m = this.#redactUnknown(fields, m);
      if (m === null) return;
      rn.maskedColumns = [];
      for (let i = 0; i < m.length; i++) {
        if (m[i] === null) continue;
        const f = fields[i]!;
        rn.maskedColumns.push(this.#maskCatalog.byOid.get(f.tableOid)?.get(f.attnum) ?? f.name);
      }
      if (format === 1) { rn.copyBinary = binaryCopyState(m, fields); return; }
      mask = [...m];
    } else if (d.masks.touched !== undefined && d.masks.touched.length === 0) {
      return;   // reads no relation with masked columns: nothing in it is masked (not described: no need)
    } else if (!d.masks.needsRowDescription && d.masks.hasStar === false && d.masks.outputs.length === columns) {
      mask = [...d.masks.outputs];
    }
    if (mask === null || mask.length !== columns) throw new MaskError('COPY output could not be matched to its masked columns');
    if (!mask.some((m) => m !== null)) return;
    const t = ct?.textOptions;
    if (format === 1 || ct === null || ct.format === 'binary' || (!ct.optionsDefault && t === undefined)) {
      throw new MaskError(ct !== null && ct.format === 'binary' ? copyBinaryMaskUnsupported : 'COPY with masked columns is only supported with default options');
    }
    rn.copyMask = mask;
    const how: 'csv' | 'text' = ct.format === 'csv' ? 'csv' : 'text';
    rn.copyOptions = t === undefined ? { format: how }
      : { format: how, delimiter: t.delimiter, quote: t.quote, escape: t.escape, null: t.null };
    rn.copyHeader = t?.header === true;
    rn.maskedColumns ??= mask.map((m, i) => (m === null ? null : String(i))).filter((x): x is string => x !== null);
  }

  #queryResponse(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    const rn = r.runs![r.runIndex] ?? null;
    if (r.guard !== null) { this.#guardResponse(r, r.guard, rn, buf, type, start, end); return; }
    switch (type) {
      case Backend.DataRow: this.#dataRow(rn, buf, start, end); return;
      case Backend.RowDescription:
        if (rn !== null) this.#rowDescription(rn, readRowDescription(buf, start, end));
        this.#passClient(buf, start, end);
        return;
      case Backend.CommandComplete:
        if (rn !== null) { rn.rows = tagCount(buf, start, end); this.#auditRun(rn, null); r.runIndex++; }
        this.#passClient(buf, start, end);
        return;
      case Backend.EmptyQueryResponse:
        r.runIndex++;
        this.#passClient(buf, start, end);
        return;
      case Backend.CopyData: this.#copyData(rn, buf, start, end); return;
      case Backend.CopyDone:
        this.#passClient(buf, start, end);
        return;
      case Backend.CopyOutResponse: {
        const c = readCopyResponse(buf, start, end);
        if (rn !== null) this.#copyOut(rn, c.format, c.columnFormats.length);
        this.#passClient(buf, start, end);
        return;
      }
      case Backend.CopyInResponse:
        this.#enterCopyIn(r);
        this.#passClient(buf, start, end);
        return;
      case Backend.ErrorResponse: {
        if (r.denial !== null) {
          this.#writeClient(errorResponse(r.denial));
          if (rn !== null) this.#auditRun(rn, r.denial.code);
          r.denial = null;
        } else {
          this.#copyIn = false;
          this.#forwardError(rn, buf, start, end, r);
          if (rn !== null) this.#auditRun(rn, readErrorFields(buf, start, end).get('C') ?? null);
        }
        r.runIndex = r.runs!.length;   // the rest of the string is not run
        return;
      }
      case Backend.ReadyForQuery:
        this.#queue.shift();
        this.#readyForQuery(buf, start, end);
        this.#passClient(buf, start, end);
        this.#afterReady();
        return;
      case Backend.CopyBothResponse:
        throw new WireError('CopyBothResponse (replication) is not supported through Airlock');
      case Backend.FunctionCallResponse:
        throw new WireError('unexpected FunctionCallResponse');
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to a Query`);
  }

  #executeResponse(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    const rn = r.runs?.[0] ?? null;
    if (r.guard !== null) { this.#guardedExecute(r, r.guard, rn, buf, type, start, end); return; }
    switch (type) {
      case Backend.DataRow:
        if (rn !== null && rn.fields === null && r.portal !== null) this.#portalFields(rn, r.portal);
        this.#dataRow(rn, buf, start, end);
        return;
      case Backend.CommandComplete:
        this.#queue.shift();
        if (rn !== null) { rn.rows = tagCount(buf, start, end); this.#auditRun(rn, null); }
        this.#passClient(buf, start, end);
        return;
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended:
        this.#queue.shift();
        this.#passClient(buf, start, end);
        return;
      case Backend.CopyOutResponse: {
        const c = readCopyResponse(buf, start, end);
        if (rn !== null) this.#copyOut(rn, c.format, c.columnFormats.length);
        this.#passClient(buf, start, end);
        return;
      }
      case Backend.CopyData: this.#copyData(rn, buf, start, end); return;
      case Backend.CopyDone:
        this.#passClient(buf, start, end);
        return;
      case Backend.CopyInResponse:
        this.#enterCopyIn(r);
        this.#passClient(buf, start, end);
        return;
      case Backend.ErrorResponse:
        this.#copyIn = false;
        this.#extendedError(r, buf, start, end);
        return;
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to Execute`);
  }

  /** The fields of a portal's result with their actual formats (Describe P, or Describe S + Bind formats). */
  #portalFields(rn: Run, portal: Portal): void {
    let fields = portal.fields;
    if (fields === null && portal.stmt.fields !== null) {
      fields = portal.stmt.fields.map((f, i) => ({ ...f, format: resultFormatFor(portal.resultFormats, i) }));
      portal.fields = fields;
    }
    if (fields === null) {
      const d = rn.decision;
      if ((d.verdict === 'allow' || d.verdict === 'warn') && planMasks(d.masks)) {
        // Cannot happen: Execute injects a Describe when no description was asked for. Fail closed.
        throw new MaskError('rows of a masked statement arrived before their description');
      }
      return;
    }
    this.#rowDescription(rn, fields);
  }

  #internalResponse(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    if (type === Backend.CopyInResponse || type === Backend.CopyOutResponse || type === Backend.CopyBothResponse) {
      throw new WireError('COPY in response to the proxy\'s own query');
    }
    const done = r.collector === null ? type === Backend.ReadyForQuery : r.collector.feed(buf, type, start, end);
    if (type === Backend.ErrorResponse && r.collector === null) {
      // Our BEGIN/SAVEPOINT failed: nothing of the guarded statement can be trusted to roll back.
      throw new WireError(`the proxy's own statement failed: ${readErrorFields(buf, start, end).get('M') ?? '?'}`);
    }
    if (!done) return;
    this.#queue.shift();
    this.#setTx(readReadyForQuery(buf, start, end));
    if (r.onDone !== null) r.onDone(Buffer.from(buf.subarray(start, end)));
  }

  // -------------------------------------------------------------------------------------------
  // Guardrails: maxAffectedRows

  /**
   * A result row of a guarded statement: held until the count is known, up to `limit` rows. Beyond that the
   * rows say nothing certain about the count (a SELECT over a data-modifying CTE, EXPLAIN ANALYZE output, or
   * RETURNING rows an INSTEAD OF trigger made up), so what is held is forwarded and the rest streams; the
   * verdict follows them (CommandComplete, or the 42501 of a rollback, as when a statement fails mid-result).
   */
  #guardRow(g: Guard, rn: Run | null, buf: Buffer, start: number, end: number): void {
    if (g.streaming) { this.#dataRow(rn, buf, start, end); return; }
    if (g.heldRows < g.limit) {
      g.heldRows++;
      g.held.push(rn !== null && rn.rowMask !== null ? maskDataRow(buf, start, end, rn.rowMask, rn.fields!, this.shared.maskSettings) : Buffer.from(buf.subarray(start, end)));
      return;
    }
    g.streaming = true;
    for (const b of g.held) this.#writeClient(b);
    g.held.length = 0;
    this.#dataRow(rn, buf, start, end);
  }

  #guardResponse(r: Req, g: Guard, rn: Run | null, buf: Buffer, type: number, start: number, end: number): void {
    switch (type) {
      case Backend.RowDescription:
        if (rn !== null) this.#rowDescription(rn, readRowDescription(buf, start, end));
        g.held.push(Buffer.from(buf.subarray(start, end)));
        return;
      case Backend.DataRow:
        this.#guardRow(g, rn, buf, start, end);
        return;
      case Backend.CommandComplete:
        g.tagCount = tagCount(buf, start, end);
        if (rn !== null) rn.rows = g.tagCount;
        g.held.push(Buffer.from(buf.subarray(start, end)));
        return;
      case Backend.ErrorResponse:
        g.failed = true;
        g.held.length = 0;
        this.#forwardError(rn, buf, start, end, r);
        if (rn !== null) this.#auditRun(rn, readErrorFields(buf, start, end).get('C') ?? null);
        return;
      case Backend.CopyInResponse:
        this.#startGuardedCopyIn(r, buf, start, end);
        return;
      case Backend.CopyOutResponse: case Backend.CopyBothResponse:
        throw new WireError('COPY TO in a guarded statement');
      case Backend.EmptyQueryResponse:
        g.held.push(Buffer.from(buf.subarray(start, end)));
        return;
      case Backend.ReadyForQuery: {
        this.#queue.shift();
        const status = readReadyForQuery(buf, start, end);
        if (g.failed || status === TxStatus.Failed) { this.#guardFinish(g, rn, status, Buffer.from(buf.subarray(start, end))); return; }
        // What did it change? The counters after it, in the same transaction, before COMMIT or RELEASE.
        const rfq = Buffer.from(buf.subarray(start, end));
        const cr = req(K_INTERNAL);
        cr.collector = new ResultCollector();
        cr.onDone = () => {
          settleCount(g, rn, changedRows(cr.collector!, 0));
          this.#guardFinish(g, rn, status, rfq);
        };
        this.#writeUp(queryMessage(CHANGED_ROWS_SQL));
        this.#flushUp();
        this.#enqueue(cr);
        return;
      }
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to a guarded Query`);
  }

  /** The guarded simple Query has run and been counted: commit or release it, or roll it back (over the limit). */
  #guardFinish(g: Guard, rn: Run | null, status: number, rfq: Buffer): void {
    const over = guardOver(g);
    let finish: string | null;
    if (g.inBlock) {
      // In a failed block the savepoint stays (the client must ROLLBACK anyway); over the limit, undo to
      // it and fail the transaction as a failing statement would (the poison).
      finish = g.failed || status === TxStatus.Failed ? null
        : over ? `ROLLBACK TO SAVEPOINT airlock_guard; RELEASE SAVEPOINT airlock_guard; ${POISON_SQL}` : 'RELEASE SAVEPOINT airlock_guard';
    } else {
      finish = g.failed || over || status === TxStatus.Failed ? 'ROLLBACK' : 'COMMIT';
    }
    if (finish === null) {
      this.#setTx(status);
      this.#writeClient(rfq);
      this.#holdClient--;
      this.#resumeClient();
      return;
    }
    const fr = req(K_INTERNAL);
    fr.collector = new ResultCollector();
    fr.onDone = (done) => this.#guardFinished(g, rn, over, fr.collector!, done);
    // Written from the server side: flush toward the server now (this is not inside a client chunk).
    this.#writeUp(queryMessage(finish));
    this.#flushUp();
    this.#enqueue(fr);
  }

  /**
   * The server entered copy-in mode for request `r`: client input goes upstream, and the Syncs the client sent
   * after `r` before ending its input will be ignored by the server (Req.duringCopy), so they leave the queue.
   */
  #enterCopyIn(r: Req): void {
    this.#copyIn = true;
    const q = this.#queue;
    const at = q.indexOf(r);
    if (at < 0) return;
    let w = at + 1;
    for (let i = at + 1; i < q.length; i++) {
      const x = q[i]!;
      if (x.kind === K_SYNC && x.duringCopy) continue;
      q[w++] = x;
    }
    q.length = w;
  }

  /** COPY FROM STDIN under maxAffectedRows: the client's data must flow while the rest stays held. */
  #startGuardedCopyIn(r: Req, buf: Buffer, start: number, end: number): void {
    this.#enterCopyIn(r);
    this.#passClient(buf, start, end);
    setImmediate(() => {
      if (this.phase !== PHASE_READY || !this.#copyIn) return;
      this.#drainClient();
      this.client.resume();
    });
  }

  #guardedExecute(r: Req, g: Guard, rn: Run | null, buf: Buffer, type: number, start: number, end: number): void {
    switch (type) {
      case Backend.CopyInResponse:
        this.#startGuardedCopyIn(r, buf, start, end);
        return;
      case Backend.DataRow:
        if (rn !== null && rn.fields === null && r.portal !== null) this.#portalFields(rn, r.portal);
        this.#guardRow(g, rn, buf, start, end);
        return;
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended: {
        this.#queue.shift();
        if (type === Backend.CommandComplete) {
          g.tagCount = tagCount(buf, start, end);
          if (rn !== null) rn.rows = g.tagCount;
        }
        g.held.push(Buffer.from(buf.subarray(start, end)));
        // Count now. Nothing the client sent after the Execute has gone upstream (it is held), so this read is
        // the next thing the server answers, ahead of the client's Sync: nothing has committed yet.
        this.#queue.unshift(this.#countChanges((n) => {
          settleCount(g, rn, n);
          this.#guardedExecuteCounted(g, rn);
        }));
        this.#writeUp(FLUSH);
        this.#flushUp();
        return;
      }
      case Backend.ErrorResponse:
        g.held.length = 0;
        this.#extendedError(r, buf, start, end);
        this.#holdClient--;
        this.#resumeClient();
        return;
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to a guarded Execute`);
  }

  /** A guarded Execute has run and been counted: forward what was held, or poison the batch before its Sync. */
  #guardedExecuteCounted(g: Guard, rn: Run | null): void {
    if (guardOver(g)) {
      g.held.length = 0;
      const d: DenyDecision = { verdict: 'deny', policy: g.policy, rule: 'guardrails.maxAffectedRows', reason: guardReason(g) };
      const pr = req(K_PARSE);
      pr.denial = guardDenial(g);
      if (rn !== null) { rn.rolledBack = true; const prn = { ...rn, decision: d, code: '42501', done: false }; pr.runs = [prn]; rn.done = true; }
      // Ahead of everything the client sent after the Execute (held): the Sync cannot commit first.
      this.#queue.unshift(pr);
      this.#writeUp(POISON_PARSE);
      this.#flushUp();
    } else {
      for (const b of g.held) this.#writeClient(b);
      g.held.length = 0;
      if (rn !== null) this.#auditRun(rn, null);
    }
    this.#holdClient--;
    this.#resumeClient();
  }

  #guardFinished(g: Guard, rn: Run | null, over: boolean, c: ResultCollector, rfq: Buffer): void {
    if (over) {
      const d: DenyDecision = { verdict: 'deny', policy: g.policy, rule: 'guardrails.maxAffectedRows', reason: guardReason(g) };
      this.#writeClient(errorResponse(guardDenial(g)));
      if (rn !== null) { rn.rolledBack = true; this.#auditRun(rn, '42501', d); }
    } else if (!g.failed) {
      if (c.error !== null && !g.inBlock) {
        // COMMIT failed (a deferred constraint): the statement's effects are gone; tell the client why.
        this.#writeClient(errorResponse({ severity: 'ERROR', code: c.error.get('C') ?? 'XX000', message: c.error.get('M') ?? 'COMMIT failed' }));
        if (rn !== null) this.#auditRun(rn, c.error.get('C') ?? 'XX000');
      } else {
        for (const b of g.held) this.#writeClient(b);
        if (rn !== null) this.#auditRun(rn, null);
      }
    }
    g.held.length = 0;
    this.#setTx(rfq[5]!);
    this.#writeClient(rfq);
    this.#holdClient--;
    this.#resumeClient();
  }

  // -------------------------------------------------------------------------------------------
  // Audit

  #auditRun(rn: Run | null, code: string | null, override?: DenyDecision): void {
    if (rn === null || rn.done) return;
    rn.done = true;
    const d = override ?? rn.decision;
    const f = rn.facts;
    const a = f?.accesses[0];
    const rel = a === undefined ? null : a.relation.schema === null ? (this.#ctx?.searchPath[0] !== undefined && a.kind === 'relation' ? `${this.#ctx.searchPath[0]}.${a.relation.name}` : a.relation.name) : `${a.relation.schema}.${a.relation.name}`;
    // A statement that ran on an approved AccessRequest is audited as `approve`, naming the request.
    const grant = d.verdict === 'allow' || d.verdict === 'warn' ? d.grant : d.verdict === 'deny' ? d.accessRequest : undefined;
    if (grant !== undefined && d.verdict !== 'deny') this.grantsUsed.add(grant);
    const decision: AuditDecision = d.verdict === 'warn' ? 'warn' : d.verdict === 'deny' ? 'deny' : d.verdict === 'approve' || grant !== undefined ? 'approve' : 'allow';
    const rec: StatementRecord = {
      sessionId: this.id, startTimeMs: rn.startMs, durationMs: nowMs() - rn.startMs,
      operation: f?.command ?? 'UNKNOWN', collection: rel, queryText: rn.normalized, statusCode: code,
      decision, policy: d.policy === '' ? null : d.policy, rule: d.rule === '' ? null : d.rule,
      reason: d.verdict === 'deny' ? d.reason : d.verdict === 'warn' ? (d.wouldDeny[0]?.reason ?? null) : null,
      maskedColumns: rn.maskedColumns ?? [], rows: rn.rows, accessRequest: grant ?? null, rolledBack: rn.rolledBack,
    };
    // Staging counters: a verdict compare for every statement; only a would-be denial does more.
    if ((d.verdict === 'allow' || d.verdict === 'warn') && d.wouldDeny.length > 0) this.shared.violations?.add(d.wouldDeny, rn.normalized, rn.startMs);
    this.shared.audit.statement(rec);
  }

  // -------------------------------------------------------------------------------------------
  // Ending

  #fatal(code: string, message: string, hint?: string): void {
    this.#fatalFields(hint === undefined ? { severity: 'FATAL', code, message } : { severity: 'FATAL', code, message, hint });
  }

  #fatalFields(f: PgErrorFields): void {
    if (this.phase === PHASE_CLOSED) return;
    try {
      this.#flushClient();
      if (!this.client.destroyed) this.client.end(errorResponse(f));
    } catch { /* the client is gone */ }
    this.#close();
  }

  #internalError(e: Error): void {
    this.shared.log(`airlock: session ${this.id}: internal error: ${e.stack ?? e.message}`);
    this.#fatal('XX000', `Airlock internal error: ${e.message}`);
  }

  #clientGone(): void {
    this.#close();
  }

  #serverEnded = false;

  #upstreamGone(): void {
    if (this.phase === PHASE_CLOSED) return;
    if (this.#serverEnded) { this.#flushClient(); this.#close(); return; }
    if (this.#onUpstreamFailure !== null && this.phase !== PHASE_READY) {
      this.#onUpstreamFailure(new Error('the upstream server closed the connection during setup'));
      return;
    }
    this.#fatal('57P01', 'terminating connection: the upstream database server closed the connection');
  }

  /** End the session: Terminate upstream, close both sockets, forget the cancel key. */
  #close(): void {
    if (this.phase === PHASE_CLOSED) return;
    if (this.#approval?.timer != null) clearTimeout(this.#approval.timer);
    if (this.#connectTimer !== null) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
    if (this.#startupTimer !== null) { clearTimeout(this.#startupTimer); this.#startupTimer = null; }
    if (this.phase !== PHASE_STARTUP) this.shared.established--;
    const wasReady = this.phase === PHASE_READY;
    this.phase = PHASE_CLOSED;
    this.#closing = true;
    if (this.#cancelKey !== null) this.shared.cancelKeys.delete(this.#cancelKey);
    this.shared.sessions.delete(this);
    const up = this.up;
    if (up !== null && !up.destroyed) {
      try { up.end(TERMINATE); } catch { /* gone */ }
      setTimeout(() => up.destroy(), 1000).unref();
    }
    if (!this.client.destroyed) {
      this.client.end();
      const c = this.client;
      setTimeout(() => c.destroy(), 1000).unref();
    }
    if (wasReady) this.shared.audit.sessionEnded(this.id, Date.now());
  }

  /** Server shutdown or revocation from outside. */
  terminate(code: string, message: string): void {
    this.#fatal(code, message);
  }

  get closing(): boolean { return this.#closing; }
}

/** The masked columns a statement's messages could echo (MaskPlan.touched; all of the plan's when unknown). */
function touchedBy(rn: Run): readonly string[] {
  const d = rn.decision;
  if (d.verdict !== 'allow' && d.verdict !== 'warn') return NO_COLUMNS;
  return d.masks.touched ?? Object.keys(d.masks.columns);
}

/** Reserved name of the statement the proxy describes a COPY (query) under, in the extended protocol. */
const COPY_DESCRIBE_NAME = 'airlock_copy_describe';

/**
 * The query of a COPY (query) TO whose output may carry masked values (it reads a relation with masked
 * columns), to describe before it runs; null when there is nothing to describe.
 */
function copyQueryToDescribe(f: StatementFacts, d: Decision): string | null {
  const ct = f.copyTo;
  if (ct === null || ct.relation !== null || ct.query === undefined) return null;
  if (d.verdict !== 'allow' && d.verdict !== 'warn') return null;
  const touched = d.masks.touched;
  return touched !== undefined && touched.length === 0 ? null : ct.query;
}

/** A COPY … FROM STDIN: the client sends its rows after the statement. */
function isCopyFrom(f: StatementFacts | null): boolean {
  if (f === null || f.tag !== 'CopyStmt' || f.copyTo !== null) return false;
  for (const a of f.accesses) if (a.operation === 'COPY_FROM') return true;
  return false;
}

/** The error a statement rolled back by maxAffectedRows gets (42501: the policy refused it; ADR 0001). */
function guardDenial(g: Guard): PgErrorFields {
  return {
    severity: 'ERROR', code: '42501',
    message: `permission denied for ${g.what}: ${guardReason(g).replace(/^affected/, 'it affected')} of AccessPolicy "${g.policy}"; rolled back`,
  };
}

/** Changed rows could not be counted (CHANGED_ROWS_SQL answered -1: track_counts is off on the server). */
const UNCOUNTABLE = -1;

/** Statements whose CommandComplete row count counts rows they changed: a lower bound of the real count. */
const TAG_COUNTS_CHANGES: ReadonlySet<string> = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CopyStmt']);

/** The count from the counters before and after (CHANGED_ROWS_SQL), never below what the tag says. */
function settleCount(g: Guard, rn: Run | null, after: number): void {
  if (g.before === null || g.before < 0 || after < 0) { g.count = UNCOUNTABLE; return; }
  const tag = rn !== null && rn.facts !== null && TAG_COUNTS_CHANGES.has(rn.facts.tag) ? g.tagCount ?? 0 : 0;
  g.count = Math.max(tag, after - g.before);
}

/** Over the limit — or not countable, which fails closed. */
function guardOver(g: Guard): boolean {
  return g.count !== null && (g.count === UNCOUNTABLE || g.count > g.limit);
}

function guardReason(g: Guard): string {
  return g.count === UNCOUNTABLE
    ? `affected rows that could not be counted (the server's track_counts is off), so maxAffectedRows ${g.limit} could not be checked`
    : `affected ${g.count} rows, more than maxAffectedRows ${g.limit}`;
}

const POISON_QUERY = queryMessage(POISON_SQL);
/**
 * The extended-protocol read of CHANGED_ROWS_SQL (K_COUNT): a reserved statement and portal name, closed first
 * (a Parse of an existing name fails) and after. Built once.
 */
const COUNT_NAME = 'airlock_guard_count';
const COUNT_MESSAGES = Buffer.concat([
  closeMessage('S', COUNT_NAME), parseMessage(COUNT_NAME, CHANGED_ROWS_SQL), bindMessage({ portal: COUNT_NAME, statement: COUNT_NAME }),
  executeMessage(COUNT_NAME, 0), closeMessage('P', COUNT_NAME),
]);

/** The changed-rows count from statement `i` of an internal simple Query (CHANGED_ROWS_SQL). */
function changedRows(c: ResultCollector, i: number): number {
  if (c.error !== null) throw new Error(`the proxy's changed-rows count failed: ${c.error.get('M') ?? '?'} (SQLSTATE ${c.error.get('C') ?? '?'})`);
  const n = Number(c.statements[i]?.[0]?.[0]);
  if (!Number.isSafeInteger(n)) throw new Error('the changed-rows count could not be read');
  return n;
}

/** The first column of a DataRow as text (the proxy's own count query). */
function readFirstValue(buf: Buffer, start: number, end: number): string | null {
  if (buf.readInt16BE(start + 5) < 1) return null;
  const len = buf.readInt32BE(start + 7);
  if (len < 0 || start + 11 + len > end) return null;
  return buf.toString('utf8', start + 11, start + 11 + len);
}
const POISON_PARSE = parseMessage('airlock_denied', POISON_SQL);
const NO_COLUMNS: readonly string[] = Object.freeze([]);
const NO_PLAN: MaskPlan = Object.freeze({ columns: Object.freeze({}), outputs: Object.freeze([]), needsRowDescription: false, refuse: null });
const EMPTY_FACTS: StatementFacts = Object.freeze({
  tag: '', command: '', accesses: [], unsupported: [], effects: [], unfilteredWrite: false, writes: false, outputs: [],
  copyTo: null, transaction: false, executes: null, prepares: null,
});
export type { RowMask };
