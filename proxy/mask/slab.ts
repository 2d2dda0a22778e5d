// Where masked messages are written: bump-allocated in a shared output slab, never written twice.
//
// A bulk read masks one message per row. Built into a Buffer each, every row cost an allocation and a socket
// write of its own (docs/performance.md "Masked COPY"). Written next to each other in a slab instead, the
// masked rows of one read form one run of bytes the session passes as it passes unmasked messages
// (passClient extends a run over consecutive bytes of one buffer): one socket write per read.
//
// A byte of a slab, once handed out, is never written again, so a view of it stays valid as long as anyone
// holds it — the socket until the client has read it, a guarded write's held rows — as views of
// Buffer.allocUnsafe's pool do. When a message does not fit, a new slab is taken; the old one is freed when
// the last view of it is. One slab for the process: the callers are synchronous, and messages of different
// sessions that share a slab occupy disjoint ranges.

/** A message's bytes: buf[start, end). */
export interface Span {
  buf: Buffer;
  start: number;
  end: number;
}

export function span(): Span {
  return { buf: EMPTY, start: 0, end: 0 };
}

const EMPTY = Buffer.alloc(0);
const SLAB_BYTES = 64 * 1024;
let slab = EMPTY;
let slabAt = 0;

/** Reserves `size` fresh bytes: sets `out` to them and returns the buffer they are in (every byte is the caller's to write). */
export function place(size: number, out: Span): Buffer {
  if (slab.length - slabAt < size) {
    slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, size));
    slabAt = 0;
  }
  out.buf = slab;
  out.start = slabAt;
  out.end = slabAt += size;
  return slab;
}

/** Below this many bytes a plain loop beats Buffer#copy's native call (~40 ns each, Node 24). */
const SMALL_COPY = 64;

/** Copies src[from, to) to dst at `at`; returns the number of bytes. */
export function copyBytes(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  const n = to - from;
  if (n >= SMALL_COPY) return src.copy(dst, at, from, to);
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i]!;
  return n;
}
