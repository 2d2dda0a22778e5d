// Upstream login: the proxy logs in to PostgreSQL with the binding's credentials (the application never sees
// them). Supports the password methods a PostgreSQL 15 server asks for: cleartext ("password" in pg_hba),
// md5, and SCRAM-SHA-256 (RFC 5802 / RFC 7677 as PostgreSQL implements it, sasl-authentication.html), without
// channel binding. GSSAPI/SSPI/Kerberos are refused with a clear error.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { Backend } from './codes.ts';
import { FrameReader } from './frames.ts';
import { passwordMessage, saslInitialResponse } from './messages.ts';
import {
  readAuthentication,
  readBackendKeyData,
  readErrorFields,
  readParameterStatus,
  readReadyForQuery,
} from './read.ts';
import { startupMessage } from './startup.ts';

/** md5 password response: "md5" + md5hex(md5hex(password + user) + salt) (protocol-flow: AuthenticationMD5Password). */
export function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  return 'md5' + createHash('md5').update(inner, 'latin1').update(salt).digest('hex');
}

/**
 * Iteration counts above this from a server are refused. PostgreSQL's default is 4096 (scram_iterations, 16+);
 * PBKDF2 runs synchronously on the event loop, so a hostile server (possible under tls.mode require, which does
 * not verify the server) could otherwise stall every session of the sidecar for as long as it likes. 1,000,000
 * is above OWASP's 600,000 for PBKDF2-SHA256 and costs about half a second once per (salt, count): the result
 * is cached below.
 */
export const MAX_SCRAM_ITERATIONS = 1_000_000;

/** SaltedPassword by (password, salt, iterations): the proxy logs in as the same role again and again. */
const saltedCache = new Map<string, Buffer>();
const SALTED_CACHE_ENTRIES = 16;

function saltedPassword(password: Buffer, salt: Buffer, iterations: number): Buffer {
  const key = `${iterations}:${salt.toString('base64')}:${password.toString('base64')}`;
  let v = saltedCache.get(key);
  if (v === undefined) {
    v = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
    if (saltedCache.size >= SALTED_CACHE_ENTRIES) saltedCache.delete(saltedCache.keys().next().value!);
    saltedCache.set(key, v);
  }
  return v;
}

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();

/** A SCRAM attribute list "a=…,b=…" → map; throws on anything malformed. */
function attributes(msg: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    if (part.length < 2 || part[1] !== '=' || !/^[a-zA-Z]$/.test(part[0]!)) {
      throw new Error(`SCRAM ${what} is malformed: ${JSON.stringify(msg.slice(0, 200))}`);
    }
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * SCRAM-SHA-256 client, without channel binding (GS2 header "n,,": the client does not support it, so a
 * server offering SCRAM-SHA-256-PLUS accepts it too).
 *
 * The user name in the SCRAM messages is empty: PostgreSQL ignores it and uses the startup packet's user, as
 * libpq does ("n=,r=…").
 *
 * Password normalisation: PostgreSQL runs the password through SASLprep (RFC 4013) when it is valid UTF-8,
 * both when storing a verifier from a plaintext password and in libpq. For an all-ASCII password SASLprep is
 * the identity (pg_saslprep's fast path), which is the common case for generated credentials. A non-ASCII
 * password is used as is (its UTF-8 bytes); that matches PostgreSQL whenever SASLprep leaves it unchanged
 * (NFC text without non-ASCII spaces or ignorable code points, the usual case) and otherwise fails the login
 * with 28P01 rather than logging in as anything else.
 */
export class ScramClient {
  readonly #password: Buffer;
  readonly #clientNonce: string;
  readonly #clientFirstBare: string;
  #state: 'initial' | 'first-sent' | 'final-sent' | 'done' = 'initial';
  #serverSignature: Buffer | null = null;

  constructor(user: string, password: string) {
    void user; // deliberately unused: PostgreSQL takes the user from the startup packet (see above)
    this.#password = Buffer.from(password, 'utf8');
    this.#clientNonce = randomBytes(18).toString('base64'); // libpq's SCRAM_RAW_NONCE_LEN
    this.#clientFirstBare = `n=,r=${this.#clientNonce}`;
  }

  /** The whole SASLInitialResponse message ('p') for SCRAM-SHA-256. */
  initialResponse(): Buffer {
    if (this.#state !== 'initial') throw new Error('SCRAM: initialResponse() called twice');
    this.#state = 'first-sent';
    return saslInitialResponse('SCRAM-SHA-256', Buffer.from(`n,,${this.#clientFirstBare}`, 'utf8'));
  }

  /** Takes server-first-message (AuthenticationSASLContinue data); returns the SASLResponse ('p') with the proof. */
  continue(serverFirst: Buffer): Buffer {
    if (this.#state !== 'first-sent') throw new Error('SCRAM: unexpected server-first-message');
    const serverFirstText = serverFirst.toString('utf8');
    const a = attributes(serverFirstText, 'server-first-message');
    const nonce = a.get('r');
    const saltB64 = a.get('s');
    const iterText = a.get('i');
    if (a.has('m')) throw new Error('SCRAM server-first-message requires an extension the proxy does not support');
    if (nonce === undefined || saltB64 === undefined || iterText === undefined) {
      throw new Error('SCRAM server-first-message lacks the nonce, salt or iteration count');
    }
    // The server's nonce must extend ours (RFC 5802 §5.1): otherwise this is a replay or a confused server.
    if (!nonce.startsWith(this.#clientNonce) || nonce.length === this.#clientNonce.length) {
      throw new Error('SCRAM server nonce does not extend the client nonce');
    }
    if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)) throw new Error('SCRAM server nonce has invalid characters');
    if (saltB64.length === 0 || !BASE64.test(saltB64)) throw new Error('SCRAM salt is not valid base64');
    if (!/^[1-9][0-9]{0,9}$/.test(iterText) || Number(iterText) > MAX_SCRAM_ITERATIONS) {
      throw new Error(
        `SCRAM iteration count ${JSON.stringify(iterText.slice(0, 20))} is not in 1..${MAX_SCRAM_ITERATIONS}`,
      );
    }
    const salted = saltedPassword(this.#password, Buffer.from(saltB64, 'base64'), Number(iterText));
    const clientFinalWithoutProof = `c=biws,r=${nonce}`; // biws = base64("n,,"), the GS2 header we sent
    const authMessage = `${this.#clientFirstBare},${serverFirstText},${clientFinalWithoutProof}`;
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.allocUnsafe(32);
    for (let i = 0; i < 32; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.#serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    this.#state = 'final-sent';
    return passwordMessage(Buffer.from(`${clientFinalWithoutProof},p=${proof.toString('base64')}`, 'utf8'));
  }

  /**
   * Takes server-final-message (AuthenticationSASLFinal data) and verifies the server signature: only a server
   * that knows the verifier can produce it, so a man in the middle cannot complete the login. Throws otherwise.
   */
  finish(serverFinal: Buffer): void {
    if (this.#state !== 'final-sent') throw new Error('SCRAM: unexpected server-final-message');
    const a = attributes(serverFinal.toString('utf8'), 'server-final-message');
    const e = a.get('e');
    if (e !== undefined) throw new Error(`SCRAM authentication failed on the server: ${e}`);
    const v = a.get('v');
    if (v === undefined || !BASE64.test(v))
      throw new Error('SCRAM server-final-message lacks a valid server signature');
    const got = Buffer.from(v, 'base64');
    if (got.length !== 32 || !timingSafeEqual(got, this.#serverSignature!)) {
      throw new Error('SCRAM server signature does not match: the server does not know the password verifier');
    }
    this.#state = 'done';
  }

  /** True once finish() has verified the server. */
  get verified(): boolean {
    return this.#state === 'done';
  }
}

/** An ErrorResponse from the server, as an Error: `code` is the SQLSTATE (e.g. 28P01 for a wrong password). */
export class PgError extends Error {
  override name = 'PgError';
  readonly code: string;
  readonly severity: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly fields: Map<string, string>;
  constructor(context: string, fields: Map<string, string>) {
    const code = fields.get('C') ?? 'XX000';
    super(`${context}: ${fields.get('M') ?? 'unknown error'} (SQLSTATE ${code})`);
    this.code = code;
    this.severity = fields.get('V') ?? fields.get('S') ?? 'ERROR';
    this.detail = fields.get('D');
    this.hint = fields.get('H');
    this.fields = fields;
  }
}

/** Default bound on the whole login (startup to ReadyForQuery); libpq has none, a sidecar must not hang. */
export const LOGIN_TIMEOUT_MS_DEFAULT = 15_000;
/** Login messages are small; a server sending more than this during startup is not one we want. */
const LOGIN_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface UpstreamLogin {
  processId: number;
  secretKey: Buffer;
  /** ParameterStatus values as reported during startup (server_version, client_encoding, …). */
  parameters: Map<string, string>;
  /** Bytes that arrived after ReadyForQuery in the same read (normally empty): feed them to the next reader. */
  leftover: Buffer;
}

/**
 * Logs in on a connected (and, if wanted, TLS-upgraded) socket: sends the StartupMessage, answers cleartext,
 * md5 or SCRAM-SHA-256, collects ParameterStatus and BackendKeyData until ReadyForQuery.
 *
 * On success the socket is left paused with no listeners of ours: attach a handler and resume().
 * On failure the promise rejects — with a PgError carrying the server's message and SQLSTATE when the server
 * refused — and the socket is destroyed: a half-done login cannot be continued.
 *
 * Fails closed: a server that says AuthenticationOk before SCRAM has verified it, asks for something we do not
 * support, or sends anything out of order is refused.
 */
export function loginUpstream(
  sock: Duplex,
  opts: {
    user: string;
    password: string;
    database: string;
    params?: Record<string, string>;
    timeoutMs?: number;
  },
): Promise<UpstreamLogin> {
  return new Promise<UpstreamLogin>((resolve, reject) => {
    const reader = new FrameReader(LOGIN_MAX_MESSAGE_BYTES);
    const parameters = new Map<string, string>();
    let scram: ScramClient | null = null;
    let authenticated = false;
    let processId = 0;
    let secretKey: Buffer | null = null;
    let settled = false;

    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
      sock.off('end', onClose);
      sock.pause();
    };
    const fail = (err: Error): void => {
      if (settled) return;
      cleanup();
      sock.destroy();
      reject(err);
    };
    const as = `upstream login as "${opts.user}" to database "${opts.database}"`;
    const onError = (err: Error): void => fail(new Error(`${as} failed: ${err.message}`, { cause: err }));
    const onClose = (): void => fail(new Error(`${as} failed: the server closed the connection`));
    const timer = setTimeout(
      () => fail(new Error(`${as} timed out after ${opts.timeoutMs ?? LOGIN_TIMEOUT_MS_DEFAULT} ms`)),
      opts.timeoutMs ?? LOGIN_TIMEOUT_MS_DEFAULT,
    );

    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk);
        for (let f = reader.next(); f !== null; f = reader.next()) {
          const { buf, type, start, end } = f;
          switch (type) {
            case Backend.Authentication: {
              if (authenticated) throw new Error(`${as} failed: authentication request after AuthenticationOk`);
              const req = readAuthentication(buf, start, end);
              switch (req.type) {
                case 'ok':
                  // libpq (fe-auth.c) refuses the same shortcut: a server (or a man in the middle) skipping the
                  // SCRAM exchange must not be taken as authenticated.
                  if (scram !== null && !scram.verified)
                    throw new Error(`${as} failed: server sent AuthenticationOk before completing SCRAM`);
                  authenticated = true;
                  break;
                case 'cleartext':
                  if (scram !== null) throw new Error(`${as} failed: server switched authentication method`);
                  sock.write(passwordMessage(opts.password));
                  break;
                case 'md5':
                  if (scram !== null) throw new Error(`${as} failed: server switched authentication method`);
                  sock.write(passwordMessage(md5Password(opts.user, opts.password, req.salt)));
                  break;
                case 'sasl':
                  if (scram !== null) throw new Error(`${as} failed: server restarted SASL`);
                  if (!req.mechanisms.includes('SCRAM-SHA-256')) {
                    throw new Error(
                      `${as} failed: server offers SASL mechanisms ${req.mechanisms.join(', ')}; the proxy supports SCRAM-SHA-256`,
                    );
                  }
                  scram = new ScramClient(opts.user, opts.password);
                  sock.write(scram.initialResponse());
                  break;
                case 'sasl-continue':
                  if (scram === null) throw new Error(`${as} failed: SASLContinue without SASL`);
                  sock.write(scram.continue(req.data));
                  break;
                case 'sasl-final':
                  if (scram === null) throw new Error(`${as} failed: SASLFinal without SASL`);
                  scram.finish(req.data);
                  break;
                case 'other':
                  throw new Error(
                    `${as} failed: server asks for authentication method ${req.code} (GSSAPI/SSPI/Kerberos); `
                      + 'the proxy supports password, md5 and scram-sha-256',
                  );
              }
              break;
            }
            case Backend.ErrorResponse:
              throw new PgError(`${as} failed`, readErrorFields(buf, start, end));
            case Backend.NoticeResponse:
              break; // e.g. a warning about a password about to expire; nothing to do
            case Backend.ParameterStatus: {
              if (!authenticated) throw new Error(`${as} failed: ParameterStatus before AuthenticationOk`);
              const p = readParameterStatus(buf, start, end);
              parameters.set(p.name, p.value);
              break;
            }
            case Backend.BackendKeyData: {
              if (!authenticated) throw new Error(`${as} failed: BackendKeyData before AuthenticationOk`);
              const k = readBackendKeyData(buf, start, end);
              processId = k.processId;
              secretKey = k.secretKey;
              break;
            }
            case Backend.ReadyForQuery: {
              if (!authenticated) throw new Error(`${as} failed: ReadyForQuery before AuthenticationOk`);
              readReadyForQuery(buf, start, end);
              if (secretKey === null) throw new Error(`${as} failed: server sent no BackendKeyData`);
              const leftover = Buffer.from(reader.takeRemaining()); // a copy: the chunk is not ours to keep
              cleanup();
              resolve({ processId, secretKey, parameters, leftover });
              return;
            }
            default:
              // NegotiateProtocolVersion included: we ask for plain 3.0 with no _pq_ options, so it cannot be due.
              throw new Error(`${as} failed: unexpected message type 0x${type.toString(16)} during startup`);
          }
        }
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        fail(
          e instanceof PgError || e.message.startsWith(as) ? e : new Error(`${as} failed: ${e.message}`, { cause: e }),
        );
      }
    };

    if (opts.params !== undefined && ('user' in opts.params || 'database' in opts.params)) {
      fail(new Error(`${as}: params must not set user or database`));
      return;
    }
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
    sock.on('end', onClose);
    sock.write(startupMessage({ user: opts.user, database: opts.database, ...opts.params }));
    sock.resume();
  });
}
