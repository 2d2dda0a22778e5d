// The audit spool: a write-ahead log of encoded spans on local disk. Records are appended here before they are
// exported and leave only once a collector has acknowledged them, so a collector outage or a proxy crash loses
// nothing (design.md "Audit spans"). I/O only; what a record contains is otlp.ts's business.
//
// Layout of spoolDir:
//   0000000000000001.seg, 0000000000000002.seg, …  segments, appended in order, never rewritten
//   ack                                               "airlock-audit-ack 1 <segment> <offset>": everything before
//                                                     that position was acknowledged
// A segment is a run of frames: u32le payload length, u32le CRC-32 (zlib) of the payload, payload. A frame is
// durable once the fdatasync after its batch returned; a crash mid-write leaves a torn tail (short header, short
// payload, zeros, CRC mismatch), which open() detects by length and CRC and truncates. Only the newest segment
// can have one: a segment is closed only after its last batch was synced, and a restart appends to a new one.
// Fully acknowledged segments are deleted. The ack file is replaced by rename without fsync: after a power loss
// it may be older than the truth, which re-sends acknowledged spans (at-least-once, never fewer).
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export const FRAME_HEADER_BYTES = 8;
/** A frame longer than this is corruption, not a record (a span with a 16 KiB query text is ~17 KiB). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const SEGMENT_RE = /^(\d{16})\.seg$/;
const ACK_MAGIC = 'airlock-audit-ack 1';
/** Bound on appended frames kept in memory for export (Spool.recent). */
const RECENT_BYTES = 4 * 1024 * 1024;

export interface SpoolOptions {
  readonly dir: string;
  readonly maxBytes: number;
  /** Default: maxBytes/16 within 4 KiB..16 MiB, so drop-oldest frees at most ~1/16 of the spool at a time. */
  readonly segmentBytes?: number;
  readonly log?: (message: string) => void;
}

interface Segment {
  readonly no: number;
  readonly path: string;
  size: number; // durable bytes (synced, or validated at open)
  ackedOffset: number; // frames before this offset were acknowledged
  deleted: boolean;
}

/** Records read for one export attempt; never crosses a segment boundary. */
export interface Batch {
  readonly segment: Segment;
  readonly start: number;
  readonly end: number;
  readonly payloads: Buffer[];
}

export function segmentName(no: number): string {
  return `${String(no).padStart(16, '0')}.seg`;
}

/**
 * Splits buf[at..] into whole, CRC-valid frames. Returns the payloads (views into buf) and the offset where the
 * valid prefix ends: the end of buf, or the first frame that is torn, zero-length, oversized or fails its CRC.
 */
export function parseFrames(buf: Buffer, at: number, maxCount = Infinity): { payloads: Buffer[]; end: number } {
  const payloads: Buffer[] = [];
  while (payloads.length < maxCount && buf.length - at >= FRAME_HEADER_BYTES) {
    const len = buf.readUInt32LE(at);
    if (len === 0 || len > MAX_FRAME_BYTES) break; // zeros after a crash read as length 0
    const end = at + FRAME_HEADER_BYTES + len;
    if (end > buf.length) break;
    const payload = buf.subarray(at + FRAME_HEADER_BYTES, end);
    if (crc32(payload) !== buf.readUInt32LE(at + 4)) break;
    payloads.push(payload);
    at = end;
  }
  return { payloads, end: at };
}

/** Writes the frame header for the payload at buf[start + 8 .. end). */
export function sealFrame(buf: Buffer, start: number, end: number): void {
  buf.writeUInt32LE(end - start - FRAME_HEADER_BYTES, start);
  buf.writeUInt32LE(crc32(buf.subarray(start + FRAME_HEADER_BYTES, end)), start + 4);
}

function listSegments(dir: string): number[] {
  const nos: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (m !== null) nos.push(Number(m[1]));
  }
  return nos.sort((a, b) => a - b);
}

/**
 * Read-only view for `airlock audit tail`: the payloads of the newest `limit` valid frames that `keep` accepts,
 * oldest first, acknowledged or not. It never truncates (a running proxy may be mid-append).
 */
export function readRecentPayloads(
  dir: string,
  limit: number,
  keep: (payload: Buffer) => boolean = () => true,
): Buffer[] {
  const out: Buffer[][] = [];
  let n = 0;
  const nos = listSegments(dir);
  for (let i = nos.length - 1; i >= 0 && n < limit; i--) {
    let buf: Buffer;
    try {
      buf = readFileSync(join(dir, segmentName(nos[i]!)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // acknowledged and deleted meanwhile
      throw err;
    }
    const payloads = parseFrames(buf, 0).payloads.filter(keep);
    out.unshift(payloads);
    n += payloads.length;
  }
  const all = out.flat();
  return all.slice(Math.max(0, all.length - limit));
}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  /** Bytes of all segment files (acknowledged prefixes of live segments included). */
  bytes = 0;
  readonly #segments: Segment[] = [];
  #writeSeg: Segment | null = null;
  #fh: FileHandle | null = null;
  #ackDirty = false;
  #ackWrite: Promise<void> = Promise.resolve();
  readonly #log: (message: string) => void;

  private constructor(opts: SpoolOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.segmentBytes = opts.segmentBytes ?? Math.min(16 * 1024 * 1024, Math.max(4096, Math.floor(opts.maxBytes / 16)));
    this.#log = opts.log ?? (() => {});
  }

  /** Opens (creating) the spool, truncates a torn tail, and positions the read side at the ack pointer. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const s = new Spool(opts);
    await mkdir(s.dir, { recursive: true, mode: 0o700 }); // spans name subjects and tables: owner only
    await s.#recover();
    return s;
  }

  async #recover(): Promise<void> {
    const nos = listSegments(this.dir);
    for (let i = 0; i < nos.length; i++) {
      const no = nos[i]!;
      const path = join(this.dir, segmentName(no));
      let size: number;
      if (i === nos.length - 1) {
        const buf = await readFile(path);
        size = parseFrames(buf, 0).end;
        if (size < buf.length) {
          this.#log(
            `Truncated torn audit spool tail segment=${segmentName(no)} validBytes=${size} fileBytes=${buf.length}`,
          );
          const fh = await open(path, 'r+');
          try {
            await fh.truncate(size);
            await fh.datasync();
          } finally {
            await fh.close();
          }
        }
      } else {
        const fh = await open(path, 'r');
        try {
          size = (await fh.stat()).size;
        } finally {
          await fh.close();
        }
      }
      if (size === 0) {
        await unlink(path);
        continue;
      }
      this.#segments.push({ no, path, size, ackedOffset: 0, deleted: false });
      this.bytes += size;
    }
    await this.#loadAck();
  }

  async #loadAck(): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.dir, 'ack'), 'utf8');
    } catch {
      return;
    } // none yet: nothing acked
    const m = /^airlock-audit-ack 1 (\d+) (\d+)\n$/.exec(text);
    const first = this.#segments[0];
    if (m === null || first === undefined) {
      if (m === null) this.#log('Ignored unreadable audit spool ack file, re-sending the whole spool');
      return;
    }
    const segNo = Number(m[1]);
    const offset = Number(m[2]);
    if (segNo < first.no) return; // its segment was deleted: everything left is unacked
    const seg = this.#segments.find((x) => x.no === segNo);
    if (seg === undefined || offset > seg.size) {
      this.#log(
        `Ignored audit spool ack pointer past the data segment=${segNo} offset=${offset}, re-sending the whole spool`,
      );
      return;
    }
    // The pointer must sit on a frame boundary, or reads from it would see garbage: check by walking to it.
    const { end } = parseFrames((await readFile(seg.path)).subarray(0, offset), 0);
    if (end !== offset) {
      this.#log(
        `Ignored audit spool ack pointer off a frame boundary segment=${segNo} offset=${offset}, re-sending the whole spool`,
      );
      return;
    }
    for (const x of this.#segments) {
      if (x.no < segNo) x.ackedOffset = x.size;
    }
    seg.ackedOffset = offset;
    await this.#deleteAcked();
  }

  /** Bytes of records not yet acknowledged (the rest of the file bytes are acked prefixes awaiting deletion). */
  unackedBytes(): number {
    let n = 0;
    for (const s of this.#segments) n += s.size - s.ackedOffset;
    return n;
  }

  hasUnacked(): boolean {
    return this.#segments.some((s) => s.ackedOffset < s.size);
  }

  /**
   * Appends whole frames and makes them durable (fdatasync) before returning. The spool then owns `frames`
   * until they are acknowledged (or it lets them go, see `recent`), and hands them to onRelease after that.
   */
  async append(frames: Buffer): Promise<void> {
    if (this.#fh === null || this.#writeSeg === null) await this.#newSegment();
    const seg = this.#writeSeg!;
    // Positional write at the durable end: a failed or partial write (ENOSPC) is simply overwritten next time.
    const { bytesWritten } = await this.#fh!.write(frames, 0, frames.length, seg.size);
    if (bytesWritten !== frames.length)
      throw new Error(`short write to the audit spool: ${bytesWritten} of ${frames.length} bytes`);
    await this.#fh!.datasync();
    this.#recent.push({ seg, start: seg.size, end: seg.size + frames.length, buf: frames });
    this.#recentBytes += frames.length;
    seg.size += frames.length;
    this.bytes += frames.length;
    this.#pruneRecent();
    if (seg.size >= this.segmentBytes) await this.#roll();
  }

  /**
   * Frames this process appended and that are not yet acknowledged, in append order, at most RECENT_BYTES: the
   * export reads them from here instead of reading the file back and checking every frame's CRC again (which
   * cost ~2 µs per span, docs/performance.md). What falls out of the window (a long outage), and everything
   * found at open() after a restart, is read from the file with its CRCs checked, as before.
   */
  readonly #recent: { seg: Segment; start: number; end: number; buf: Buffer }[] = [];
  #recentBytes = 0;
  /** Called with each appended frames buffer the spool no longer needs (the sink reuses it). */
  onRelease: ((frames: Buffer) => void) | null = null;

  #pruneRecent(): void {
    while (this.#recent.length > 0) {
      const e = this.#recent[0]!;
      if (!e.seg.deleted && e.end > e.seg.ackedOffset && this.#recentBytes <= RECENT_BYTES) break;
      this.#recent.shift();
      this.#recentBytes -= e.buf.length;
      this.onRelease?.(e.buf);
    }
  }

  /** A batch from `recent` when the next unacknowledged frames of `seg` are there (frames are contiguous, sealed by us). */
  #recentBatch(seg: Segment, maxRecords: number, maxBytes: number): Batch | null {
    const from = seg.ackedOffset;
    let i = this.#recent.findIndex((e) => e.seg === seg && from >= e.start && from < e.end);
    if (i < 0) return null;
    const payloads: Buffer[] = [];
    let pos = from; // file offset of the next frame
    // Consecutive appends to the same segment are contiguous in the file: a batch may take frames of several.
    for (
      let e = this.#recent[i];
      e !== undefined && e.seg === seg && e.start === (payloads.length === 0 ? e.start : pos);
      e = this.#recent[++i]
    ) {
      const buf = e.buf;
      let at = pos - e.start;
      while (at < buf.length && payloads.length < maxRecords) {
        const next = at + FRAME_HEADER_BYTES + buf.readUInt32LE(at);
        if (payloads.length > 0 && e.start + next - from > maxBytes)
          return { segment: seg, start: from, end: e.start + at, payloads };
        payloads.push(buf.subarray(at + FRAME_HEADER_BYTES, next));
        at = next;
      }
      pos = e.start + at;
      if (payloads.length >= maxRecords) break;
    }
    return { segment: seg, start: from, end: pos, payloads };
  }

  async #newSegment(): Promise<void> {
    const last = this.#segments[this.#segments.length - 1];
    const no = last === undefined ? 1 : last.no + 1;
    const path = join(this.dir, segmentName(no));
    this.#fh = await open(path, 'wx', 0o600);
    // The new directory entry must survive a power loss too, or the synced frames in it would be unreachable.
    // Off the event loop: a directory fsync on a busy disk takes milliseconds, and the proxy relays meanwhile.
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    const seg: Segment = { no, path, size: 0, ackedOffset: 0, deleted: false };
    this.#segments.push(seg);
    this.#writeSeg = seg;
  }

  async #roll(): Promise<void> {
    const fh = this.#fh;
    this.#fh = null;
    this.#writeSeg = null;
    if (fh !== null) await fh.close();
    await this.#deleteAcked();
  }

  /**
   * drop-oldest: deletes the oldest segments until `need` more bytes fit under maxBytes. Returns how many
   * unacknowledged records were dropped (an export in flight from a dropped segment may still land; its
   * records were counted as dropped all the same).
   */
  async makeRoom(need: number): Promise<number> {
    let dropped = 0;
    while (this.bytes + need > this.maxBytes && this.#segments.length > 0) {
      const oldest = this.#segments[0]!;
      if (oldest === this.#writeSeg) await this.#roll();
      if (this.#segments[0] !== oldest) continue; // roll() deleted it (it was fully acked)
      const buf = await readFile(oldest.path);
      dropped += parseFrames(buf, oldest.ackedOffset).payloads.length;
      await this.#remove(oldest);
    }
    if (dropped > 0) this.#ackDirty = true;
    this.#pruneRecent();
    return dropped;
  }

  /** readBatch's buffer, reused: a new one per batch made V8 run full collections (external memory pressure). */
  #readBuf: Buffer = Buffer.alloc(0);

  #readBuffer(len: number): Buffer {
    if (this.#readBuf.length < len)
      this.#readBuf = Buffer.allocUnsafe(Math.max(len, Math.min(2 * this.#readBuf.length, MAX_FRAME_BYTES)));
    return this.#readBuf;
  }

  /**
   * The next unacknowledged records, at most maxRecords and (unless one frame is larger) maxBytes. The payloads
   * are views into a buffer the next readBatch() reuses: use them before reading again.
   */
  async readBatch(maxRecords: number, maxBytes: number): Promise<Batch | null> {
    for (const seg of this.#segments) {
      if (seg.ackedOffset >= seg.size) continue;
      const inMemory = this.#recentBatch(seg, maxRecords, maxBytes);
      if (inMemory !== null) return inMemory;
      const start = seg.ackedOffset;
      const fh = await open(seg.path, 'r');
      try {
        // Read about what maxRecords typical spans take (~0.5 KiB each), not always maxBytes: a batch that ends
        // short of maxRecords because its spans are large is simply a smaller batch.
        let len = Math.min(seg.size - start, maxBytes, Math.max(64 * 1024, maxRecords * 1024));
        let buf = this.#readBuffer(len);
        await fh.read(buf, 0, len, start);
        let { payloads, end } = parseFrames(buf.subarray(0, len), 0, maxRecords);
        if (payloads.length === 0 && len >= FRAME_HEADER_BYTES) {
          const frameLen = FRAME_HEADER_BYTES + buf.readUInt32LE(0);
          if (frameLen > len && frameLen <= seg.size - start) {
            // one frame larger than what was read: send it alone
            len = frameLen;
            buf = this.#readBuffer(len);
            await fh.read(buf, 0, len, start);
            ({ payloads, end } = parseFrames(buf.subarray(0, len), 0, 1));
          }
        }
        if (payloads.length === 0) {
          // Durable bytes that no longer verify: the disk changed under us. Skip the rest of this segment
          // rather than stall every later record behind it.
          this.#log(
            `Skipped unreadable audit spool data segment=${segmentName(seg.no)} offset=${start} bytes=${seg.size - start}`,
          );
          seg.ackedOffset = seg.size;
          this.#ackDirty = true;
          await this.#deleteAcked();
          return this.readBatch(maxRecords, maxBytes);
        }
        return { segment: seg, start, end: start + end, payloads };
      } finally {
        await fh.close();
      }
    }
    return null;
  }

  /** Marks a batch acknowledged; acks arrive in read order (one batch in flight), so the pointer only moves forward. */
  async ack(batch: Batch): Promise<void> {
    const seg = batch.segment;
    if (seg.deleted || batch.start !== seg.ackedOffset) return; // dropped meanwhile (drop-oldest)
    seg.ackedOffset = batch.end;
    this.#ackDirty = true;
    await this.#deleteAcked();
    this.#pruneRecent();
  }

  async #deleteAcked(): Promise<void> {
    while (this.#segments.length > 0) {
      const s = this.#segments[0]!;
      if (s === this.#writeSeg || s.ackedOffset < s.size) break;
      await this.#remove(s);
    }
  }

  async #remove(s: Segment): Promise<void> {
    this.#segments.shift();
    s.deleted = true;
    this.bytes -= s.size;
    this.#ackDirty = true;
    try {
      await unlink(s.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /**
   * Writes the ack pointer if it moved (tmp + rename: a reader sees the old or the new pointer, never half).
   * Calls are serialized: two overlapping writers of ack.tmp could rename a half-written file.
   */
  persistAck(): Promise<void> {
    this.#ackWrites++;
    this.#ackWrite = this.#ackWrite
      .catch(() => {})
      .then(() => this.#writeAck())
      .finally(() => {
        this.#ackWrites--;
      });
    return this.#ackWrite;
  }

  /** persistAck calls not yet finished. */
  #ackWrites = 0;

  /** The ack file says what is acknowledged: nothing for persistAck to write, and no write of it in flight. */
  get ackSettled(): boolean {
    return !this.#ackDirty && this.#ackWrites === 0;
  }

  async #writeAck(): Promise<void> {
    if (!this.#ackDirty) return;
    this.#ackDirty = false;
    const first = this.#segments.find((s) => s.ackedOffset < s.size) ?? this.#segments[this.#segments.length - 1];
    const pos = first === undefined ? '0 0' : `${first.no} ${first.ackedOffset}`;
    const tmp = join(this.dir, 'ack.tmp');
    try {
      await writeFile(tmp, `${ACK_MAGIC} ${pos}\n`, { mode: 0o600 });
      await rename(tmp, join(this.dir, 'ack'));
    } catch (err) {
      this.#ackDirty = true;
      throw err;
    }
  }

  async close(): Promise<void> {
    for (const e of this.#recent.splice(0)) this.onRelease?.(e.buf);
    this.#recentBytes = 0;
    const fh = this.#fh;
    this.#fh = null;
    this.#writeSeg = null;
    if (fh !== null) await fh.close();
    await this.#deleteAcked();
    await this.persistAck();
  }
}
