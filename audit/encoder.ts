// Records → OpenTelemetry SDK spans → spool frames. The SDK's tracer (@opentelemetry/sdk-trace) makes each
// span with the record's own start and end time, parented on its session's span; the SDK's OTLP serializer
// (@opentelemetry/otlp-transformer) encodes a whole batch in one call; the request is cut into one
// CRC-framed spool record per span (a kind byte, then the Span message exactly as the SDK wrote it).
//
// The operator, whose spans are few and made with `tracer` directly, runs it inline. The proxy writes its spans
// with lean-span.ts instead (a few µs per span cheaper, measured in docs/performance.md); this encoder is the
// reference lean-span.test.ts compares those bytes with.
import { randomUUID } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  TracerProvider,
  type IdGenerator,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { SessionRecord, StatementRecord } from './types.ts';
import {
  hrTime,
  sessionCommonAttributes,
  sessionSpanAttributes,
  sessionSpanName,
  statementAttributes,
  statementSpanName,
  statementStatus,
} from './attributes.ts';
import {
  KIND_PLAIN_SPAN,
  KIND_SESSION_SPAN,
  KIND_STATEMENT_SPAN,
  splitExportRequest,
  type RequestEnvelope,
} from './otlp.ts';
import * as sc from './semconv.ts';
import { FRAME_HEADER_BYTES, sealFrame } from './spool.ts';

/** A session began: its span opens (plain data, so it crosses to the worker by structured clone). */
export interface SessionStart {
  readonly start: SessionRecord;
}
/** A session ended: its span closes with the number of statements it had. */
export interface SessionStop {
  readonly stop: string;
  readonly endTimeMs: number;
}
/** What the sink queues, in order. A ReadableSpan only inline: one other code ended with `tracer`. */
export type EncodeItem = SessionStart | SessionStop | StatementRecord | ReadableSpan;

export interface SpanEncoderOptions {
  readonly serviceName: string;
  readonly scopeName: string;
  readonly maxQueryTextBytes: number;
  /** A span other code ended with `tracer`; the owner queues it to come back through encode(). */
  readonly onSpan?: (span: ReadableSpan) => void;
  readonly log: (message: string) => void;
  /** Tests: ids from a known source, so lean-span.ts's bytes compare with these. */
  readonly idGenerator?: IdGenerator;
  /** Tests: the resource's service.instance.id (default: a random UUID per encoder). */
  readonly serviceInstanceId?: string;
}

/** A session's span, open until the session ends, and what its statements' spans repeat. */
interface OpenSession {
  readonly record: SessionRecord;
  readonly span: Span;
  readonly context: Context; // parent of the session's statement spans
  readonly common: Attributes;
  statements: number;
}

/** Ended sessions remembered for their late statements (a few hundred bytes each). */
const MAX_ENDED_SESSIONS = 4096;

export class SpanEncoder {
  readonly #provider: TracerProvider;
  /** The SDK tracer every span of this encoder comes from. */
  readonly tracer: Tracer;
  /** Resource and scope fields, as the SDK serializes them: every export request starts with them. */
  readonly envelope: RequestEnvelope;
  readonly #sessions = new Map<string, OpenSession>();
  /**
   * Sessions that ended recently, newest last. A statement's record may come after its session's end: the
   * session closes when the client goes, and PostgreSQL's answer to a statement already sent still arrives
   * and is audited (proxy/session: #close, then #onUpstreamData). Such a statement keeps its real parent and
   * attributes; without this it was logged as "of an unannounced session" and got an empty session span.
   */
  readonly #ended = new Map<string, OpenSession>();
  readonly #maxQueryTextBytes: number;
  readonly #log: (message: string) => void;
  /** While encode() ends spans, the processor hands them here; otherwise to onSpan. */
  #ending: ReadableSpan[] | null = null;

  constructor(opts: SpanEncoderOptions) {
    this.#maxQueryTextBytes = opts.maxQueryTextBytes;
    this.#log = opts.log;
    const processor: SpanProcessor = {
      onStart: () => {},
      onEnd: (span) => {
        if (this.#ending !== null) this.#ending.push(span);
        else opts.onSpan?.(span);
      },
      forceFlush: async () => {},
      shutdown: async () => {},
    };
    // Explicit sampler and limits: OTEL_TRACES_SAMPLER or OTEL_SPAN_*_LIMIT in the environment must not thin
    // out or cut an audit record. Query text has its own byte limit (maxQueryTextBytes).
    this.#provider = new TracerProvider({
      resource: defaultResource().merge(
        resourceFromAttributes({
          [sc.ATTR_SERVICE_NAME]: opts.serviceName,
          [sc.ATTR_SERVICE_INSTANCE_ID]: opts.serviceInstanceId ?? randomUUID(),
        }),
      ),
      sampler: new AlwaysOnSampler(),
      spanLimits: {
        attributeCountLimit: 128,
        attributeValueLengthLimit: Infinity,
        eventCountLimit: 128,
        linkCountLimit: 128,
      },
      spanProcessors: [processor],
      ...(opts.idGenerator === undefined ? {} : { idGenerator: opts.idGenerator }),
    });
    this.tracer = this.#provider.getTracer(opts.scopeName);
    const probe: ReadableSpan[] = [];
    this.#ending = probe;
    this.tracer.startSpan('airlock.envelope', {}, ROOT_CONTEXT).end();
    this.#ending = null;
    this.envelope = splitExportRequest(ProtobufTraceSerializer.serializeRequest(probe)!).envelope;
  }

  /** Spool frames for `items`, in order; an empty buffer when none made a span (session starts only). */
  encode(items: readonly EncodeItem[]): Buffer {
    const spans: ReadableSpan[] = [];
    const kinds: number[] = [];
    this.#ending = spans;
    try {
      for (const item of items) {
        const before = spans.length;
        let kind: number;
        if ('start' in item) {
          this.#open(item.start);
          continue;
        }
        if ('stop' in item) {
          const open = this.#sessions.get(item.stop);
          if (open === undefined) continue;
          this.#sessions.delete(item.stop);
          this.#ended.set(item.stop, open);
          if (this.#ended.size > MAX_ENDED_SESSIONS) this.#ended.delete(this.#ended.keys().next().value!);
          open.span.setAttribute(sc.ATTR_AIRLOCK_STATEMENTS, open.statements);
          open.span.end(hrTime(Math.max(item.endTimeMs, open.record.startTimeMs)));
          kind = KIND_SESSION_SPAN;
        } else if ('queryText' in item) {
          this.#statement(item);
          kind = KIND_STATEMENT_SPAN;
        } else {
          spans.push(item);
          kind = KIND_PLAIN_SPAN;
        }
        if (spans.length === before + 1) kinds.push(kind);
        else spans.length = before; // not ended as expected (cannot happen with this SDK): keep kinds aligned
      }
    } finally {
      this.#ending = null;
    }
    if (kinds.length === 0) return Buffer.alloc(0);
    const bodies = splitExportRequest(ProtobufTraceSerializer.serializeRequest(spans)!).spans;
    if (bodies.length !== spans.length) throw new Error(`serializer wrote ${bodies.length} spans for ${spans.length}`);
    let total = 0;
    for (const e of bodies) total += FRAME_HEADER_BYTES + 1 + e.length;
    const frames = Buffer.allocUnsafeSlow(total); // its own ArrayBuffer: the worker transfers it, never copies
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
    return this.#provider.shutdown();
  }

  #open(s: SessionRecord): OpenSession {
    const common = sessionCommonAttributes(s);
    const span = this.tracer.startSpan(
      sessionSpanName(s),
      {
        kind: SpanKind.SERVER,
        startTime: hrTime(s.startTimeMs),
        attributes: sessionSpanAttributes(s, common),
      },
      ROOT_CONTEXT,
    );
    const open: OpenSession = { record: s, span, context: trace.setSpan(ROOT_CONTEXT, span), common, statements: 0 };
    this.#sessions.set(s.sessionId, open);
    return open;
  }

  #statement(r: StatementRecord): void {
    let open = this.#sessions.get(r.sessionId) ?? this.#ended.get(r.sessionId);
    if (open === undefined) {
      // Kept (and audited) even so; its span is a child of a session span with nothing but the session id.
      this.#log(`Audited a statement of an unannounced session sessionId=${r.sessionId}`);
      open = this.#open({
        sessionId: r.sessionId,
        subject: '',
        database: '',
        binding: '',
        serverAddress: '',
        serverPort: 0,
        clientAddress: '',
        startTimeMs: r.startTimeMs,
      });
    }
    open.statements++;
    const span = this.tracer.startSpan(
      statementSpanName(r, open.record.database),
      {
        kind: SpanKind.CLIENT,
        startTime: hrTime(r.startTimeMs),
        attributes: statementAttributes(open.common, r, this.#maxQueryTextBytes),
      },
      open.context,
    );
    const status = statementStatus(r);
    if (status !== null) span.setStatus(status);
    span.end(hrTime(r.startTimeMs + Math.max(0, r.durationMs)));
  }
}
