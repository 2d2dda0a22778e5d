// Free TCP ports for servers started by tests and the benchmark.
import { createServer } from 'node:net';

/**
 * A port that was free a moment ago: bind port 0, read what the kernel chose, close.
 * Another process can take it before the caller binds it, so callers that start a server on it
 * retry once on EADDRINUSE (startPostgres does).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
