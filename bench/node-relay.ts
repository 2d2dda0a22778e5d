// The floor a Node.js middle process can reach here: a PostgreSQL relay on documented APIs that frames every
// v3 message in both directions and dispatches on its type, and does nothing else (no policy, no audit, no
// masking). bench/run.ts measures it as target `node-relay` beside PgBouncer and Airlock, so "what Node's socket
// path costs" is a figure of the same run, not a remembered one (shared/perf-floor.md measured the same design).
//
//   node bench/node-relay.ts --listen PORT --upstream PORT
//
// Client side: 'data' events and write(); upstream side: `onread` into one reused buffer (documented for sockets
// the process connects; an accepted socket has no such option). Backpressure: a full write buffer pauses the
// other direction until 'drain'. It prints "ready" once it listens.
import { connect, createServer, type Socket } from 'node:net';
import { toolArgs, usageError } from '../test/support/tool-args.ts';

const USAGE = `usage: node bench/node-relay.ts --listen PORT --upstream PORT

The floor of Node's socket path: a PostgreSQL relay that frames every message and does nothing else
(bench/run.ts target node-relay). Prints "ready" once it listens on 127.0.0.1:PORT.

  --listen PORT     where clients connect
  --upstream PORT   the PostgreSQL server on 127.0.0.1
  -h, --help        this text
`;
const { values: opt } = toolArgs(USAGE, { options: { listen: { type: 'string' }, upstream: { type: 'string' } } });
if (opt.listen === undefined || opt.upstream === undefined) usageError(USAGE, '--listen and --upstream are needed');
const upstreamPort = Number(opt.upstream);

/** Frames one direction's byte stream: whole v3 messages, counted per type without a per-message object. */
class Framer {
  #need = 0; // bytes of the current message still to come
  #header = Buffer.alloc(5);
  #headerHave = 0;
  #startup: boolean; // the client's first message has no type byte
  readonly perType = new Uint32Array(256);

  constructor(startup: boolean) {
    this.#startup = startup;
  }

  feed(b: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end) {
      if (this.#need > 0) {
        const n = Math.min(this.#need, end - i);
        this.#need -= n;
        i += n;
        continue;
      }
      // Header: type byte (absent in the startup message) + int32 length, possibly split across reads.
      const headerLen = this.#startup ? 4 : 5;
      const n = Math.min(headerLen - this.#headerHave, end - i);
      b.copy(this.#header, this.#headerHave, i, i + n);
      this.#headerHave += n;
      i += n;
      if (this.#headerHave < headerLen) return;
      this.#headerHave = 0;
      const type = this.#startup ? 0 : this.#header[0]!;
      const len = this.#header.readInt32BE(headerLen - 4);
      if (len < 4) throw new Error(`bad message length ${len}`);
      this.#need = len - 4;
      this.perType[type]!++;
      this.#startup = false; // the bench connects with sslmode=disable: no SSLRequest before the startup message
    }
  }
}

const server = createServer({ noDelay: true }, (client: Socket) => {
  const fromClient = new Framer(true);
  const fromServer = new Framer(false);
  const readBuffer = Buffer.allocUnsafe(64 * 1024);
  const upstream = connect({
    host: '127.0.0.1',
    port: upstreamPort,
    noDelay: true,
    onread: {
      buffer: readBuffer,
      callback(n: number, buf: Uint8Array): boolean {
        if (!framed(fromServer, buf as Buffer, n)) return false;
        // onread lends its buffer: the bytes are copied before the next read overwrites them.
        if (!client.write(Buffer.from(buf.subarray(0, n)))) {
          client.once('drain', () => upstream.resume());
          return false; // pauses the upstream read
        }
        return true;
      },
    },
  });
  client.on('data', (chunk: Buffer) => {
    if (!framed(fromClient, chunk, chunk.length)) return;
    if (!upstream.write(chunk)) {
      client.pause();
      upstream.once('drain', () => client.resume());
    }
  });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  // A stream that does not frame (a bad length) ends the connection, not the relay.
  const framed = (framer: Framer, b: Buffer, n: number): boolean => {
    try {
      framer.feed(b, 0, n);
      return true;
    } catch {
      close();
      return false;
    }
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
});
server.listen(Number(opt.listen), '127.0.0.1', () => process.stdout.write('ready\n'));
