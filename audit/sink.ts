// The AuditSink the proxy's sessions write to (types.ts). For the proxy (encoder "lean"), statement() writes the
// statement's span as a spool frame into one reused buffer (lean-span.ts: the SDK serializer's bytes, checked
// against it in tests); for the operator ("inline") it queues the record for encoder.ts's SDK spans. A flush,
// per batchSize records or per flushIntervalMs, appends the batch's frames to the spool (spool.ts) in one write
// and makes them durable; one export loop sends spooled spans to the collector and acknowledges them. The SDK's
// own BatchSpanProcessor and exporters are not used: they hold spans in memory and drop them on overflow, a
// crash or a long outage (docs/adr/0003-audit-span-encoder.md).
//
// Durability window: records accepted since the last flush live only in memory. A crash (or power loss) loses
// at most flushIntervalMs of records (default 200 ms), or fewer when batchSize records arrived sooner (a full
// batch flushes at once). Everything flushed is fdatasync'ed before export and survives a crash.
//
// Delivery: at-least-once. One batch is in flight at a time and acks move a single pointer forward, so a retry
// never reorders acks. A span is re-sent only when its ack was lost (crash after the collector answered, ack
// file not yet replaced); it carries the same trace and span ids, so a backend can de-duplicate it.
import type { Tracer } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { backoffMs as cappedBackoffMs } from '../lib/backoff.ts';
import type { AuditSink, SessionRecord, StatementRecord } from './types.ts';
import type { EncodeItem } from './encoder.ts';
import { InlineEncoderHost, WorkerEncoderHost, type EncoderHost, type EncoderSettings } from './encoder-host.ts';
import { LeanEncoder } from './lean-span.ts';
import { AUDIT_SCOPE_NAME, DEFAULT_MAX_QUERY_TEXT_BYTES, exportRequest, type RequestEnvelope } from './otlp.ts';
import { FRAME_HEADER_BYTES, Spool, type Batch } from './spool.ts';
import { createTransport, type OtlpProtocol, type Transport } from './transport.ts';

export interface AuditSinkOptions {
  /** OTLP endpoint, e.g. http://otel-collector.observability:4317; null = spool only (read with `airlock audit tail`). */
  readonly endpoint: string | null;
  readonly protocol: OtlpProtocol;
  readonly spoolDir: string;
  readonly onFailure: 'block' | 'drop-oldest';
  /** Spool bound on disk plus records not yet written. Default 256 MiB. */
  readonly maxSpoolBytes?: number;
  /**
   * Spans per spool write and export request. Default 512 (the OTel SDK BatchSpanProcessor's
   * maxExportBatchSize); the proxy's (index.ts createAuditSink) 2048.
   */
  readonly batchSize?: number;
  /** How often pending records are written + fsynced and export is attempted. Default 200 ms. */
  readonly flushIntervalMs?: number;
  /** Resource service.name. Default "airlock-proxy". */
  readonly serviceName?: string;
  /** Instrumentation scope (tracer name). Default "airlock.dev/audit". */
  readonly scopeName?: string;
  /**
   * Where spans are made and serialized: "lean" (the proxy's choice: written directly as each record arrives,
   * lean-span.ts), "worker" (the SDK in a worker thread; the proxy's before issue 16) or "inline" (default: the
   * SDK on the caller's thread; needed for `tracer`).
   */
  readonly encoder?: 'lean' | 'worker' | 'inline';
  /** Per-request deadline. Default 10 s (the OTLP exporter default timeout). */
  readonly exportTimeoutMs?: number;
  /** First retry delay after a failed export; doubles per failure up to maxBackoffMs. Default 250 ms. */
  readonly initialBackoffMs?: number;
  /** Default 30 s. */
  readonly maxBackoffMs?: number;
  /** How long close() keeps exporting what is spooled. Default 2 s; the rest is sent after the next start. */
  readonly closeTimeoutMs?: number;
  /** db.query.text byte limit. Default 16 KiB (see otlp.ts). */
  readonly maxQueryTextBytes?: number;
  /** Operator-style log line sink. Default: stderr. Never receives query text or values. */
  readonly log?: (message: string) => void;
}

/** Counters, named as the Prometheus series the proxy exposes. */
export interface AuditMetrics {
  airlock_audit_dropped_total: number;
  airlock_audit_rejected_total: number;
  airlock_audit_exported_total: number;
  airlock_audit_export_failures_total: number;
  airlock_audit_spool_bytes: number;
}

export interface AuditExporter extends AuditSink {
  metrics(): AuditMetrics;
  /** Writes and fsyncs every record accepted so far (test hook and graceful shutdown). */
  flush(): Promise<void>;
  /** New endpoint / protocol / onFailure, keeping the spool (SpoolingAuditSink.reconfigure). */
  reconfigure(endpoint: string | null, protocol: OtlpProtocol, onFailure: 'block' | 'drop-oldest'): void;
  /** Whether the flush/export timer runs: only while there is something to write, export or persist. */
  readonly ticking: boolean;
}

/**
 * Requests stay under 3 MiB: the OpenTelemetry Collector's gRPC receiver rejects messages over 4 MiB by default
 * (max_recv_msg_size_mib). A receiver with a smaller limit gets halved batches (see pump()).
 */
const MAX_REQUEST_BYTES = 3 * 1024 * 1024;
/**
 * Encoded size of a statement span beyond its query text, for the in-memory part of the bound: a span with
 * typical names measures ~540 bytes; over-estimating only makes block mode stop a little early.
 */
const RECORD_OVERHEAD_BYTES = 768;

export class SpoolingAuditSink implements AuditExporter {
  readonly #spool: Spool;
  #transport: Transport | null;
  readonly #exportTimeoutMs: number;
  #block: boolean;
  readonly #maxBytes: number;
  /**
   * block mode: accepting() turns false at softLimit, while statement() still stores records up to maxBytes.
   * A statement that passed accepting() has run by the time its record arrives; the reserve keeps that
   * record instead of losing it to a race with other sessions filling the spool.
   */
  readonly #softLimit: number;
  readonly #batchSize: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #closeTimeoutMs: number;
  readonly #log: (message: string) => void;
  /** The SDK encoder ("inline", "worker"); null with the lean one. */
  readonly #host: EncoderHost | null;
  /** "lean": statement and session spans written as frames when recorded; `pending` then stays empty. */
  readonly #lean: LeanEncoder | null;
  /** Inline encoder only: the SDK tracer whose spans this sink spools (operator/record.ts makes its spans with it). */
  readonly tracer: Tracer | null;
  /** Sessions started and not yet ended: close() ends their spans so their statements keep a parent. */
  readonly #open = new Set<string>();

  #pending: EncodeItem[] = [];
  #pendingBytes = 0;
  /** Records handed to the encoder and not yet back as frames: still part of the bound. */
  #encodingBytes = 0;
  #unwritten: Buffer[] = [];
  #unwrittenBytes = 0;
  #flushChain: Promise<void> = Promise.resolve();
  #flushQueued = false;
  /** writePending is running (the SDK encoder's records are neither pending nor unwritten while it encodes). */
  #writing = false;
  /** The flush/export tick; null while the sink sleeps (nothing to write, export or persist: #tick). */
  #timer: NodeJS.Timeout | null = null;
  readonly #flushIntervalMs: number;
  #closed = false;

  #pumping: Promise<void> | null = null;
  /** The export request buffer, reused (see pump()). */
  #requestBuf: Buffer | undefined = undefined;
  #stopping = false;
  readonly #abort = new AbortController();
  #wake: (() => void) | null = null;
  #sendBatchSize: number;
  #lastWriteError = '';

  #dropped = 0;
  #rejected = 0;
  #exported = 0;
  #failures = 0;

  constructor(spool: Spool, opts: AuditSinkOptions, host: EncoderHost | LeanEncoder, tracer: Tracer | null) {
    this.#spool = spool;
    this.#block = opts.onFailure === 'block';
    this.#maxBytes = spool.maxBytes;
    this.#softLimit = this.#maxBytes - Math.min(1024 * 1024, Math.floor(this.#maxBytes / 16));
    this.#batchSize = Math.max(1, opts.batchSize ?? 512);
    this.#sendBatchSize = this.#batchSize;
    this.#initialBackoffMs = opts.initialBackoffMs ?? 250;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? 2000;
    this.#log = opts.log ?? ((m) => process.stderr.write(`airlock: ${m}\n`));
    this.#host = host instanceof LeanEncoder ? null : host;
    this.#lean = host instanceof LeanEncoder ? host : null;
    // Frames the spool no longer keeps for export: the lean encoder writes its next batches into them.
    if (this.#lean !== null) spool.onRelease = (frames) => this.#lean!.recycle(frames);
    this.tracer = tracer;
    this.#exportTimeoutMs = opts.exportTimeoutMs ?? 10_000;
    this.#transport =
      opts.endpoint === null ? null : createTransport(opts.protocol, opts.endpoint, this.#exportTimeoutMs);
    this.#endpoint = opts.endpoint;
    this.#flushIntervalMs = opts.flushIntervalMs ?? 200;
    this.#arm();
  }

  get ticking(): boolean {
    return this.#timer !== null;
  }

  /** Starts the tick if the sink sleeps: called wherever work arrives (records, spans, a new endpoint). */
  #arm(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setInterval(() => this.#tick(), this.#flushIntervalMs);
    this.#timer.unref(); // the proxy's sockets keep the process alive, not the audit timer
  }

  /**
   * Nothing to do until a record arrives: nothing pending, unwritten or being written, nothing left to export
   * (or nowhere to export it), and the ack file up to date. An idle proxy then has no timer waking it five times
   * a second (docs/performance.md, "Memory of the sidecar", "What is left": idle CPU).
   */
  #quiet(): boolean {
    return (
      this.#pending.length === 0
      && this.#unwritten.length === 0
      && (this.#lean?.count ?? 0) === 0
      && !this.#flushQueued
      && !this.#writing
      && this.#pumping === null
      && (this.#transport === null || !this.#spool.hasUnacked())
      && this.#spool.ackSettled
    );
  }

  #used(): number {
    return (
      this.#spool.bytes + this.#unwrittenBytes + this.#encodingBytes + this.#pendingBytes + (this.#lean?.bytes ?? 0)
    );
  }

  // ---- AuditSink: called by sessions -----------------------------------------------------------------------

  sessionStarted(s: SessionRecord): void {
    if (this.#closed) return;
    this.#arm();
    this.#open.add(s.sessionId);
    if (this.#lean !== null) {
      // Only a defect throws here (a value of the wrong type); its statements are then audited as of an
      // unannounced session.
      try {
        this.#lean.sessionStarted(s);
      } catch (err) {
        this.#log(`Failed to encode audit session error="${(err as Error).message}"`);
      }
      return;
    }
    this.#pending.push({ start: s });
    this.#pendingBytes += RECORD_OVERHEAD_BYTES;
  }

  statement(r: StatementRecord): boolean {
    if (this.#closed) return false;
    this.#arm();
    const size = RECORD_OVERHEAD_BYTES + r.queryText.length;
    if (this.#used() + size > this.#maxBytes) {
      if (this.#block) {
        this.#dropped++; // the reserve is exhausted too: the record cannot be kept
        return false;
      }
      // drop-oldest: room on disk is made when the batch is written; here only the in-memory part is bounded
      // (it grows only while writes to the spool fail).
      if (this.#lean !== null) {
        if (this.#lean.bytes + size > this.#maxBytes) this.#dropped += this.#lean.dropOldest(size, this.#maxBytes);
      } else if (this.#pendingBytes + size > this.#maxBytes) this.#dropPending(size);
    }
    if (this.#lean !== null) {
      try {
        this.#lean.statement(r);
      } catch (err) {
        // A defect, not bad input (records are typed values): say so loudly and go on.
        this.#dropped++;
        this.#log(`Failed to encode audit spans records=1 error="${(err as Error).message}"`);
      }
      if (this.#lean.count >= this.#batchSize) this.#queueFlush();
      return !this.#block || this.#used() < this.#softLimit;
    }
    this.#pending.push({ ...r }); // the caller reuses `r` (AuditSink.statement)
    this.#pendingBytes += size;
    if (this.#pending.length >= this.#batchSize) this.#queueFlush();
    return !this.#block || this.#used() < this.#softLimit;
  }

  sessionEnded(sessionId: string, endTimeMs: number): void {
    if (this.#closed) return;
    this.#arm();
    this.#open.delete(sessionId);
    if (this.#lean !== null) {
      this.#leanSessionEnded(sessionId, endTimeMs);
      return;
    }
    this.#pending.push({ stop: sessionId, endTimeMs });
    this.#pendingBytes += RECORD_OVERHEAD_BYTES;
  }

  #leanSessionEnded(sessionId: string, endTimeMs: number): void {
    try {
      this.#lean!.sessionEnded(sessionId, endTimeMs);
    } catch (err) {
      this.#dropped++;
      this.#log(`Failed to encode audit spans records=1 error="${(err as Error).message}"`);
    }
    if (this.#lean!.count >= this.#batchSize) this.#queueFlush();
  }

  /**
   * A span other code made with `tracer` (the operator's action spans): queued like a statement, bounded the
   * same way, and counted as dropped when there is no room.
   */
  spanEnded(span: ReadableSpan): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    this.#arm();
    const size = RECORD_OVERHEAD_BYTES;
    if (this.#used() + size > this.#maxBytes) {
      if (this.#block || this.#pendingBytes + size > this.#maxBytes) {
        this.#dropped++;
        return;
      }
    }
    this.#pending.push(span);
    this.#pendingBytes += size;
    if (this.#pending.length >= this.#batchSize) this.#queueFlush();
  }

  accepting(): boolean {
    return !this.#closed && (!this.#block || this.#used() < this.#softLimit);
  }

  metrics(): AuditMetrics {
    return {
      airlock_audit_dropped_total: this.#dropped,
      airlock_audit_rejected_total: this.#rejected,
      airlock_audit_exported_total: this.#exported,
      airlock_audit_export_failures_total: this.#failures,
      airlock_audit_spool_bytes: this.#spool.bytes,
    };
  }

  #dropPending(need: number): void {
    let i = 0;
    while (i < this.#pending.length && this.#pendingBytes + need > this.#maxBytes) {
      const p = this.#pending[i++]!;
      if ('start' in p || 'stop' in p) {
        this.#pendingBytes -= RECORD_OVERHEAD_BYTES;
        continue;
      }
      this.#pendingBytes -= RECORD_OVERHEAD_BYTES + ('queryText' in p ? p.queryText.length : 0);
      this.#dropped++;
    }
    // Session starts and ends are kept: without one, later statements lose their parent, or a session span
    // stays open in the encoder for good.
    const kept: EncodeItem[] = this.#pending.slice(0, i).filter((p) => 'start' in p || 'stop' in p);
    this.#pendingBytes += kept.length * RECORD_OVERHEAD_BYTES;
    this.#pending = kept.concat(this.#pending.slice(i));
  }

  // ---- Writing: pending → spans → spool --------------------------------------------------------------------

  #tick(): void {
    if (this.#quiet()) {
      clearInterval(this.#timer!);
      this.#timer = null;
      return;
    }
    this.#exportDue = true;
    if (this.#pending.length > 0 || this.#unwritten.length > 0 || (this.#lean?.count ?? 0) > 0) this.#queueFlush();
    else if (this.#transport !== null && this.#pumping === null) void this.#startPump();
    void this.#spool
      .persistAck()
      .catch((err: Error) => this.#log(`Failed to write audit spool ack file error="${err.message}"`));
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    this.#flushChain = this.#flushChain.then(() => {
      this.#flushQueued = false;
      this.#writing = true;
      return this.#writePending().finally(() => {
        this.#writing = false;
      });
    });
  }

  flush(): Promise<void> {
    this.#queueFlush();
    return this.#flushChain;
  }

  /** pending → encoder → spool frames, queued for writing; a failed encoding loses its records, counted and logged. */
  async #encodePending(): Promise<void> {
    if (this.#lean !== null) {
      if (this.#lean.count === 0) return;
      this.#unexported += this.#lean.count;
      const frames = this.#lean.take();
      this.#unwritten.push(frames);
      this.#unwrittenBytes += frames.length;
      return;
    }
    if (this.#pending.length === 0) return;
    const items = this.#pending;
    this.#pending = [];
    this.#encodingBytes += this.#pendingBytes;
    const bytes = this.#pendingBytes;
    this.#pendingBytes = 0;
    let frames: Buffer;
    try {
      frames = await this.#host!.encode(items);
    } catch (err) {
      // A defect or a dead worker, not bad input (records are plain values): say so loudly and go on.
      const lost = items.filter((i) => !('start' in i) && !('stop' in i)).length;
      this.#dropped += lost;
      this.#log(`Failed to encode audit spans records=${lost} error="${(err as Error).message}"`);
      return;
    } finally {
      this.#encodingBytes -= bytes;
    }
    if (frames.length === 0) return;
    this.#unwritten.push(frames);
    this.#unwrittenBytes += frames.length;
  }

  /** drop-oldest, when one batch alone exceeds the bound: drop its oldest frames (counted) until it fits. */
  #trimOldest(frames: Buffer): Buffer {
    const total = frames.length;
    let at = 0;
    while (total - at > this.#maxBytes) {
      at += FRAME_HEADER_BYTES + frames.readUInt32LE(at);
      this.#dropped++;
    }
    this.#unwritten[0] = frames.subarray(at);
    this.#unwrittenBytes -= at;
    return this.#unwritten[0];
  }

  async #writePending(): Promise<void> {
    await this.#encodePending();
    while (this.#unwritten.length > 0) {
      let frames = this.#unwritten[0]!;
      try {
        if (!this.#block) {
          if (frames.length > this.#maxBytes) frames = this.#trimOldest(frames);
          this.#dropped += await this.#spool.makeRoom(frames.length);
        }
        await this.#spool.append(frames);
      } catch (err) {
        // Kept in memory and retried next tick; in block mode the bound then stops new statements.
        const msg = (err as Error).message;
        if (msg !== this.#lastWriteError)
          this.#log(`Failed to write audit spool dir=${this.#spool.dir} error="${msg}"`);
        this.#lastWriteError = msg;
        return;
      }
      this.#lastWriteError = '';
      this.#unwritten.shift();
      this.#unwrittenBytes -= frames.length;
    }
    // Lean: export whole batches, not every flush's remainder: each request costs ~0.2-1 ms of CPU whatever its
    // size (docs/performance.md). What is short of a batch goes with the next timer tick, at most
    // flushIntervalMs later. (The SDK encoders keep exporting after every flush.)
    if (this.#holdExport()) return;
    if (this.#transport !== null && this.#pumping === null) void this.#startPump();
  }

  /** Lean, between timer ticks: less than a batch is waiting, so it waits for more (or for the tick). */
  #holdExport(): boolean {
    return this.#lean !== null && !this.#exportDue && this.#unexported < this.#sendBatchSize;
  }

  /** Lean: frames spooled since the export loop last found nothing to send (see writePending). */
  #unexported = 0;
  /** Set by the timer (and close, reconfigure): export whatever is spooled, until the spool is drained. */
  #exportDue = false;

  // ---- Export: spool → collector ---------------------------------------------------------------------------

  #startPump(): Promise<void> {
    if (this.#pumping !== null) return this.#pumping;
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = null;
    });
    return this.#pumping;
  }

  #endpoint: string | null;

  /**
   * The binding's audit settings changed (a sidecar gets them with every policy update): export to the new
   * endpoint and apply the new onFailure from now on. The spool and everything in it stay: records not yet
   * acknowledged by the old collector go to the new one.
   */
  reconfigure(endpoint: string | null, protocol: OtlpProtocol, onFailure: 'block' | 'drop-oldest'): void {
    if (this.#closed) return;
    this.#block = onFailure === 'block';
    if (endpoint === this.#endpoint) return;
    const old = this.#transport;
    this.#endpoint = endpoint;
    this.#transport = endpoint === null ? null : createTransport(protocol, endpoint, this.#exportTimeoutMs);
    // An export in flight to the old collector fails (nothing is acked) and is retried to the new one.
    old?.close();
    this.#arm();
    this.#exportDue = true;
    this.#wake?.();
    if (this.#transport !== null && this.#pumping === null && this.#spool.hasUnacked()) void this.#startPump();
  }

  async #pump(): Promise<void> {
    let envelope: RequestEnvelope | null = null; // asked for only once there is something to send
    let attempt = 0;
    while (!this.#stopping) {
      if (this.#holdExport()) return;
      const transport = this.#transport;
      if (transport === null) return; // reconfigured to no endpoint
      let batch: Batch | null;
      try {
        batch = await this.#spool.readBatch(this.#sendBatchSize, MAX_REQUEST_BYTES);
      } catch (err) {
        this.#log(`Failed to read audit spool error="${(err as Error).message}"`);
        return;
      }
      if (batch === null) {
        this.#unexported = 0;
        this.#exportDue = false;
        return;
      }
      if (envelope === null) {
        try {
          envelope = this.#lean?.envelope ?? (await this.#host!.envelope());
        } catch (err) {
          this.#log(`Failed to start the audit encoder error="${(err as Error).message}"`);
          return;
        }
      }
      // The payloads' first byte is the record kind, not part of the span. The request buffer is reused after a
      // request that completed; one that failed may still be referenced by a socket and is left to the GC.
      const body = exportRequest(envelope, batch.payloads, 1, this.#requestBuf);
      const res = await transport.send(body, this.#abort.signal);
      this.#requestBuf = res.kind === 'ok' && body.byteOffset === 0 ? Buffer.from(body.buffer) : undefined;
      const spans = batch.payloads;
      if (this.#stopping && res.kind !== 'ok') return;
      if (res.kind === 'ok') {
        await this.#spool.ack(batch);
        this.#unexported = Math.max(0, this.#unexported - spans.length);
        this.#exported += spans.length - res.rejectedSpans;
        if (res.rejectedSpans > 0) {
          this.#rejected += res.rejectedSpans;
          this.#log(`Collector rejected audit spans count=${res.rejectedSpans} message="${res.message}"`);
        }
        attempt = 0;
        this.#sendBatchSize = Math.min(this.#batchSize, this.#sendBatchSize * 2);
        continue;
      }
      if (res.tooLarge && batch.payloads.length > 1) {
        this.#sendBatchSize = Math.max(1, Math.floor(batch.payloads.length / 2)); // same records, smaller requests
        continue;
      }
      if (res.kind === 'reject') {
        // The collector says this data can never be accepted: retrying would stall every later record.
        await this.#spool.ack(batch);
        this.#rejected += spans.length;
        this.#log(`Collector rejected audit spans for good count=${spans.length} message="${res.message}"`);
        continue;
      }
      this.#failures++;
      attempt++;
      if (attempt === 1 || attempt % 20 === 0)
        this.#log(`Failed to export audit spans attempt=${attempt} error="${res.message}"`);
      await this.#sleep(this.#backoffMs(attempt, res.retryAfterMs));
    }
  }

  /** Exponential backoff with "equal jitter": half the step fixed, half random, so retries of many sidecars spread out. */
  #backoffMs(attempt: number, retryAfterMs: number | null): number {
    const jittered = cappedBackoffMs(
      { initialMs: this.#initialBackoffMs, maxMs: this.#maxBackoffMs, jitter: [0.5, 1] },
      attempt,
    );
    return retryAfterMs === null ? jittered : Math.min(this.#maxBackoffMs, Math.max(retryAfterMs, jittered));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    // Sessions still open get their span now, so their statements are not left without a parent.
    const now = performance.timeOrigin + performance.now();
    for (const id of this.#open) {
      if (this.#lean !== null) this.#leanSessionEnded(id, now);
      else this.#pending.push({ stop: id, endTimeMs: now });
    }
    this.#open.clear();
    this.#closed = true;
    this.#exportDue = true;
    await this.flush();
    if (this.#transport !== null) {
      const deadline = setTimeout(() => {
        this.#stopping = true;
        this.#abort.abort();
        this.#wake?.();
      }, this.#closeTimeoutMs);
      // Cut a backoff short and export what is spooled, until done or the deadline. Two passes: a pump that
      // was just finishing may have looked at the spool before the final flush appended to it.
      for (let pass = 0; pass < 2 && !this.#stopping && this.#spool.hasUnacked(); pass++) {
        this.#wake?.();
        await this.#startPump();
      }
      this.#stopping = true;
      clearTimeout(deadline);
      await this.#pumping;
      this.#transport.close();
    }
    await this.#spool.close();
    await this.#host?.close();
  }
}

export async function openAuditSink(opts: AuditSinkOptions): Promise<SpoolingAuditSink> {
  const spool = await Spool.open({
    dir: opts.spoolDir,
    maxBytes: opts.maxSpoolBytes ?? 256 * 1024 * 1024,
    log: opts.log ?? ((m) => process.stderr.write(`airlock: ${m}\n`)),
  });
  const settings: EncoderSettings = {
    serviceName: opts.serviceName ?? 'airlock-proxy',
    scopeName: opts.scopeName ?? AUDIT_SCOPE_NAME,
    maxQueryTextBytes: opts.maxQueryTextBytes ?? DEFAULT_MAX_QUERY_TEXT_BYTES,
    log: opts.log ?? ((m) => process.stderr.write(`airlock: ${m}\n`)),
  };
  if (opts.encoder === 'lean') return new SpoolingAuditSink(spool, opts, new LeanEncoder(settings), null);
  if (opts.encoder === 'worker') return new SpoolingAuditSink(spool, opts, new WorkerEncoderHost(settings), null);
  // Only code holding sink.tracer ends spans that reach onSpan, and it gets the tracer from the sink.
  let sink: SpoolingAuditSink | null = null;
  const host = await InlineEncoderHost.create(settings, (span) => sink!.spanEnded(span));
  sink = new SpoolingAuditSink(spool, opts, host, host.tracer);
  return sink;
}
