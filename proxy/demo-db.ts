// The embedded database behind `npm start` (`airlock demo`): PGlite (PostgreSQL compiled to WASM,
// in this process, in memory) served over TCP by @electric-sql/pglite-socket, seeded from
// examples/demo-seed.sql. A newcomer needs no PostgreSQL install to try the proxy.
//
// What this server is NOT (verified against pglite-socket 0.2.17 / PGlite 0.5.14, see docs/local-mode.md,
// "The demo database and its limits"):
// - No authentication: the startup message is answered with AuthenticationOk at once, whatever the
//   user and password. current_user is always `postgres`, current_database() always `postgres`.
//   It listens on 127.0.0.1 only; the proxy in front of it is what enforces anything.
// - One PostgreSQL backend for every connection: pglite-socket multiplexes connections onto it
//   message by message. Session state is shared — a SET, a named prepared statement or a temp
//   table made on one connection is seen by all — and while one connection is inside a
//   transaction the others wait until it ends.
// - Beyond `maxConnections` the TCP server drops new connections without a PostgreSQL error.
// - SSLRequest is answered 'N'; CancelRequest is ignored. PostgreSQL version 18 (PGlite's), not 15.
import { readFile } from 'node:fs/promises';
import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface DemoDatabase {
  readonly host: string;
  readonly port: number;
  /** What PGlite reports as current_user. PGlite accepts any user name and password. */
  readonly user: string;
  /** Ignored by PGlite; given so a generated Secret has something to hold. */
  readonly password: string;
  readonly database: string;
  stop(): Promise<void>;
}

export interface DemoDatabaseOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: a free port chosen by the OS, reported in the result. */
  readonly port?: number;
  /** SQL run once at start; default examples/demo-seed.sql. */
  readonly seedFile?: string;
  /**
   * Concurrent TCP connections (default 32). pglite-socket's own default of 1 would refuse the
   * proxy's second upstream connection: a psql session plus a catalog lookup already needs two.
   */
  readonly maxConnections?: number;
}

export const DEMO_SEED_FILE = new URL('../examples/demo-seed.sql', import.meta.url);

export async function startDemoDatabase(opts: DemoDatabaseOptions = {}): Promise<DemoDatabase> {
  // Imported here so the `airlock proxy` path never loads the WASM PostgreSQL.
  const [{ PGlite: PGliteClass }, { PGLiteSocketServer: ServerClass }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-socket'),
  ]);
  const seed = await readFile(opts.seedFile ?? DEMO_SEED_FILE, 'utf8');
  const db: PGlite = await PGliteClass.create(); // in memory: every start begins from the seed
  let server: PGLiteSocketServer | undefined;
  try {
    await db.exec(seed);
    const host = opts.host ?? '127.0.0.1';
    server = new ServerClass({ db, host, port: opts.port ?? 0, maxConnections: opts.maxConnections ?? 32 });
    await server.start();
    const port = portOf(server.getServerConn());
    const running = server;
    let stopping: Promise<void> | undefined;
    return {
      host,
      port,
      user: 'postgres',
      password: 'postgres',
      database: 'postgres',
      stop() {
        stopping ??= (async () => {
          await running.stop();
          await db.close();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await server?.stop().catch(() => {});
    await db.close().catch(() => {});
    throw new Error(`demo database did not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** getServerConn() is "host:port" once listening (with port 0 replaced by the bound port). */
function portOf(conn: string): number {
  const port = Number(conn.slice(conn.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`unexpected PGlite server address "${conn}"`);
  return port;
}
