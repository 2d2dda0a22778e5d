// Where the sink's SpanEncoder runs: inline on the caller's thread, or in a worker thread so the proxy's event
// loop only pays for handing records over (structured clone, ~0.4 µs a record) while the SDK makes and
// serializes the spans beside it. The SDK is loaded only where the encoder runs: a proxy's main thread never
// loads it, and the worker starts with the first record, not before.
import { Worker } from 'node:worker_threads';
import type { Tracer } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { EncodeItem, SpanEncoder } from './encoder.ts';
import type { RequestEnvelope } from './otlp.ts';

// Beside this module: .ts in the source tree, .js in the image's compiled tree (scripts/build-image-tree.sh),
// whose compiler rewrites import specifiers but not URL strings.
const WORKER_FILE = `./encoder-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`;

export interface EncoderSettings {
  readonly serviceName: string;
  readonly scopeName: string;
  readonly maxQueryTextBytes: number;
  readonly log: (message: string) => void;
}

export interface EncoderHost {
  /** Resource and scope fields for export requests. */
  envelope(): Promise<RequestEnvelope>;
  /** Spool frames for items, in order (see SpanEncoder.encode). Rejects on an encoder failure. */
  encode(items: EncodeItem[]): Promise<Buffer>;
  close(): Promise<void>;
}

/** Inline: the operator's, whose own code makes spans with `tracer` (its spans are few). */
export class InlineEncoderHost implements EncoderHost {
  readonly tracer: Tracer;
  readonly #encoder: SpanEncoder;

  private constructor(encoder: SpanEncoder) {
    this.#encoder = encoder;
    this.tracer = encoder.tracer;
  }

  /** onSpan: a span other code ended with `tracer`, to be queued and given back to encode(). */
  static async create(settings: EncoderSettings, onSpan: (span: ReadableSpan) => void): Promise<InlineEncoderHost> {
    const { SpanEncoder } = await import('./encoder.ts');
    return new InlineEncoderHost(new SpanEncoder({ ...settings, onSpan }));
  }

  async envelope(): Promise<RequestEnvelope> {
    return this.#encoder.envelope;
  }

  async encode(items: EncodeItem[]): Promise<Buffer> {
    return this.#encoder.encode(items);
  }

  close(): Promise<void> {
    return this.#encoder.shutdown();
  }
}

interface Waiter {
  resolve(frames: Buffer): void;
  reject(err: Error): void;
}

/**
 * The proxy's: a worker thread started on first use. If it dies (a defect, or out of memory), the requests
 * in flight fail (the sink counts and logs their records) and the next request starts a new worker.
 */
export class WorkerEncoderHost implements EncoderHost {
  readonly #settings: EncoderSettings;
  #worker: Worker | null = null;
  #envelopePromise: Promise<RequestEnvelope> | null = null;
  readonly #waiting = new Map<number, Waiter>();
  #nextId = 1;
  #closed = false;

  constructor(settings: EncoderSettings) {
    this.#settings = settings;
  }

  #start(): Worker {
    if (this.#worker !== null) return this.#worker;
    if (this.#closed) throw new Error('audit encoder is closed');
    const { log, ...data } = this.#settings;
    const w = new Worker(new URL(WORKER_FILE, import.meta.url), { workerData: data });
    let gotEnvelope: (e: RequestEnvelope) => void = () => {};
    let failEnvelope: (e: Error) => void = () => {};
    this.#envelopePromise = new Promise<RequestEnvelope>((resolve, reject) => {
      gotEnvelope = resolve;
      failEnvelope = reject;
    });
    this.#envelopePromise.catch(() => {}); // a caller that asks later sees the failure then
    w.on(
      'message',
      (m: {
        id?: number;
        frames?: ArrayBuffer;
        error?: string;
        log?: string;
        envelope?: { resourceField: Uint8Array; scopeField: Uint8Array };
      }) => {
        if (m.log !== undefined) {
          log(m.log);
          return;
        }
        if (m.envelope !== undefined) {
          gotEnvelope({
            resourceField: Buffer.from(m.envelope.resourceField),
            scopeField: Buffer.from(m.envelope.scopeField),
          });
          return;
        }
        const waiter = this.#waiting.get(m.id!);
        if (waiter === undefined) return;
        this.#waiting.delete(m.id!);
        if (this.#waiting.size === 0) w.unref();
        if (m.error !== undefined) waiter.reject(new Error(m.error));
        else waiter.resolve(Buffer.from(m.frames!));
      },
    );
    const died = (err: Error): void => {
      if (this.#worker !== w) return;
      this.#worker = null;
      failEnvelope(err);
      this.#envelopePromise = null;
      for (const waiter of this.#waiting.values()) waiter.reject(err);
      this.#waiting.clear();
      if (!this.#closed) log(`Audit encoder worker stopped error="${err.message}"; the next batch starts a new one`);
    };
    w.on('error', died);
    w.on('exit', (code) => died(new Error(`exited with code ${code}`)));
    w.unref(); // referenced only while a request is in flight: it never holds the process open
    this.#worker = w;
    return w;
  }

  envelope(): Promise<RequestEnvelope> {
    try {
      this.#start();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.#envelopePromise!;
  }

  encode(items: EncodeItem[]): Promise<Buffer> {
    let w: Worker;
    try {
      w = this.#start();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const id = this.#nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, items });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#worker;
    if (w !== null) await w.terminate();
  }
}
