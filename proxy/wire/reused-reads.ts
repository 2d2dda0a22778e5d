// A TCP connection whose reads land in one reused buffer (net.connect's documented `onread` option) instead
// of a fresh 64 KiB allocation, an ArrayBuffer, a Readable.push and a nextTick per read. Measured for the
// upstream socket of pgbench -S (docs/performance.md, "the audit-off data path"): 0.94× the CPU per
// transaction in simple mode.
//
// Two phases. Until relay() is called every read is copied and emitted as an ordinary 'data' event, so code
// written for streams (loginUpstream, the TLS probe, a proxy's setup queries) works unchanged. After relay(fn),
// fn receives each read as a view into the reused buffer, valid only during the call: the caller walks it in
// place (FrameReader.push, drain, then release() to copy an unread rest) and copies anything it keeps.
//
// A view the caller wrote to another socket may still be queued there when the call returns (Node keeps the
// Buffer, not a copy, when a write does not complete at once): `reuse()` is asked after every read, and when it
// says no, the next read goes into a fresh buffer, so queued bytes are never overwritten.
//
// Not for TLS: a TLSSocket over this socket reads the handle itself. Use it for plain-TCP upstreams only.
import net from 'node:net';

export const REUSED_READ_BUFFER_BYTES = 64 * 1024;

export interface ReusedReadsOptions {
  readonly host: string;
  readonly port: number;
  /** Size of the reused buffer (and of each fresh one); default REUSED_READ_BUFFER_BYTES. */
  readonly bufferBytes?: number;
  /**
   * Asked after each read handed to the relay: may the buffer be overwritten by the next read? Say false while
   * a view of it may still be queued in a socket (e.g. `() => client.writableLength === 0`).
   */
  readonly reuse: () => boolean;
}

export interface ReusedReadsSocket {
  readonly socket: net.Socket;
  /** From now on each read is handed to `onRead` as a view (see the file comment) instead of a 'data' event. */
  relay(onRead: (view: Buffer) => void): void;
}

export function connectReusingReads(opts: ReusedReadsOptions): ReusedReadsSocket {
  const size = opts.bufferBytes ?? REUSED_READ_BUFFER_BYTES;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`bufferBytes must be a positive integer, got ${size}`);
  const reused = Buffer.allocUnsafeSlow(size); // its own memory, not a slice of the shared pool
  let onRead: ((view: Buffer) => void) | null = null;
  let handedOut = false; // the last read went to the relay as a view
  const socket = net.connect({
    host: opts.host,
    port: opts.port,
    onread: {
      // Called once when reading starts and after every read: the buffer for the next one.
      buffer: () => {
        if (!handedOut) return reused;
        handedOut = false;
        return opts.reuse() ? reused : Buffer.allocUnsafeSlow(size);
      },
      // Returns true: keep reading (false would pause; pause() and resume() work as on any socket).
      callback: (n: number, buf: Uint8Array): boolean => {
        const view = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (onRead === null) {
          socket.emit('data', Buffer.from(view)); // a copy: stream consumers may keep it
          return true;
        }
        handedOut = true;
        onRead(view);
        return true;
      },
    },
  });
  return {
    socket,
    relay(fn) {
      onRead = fn;
    },
  };
}
