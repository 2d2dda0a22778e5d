// The Recorder's pure parts with a fake clock and fake sinks: folding into series, write coalescing,
// bounds, failure handling and the span encoding. The apiserver side is test/operator/observability.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createOperatorMetrics } from './metrics.ts';
import {
  boundNote,
  EventRecorder,
  microTime,
  NOTE_MAX_BYTES,
  SERIES_PATCH_INTERVAL_MS,
  SERIES_WINDOW_MS,
} from './record.ts';
import type { ActionRecord, EventBody, EventSeries, EventSink, RecorderOptions, SinkResult } from './record.ts';

type Call =
  | { op: 'create'; ns: string; event: EventBody }
  | { op: 'patch'; ns: string; name: string; series: EventSeries };

function fakeSink(
  answer: (c: Call) => SinkResult | Promise<SinkResult> = () => ({ status: 201, message: '' }),
): EventSink & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    async create(ns, event) {
      const c: Call = { op: 'create', ns, event: structuredClone(event) };
      calls.push(c);
      return answer(c);
    },
    async patchSeries(ns, name, series) {
      const c: Call = { op: 'patch', ns, name, series: { ...series } };
      calls.push(c);
      return answer(c);
    },
  };
}

function logs(): {
  lines: { level: string; msg: string; kv: Record<string, unknown> }[];
  info: any;
  warn: any;
  error: any;
} {
  const lines: { level: string; msg: string; kv: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, kv: Record<string, unknown> = {}) => {
      lines.push({ level, msg, kv });
    };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const T0 = Date.parse('2026-11-25T10:00:00.123Z');
function setup(extra: Partial<RecorderOptions> = {}, answer?: (c: Call) => SinkResult | Promise<SinkResult>) {
  let now = T0;
  const sink = fakeSink(answer);
  const log = logs();
  const rec = new EventRecorder({
    events: sink,
    log,
    now: () => now,
    tickMs: 0,
    reportingInstance: 'airlock-operator-7f9c',
    ...extra,
  });
  return {
    rec,
    sink,
    log,
    advance(ms: number) {
      now += ms;
    },
    now: () => now,
  };
}

const compiled: ActionRecord = {
  action: 'PolicyCompiled',
  type: 'Normal',
  note: 'Compiled 3 rules',
  regarding: { apiVersion: 'airlock.dev/v1alpha1', kind: 'AccessPolicy', namespace: 'ml', name: 'trainer', uid: 'u-1' },
};

test('an action becomes one events.k8s.io/v1 Event with the reporting fields', async () => {
  const { rec, sink } = setup();
  rec.action(compiled);
  await rec.idle();
  assert.equal(sink.calls.length, 1);
  const c = sink.calls[0]!;
  assert.equal(c.op, 'create');
  if (c.op !== 'create') return;
  assert.equal(c.ns, 'ml');
  assert.match(c.event.metadata.name, /^trainer\.[0-9a-f]{16}$/);
  assert.deepEqual(
    { ...c.event, metadata: { ...c.event.metadata, name: 'X' } },
    {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: 'X', namespace: 'ml' },
      eventTime: '2026-11-25T10:00:00.123000Z',
      reportingController: 'airlock.dev/operator',
      reportingInstance: 'airlock-operator-7f9c',
      action: 'PolicyCompiled',
      reason: 'PolicyCompiled',
      type: 'Normal',
      note: 'Compiled 3 rules',
      regarding: {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessPolicy',
        namespace: 'ml',
        name: 'trainer',
        uid: 'u-1',
      },
    },
  );
});

test('identical actions fold into one Event: count 2 patched at once, later repeats coalesced per interval', async () => {
  const { rec, sink, advance } = setup();
  rec.action(compiled);
  await rec.idle();
  advance(1000);
  rec.action(compiled);
  await rec.idle();
  const name = (sink.calls[0] as { event: EventBody }).event.metadata.name;
  assert.deepEqual(sink.calls[1], {
    op: 'patch',
    ns: 'ml',
    name,
    series: { count: 2, lastObservedTime: microTime(T0 + 1000) },
  });
  for (let i = 0; i < 50; i++) {
    advance(100);
    rec.action(compiled);
  } // a hot loop
  rec.tick();
  await rec.idle();
  assert.equal(sink.calls.length, 2, 'nothing written within the patch interval');
  advance(SERIES_PATCH_INTERVAL_MS);
  rec.tick();
  await rec.idle();
  assert.deepEqual(sink.calls[2], {
    op: 'patch',
    ns: 'ml',
    name,
    series: { count: 52, lastObservedTime: microTime(T0 + 1000 + 5000) },
  });
  rec.tick();
  await rec.idle();
  assert.equal(sink.calls.length, 3, 'nothing new: nothing written');
});

test('after the window a repeat starts a new Event; a different note, type or object is another Event', async () => {
  const { rec, sink, advance } = setup();
  rec.action(compiled);
  rec.action({ ...compiled, note: 'Compiled 4 rules' });
  rec.action({ ...compiled, type: 'Warning' });
  rec.action({ ...compiled, regarding: { ...compiled.regarding, name: 'other' } });
  await rec.idle();
  assert.deepEqual(
    sink.calls.map((c) => c.op),
    ['create', 'create', 'create', 'create'],
  );
  advance(SERIES_WINDOW_MS);
  rec.action(compiled);
  await rec.idle();
  assert.equal(sink.calls.length, 5);
  const [first, last] = [sink.calls[0], sink.calls[4]] as { op: string; event: EventBody }[];
  assert.equal(last!.op, 'create');
  assert.notEqual(last!.event.metadata.name, first!.event.metadata.name);
  assert.equal(last!.event.series, undefined);
});

test('repeats while the create is still queued ride on the create as a series', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const { rec, sink, advance } = setup({}, async (c) => {
    if (c.op === 'create' && c.event.regarding.name === 'slow') await gate;
    return { status: 201, message: '' };
  });
  rec.action({ ...compiled, regarding: { ...compiled.regarding, name: 'slow' } }); // occupies the worker
  rec.action(compiled);
  advance(10);
  rec.action(compiled);
  advance(10);
  rec.action(compiled);
  release();
  await rec.idle();
  assert.equal(sink.calls.length, 2);
  const c = sink.calls[1] as { op: string; event: EventBody };
  assert.equal(c.op, 'create');
  assert.deepEqual(c.event.series, { count: 3, lastObservedTime: microTime(T0 + 20) });
});

test('a series whose Event was deleted (event TTL) continues in a new Event', async () => {
  const { rec, sink, advance } = setup({}, (c) => ({ status: c.op === 'patch' ? 404 : 201, message: '' }));
  rec.action(compiled);
  await rec.idle();
  advance(1);
  rec.action(compiled);
  await rec.idle();
  assert.deepEqual(
    sink.calls.map((c) => c.op),
    ['create', 'patch', 'create'],
  );
  const again = sink.calls[2] as { event: EventBody };
  assert.deepEqual(again.event.series, { count: 2, lastObservedTime: microTime(T0 + 1) });
  assert.notEqual(again.event.metadata.name, (sink.calls[0] as { event: EventBody }).event.metadata.name);
});

test('failures are logged, never thrown; a failed create is retried by the next occurrence', async () => {
  let fail = true;
  const { rec, sink, log } = setup({}, (c) => {
    if (fail && c.op === 'create') {
      if (c.event.note === 'boom') throw new Error('connect ECONNREFUSED');
      return { status: 403, message: 'events.events.k8s.io is forbidden' };
    }
    return { status: 201, message: '' };
  });
  rec.action(compiled);
  rec.action({ ...compiled, note: 'boom' });
  await rec.idle();
  assert.deepEqual(
    log.lines.map((l) => [l.msg, l.kv['status'], l.kv['error']]),
    [
      ['Failed to write Event', 403, 'events.events.k8s.io is forbidden'],
      ['Failed to write Event', 0, 'connect ECONNREFUSED'],
    ],
  );
  assert.equal(log.lines[0]!.kv['regarding'], 'AccessPolicy ml/trainer');
  fail = false;
  rec.action(compiled);
  await rec.idle();
  const last = sink.calls.at(-1) as { op: string; event: EventBody };
  assert.equal(last.op, 'create');
  assert.equal(last.event.series, undefined, 'a new Event, not a series of one that was never created');
});

test('a full queue drops new Events, counts and logs them once, and never blocks', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const { rec, sink, log } = setup({ maxQueue: 3 }, async () => {
    await gate;
    return { status: 201, message: '' };
  });
  for (let i = 0; i < 10; i++) rec.action({ ...compiled, note: `n${i}` });
  // the first is being written (out of the queue), three wait, six are dropped
  assert.equal(rec.dropped, 6);
  assert.deepEqual(
    log.lines.map((l) => l.msg),
    ['Dropped Events, queue full'],
  );
  release();
  await rec.idle();
  assert.deepEqual(
    sink.calls.map((c) => (c as { event: EventBody }).event.note),
    ['n0', 'n1', 'n2', 'n3'],
  );
  rec.action({ ...compiled, note: 'n7' }); // a dropped one is not remembered as written
  await rec.idle();
  assert.equal(sink.calls.length, 5);
});

test('notes are bounded to 1 KiB of UTF-8 without splitting a character', async () => {
  const long = 'é'.repeat(600); // 1200 bytes
  const b = boundNote(long);
  assert.ok(Buffer.byteLength(b) <= NOTE_MAX_BYTES);
  assert.ok(b.endsWith('...'));
  assert.ok(!b.includes('\uFFFD'));
  assert.equal(boundNote('short'), 'short');
  const { rec, sink } = setup();
  rec.action({ ...compiled, note: long });
  await rec.idle();
  assert.equal((sink.calls[0] as { event: EventBody }).event.note, b);
});

test('close() writes series counts not yet written, then closes the span sink', async () => {
  let spanSinkClosed = false;
  const { rec, sink, advance } = setup({
    spans: {
      tracer: new TracerProvider().getTracer('t'),
      close: async () => {
        spanSinkClosed = true;
      },
    },
  });
  rec.action(compiled);
  await rec.idle();
  advance(1);
  rec.action(compiled);
  await rec.idle(); // count 2, patched at once
  advance(1);
  rec.action(compiled); // count 3, waits for the interval
  await rec.close();
  assert.deepEqual(sink.calls.at(-1), {
    op: 'patch',
    ns: 'ml',
    name: (sink.calls[0] as { event: EventBody }).event.metadata.name,
    series: { count: 3, lastObservedTime: microTime(T0 + 2) },
  });
  assert.ok(spanSinkClosed);
  rec.action(compiled); // after close: ignored, not thrown
});

test('each action is one INTERNAL span with the object attributes; Warning is status ERROR', async () => {
  // The SDK's own in-memory exporter: what the sink's processor would spool (the sink itself is tested with a
  // real receiver in audit/sink.test.ts and test/operator/observability.test.ts).
  const exporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer(
    'airlock.dev/operator',
  );
  const metrics = createOperatorMetrics({ defaultMetrics: false });
  const { rec } = setup({ events: null, metrics, spans: { tracer, close: async () => {} } });
  rec.action({
    ...compiled,
    attributes: { 'airlock.rules': 3, 'airlock.action': 'spoofed', 'airlock.dry_run': false },
  });
  rec.action({
    ...compiled,
    action: 'PolicyRejected',
    type: 'Warning',
    note: 'AccessPolicy ml/trainer: spec.rules[0]: bad',
  });
  const [ok, bad] = exporter.getFinishedSpans();
  assert.equal(ok!.name, 'airlock.operator PolicyCompiled');
  assert.equal(ok!.kind, 0, 'SpanKind.INTERNAL');
  assert.equal(ok!.parentSpanContext, undefined, 'a root span');
  assert.deepEqual(ok!.startTime, [Math.floor(T0 / 1000), (T0 % 1000) * 1_000_000]);
  assert.deepEqual(ok!.endTime, ok!.startTime);
  assert.deepEqual(ok!.attributes, {
    'airlock.rules': 3,
    'airlock.dry_run': false,
    'airlock.note': 'Compiled 3 rules',
    'airlock.action': 'PolicyCompiled',
    'k8s.namespace.name': 'ml',
    'airlock.object.kind': 'AccessPolicy',
    'airlock.object.name': 'trainer',
  });
  assert.equal(ok!.status.code, 0);
  assert.equal(bad!.status.code, 2);
  assert.equal(bad!.status.message, 'AccessPolicy ml/trainer: spec.rules[0]: bad');
  const counter = await metrics.registry.getSingleMetric('airlock_operator_actions_total')!.get();
  assert.deepEqual(
    counter.values.map((v) => [v.labels['action'], v.value]),
    [
      ['PolicyCompiled', 1],
      ['PolicyRejected', 1],
    ],
  );
});

test('action() survives a throwing metrics sink and logs it', () => {
  const { rec, log } = setup({
    metrics: {
      action() {
        throw new Error('registry broke');
      },
    },
  });
  rec.action(compiled);
  assert.deepEqual(
    log.lines.map((l) => [l.level, l.msg, l.kv['error']]),
    [['error', 'Failed to record operator action', 'registry broke']],
  );
});
