// One socket write per direction per event-loop turn, without cork().
//
// A relay handler walks one read's messages and produces, toward each peer, runs of messages passed through
// unchanged (views into the read buffer) and messages it built (masked rows, errors, injected requests). The
// session wrote them through cork()/write()/uncork(): every write became an entry in the Writable's buffer
// and uncork() went through clearBuffer even for the one slice a pgbench transaction has, which
// ../shared/perf-floor.md measured at 1–3 µs per read. Outbox collects the pieces itself (consecutive pass-through
// runs of one buffer merged into one view, as WriteRun did) and flush() hands the socket exactly one write:
// the single piece as it is, several small ones joined into one buffer, or — only when they are large (a
// bulk read's masked rows) — several writes under one cork(), so the kernel still sees one writev.
//
// Views: a piece may be a view into the buffer the bytes arrived in, so flush() must run before that buffer
// can be reused — at the end of the handler that produced the pieces, as the session flushed WriteRun.

/** The part of a socket Outbox writes to (net.Socket, tls.TLSSocket). */
export interface OutboxTarget {
  write(b: Buffer): unknown;
  cork(): void;
  uncork(): void;
}

/** Up to this many bytes in several pieces are copied into one buffer; above it they are written under cork. */
export const OUTBOX_JOIN_MAX_BYTES = 64 * 1024;

export class Outbox {
  readonly #to: OutboxTarget;
  /** Pieces waiting for flush(), in order; the last one may still grow (a pass-through run). */
  readonly #pieces: Buffer[] = [];
  #bytes = 0;
  /** The pass-through run being extended: [runStart, runEnd) of runBuf, not yet in #pieces. */
  #runBuf: Buffer | null = null;
  #runStart = 0;
  #runEnd = 0;

  constructor(to: OutboxTarget) {
    this.#to = to;
  }

  /** Bytes waiting for flush(). */
  get pendingBytes(): number {
    return this.#bytes + (this.#runBuf === null ? 0 : this.#runEnd - this.#runStart);
  }

  /** Passes [start, end) of buf unchanged; continues the current run when it is the next bytes of the same buffer. */
  pass(buf: Buffer, start: number, end: number): void {
    if (this.#runBuf === buf && this.#runEnd === start) {
      this.#runEnd = end;
      return;
    }
    this.#endRun();
    this.#runBuf = buf;
    this.#runStart = start;
    this.#runEnd = end;
  }

  /** Queues a whole buffer (a message the proxy built), after everything queued before it. */
  push(b: Buffer): void {
    this.#endRun();
    this.#pieces.push(b);
    this.#bytes += b.length;
  }

  /** Writes everything queued as one write (see the file comment); nothing when empty. */
  flush(): void {
    this.#endRun();
    const pieces = this.#pieces;
    const n = pieces.length;
    if (n === 0) return;
    const to = this.#to;
    const bytes = this.#bytes;
    this.#bytes = 0;
    if (n === 1) {
      const b = pieces[0]!;
      pieces.length = 0;
      to.write(b);
      return;
    }
    if (bytes <= OUTBOX_JOIN_MAX_BYTES) {
      const joined = Buffer.concat(pieces, bytes);
      pieces.length = 0;
      to.write(joined);
      return;
    }
    // Large (bulk rows): no copy; the Writable turns the corked writes into one writev.
    to.cork();
    try {
      for (let i = 0; i < n; i++) to.write(pieces[i]!);
    } finally {
      pieces.length = 0;
      to.uncork();
    }
  }

  #endRun(): void {
    const buf = this.#runBuf;
    if (buf === null) return;
    const piece = buf.subarray(this.#runStart, this.#runEnd);
    this.#runBuf = null;
    this.#pieces.push(piece);
    this.#bytes += piece.length;
  }
}
