// Records → OpenTelemetry SDK spans → spool frames. The SDK's tracer (@opentelemetry/sdk-trace) makes each
// span with the record's own start and end time, parented on its session's span; the SDK's OTLP serializer
// (@opentelemetry/otlp-transformer) encodes a whole batch in one call; the request is cut into one
// CRC-framed spool record per span (a kind byte, then the Span message exactly as the SDK wrote it).
//
// This is most of the audit path's CPU (a few µs per span, measured in bench/), so the proxy runs it in a
// worker thread (encoder-worker.ts) and its event loop only hands records over; the operator, whose spans
// are few and made with `tracer` directly, runs it inline. Both go through SpanEncoder.
import { randomFillSync, randomUUID } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, TracerProvider, type IdGenerator, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { SessionRecord, StatementRecord } from './types.ts';
import { hrTime, sessionCommonAttributes, sessionSpanAttributes, sessionSpanName, statementAttributes, statementSpanName,
  statementStatus } from './attributes.ts';
import { KIND_PLAIN_SPAN, KIND_SESSION_SPAN, KIND_STATEMENT_SPAN, splitExportRequest, type RequestEnvelope } from './otlp.ts';
import * as sc from './semconv.ts';
import { FRAME_HEADER_BYTES, sealFrame } from './spool.ts';
import { LeanWriter, statementSpan } from './lean-span.ts';

/** A session began: its span opens (plain data, so it crosses to the worker by structured clone). */
export interface SessionStart { readonly start: SessionRecord }
/** A session ended: its span closes with the number of statements it had. */
export interface SessionStop { readonly stop: string; readonly endTimeMs: number }
/** What the sink queues, in order. A ReadableSpan only inline: one other code ended with `tracer`. */
export type EncodeItem = SessionStart | SessionStop | StatementRecord | ReadableSpan;

export interface SpanEncoderOptions {
  readonly serviceName: string;
  readonly scopeName: string;
  readonly maxQueryTextBytes: number;
  /** A span other code ended with `tracer`; the owner queues it to come back through encode(). */
  readonly onSpan?: (span: ReadableSpan) => void;
  readonly log: (message: string) => void;
  /** Tests: the SDK's ids and the lean statement spans' ids from one source, so both paths' bytes compare. */
  readonly idGenerator?: IdGenerator;
  /** Tests: false makes statement spans with the SDK, the reference lean-span.ts is compared with. */
  readonly leanStatements?: boolean;
}

/** A session's span, open until the session ends, and what its statements' spans repeat. */
interface OpenSession {
  readonly record: SessionRecord;
  readonly span: Span;
  readonly context: Context;          // parent of the session's statement spans
  readonly common: Attributes;
  readonly traceId: Buffer;           // the session span's ids as bytes, for lean statement spans
  readonly spanId: Buffer;
  statements: number;
}

/** Span ids for lean statement spans: random bytes drawn from a pool refilled 512 ids at a time. */
class SpanIds {
  readonly #pool = Buffer.allocUnsafe(8 * 512);
  #at = this.#pool.length;
  readonly #gen: IdGenerator | undefined;
  constructor(gen: IdGenerator | undefined) { this.#gen = gen; }
  next(): Buffer {
    if (this.#gen !== undefined) return Buffer.from(this.#gen.generateSpanId(), 'hex');
    if (this.#at === this.#pool.length) { randomFillSync(this.#pool); this.#at = 0; }
    const id = this.#pool.subarray(this.#at, this.#at += 8);
    // An all-zero span id is invalid (W3C trace context); the SDK's generator avoids it the same way.
    if ((id.readUInt32LE(0) | id.readUInt32LE(4)) === 0) id[7] = 1;
    return id;
  }
}

/** Ended sessions remembered for their late statements (a few hundred bytes each). */
const MAX_ENDED_SESSIONS = 4096;

export class SpanEncoder {
  private readonly provider: TracerProvider;
  /** The SDK tracer every span of this encoder comes from. */
  readonly tracer: Tracer;
  /** Resource and scope fields, as the SDK serializes them: every export request starts with them. */
  readonly envelope: RequestEnvelope;
  private readonly sessions = new Map<string, OpenSession>();
  /**
   * Sessions that ended recently, newest last. A statement's record may come after its session's end: the
   * session closes when the client goes, and PostgreSQL's answer to a statement already sent still arrives
   * and is audited (proxy/session: #close, then #onUpstreamData). Such a statement keeps its real parent and
   * attributes; without this it was logged as "of an unannounced session" and got an empty session span.
   */
  private readonly ended = new Map<string, OpenSession>();
  private readonly maxQueryTextBytes: number;
  private readonly log: (message: string) => void;
  /** While encode() ends spans, the processor hands them here; otherwise to onSpan. */
  private ending: ReadableSpan[] | null = null;
  private readonly lean: LeanWriter | null;
  private readonly ids: SpanIds;
  /** Per encode(): where each lean statement span's bytes are in `lean`, by its index among the batch's spans. */
  private leanSpans: { index: number; start: number; end: number }[] = [];

  constructor(opts: SpanEncoderOptions) {
    this.lean = opts.leanStatements === false ? null : new LeanWriter();
    this.ids = new SpanIds(opts.idGenerator);
    this.maxQueryTextBytes = opts.maxQueryTextBytes;
    this.log = opts.log;
    const processor: SpanProcessor = {
      onStart: () => {},
      onEnd: (span) => {
        if (this.ending !== null) this.ending.push(span);
        else opts.onSpan?.(span);
      },
      forceFlush: async () => {},
      shutdown: async () => {},
    };
    // Explicit sampler and limits: OTEL_TRACES_SAMPLER or OTEL_SPAN_*_LIMIT in the environment must not thin
    // out or cut an audit record. Query text has its own byte limit (maxQueryTextBytes).
    this.provider = new TracerProvider({
      resource: defaultResource().merge(resourceFromAttributes({
        [sc.ATTR_SERVICE_NAME]: opts.serviceName,
        [sc.ATTR_SERVICE_INSTANCE_ID]: randomUUID(),
      })),
      sampler: new AlwaysOnSampler(),
      spanLimits: { attributeCountLimit: 128, attributeValueLengthLimit: Infinity, eventCountLimit: 128, linkCountLimit: 128 },
      spanProcessors: [processor],
      ...(opts.idGenerator === undefined ? {} : { idGenerator: opts.idGenerator }),
    });
    this.tracer = this.provider.getTracer(opts.scopeName);
    const probe: ReadableSpan[] = [];
    this.ending = probe;
    this.tracer.startSpan('airlock.envelope', {}, ROOT_CONTEXT).end();
    this.ending = null;
    this.envelope = splitExportRequest(ProtobufTraceSerializer.serializeRequest(probe)!).envelope;
  }

  /** Spool frames for `items`, in order; an empty buffer when none made a span (session starts only). */
  encode(items: readonly EncodeItem[]): Buffer {
    const spans: ReadableSpan[] = [];
    const kinds: number[] = [];
    this.ending = spans;
    this.leanSpans = [];
    this.lean?.reset();
    try {
      for (const item of items) {
        const before = spans.length;
        const leanBefore = this.leanSpans.length;
        let kind: number;
        if ('start' in item) { this.open(item.start); continue; }
        if ('stop' in item) {
          const open = this.sessions.get(item.stop);
          if (open === undefined) continue;
          this.sessions.delete(item.stop);
          this.ended.set(item.stop, open);
          if (this.ended.size > MAX_ENDED_SESSIONS) this.ended.delete(this.ended.keys().next().value!);
          open.span.setAttribute(sc.ATTR_AIRLOCK_STATEMENTS, open.statements);
          open.span.end(hrTime(Math.max(item.endTimeMs, open.record.startTimeMs)));
          kind = KIND_SESSION_SPAN;
        } else if ('queryText' in item) {
          this.statement(item, kinds.length);
          kind = KIND_STATEMENT_SPAN;
        } else {
          spans.push(item);
          kind = KIND_PLAIN_SPAN;
        }
        if (spans.length + this.leanSpans.length === before + leanBefore + 1) kinds.push(kind);
        else spans.length = before;      // not ended as expected (cannot happen with this SDK): keep kinds aligned
      }
    } finally {
      this.ending = null;
    }
    if (kinds.length === 0) return Buffer.alloc(0);
    let encoded: Buffer[] = [];
    if (spans.length > 0) {
      encoded = splitExportRequest(ProtobufTraceSerializer.serializeRequest(spans)!).spans;
      if (encoded.length !== spans.length) throw new Error(`serializer wrote ${encoded.length} spans for ${spans.length}`);
    }
    // The batch's spans in order: lean ones at their recorded index, the SDK's in between.
    const lean = this.lean;
    const bodies: Buffer[] = new Array<Buffer>(kinds.length);
    for (const l of this.leanSpans) bodies[l.index] = lean!.buf.subarray(l.start, l.end);
    let k = 0;
    for (let i = 0; i < bodies.length; i++) if (bodies[i] === undefined) bodies[i] = encoded[k++]!;
    let total = 0;
    for (const e of bodies) total += FRAME_HEADER_BYTES + 1 + e.length;
    const frames = Buffer.allocUnsafeSlow(total);      // its own ArrayBuffer: the worker transfers it, never copies
    let at = 0;
    for (let i = 0; i < bodies.length; i++) {
      const start = at;
      at += FRAME_HEADER_BYTES;
      frames[at++] = kinds[i]!;
      at += bodies[i]!.copy(frames, at);
      sealFrame(frames, start, at);
    }
    return frames;
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }

  private open(s: SessionRecord): OpenSession {
    const common = sessionCommonAttributes(s);
    const span = this.tracer.startSpan(sessionSpanName(s), {
      kind: SpanKind.SERVER, startTime: hrTime(s.startTimeMs), attributes: sessionSpanAttributes(s, common),
    }, ROOT_CONTEXT);
    const ctx = span.spanContext();
    const open: OpenSession = {
      record: s, span, context: trace.setSpan(ROOT_CONTEXT, span), common, statements: 0,
      traceId: Buffer.from(ctx.traceId, 'hex'), spanId: Buffer.from(ctx.spanId, 'hex'),
    };
    this.sessions.set(s.sessionId, open);
    return open;
  }

  /** `index`: the span's place among this batch's spans. */
  private statement(r: StatementRecord, index: number): void {
    let open = this.sessions.get(r.sessionId) ?? this.ended.get(r.sessionId);
    if (open === undefined) {
      // Kept (and audited) even so; its span is a child of a session span with nothing but the session id.
      this.log(`Audited a statement of an unannounced session sessionId=${r.sessionId}`);
      open = this.open({
        sessionId: r.sessionId, subject: '', database: '', binding: '', serverAddress: '', serverPort: 0, clientAddress: '',
        startTimeMs: r.startTimeMs,
      });
    }
    open.statements++;
    const w = this.lean;
    if (w !== null) {
      const start = w.pos;
      if (statementSpan(w, r, open.traceId, this.ids.next(), open.spanId, open.record.database, open.common, this.maxQueryTextBytes)) {
        this.leanSpans.push({ index, start, end: w.pos });
        return;
      }
    }
    const span = this.tracer.startSpan(statementSpanName(r, open.record.database), {
      kind: SpanKind.CLIENT, startTime: hrTime(r.startTimeMs), attributes: statementAttributes(open.common, r, this.maxQueryTextBytes),
    }, open.context);
    const status = statementStatus(r);
    if (status !== null) span.setStatus(status);
    span.end(hrTime(r.startTimeMs + Math.max(0, r.durationMs)));
  }
}
