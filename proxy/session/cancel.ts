// Cancelling (protocol 55.2.7). The client holds a key the proxy issued, never the server's: a client can
// cancel only through the proxy, which sends the upstream's own CancelRequest on a fresh connection.
import net from 'node:net';
import { cancelRequest } from '../wire/startup.ts';
import { upgradeUpstreamTls } from '../wire/tls.ts';
import type { UpstreamTarget } from './shared.ts';

/** The key of ProxyShared.cancelKeys: the pid and secret a client's CancelRequest carries. */
export function cancelKey(pid: number, secret: Buffer): string {
  return `${pid}:${secret.toString('hex')}`;
}

/**
 * Send the upstream's CancelRequest for backend `pid`, TLS as the binding says. Resolves, and calls `done`, once
 * that connection is closed (the server closes it after it has signalled the backend) or gave up (10 s).
 */
export function sendCancel(t: UpstreamTarget, pid: number, secret: Buffer, done?: () => void): Promise<void> {
  const msg = cancelRequest(pid, secret);
  const sock = net.connect({ host: t.host, port: t.port });
  const closed = new Promise<void>((resolve) =>
    sock.once('close', () => {
      done?.();
      resolve();
    }),
  );
  sock.on('error', () => sock.destroy());
  sock.setTimeout(10_000, () => sock.destroy());
  sock.once('connect', () => {
    upgradeUpstreamTls(sock, t.tlsMode, t.host, t.ca).then(
      (s) => {
        s.on('error', () => s.destroy());
        // The server closes the connection once it has signalled the backend (half-closed until then).
        s.on('data', () => {});
        s.end(msg);
      },
      () => sock.destroy(),
    );
  });
  return closed;
}
