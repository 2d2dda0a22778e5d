// A bare protocol client for tests that need exact control: pipelining, message order, raw bytes.
import net from 'node:net';
import { FrameReader } from '../../proxy/wire/frames.ts';
import { startupMessage } from '../../proxy/wire/startup.ts';
import { readErrorFields, readCommandComplete, readRowDescription, readReadyForQuery } from '../../proxy/wire/read.ts';

export interface Msg {
  type: string;
  code?: string;
  message?: string;
  tag?: string;
  values?: (string | null)[];
  status?: string;
  fields?: string[];
  data?: Buffer;
}

export class RawClient {
  readonly sock: net.Socket;
  readonly #reader = new FrameReader(256 * 1024 * 1024);
  readonly #msgs: Msg[] = [];
  #waiters: (() => void)[] = [];
  closed = false;
  /** Messages of the startup phase, up to ReadyForQuery or the first ErrorResponse. */
  startup: Msg[] = [];

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (chunk) => {
      this.#reader.push(chunk);
      for (let f = this.#reader.next(); f !== null; f = this.#reader.next())
        this.#msgs.push(decode(f.buf, f.type, f.start, f.end));
      this.#wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    sock.on('error', () => {});
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  static async connect(
    port: number,
    params: Record<string, string> = { user: 'raw', database: 'shop' },
  ): Promise<RawClient> {
    const sock = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new RawClient(sock);
    sock.write(startupMessage(params));
    c.startup = await c.until((m) => m.type === 'Z' || m.type === 'E');
    return c;
  }

  send(...bufs: Buffer[]): void {
    this.sock.write(Buffer.concat(bufs));
  }

  /** Messages received so far, taken. */
  take(): Msg[] {
    return this.#msgs.splice(0);
  }

  /** Wait until a message matching `pred` arrives (or the connection closes); returns and takes all messages so far. */
  async until(pred: (m: Msg) => boolean, timeoutMs = 10_000): Promise<Msg[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#msgs.findIndex(pred);
      if (i >= 0) return this.#msgs.splice(0, i + 1);
      if (this.closed) return this.#msgs.splice(0);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.#msgs.map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Wait for the n-th ReadyForQuery from now. */
  async readies(n: number): Promise<Msg[]> {
    const out: Msg[] = [];
    for (let i = 0; i < n; i++) out.push(...(await this.until((m) => m.type === 'Z')));
    return out;
  }

  close(): void {
    this.sock.destroy();
  }
}

function decode(buf: Buffer, type: number, start: number, end: number): Msg {
  const t = String.fromCharCode(type);
  switch (t) {
    case 'E':
    case 'N': {
      const f = readErrorFields(buf, start, end);
      return { type: t, code: f.get('C')!, message: f.get('M')! };
    }
    case 'C':
      return { type: t, tag: readCommandComplete(buf, start, end) };
    case 'Z':
      return { type: t, status: String.fromCharCode(readReadyForQuery(buf, start, end)) };
    case 'T':
      return { type: t, fields: readRowDescription(buf, start, end).map((f) => f.name) };
    case 'D': {
      const n = buf.readInt16BE(start + 5);
      const values: (string | null)[] = [];
      let at = start + 7;
      for (let i = 0; i < n; i++) {
        const len = buf.readInt32BE(at);
        at += 4;
        if (len < 0) {
          values.push(null);
          continue;
        }
        values.push(buf.toString('utf8', at, at + len));
        at += len;
      }
      return { type: t, values };
    }
    case 'd':
      return { type: t, data: Buffer.from(buf.subarray(start + 5, end)) };
    default:
      return { type: t };
  }
}
