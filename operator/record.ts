// The operator's record of its own actions (policy compiled, rejected, pushed; pod injected; access
// requested, granted, denied, revoked, expired). Each action becomes
//   (a) a Kubernetes Event (events.k8s.io/v1) on the object it concerns, what `kubectl describe` and
//       `kubectl events` show;
//   (b) one OpenTelemetry span (kind INTERNAL, `airlock.operator <action>`, service.name airlock-operator)
//       when an endpoint is configured, made with the SDK tracer of audit/'s sink and spooled and
//       exported by it (the same crash-safe spool and exporter the sidecar's audit spans use);
//   (c) airlock_operator_actions_total{action}.
// action() never throws and never waits: Events are written by one background worker from a bounded queue.
//
// Folding, as client-go's events.EventBroadcaster (k8s.io/client-go/tools/events/event_broadcaster.go
// recordToSink): an action identical in (regarding, reason, type, note) to one seen less than
// SERIES_WINDOW_MS ago does not create a new Event; the existing one gets `series {count,
// lastObservedTime}`. The second occurrence is patched at once (the series becomes visible), later ones at
// most once per seriesPatchIntervalMs per Event, so a loop repeating an action costs etcd one write a
// minute, not one per repeat. The state is in memory: a restarted operator starts new Events.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from './kube.ts';
import type { Logger } from './log.ts';
import type { OperatorMetrics } from './metrics.ts';
// audit/ is shared with the proxy and imports neither side: the operator reuses its exporter.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { hrTime } from '../audit/attributes.ts';
import { openAuditSink } from '../audit/sink.ts';

export type OperatorAction =
  | 'PolicyCompiled'
  | 'PolicyRejected'
  | 'PolicyPushed'
  | 'PodInjected'
  | 'AccessRequested'
  | 'AccessGranted'
  | 'AccessDenied'
  | 'AccessRevoked'
  | 'AccessExpired';
export interface Regarding {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}
export interface ActionRecord {
  action: OperatorAction;
  regarding: Regarding;
  type: 'Normal' | 'Warning';
  note: string;
  attributes?: Record<string, string | number | boolean>;
}
export interface Recorder {
  action(a: ActionRecord): void; // never throws, never blocks
  close(): Promise<void>;
}

export const REPORTING_CONTROLLER = 'airlock.dev/operator';
export const SERVICE_NAME = 'airlock-operator';
/** events.k8s.io/v1 validation: note at most 1 kB (NoteLengthLimit). */
export const NOTE_MAX_BYTES = 1024;
/** Identical actions less than this apart fold into one Event's series. */
export const SERIES_WINDOW_MS = 10 * 60_000;
/** Later repeats of a series reach the apiserver at most this often per Event. */
export const SERIES_PATCH_INTERVAL_MS = 60_000;
/** Events waiting to be written; beyond it new ones are dropped (counted, logged). */
export const MAX_QUEUE = 1000;
/** Series kept in memory for folding; the oldest is forgotten beyond it. */
export const MAX_SERIES = 4096;

// Span attribute names (k8s.namespace.name is OpenTelemetry's semantic convention).
export const ATTR_ACTION = 'airlock.action';
export const ATTR_K8S_NAMESPACE_NAME = 'k8s.namespace.name';
export const ATTR_OBJECT_KIND = 'airlock.object.kind';
export const ATTR_OBJECT_NAME = 'airlock.object.name';
export const ATTR_NOTE = 'airlock.note';

export interface EventSeries {
  count: number;
  lastObservedTime: string;
}
/** An events.k8s.io/v1 Event as created. */
export interface EventBody {
  apiVersion: 'events.k8s.io/v1';
  kind: 'Event';
  metadata: { name: string; namespace: string };
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  type: 'Normal' | 'Warning';
  note: string;
  regarding: Regarding;
  series?: EventSeries;
}
export interface SinkResult {
  readonly status: number;
  readonly message: string;
}
/** Where Events are written: the apiserver (kubeEventSink), or a fake in unit tests. May reject on transport errors. */
export interface EventSink {
  create(namespace: string, event: EventBody): Promise<SinkResult>;
  patchSeries(namespace: string, name: string, series: EventSeries): Promise<SinkResult>;
}
/** Where spans go: the tracer of audit/'s SpoolingAuditSink, whose processor spools what it ends. */
export interface SpanSink {
  readonly tracer: Tracer;
  close(): Promise<void>;
}

export function kubeEventSink(kube: KubeClient): EventSink {
  const path = (ns: string): string => `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/events`;
  const result = (r: { status: number; body: any }): SinkResult => ({
    status: r.status,
    message: typeof r.body?.message === 'string' ? r.body.message : '',
  });
  return {
    create: async (ns, event) => result(await kube.call('POST', path(ns), event)),
    patchSeries: async (ns, name, series) =>
      result(
        await kube.call('PATCH', `${path(ns)}/${encodeURIComponent(name)}`, { series }, 'application/merge-patch+json'),
      ),
  };
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits (Go parses exactly as many as the layout has). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Cut to NOTE_MAX_BYTES of UTF-8, never inside a character, marking the cut. */
export function boundNote(note: string): string {
  const b = Buffer.from(note, 'utf8');
  if (b.length <= NOTE_MAX_BYTES) return note;
  let end = NOTE_MAX_BYTES - 3; // room for "..."
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--; // back off a continuation byte
  return `${b.subarray(0, end).toString('utf8')}...`;
}

interface Series {
  readonly key: string;
  readonly base: Omit<EventBody, 'metadata' | 'series'>;
  name: string;
  count: number;
  lastObservedMs: number;
  /** The count the apiserver has: 0 until the Event was created. */
  written: number;
  lastWriteMs: number;
  queued: boolean;
}

export interface RecorderOptions {
  /** null: no Events (spans and the counter only). */
  readonly events: EventSink | null;
  readonly log: Logger;
  readonly metrics?: Pick<OperatorMetrics, 'action'>;
  readonly spans?: SpanSink | null;
  /** Default: env POD_NAME, else the host name. */
  readonly reportingInstance?: string;
  /** Epoch ms. Default Date.now. */
  readonly now?: () => number;
  readonly maxQueue?: number;
  readonly maxSeries?: number;
  readonly seriesWindowMs?: number;
  readonly seriesPatchIntervalMs?: number;
  /** How often due series patches are queued and old series forgotten. Default 10 s; 0 = no timer (tests call tick()). */
  readonly tickMs?: number;
  /** How long close() waits for queued Events. Default 5 s. */
  readonly closeTimeoutMs?: number;
}

export class EventRecorder implements Recorder {
  readonly #opts: RecorderOptions;
  readonly #now: () => number;
  readonly #instance: string;
  readonly #series = new Map<string, Series>();
  readonly #queue: Series[] = [];
  readonly #timer: NodeJS.Timeout | null;
  #working: Promise<void> | null = null;
  #closed = false;
  #lastDropLogMs = -Infinity;
  /** Events not written because the queue was full. */
  dropped = 0;

  constructor(opts: RecorderOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    // reportingInstance: at most 128 characters (events.k8s.io/v1 validation).
    this.#instance = (opts.reportingInstance ?? process.env['POD_NAME'] ?? hostname()).slice(0, 128);
    const tickMs = opts.tickMs ?? 10_000;
    this.#timer = tickMs > 0 ? setInterval(() => this.tick(), tickMs) : null;
    this.#timer?.unref();
  }

  action(a: ActionRecord): void {
    if (this.#closed) return;
    try {
      this.#opts.metrics?.action(a.action);
      const nowMs = this.#now();
      if (this.#opts.spans) this.#span(a, nowMs);
      if (this.#opts.events !== null) this.#event(a, nowMs);
    } catch (e) {
      this.#opts.log.error('Failed to record operator action', { action: a?.action, error: (e as Error).message });
    }
  }

  #span(a: ActionRecord, nowMs: number): void {
    const at = hrTime(nowMs);
    const span = this.#opts.spans!.tracer.startSpan(
      `airlock.operator ${a.action}`,
      {
        kind: SpanKind.INTERNAL,
        startTime: at,
        // The fixed attributes last: a caller's attribute cannot pass itself off as one of them.
        attributes: {
          ...a.attributes,
          [ATTR_NOTE]: a.note,
          [ATTR_ACTION]: a.action,
          [ATTR_K8S_NAMESPACE_NAME]: a.regarding.namespace,
          [ATTR_OBJECT_KIND]: a.regarding.kind,
          [ATTR_OBJECT_NAME]: a.regarding.name,
        },
      },
      ROOT_CONTEXT,
    );
    if (a.type === 'Warning') span.setStatus({ code: SpanStatusCode.ERROR, message: a.note });
    span.end(at);
  }

  #event(a: ActionRecord, nowMs: number): void {
    const note = boundNote(a.note);
    const r = a.regarding;
    const key = JSON.stringify([r.apiVersion, r.kind, r.namespace, r.name, r.uid ?? '', a.action, a.type, note]);
    const window = this.#opts.seriesWindowMs ?? SERIES_WINDOW_MS;
    const s = this.#series.get(key);
    if (s !== undefined && nowMs - s.lastObservedMs < window) {
      s.count++;
      s.lastObservedMs = nowMs;
      if (this.#patchDue(s, nowMs)) this.#enqueue(s);
      return; // not yet created: the create still queued carries the count
    }
    if (s !== undefined) this.#series.delete(key);
    const max = this.#opts.maxSeries ?? MAX_SERIES;
    while (this.#series.size >= max) this.#series.delete(this.#series.keys().next().value as string);
    const fresh: Series = {
      key,
      name: eventName(r.name),
      count: 1,
      lastObservedMs: nowMs,
      written: 0,
      lastWriteMs: 0,
      queued: false,
      base: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        eventTime: microTime(nowMs),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.#instance,
        action: a.action,
        reason: a.action,
        type: a.type,
        note,
        regarding: {
          apiVersion: r.apiVersion,
          kind: r.kind,
          namespace: r.namespace,
          name: r.name,
          ...(r.uid ? { uid: r.uid } : {}),
        },
      },
    };
    this.#series.set(key, fresh);
    this.#enqueue(fresh);
  }

  /** The second occurrence at once, so the series shows; later ones once per interval (tick() catches up). */
  #patchDue(s: Series, nowMs: number): boolean {
    if (s.queued || s.written === 0 || s.count <= s.written) return false;
    return s.written === 1 || nowMs - s.lastWriteMs >= (this.#opts.seriesPatchIntervalMs ?? SERIES_PATCH_INTERVAL_MS);
  }

  #enqueue(s: Series): void {
    if (this.#queue.length >= (this.#opts.maxQueue ?? MAX_QUEUE)) {
      this.dropped++;
      if (s.written === 0 && this.#series.get(s.key) === s) this.#series.delete(s.key);
      const nowMs = this.#now();
      if (nowMs - this.#lastDropLogMs >= 60_000) {
        this.#lastDropLogMs = nowMs;
        this.#opts.log.warn('Dropped Events, queue full', { dropped: this.dropped, queued: this.#queue.length });
      }
      return;
    }
    s.queued = true;
    this.#queue.push(s);
    this.#working ??= this.#work().finally(() => {
      this.#working = null;
    });
  }

  async #work(): Promise<void> {
    for (let s = this.#queue.shift(); s !== undefined; s = this.#queue.shift()) {
      s.queued = false;
      try {
        await this.#write(s);
      } catch (e) {
        this.#failed(s, 0, (e as Error).message);
      }
    }
  }

  async #write(s: Series): Promise<void> {
    const events = this.#opts.events!;
    const count = s.count;
    const ns = s.base.regarding.namespace;
    const series: EventSeries = { count, lastObservedTime: microTime(s.lastObservedMs) };
    if (s.written === 0) {
      const r = await events.create(ns, {
        ...s.base,
        metadata: { name: s.name, namespace: ns },
        ...(count >= 2 ? { series } : {}),
      });
      if (r.status < 200 || r.status >= 300) return this.#failed(s, r.status, r.message);
    } else {
      if (count <= s.written) return;
      const r = await events.patchSeries(ns, s.name, series);
      if (r.status === 404) {
        // Deleted meanwhile (the apiserver's --event-ttl, 1 h by default): a new Event carries the series on.
        s.name = eventName(s.base.regarding.name);
        s.written = 0;
        return this.#write(s);
      }
      if (r.status < 200 || r.status >= 300) return this.#failed(s, r.status, r.message);
    }
    s.written = count;
    s.lastWriteMs = this.#now();
  }

  #failed(s: Series, status: number, message: string): void {
    this.#opts.log.warn('Failed to write Event', {
      reason: s.base.reason,
      regarding: `${s.base.regarding.kind} ${s.base.regarding.namespace}/${s.base.regarding.name}`,
      status,
      error: message,
    });
    // Never created: forget it, so the next occurrence tries a create of its own.
    if (s.written === 0 && this.#series.get(s.key) === s) this.#series.delete(s.key);
  }

  /** Queues due series patches and forgets series past the window (once their last count is written). */
  tick(): void {
    const nowMs = this.#now();
    const window = this.#opts.seriesWindowMs ?? SERIES_WINDOW_MS;
    for (const s of [...this.#series.values()]) {
      const ended = nowMs - s.lastObservedMs >= window;
      if (
        !s.queued
        && s.written > 0
        && s.count > s.written
        && (ended || nowMs - s.lastWriteMs >= (this.#opts.seriesPatchIntervalMs ?? SERIES_PATCH_INTERVAL_MS))
      )
        this.#enqueue(s);
      else if (ended && !s.queued) this.#series.delete(s.key);
    }
  }

  /** Resolves when no Event is waiting or being written (tests, close). */
  async idle(): Promise<void> {
    while (this.#working !== null) await this.#working;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    // Series counts not yet written go out now, however recent their last write.
    for (const s of this.#series.values()) if (!s.queued && s.written > 0 && s.count > s.written) this.#enqueue(s);
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      this.idle(),
      new Promise<void>((r) => {
        timeout = setTimeout(r, this.#opts.closeTimeoutMs ?? 5000);
      }),
    ]);
    clearTimeout(timeout);
    await this.#opts.spans?.close();
  }
}

/** `<regarding name>.<16 hex>`, as client-go names Events (`%v.%x` of the name and a timestamp); ≤ 253 characters. */
function eventName(regardingName: string): string {
  return `${regardingName.slice(0, 253 - 17)}.${randomBytes(8).toString('hex')}`;
}

export interface OtlpOptions {
  /** http(s)://host:port; a path ending in /v1/traces selects OTLP/HTTP, anything else gRPC (as the sidecar). */
  readonly endpoint: string;
  /** Spool directory. Default: a fresh temp directory, removed at close (spans not exported by then are lost). */
  readonly spoolDir?: string;
  /** Default 16 MiB: the chart's /tmp is a 64 MiB emptyDir. */
  readonly maxSpoolBytes?: number;
}

/**
 * audit/'s spooling exporter with operator settings: service.name airlock-operator, drop-oldest (an
 * operator must never stop reconciling because a collector is down), a small spool.
 */
export async function openSpanSink(o: OtlpOptions, log: Logger): Promise<SpanSink> {
  const protocol =
    process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] === 'http/protobuf' || /^https?:\/\/[^/]+\/v1\/traces/.test(o.endpoint)
      ? 'http/protobuf'
      : 'grpc';
  const temp = o.spoolDir === undefined ? await mkdtemp(join(tmpdir(), 'airlock-operator-spool-')) : null;
  const sink = await openAuditSink({
    endpoint: o.endpoint,
    protocol,
    spoolDir: o.spoolDir ?? temp!,
    onFailure: 'drop-oldest',
    maxSpoolBytes: o.maxSpoolBytes ?? 16 * 1024 * 1024,
    serviceName: SERVICE_NAME,
    scopeName: REPORTING_CONTROLLER,
    encoder: 'inline',
    log: (m) => log.warn(m, { component: 'otlp' }),
  });
  const tracer = sink.tracer;
  if (tracer === null) throw new Error('the operator span sink needs an inline encoder');
  return {
    tracer,
    close: async () => {
      await sink.close();
      if (temp !== null) await rm(temp, { recursive: true, force: true });
    },
  };
}

export interface CreateRecorderOptions {
  readonly kube: KubeClient;
  readonly log: Logger;
  readonly metrics?: Pick<OperatorMetrics, 'action'>;
  /** null or absent: no spans. */
  readonly otlp?: OtlpOptions | null;
  readonly reportingInstance?: string;
}

export async function createRecorder(o: CreateRecorderOptions): Promise<Recorder> {
  const spans = o.otlp ? await openSpanSink(o.otlp, o.log) : null;
  return new EventRecorder({
    events: kubeEventSink(o.kube),
    log: o.log,
    spans,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.reportingInstance ? { reportingInstance: o.reportingInstance } : {}),
  });
}

/** For callers that record nothing (tests of other parts). */
export const NULL_RECORDER: Recorder = { action() {}, async close() {} };
