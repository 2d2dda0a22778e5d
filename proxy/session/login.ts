// Startup and login, the I/O: the upstream connection (connect, TLS, login and the setup query under one
// deadline, upstreamConnectTimeoutMs) and the setup round trip that reads the session's first context. The
// pure parts are in startup.ts; the session (session.ts) takes over at becomeReady.
import net from 'node:net';
import type tls from 'node:tls';
import { query as queryMessage } from '../wire/messages.ts';
import { loginUpstream } from '../wire/auth.ts';
import { upgradeUpstreamTls } from '../wire/tls.ts';
import { connectReusingReads } from '../wire/reused-reads.ts';
import { hasAccess } from '../enforce/gate.ts';
import { ResultCollector, setupPlan, maskedTables } from '../catalog.ts';
import { PHASE_CLOSED, PHASE_CONNECTING } from './phase.ts';
import { K_INTERNAL, req } from './requests.ts';
import { startupParams, upstreamFailure } from './startup.ts';
import type { Session } from './session.ts';

export class UpstreamLogin {
  readonly #s: Session;
  /** The upstream backend's cancel key (BackendKeyData): what cancelUpstream sends. */
  pid = 0;
  secret: Buffer | null = null;
  /** Rejects the setup round trip when the upstream fails before the session is ready. */
  onFailure: ((e: Error) => void) | null = null;
  /** upstreamConnectTimeoutMs from the startup packet until ready; #timedOut: it fired, and the error says so. */
  #deadline: NodeJS.Timeout | null = null;
  #timedOut = false;

  constructor(s: Session) {
    this.#s = s;
  }

  /** The session is ready or closed: the connect deadline no longer applies. */
  clearDeadline(): void {
    if (this.#deadline !== null) {
      clearTimeout(this.#deadline);
      this.#deadline = null;
    }
  }

  /** Connect, log in and read the first context; on success the session becomes ready, else it ends with a FATAL. */
  async open(params: Map<string, string>): Promise<void> {
    const s = this.#s;
    const p = startupParams(params, s.shared.target);
    if ('severity' in p) {
      s.fatal(p.code, p.message, p.hint);
      return;
    }
    const t = s.shared.target;
    const timeoutMs = s.shared.limits.upstreamConnectTimeoutMs;
    // One deadline for connect, TLS, login and the setup query: destroying the upstream socket fails
    // whichever of them is pending, and the catch below reports the timeout. Cleared when the session is ready.
    this.#deadline = setTimeout(() => {
      this.#deadline = null;
      if (s.phase !== PHASE_CONNECTING) return;
      this.#timedOut = true;
      s.up?.destroy(new Error('connect timeout'));
    }, timeoutMs);
    let sock: net.Socket | tls.TLSSocket;
    try {
      // A plain-TCP upstream is read into one reused buffer once the relay starts (wire/reused-reads.ts: the
      // allocation, ArrayBuffer and stream push per read are the largest per-read cost Node adds). Not over
      // TLS: the TLSSocket reads the raw handle itself. The buffer is reused only while the client socket has
      // nothing queued: a pass-through write is a view of the buffer, and Node keeps the view, not a copy,
      // until the write completes (Writable's length counts it until then).
      const reusing =
        t.tlsMode === 'disable'
          ? connectReusingReads({ host: t.host, port: t.port, reuse: () => s.client.writableLength === 0 })
          : null;
      const raw = reusing?.socket ?? net.connect({ host: t.host, port: t.port });
      raw.setNoDelay(true);
      s.up = raw;
      await new Promise<void>((resolve, reject) => {
        raw.once('connect', resolve);
        raw.once('error', reject);
        raw.once('close', () => reject(new Error('the connection closed before it was established')));
      });
      raw.removeAllListeners('error');
      raw.removeAllListeners('close');
      raw.on('error', () => {});
      sock = await upgradeUpstreamTls(raw, t.tlsMode, t.host, t.ca);
      s.up = sock;
      if (s.phase === PHASE_CLOSED) {
        sock.destroy();
        return;
      }
      // The login's own timer is a backstop behind the deadline above, which reports the timeout.
      const login = await loginUpstream(sock, {
        user: t.user,
        password: t.password,
        database: t.database,
        params: p,
        timeoutMs: timeoutMs + 1000,
      });
      if (s.phase === PHASE_CLOSED) {
        sock.destroy();
        return;
      }
      // Our parser assumes both (docs/adr/0002): a backslash or a byte must mean to us what it means upstream.
      const scs = login.parameters.get('standard_conforming_strings');
      if (scs !== 'on')
        throw new Error(`upstream server has standard_conforming_strings=${scs ?? 'unset'}; Airlock requires on`);
      const enc = login.parameters.get('server_encoding');
      if (enc !== 'UTF8') throw new Error(`upstream server_encoding is ${enc ?? 'unset'}; Airlock requires UTF8`);
      this.pid = login.processId;
      this.secret = login.secretKey;
      s.attachUpstream(sock, login.leftover, sock === raw ? reusing : null);
      await this.#setup(login.parameters);
    } catch (e) {
      if (s.phase === PHASE_CLOSED) return;
      const failed = upstreamFailure(e as Error, t, this.#timedOut ? timeoutMs : null);
      s.shared.events.event(failed.event, failed.log);
      s.fatalFields(failed.fields);
    }
  }

  /** The setup round trip (catalog.ts): the session's first context, and whether the identity has access at all. */
  async #setup(parameters: Map<string, string>): Promise<void> {
    const s = this.#s;
    s.setupParameters = parameters;
    const t = s.shared.target;
    const where = `${t.host}:${t.port}/${t.database}`;
    const state = s.shared.state;
    const names = s.shared.catalogNames.get(where) ?? null;
    // Every session fetches the mask catalog and the views over masked tables itself, in this round trip: a
    // view created since another session's fetch must not be read through a stale one (issue 11). The
    // shared copy serves policy changes of live sessions (context.ts).
    const plan = setupPlan({
      needNames: names === null,
      maskTables: maskedTables(state.set),
      analyze: (q) => state.analyzer.analyze(q),
    });
    const epoch = s.shared.catalogEpoch;
    const got = plan.parse(await this.#internalQuery(plan.sql));
    const catalogNames = names ?? got.names!;
    if (names === null) s.shared.catalogNames.set(where, catalogNames);
    s.context.start(
      state,
      {
        searchPath: got.searchPath,
        maskCatalog: got.maskCatalog!,
        derived: got.derived!,
        known: got.known,
        invoker: got.invoker,
      },
      catalogNames.relations,
      catalogNames.functions,
      epoch,
    );
    if (!hasAccess(state, s.shared.identity, t.binding)) {
      s.fatal('42501', `access denied: no AccessPolicy gives ${s.shared.identity.user} access to "${t.binding}"`);
      return;
    }
    s.becomeReady(parameters);
  }

  /** The proxy's own query on the upstream connection, before the relay starts. */
  #internalQuery(sql: string): Promise<ResultCollector> {
    const s = this.#s;
    return new Promise((resolve, reject) => {
      const r = req(K_INTERNAL);
      r.collector = new ResultCollector();
      r.onDone = () => resolve(r.collector!);
      s.queue.push(r);
      s.up!.write(queryMessage(sql));
      this.onFailure = reject;
      s.up!.resume();
    });
  }
}
