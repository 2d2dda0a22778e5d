// TLS to the upstream server, negotiated the PostgreSQL way: an SSLRequest on the plain connection, a one-byte
// answer, then the TLS handshake on the same socket (protocol-flow.html "SSL Session Encryption").
//
// Modes (DatabaseBinding spec.tls.mode), with libpq's sslmode meaning:
//   disable      plain TCP; no SSLRequest is sent.
//   require      encrypted but NOT verified: any certificate is accepted and the host name is not checked.
//                It protects against passive eavesdropping only; an active man in the middle can still pose as
//                the server (it cannot learn a SCRAM password, but it can learn an md5 or cleartext one, and see
//                all traffic). Like libpq, `require` does not verify — use verify-full for that.
//   verify-full  the certificate must chain to `ca` (the caSecretRef's PEM; Node's default roots when absent)
//                and name `host` (DNS SAN, or IP SAN when host is an address).
// A server that answers 'N' fails both TLS modes: there is no fallback to plain text.
import net from 'node:net';
import tls from 'node:tls';
import { SSL_REQUEST } from './startup.ts';

export type TlsMode = 'disable' | 'require' | 'verify-full';

/** Bound on the SSLRequest answer and the handshake together. */
export const TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT = 10_000;

export function upgradeUpstreamTls(
  sock: net.Socket,
  mode: TlsMode,
  host: string,
  ca?: string,
  timeoutMs: number = TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT,
): Promise<net.Socket | tls.TLSSocket> {
  if (mode === 'disable') return Promise.resolve(sock);
  if (mode !== 'require' && mode !== 'verify-full')
    return Promise.reject(new Error(`unknown TLS mode ${JSON.stringify(mode)}`));
  return new Promise((resolve, reject) => {
    let settled = false;
    const what = `TLS to ${host} (mode ${mode})`;
    const fail = (err: Error, s: net.Socket | tls.TLSSocket = sock): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.off('data', onAnswer);
      sock.off('error', onError);
      sock.off('close', onClose);
      s.destroy();
      sock.destroy();
      reject(err);
    };
    const onError = (err: Error): void => fail(new Error(`${what} failed: ${err.message}`, { cause: err }));
    const onClose = (): void => fail(new Error(`${what} failed: the server closed the connection`));
    const timer = setTimeout(() => fail(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);

    const onAnswer = (chunk: Buffer): void => {
      sock.off('data', onAnswer);
      sock.pause();
      const answer = chunk[0];
      if (answer === 0x4e /* N */) {
        fail(new Error(`${what} failed: server does not support TLS`));
        return;
      }
      if (answer !== 0x53 /* S */) {
        // An ErrorResponse ('E') here is a pre-7.0-style refusal; anything else is not PostgreSQL.
        fail(new Error(`${what} failed: unexpected answer 0x${(answer ?? 0).toString(16)} to SSLRequest`));
        return;
      }
      if (chunk.length > 1) {
        // Bytes after 'S' and before the handshake were not sent through TLS: a man in the middle injecting
        // plaintext that would be read as if it came over the encrypted channel (CVE-2021-23222, libpq).
        fail(new Error(`${what} failed: server sent unencrypted data after accepting SSLRequest`));
        return;
      }
      const secure = tls.connect({
        socket: sock,
        host, // checkServerIdentity uses it; with `socket` given it would otherwise default to localhost
        servername: net.isIP(host) === 0 ? host : undefined, // SNI must not carry an address (RFC 6066 §3)
        rejectUnauthorized: mode === 'verify-full',
        ...(ca !== undefined ? { ca } : {}),
        // PostgreSQL 17+ checks ALPN when the client sends it and requires "postgresql"; older servers ignore it.
        ALPNProtocols: ['postgresql'],
      });
      const onTlsError = (err: Error): void =>
        fail(new Error(`${what} failed: ${err.message}`, { cause: err }), secure);
      secure.once('error', onTlsError);
      secure.once('secureConnect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.off('error', onError);
        sock.off('close', onClose);
        secure.off('error', onTlsError);
        resolve(secure);
      });
    };

    sock.on('data', onAnswer);
    sock.on('error', onError);
    sock.on('close', onClose);
    sock.write(SSL_REQUEST);
    sock.resume();
  });
}
