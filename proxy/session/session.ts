// One state machine per client connection: the connection core. It owns the two sockets, the startup phase, the
// request queue and the state both directions share (transaction status, COPY, the set of reasons the client is
// held), and hands the rest to its collaborators:
//   login.ts      the upstream connection, login and setup round trip (startup.ts: the pure parts)
//   frontend.ts   client → server: Query, Parse/Bind/Describe/Execute/Close/Sync, COPY input, decided first
//   backend.ts    server → client: one result path for rows and COPY, errors, notices, the audit of each statement
//   guard.ts      guarded writes (maxAffectedRows): held results, the count, commit or rollback
//   copy-describe.ts  the proxy's Describe of a COPY (query), so its output is masked as rows are
//   approval.ts   statements held for an AccessRequest
//   context.ts    search_path, mask catalog, views and their refresh; the gate (enforce/gate.ts) decides with it
//   statements.ts prepared statements and portals
// See ../../docs/adr/0001-denial-by-poison-statement.md for how a denial travels, and requests.ts for the queue
// that matches responses to requests.
//
// Hot path (style.md §2): each chunk from either side is walked in place with FrameReader.drain; messages
// that need nothing leave as one subarray per run of consecutive frames, one socket write per chunk (cork).
// From a plain-TCP upstream a chunk is a view into one reused read buffer (login.ts, wire/reused-reads.ts):
// whatever keeps server bytes past #onUpstreamData copies them.
import type net from 'node:net';
import tls from 'node:tls';
import { randomBytes, randomInt } from 'node:crypto';
import type { Identity } from '../../policy/types.ts';
import { TxStatus } from '../wire/codes.ts';
import { FrameReader, WireError } from '../wire/frames.ts';
import { AUTH_OK, TERMINATE, backendKeyData, errorResponse, parameterStatus, RFQ_IDLE } from '../wire/messages.ts';
import type { PgErrorFields } from '../wire/messages.ts';
import type { ReusedReadsSocket } from '../wire/reused-reads.ts';
import { negotiateProtocolVersionFor, parseStartup, readStartupLength } from '../wire/startup.ts';
import { MaskError } from '../mask/mask-error.ts';
import { ApprovalHolds } from './approval.ts';
import { cancelKey, sendCancel } from './cancel.ts';
import { CopyDescribes } from './copy-describe.ts';
import { BackendMessages } from './backend.ts';
import { Context } from './context.ts';
import { FrontendMessages } from './frontend.ts';
import { GuardedWrites } from './guard.ts';
import { Holds } from './holds.ts';
import { UpstreamLogin } from './login.ts';
import { PHASE_CLOSED, PHASE_CONNECTING, PHASE_READY, PHASE_STARTUP } from './phase.ts';
import { K_SYNC } from './requests.ts';
import type { Req } from './requests.ts';
import { Statements } from './statements.ts';
import { WriteRun } from './write-run.ts';
import type { ProxyShared } from './shared.ts';

let sessionCounter = 0;

export class Session {
  readonly id: string;
  readonly shared: ProxyShared;
  client: net.Socket | tls.TLSSocket;
  up: net.Socket | tls.TLSSocket | null = null;
  phase = PHASE_STARTUP;

  // What the collaborators share (one connection's state; nothing outside proxy/session/ touches it).
  /** Every request sent upstream that PostgreSQL answers, in send order (requests.ts). */
  readonly queue: Req[] = [];
  /** After an error in the extended protocol the server discards messages until Sync (protocol 55.2.3). */
  skipping = false;
  /** Status of the last ReadyForQuery the client saw. */
  tx: number = TxStatus.Idle;
  /** In COPY FROM STDIN: client CopyData/CopyDone/CopyFail go upstream. */
  copyIn = false;
  /**
   * COPY FROM STDIN statements forwarded whose input the client has not ended (CopyDone/CopyFail) yet. A
   * client may stream its data right behind the statement without waiting for CopyInResponse (asyncpg's
   * copy_records_to_table does): while this is non-zero CopyData/CopyDone/CopyFail go upstream too. Should
   * the COPY fail before copy-in mode, PostgreSQL ignores them (postgres.c: "Accept but ignore these
   * messages, per protocol spec"). Back to 0 at a ReadyForQuery that leaves nothing outstanding.
   */
  copyInAhead = 0;
  /** Why client messages are not read now (holds.ts). */
  readonly holds = new Holds();
  /** ParameterStatus the server reports during the setup round trip, for the client's startup burst. */
  setupParameters: Map<string, string> | null = null;
  /** AccessRequests whose grants allowed a statement in this session: revoking one ends the session. */
  readonly grantsUsed = new Set<string>();

  readonly context: Context;
  readonly statements = new Statements();
  readonly frontend: FrontendMessages;
  readonly backend: BackendMessages;
  readonly guards: GuardedWrites;
  readonly copyDescribes: CopyDescribes;
  readonly approvals: ApprovalHolds;
  readonly login: UpstreamLogin;

  #startBuf: Buffer = Buffer.alloc(0);
  readonly #clientReader: FrameReader;
  readonly #upReader: FrameReader;
  /** The cancel key the client holds (the upstream's is login.pid and login.secret). */
  #cancelKey: string | null = null;
  #closing = false;

  /** Pass-through runs toward the client and toward the server. */
  readonly #toClient = new WriteRun();
  readonly #toUp = new WriteRun();

  readonly #onClientFrame = (buf: Buffer, type: number, start: number, end: number): boolean => {
    if (this.frontend.message(buf, type, start, end)) return true;
    // Held (a guarded write or a context refresh in flight): FrameReader.drain consumes the message it
    // stops at, so keep a copy of it to decide once the hold is released.
    if (this.phase === PHASE_READY) this.#stashed = Buffer.from(buf.subarray(start, end));
    return false;
  };
  /** The one client message that arrived while the session was held, not yet decided. */
  #stashed: Buffer | null = null;
  readonly #onServerFrame = (buf: Buffer, type: number, start: number, end: number): boolean => {
    this.backend.message(buf, type, start, end);
    return true;
  };

  constructor(client: net.Socket, shared: ProxyShared) {
    this.id = `${process.pid.toString(16).padStart(6, '0').slice(-6)}${(++sessionCounter).toString(16).padStart(10, '0')}`;
    this.shared = shared;
    this.client = client;
    this.context = new Context(this);
    this.frontend = new FrontendMessages(this);
    this.backend = new BackendMessages(this);
    this.guards = new GuardedWrites(this);
    this.copyDescribes = new CopyDescribes(this);
    this.login = new UpstreamLogin(this);
    this.approvals = new ApprovalHolds(shared.approvals ?? null, this.holds, () => this.resumeClient());
    this.#clientReader = new FrameReader(shared.limits.maxClientMessageBytes);
    this.#upReader = new FrameReader(shared.limits.maxServerMessageBytes);
    client.setNoDelay(true);
    client.on('data', this.#onStartupData);
    client.on('error', () => this.close());
    client.on('close', () => this.close());
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
    this.shared.events.event(
      'startup_timeout',
      `airlock: closed a client connection that sent no complete startup packet within ${this.shared.limits.authenticationTimeoutMs} ms`,
    );
    this.client.destroy();
    this.close();
  };

  /** Still sending its startup packet (server.ts may evict it under a flood of such connections). */
  get inStartup(): boolean {
    return this.phase === PHASE_STARTUP;
  }

  /** Closed by the server before startup completed: too many connections were still in startup. */
  evict(): void {
    if (this.phase !== PHASE_STARTUP) return;
    this.shared.events.event(
      'startup_evicted',
      `airlock: closed the oldest client connection still sending its startup packet: ${this.shared.limits.maxClientConnections} were`,
    );
    this.client.destroy();
    this.close();
  }

  get identity(): Identity {
    return this.shared.identity;
  }
  get ready(): boolean {
    return this.phase === PHASE_READY;
  }

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
            if (this.#startBuf.length > 0)
              throw new WireError('data received after SSLRequest before the TLS handshake');
            if (this.shared.clientTls !== null) {
              this.#startTls();
              return;
            }
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
            this.#cancelFor(pkt.processId, pkt.secretKey, () => {
              this.client.destroy();
              this.close();
            });
            return;
          case 'startup': {
            if (this.#startupTimer !== null) {
              clearTimeout(this.#startupTimer);
              this.#startupTimer = null;
            }
            if (this.shared.established >= this.shared.limits.maxClientConnections) {
              // PostgreSQL's own words and code (postmaster.c, canAcceptConnections): pools retry on 53300.
              this.shared.events.event(
                'too_many_clients',
                `airlock: refused a client connection: ${this.shared.established} of --max-client-connections ${this.shared.limits.maxClientConnections} in use`,
              );
              this.fatal('53300', 'sorry, too many clients already');
              return;
            }
            const nego = negotiateProtocolVersionFor(pkt);
            if (nego !== null) this.client.write(nego);
            this.phase = PHASE_CONNECTING;
            this.shared.established++;
            this.client.pause();
            void this.login.open(pkt.params);
            return;
          }
        }
      }
    } catch (e) {
      this.fatal('08P01', `invalid startup packet: ${(e as Error).message}`);
    }
  };

  #startTls(): void {
    const raw = this.client as net.Socket;
    raw.off('data', this.#onStartupData);
    raw.write('S');
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: this.shared.clientTls! });
    this.client = secure;
    secure.on('data', this.#onStartupData);
    secure.on('error', () => this.close());
    secure.on('close', () => this.close());
  }

  #cancelFor(pid: number, secret: Buffer, done: () => void): void {
    const target = this.shared.cancelKeys.get(cancelKey(pid, secret));
    // Unknown key: nothing, as PostgreSQL (it never says whether a key was valid).
    if (target === undefined) {
      done();
      return;
    }
    if (target.approvals.cancel()) {
      done();
      return;
    }
    void target.cancelUpstream(done); // never rejects: failures end in done()
  }

  /** Cancel what runs upstream (cancel.ts); `done` once that connection is closed or gave up. */
  cancelUpstream(done?: () => void): Promise<void> {
    const secret = this.login.secret;
    if (secret === null) {
      done?.();
      return Promise.resolve();
    }
    return sendCancel(this.shared.target, this.login.pid, secret, done);
  }

  /**
   * A statement, transaction, COPY or approval hold is in flight: what a drain waits for (server.ts close()).
   * False also for a session not ready yet: it has nothing in flight to finish.
   */
  get busy(): boolean {
    return (
      this.phase === PHASE_READY
      && (this.queue.length > 0
        || this.tx !== TxStatus.Idle
        || this.copyIn
        || this.holds.count > 0
        || this.#stashed !== null)
    );
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

  /**
   * The upstream connection is open and logged in (login.ts): watch it; `leftover` is what came after the login.
   * `reusing`: the socket reads into one reused buffer (plain TCP), so each read is handled in place and
   * whatever the drain left unread is copied out before the next read overwrites it. Everything that keeps
   * server bytes past the handler copies them (held guard rows, a COPY describe's error, ResultCollector's
   * strings, RowDescription's cache); what is written to the client is covered by reuse() in login.ts.
   */
  attachUpstream(sock: net.Socket | tls.TLSSocket, leftover: Buffer, reusing: ReusedReadsSocket | null): void {
    if (reusing !== null) reusing.relay(this.#onUpstreamRead);
    else sock.on('data', this.#onUpstreamData);
    sock.on('close', () => this.#upstreamGone());
    sock.on('end', () => this.#upstreamGone());
    sock.on('drain', () => {
      if (this.holds.count === 0) this.client.resume();
    });
    if (leftover.length > 0) this.#upReader.push(leftover);
  }

  /** The setup round trip is in and access granted (login.ts): AuthenticationOk … ReadyForQuery, then the relay. */
  becomeReady(parameters: Map<string, string>): void {
    const t = this.shared.target;
    // The client's cancel key is ours: the server's secret never leaves the proxy, so a client can cancel
    // only through it. The pid is the upstream backend's, as drivers expect (getBackendPID() =
    // pg_backend_pid(), and a notification the session sent itself carries it); a server that sent no key
    // gets a random one.
    const pid = this.login.pid > 0 ? this.login.pid : randomInt(1, 0x7fffffff);
    let secret: Buffer;
    do {
      secret = randomBytes(4);
    } while (this.shared.cancelKeys.has(cancelKey(pid, secret)));
    this.#cancelKey = cancelKey(pid, secret);
    this.shared.cancelKeys.set(this.#cancelKey, this);
    this.setupParameters = null;
    if (parameters.get('standard_conforming_strings') !== 'on' || parameters.get('client_encoding') !== 'UTF8') {
      this.fatal(
        '08006',
        'the upstream server changed standard_conforming_strings or client_encoding during setup; Airlock requires on and UTF8',
      );
      return;
    }
    const out: Buffer[] = [AUTH_OK];
    for (const [k, v] of parameters) out.push(parameterStatus(k, v));
    out.push(backendKeyData(pid, secret), RFQ_IDLE);
    this.shared.audit.sessionStarted({
      sessionId: this.id,
      subject: this.shared.identity.user,
      database: t.database,
      binding: t.binding,
      serverAddress: t.host,
      serverPort: t.port,
      clientAddress: this.client.remoteAddress ?? '',
      startTimeMs: Date.now(),
    });
    this.phase = PHASE_READY;
    this.login.clearDeadline();
    this.client.write(Buffer.concat(out));
    this.client.off('data', this.#onStartupData);
    this.client.on('data', this.#onClientData);
    this.client.on('drain', () => this.up?.resume());
    const rest = this.#startBuf;
    this.#startBuf = Buffer.alloc(0);
    this.client.resume();
    if (rest.length > 0) this.#onClientData(rest);
  }

  // -------------------------------------------------------------------------------------------
  // Client → server

  readonly #onClientData = (chunk: Buffer): void => {
    if (this.phase !== PHASE_READY) return;
    try {
      this.#clientReader.push(chunk);
    } catch (e) {
      this.fatal('08P01', `invalid message from client: ${(e as Error).message}`);
      return;
    }
    this.drainClient();
  };

  /** Decide what the client sent, as far as no hold stops it; the stashed message first. */
  drainClient(): void {
    const up = this.up!;
    up.cork();
    try {
      const st = this.#stashed;
      if (st !== null && this.holds.count === 0) {
        this.#stashed = null;
        this.#onClientFrame(st, st[0]!, 0, st.length);
      }
      // COPY FROM STDIN data flows even while a guarded COPY holds everything else.
      if (this.#stashed === null && (this.holds.count === 0 || this.copyFlows))
        this.#clientReader.drain(this.#onClientFrame);
      this.flushUp();
    } catch (e) {
      this.flushUp();
      up.uncork();
      if (e instanceof WireError) this.fatal('08P01', `invalid message from client: ${e.message}`);
      else this.#internalError(e as Error);
      return;
    }
    up.uncork();
    if (this.holds.count > 0 && !this.copyFlows) this.client.pause();
    else if (up.writableNeedDrain) this.client.pause();
  }

  /** Client COPY input may reach the server (in copy-in mode, or about to be). */
  get copyFlows(): boolean {
    return this.copyIn || this.copyInAhead > 0;
  }

  /** Forward [start, end) of a client chunk as it came (extends the current run). */
  passUp(buf: Buffer, start: number, end: number): void {
    if (!this.#toUp.extend(buf, start, end)) this.#toUp.flushTo(this.up!).begin(buf, start, end);
  }
  flushUp(): void {
    this.#toUp.flushTo(this.up!);
  }
  /** A message of the proxy's own toward the server, after what was passed before it. */
  writeUp(b: Buffer): void {
    this.flushUp();
    this.up!.write(b);
  }

  /** Queue the request a message sent upstream will be answered by. */
  enqueue(r: Req): void {
    if (this.skipping) {
      // The server will discard this message unanswered (it is skipping to Sync after an error).
      if (r.kind !== K_SYNC) return;
      this.skipping = false;
    }
    this.queue.push(r);
  }

  /** A hold was released: read the client again once none is left. */
  resumeClient(): void {
    if (this.phase !== PHASE_READY || this.holds.count > 0) return;
    // Defer: we may be inside the upstream handler; the client's held frames are decided on a fresh stack.
    setImmediate(() => {
      if (this.phase !== PHASE_READY) return;
      this.drainClient();
      if (this.holds.count === 0) this.client.resume();
    });
  }

  /** The proxy swapped the policy state (server.ts reload): a statement held for approval is decided again. */
  policyChanged(): void {
    this.approvals.release();
  }

  // -------------------------------------------------------------------------------------------
  // Server → client

  readonly #onUpstreamData = (chunk: Buffer): void => {
    const client = this.client;
    client.cork();
    try {
      this.#upReader.push(chunk);
      this.#upReader.drain(this.#onServerFrame);
      this.flushClient();
    } catch (e) {
      this.flushClient();
      client.uncork();
      if (this.login.onFailure !== null && this.phase !== PHASE_READY) {
        this.login.onFailure(e as Error);
        return;
      }
      if (e instanceof WireError || e instanceof MaskError)
        this.fatal('08P01', `invalid message from the upstream server: ${(e as Error).message}`);
      else this.#internalError(e as Error);
      return;
    }
    client.uncork();
    if (client.writableNeedDrain) this.up!.pause();
    if (this.#onIdle !== null) this.#checkIdle();
  };

  /** A read into the reused buffer (attachUpstream): valid only during this call. */
  readonly #onUpstreamRead = (view: Buffer): void => {
    this.#onUpstreamData(view);
    try {
      this.#upReader.release();
    } catch {
      // The reader threw a WireError and is poisoned: the session has already ended with a FATAL.
    }
  };

  /** Forward [start, end) of a server chunk as it came (extends the current run). */
  passClient(buf: Buffer, start: number, end: number): void {
    if (!this.#toClient.extend(buf, start, end)) this.#toClient.flushTo(this.client).begin(buf, start, end);
  }
  flushClient(): void {
    this.#toClient.flushTo(this.client);
  }
  /** A message built by the proxy (masked, scrubbed, an error) toward the client, after what was passed before it. */
  writeClient(b: Buffer): void {
    this.flushClient();
    this.client.write(b);
  }

  /** Every ReadyForQuery's status goes here (the context learns when DDL commits). */
  setTx(status: number): void {
    this.tx = status;
    this.context.txStatus(status);
  }

  // -------------------------------------------------------------------------------------------
  // Ending

  fatal(code: string, message: string, hint?: string): void {
    this.fatalFields(
      hint === undefined ? { severity: 'FATAL', code, message } : { severity: 'FATAL', code, message, hint },
    );
  }

  fatalFields(f: PgErrorFields): void {
    if (this.phase === PHASE_CLOSED) return;
    try {
      this.flushClient();
      if (!this.client.destroyed) this.client.end(errorResponse(f));
    } catch {
      /* the client is gone */
    }
    this.close();
  }

  #internalError(e: Error): void {
    this.shared.log(`airlock: session ${this.id}: internal error: ${e.stack ?? e.message}`);
    this.fatal('XX000', `Airlock internal error: ${e.message}`);
  }

  #upstreamGone(): void {
    if (this.phase === PHASE_CLOSED) return;
    if (this.backend.serverEnded) {
      this.flushClient();
      this.close();
      return;
    }
    if (this.login.onFailure !== null && this.phase !== PHASE_READY) {
      this.login.onFailure(new Error('the upstream server closed the connection during setup'));
      return;
    }
    this.fatal('57P01', 'terminating connection: the upstream database server closed the connection');
  }

  /** End the session: Terminate upstream, close both sockets, forget the cancel key. */
  close(): void {
    if (this.phase === PHASE_CLOSED) return;
    this.approvals.close();
    this.login.clearDeadline();
    if (this.#startupTimer !== null) {
      clearTimeout(this.#startupTimer);
      this.#startupTimer = null;
    }
    if (this.phase !== PHASE_STARTUP) this.shared.established--;
    const wasReady = this.phase === PHASE_READY;
    this.phase = PHASE_CLOSED;
    this.#closing = true;
    if (this.#cancelKey !== null) this.shared.cancelKeys.delete(this.#cancelKey);
    this.shared.sessions.delete(this);
    const up = this.up;
    if (up !== null && !up.destroyed) {
      try {
        up.end(TERMINATE);
      } catch {
        /* gone */
      }
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
    this.fatal(code, message);
  }

  get closing(): boolean {
    return this.#closing;
  }
}
