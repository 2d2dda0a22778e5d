// Framing of typed v3 messages: a type byte, then an int32 length that counts itself and the body but not the
// type byte (protocol-overview.html "Messaging Overview"). Everything here works on offsets into the buffer the
// bytes arrived in (style.md §2): whole messages are visited in place, only a message split across chunks is
// assembled, into a buffer of exactly its size, once its header is known.

/** A framing or protocol violation by the peer. The connection cannot be resumed: send FATAL 08P01 and close. */
export class WireError extends Error {
  override name = 'WireError';
}

/**
 * Default bound on one message, type byte excluded (the length word's value). PostgreSQL itself accepts up to
 * PQ_LARGE_MESSAGE_LIMIT (1 GB - 1) for data-carrying messages; 64 MiB keeps a hostile or broken peer from
 * making a sidecar (RSS target 80 MiB idle) buffer a gigabyte, and still passes any realistic Query, Bind or
 * DataRow. Callers with bigger rows raise it per binding.
 */
export const MAX_MESSAGE_BYTES_DEFAULT = 64 * 1024 * 1024;

/**
 * Visits the whole messages in `buf` from `at`, in order, as (type, start, end) offsets: `start` is the type
 * byte, `end` one past the last byte. Returns where the first unfinished message starts (buf.length when none).
 * Throws WireError on a length outside 4..max; nothing is visited from that message on.
 */
export function eachFrame(
  buf: Buffer,
  at: number,
  max: number,
  visit: (type: number, start: number, end: number) => void,
): number {
  while (buf.length - at >= 5) {
    // readInt32BE: a length >= 2^31 reads negative and fails `len < 4` below instead of wrapping an offset.
    const len = buf.readInt32BE(at + 1);
    // < 4: the length counts its own 4 bytes, so anything smaller is not a message (PostgreSQL's pq_getmessage
    // rejects it the same way). > max: bounds what one peer can make us buffer.
    if (len < 4 || len > max) throw new WireError(lengthProblem(buf[at]!, len, max));
    const end = at + 1 + len;
    if (end > buf.length) break; // the rest arrives with a later chunk
    visit(buf[at]!, at, end); // offsets, not copies: nothing allocated per message
    at = end;
  }
  return at;
}

function lengthProblem(type: number, len: number, max: number): string {
  const ch = type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}'` : `0x${type.toString(16)}`;
  return `message type ${ch} has length ${len}, outside the allowed 4..${max}`;
}

/** One whole message: bytes [start, end) of buf, type byte at start. */
export interface Frame {
  buf: Buffer;
  type: number;
  start: number;
  end: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * Turns a stream of chunks into whole messages.
 *
 * The common case — a chunk that holds whole messages — is walked in place: next() returns views into the
 * chunk itself and nothing is copied. Only a message cut by a chunk boundary is copied, once, into a buffer
 * of exactly its size (allocated when its 5-byte header is complete; a header cut in two waits in a 5-byte
 * scratch). So at most one partial message is held, bounded by `maxMessageBytes`.
 *
 * Views: a returned frame's bytes are never overwritten by this reader (chunks are not reused, an assembled
 * message gets a fresh buffer), but callers must treat a view as valid only until the next push() and copy
 * what they keep (style.md §2: brianc/node-postgres#3776 is a corruption from a retained view).
 *
 * After a WireError the reader is poisoned: every later call throws again (never resume a parser that threw,
 * electric-sql/pglite#1052).
 */
export class FrameReader {
  readonly maxMessageBytes: number;
  /** The chunk being walked and the offset of its first unread byte. */
  #buf: Buffer = EMPTY;
  #at = 0;
  /** A header cut by a chunk boundary. */
  #head: Buffer = Buffer.alloc(5);
  #headLen = 0;
  /** A message cut by a chunk boundary, being filled; exactly 1 + length bytes. */
  #msg: Buffer | null = null;
  #msgFill = 0;
  #failed: WireError | null = null;

  constructor(maxMessageBytes: number) {
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 4 || maxMessageBytes > 0x7fffffff) {
      throw new RangeError(`maxMessageBytes must be an integer in 4..2^31-1, got ${maxMessageBytes}`);
    }
    this.maxMessageBytes = maxMessageBytes;
  }

  /**
   * Adds a chunk. Normally called once every frame of the previous chunk has been taken; when some were not
   * (the caller paused, e.g. holding a statement for approval), the unread rest and the new chunk are joined —
   * callers bound that with pendingBytes and by pausing the socket.
   */
  push(chunk: Buffer): void {
    if (this.#failed !== null) throw this.#failed;
    if (this.#at < this.#buf.length) {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#at), chunk]);
    } else {
      this.#buf = chunk;
    }
    this.#at = 0;
  }

  /** The next whole message, or null until more bytes arrive. Throws WireError on a bad length. */
  next(): Frame | null {
    if (this.#failed !== null) throw this.#failed;
    const buf = this.#buf;
    let at = this.#at;
    if (this.#msg === null && this.#headLen === 0) {
      // Fast path: a whole message inside the current chunk.
      const avail = buf.length - at;
      if (avail >= 5) {
        const len = buf.readInt32BE(at + 1);
        if (len < 4 || len > this.maxMessageBytes) return this.#fail(buf[at]!, len);
        const end = at + 1 + len;
        if (end <= buf.length) {
          this.#at = end;
          return { buf, type: buf[at]!, start: at, end };
        }
        // Cut by the chunk boundary: assemble it into a buffer of its exact size, copying this part once.
        const msg = Buffer.allocUnsafe(1 + len); // every byte is overwritten before it is returned
        buf.copy(msg, 0, at, buf.length);
        this.#msg = msg;
        this.#msgFill = avail;
        this.#at = buf.length;
        return null;
      }
      if (avail === 0) return null;
      buf.copy(this.#head, 0, at, buf.length);
      this.#headLen = avail;
      this.#at = buf.length;
      return null;
    }
    if (this.#msg === null) {
      // Completing a header cut by a chunk boundary.
      const n = Math.min(5 - this.#headLen, buf.length - at);
      buf.copy(this.#head, this.#headLen, at, at + n);
      this.#headLen += n;
      at += n;
      this.#at = at;
      if (this.#headLen < 5) return null;
      const len = this.#head.readInt32BE(1);
      if (len < 4 || len > this.maxMessageBytes) return this.#fail(this.#head[0]!, len);
      const msg = Buffer.allocUnsafe(1 + len);
      this.#head.copy(msg, 0, 0, 5);
      this.#msg = msg;
      this.#msgFill = 5;
      this.#headLen = 0;
    }
    const msg = this.#msg!;
    const n = Math.min(msg.length - this.#msgFill, buf.length - at);
    buf.copy(msg, this.#msgFill, at, at + n);
    this.#msgFill += n;
    this.#at = at + n;
    if (this.#msgFill < msg.length) return null;
    this.#msg = null;
    this.#msgFill = 0;
    return { buf: msg, type: msg[0]!, start: 0, end: msg.length };
  }

  /**
   * Visits every whole message available now without allocating a Frame per message: the hot-path form of
   * next(). `visit` returns false to stop early (the rest stays for a later drain()/next()).
   * Consecutive messages visited with the same `buf` are contiguous in it, so a caller can forward a run of
   * pass-through messages as one subarray.
   */
  drain(visit: (buf: Buffer, type: number, start: number, end: number) => boolean | void): void {
    for (;;) {
      if (this.#failed !== null) throw this.#failed;
      if (this.#msg === null && this.#headLen === 0) {
        const buf = this.#buf;
        const max = this.maxMessageBytes;
        let at = this.#at;
        // Walk the chunk in place; same checks as eachFrame, kept inline so a stop leaves #at exact.
        while (buf.length - at >= 5) {
          const len = buf.readInt32BE(at + 1);
          if (len < 4 || len > max) {
            this.#at = at;
            this.#fail(buf[at]!, len);
          }
          const end = at + 1 + len;
          if (end > buf.length) break;
          this.#at = end;
          if (visit(buf, buf[at]!, at, end) === false) return;
          at = end;
        }
      }
      const f = this.next(); // assembles a cut message, or records the unfinished tail
      if (f === null) return;
      if (visit(f.buf, f.type, f.start, f.end) === false) return;
    }
  }

  /**
   * Lets the caller reuse the buffer of the last push() for its next read (net.Socket's `onread` with one
   * static buffer, instead of a fresh 64 KiB allocation per read): copies the part of it not yet read (the
   * rest behind a drain() that was stopped) and drops the reference. Call it after drain()/next() and before
   * the buffer is overwritten. Frames returned before are views into that buffer and end with it; a message
   * cut by the chunk boundary is already held in a buffer of its own.
   */
  release(): void {
    if (this.#failed !== null) throw this.#failed;
    const rest = this.#buf.length - this.#at;
    this.#buf = rest > 0 ? Buffer.from(this.#buf.subarray(this.#at)) : EMPTY;
    this.#at = 0;
  }

  /** Bytes received but not yet returned as whole messages (unread chunk rest + partial message). */
  get pendingBytes(): number {
    return this.#buf.length - this.#at + this.#headLen + (this.#msg === null ? 0 : this.#msgFill);
  }

  /**
   * Hands over everything not yet returned, as the raw bytes that arrived (a copy where they were assembled),
   * and empties the reader. Used when a different consumer takes over the stream (loginUpstream's leftover).
   */
  takeRemaining(): Buffer {
    if (this.#failed !== null) throw this.#failed;
    const parts: Buffer[] = [];
    if (this.#headLen > 0) parts.push(Buffer.from(this.#head.subarray(0, this.#headLen)));
    if (this.#msg !== null) parts.push(this.#msg.subarray(0, this.#msgFill));
    if (this.#at < this.#buf.length) parts.push(this.#buf.subarray(this.#at));
    this.#buf = EMPTY;
    this.#at = 0;
    this.#headLen = 0;
    this.#msg = null;
    this.#msgFill = 0;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  #fail(type: number, len: number): never {
    this.#failed = new WireError(lengthProblem(type, len, this.maxMessageBytes));
    throw this.#failed;
  }
}
