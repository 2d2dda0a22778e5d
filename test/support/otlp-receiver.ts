// A real OTLP trace receiver for tests: the TraceService over gRPC (@grpc/grpc-js) and OTLP/HTTP with protobuf
// bodies (node:http), both decoding with protobufjs from the official .proto files vendored in ./proto.
// It can refuse (UNAVAILABLE / 503) or go away entirely (stop/start on the same port) to simulate an outage.
import { createServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_DIR = join(import.meta.dirname, 'proto');
const SERVICE = 'opentelemetry.proto.collector.trace.v1.TraceService';

export type Value = string | number | boolean | Value[];

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, Value>;
  status: { code: number; message: string };
  resource: Record<string, Value>;
  scope: string;
}

/**
 * ok: accept and record. unavailable: answer UNAVAILABLE / HTTP 503 and record nothing.
 * reject: answer INVALID_ARGUMENT / HTTP 400. partial: record, and report `partialRejected` spans rejected.
 */
export type ReceiverMode = 'ok' | 'unavailable' | 'reject' | 'partial';

export interface OtlpReceiver {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Export requests seen, whatever the answer. */
  requests: number;
  mode: ReceiverMode;
  partialRejected: number;
  /** Resolves once at least n spans were recorded; rejects after timeoutMs (a bound, not a timing assertion). */
  waitForSpans(n: number, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** Closes the listener: clients get connection refused. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

let loaded: { deserialize: (b: Buffer) => Record<string, unknown> } | null = null;
function requestDecoder(): (b: Buffer) => Record<string, unknown> {
  if (loaded === null) {
    const def = protoLoader.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', {
      includeDirs: [PROTO_DIR],
      keepCase: false,
      longs: String,
      enums: Number,
      bytes: Buffer,
      defaults: true,
      oneofs: true,
    });
    const svc = def[SERVICE] as grpc.ServiceDefinition;
    loaded = { deserialize: svc.Export!.requestDeserialize as (b: Buffer) => Record<string, unknown> };
  }
  return loaded.deserialize;
}

type Obj = Record<string, unknown>;
function anyValue(v: Obj | undefined): Value {
  if (v === undefined || v === null) return '';
  switch (v.value) {
    case 'stringValue':
      return v.stringValue as string;
    case 'boolValue':
      return v.boolValue as boolean;
    case 'intValue':
      return Number(v.intValue);
    case 'doubleValue':
      return v.doubleValue as number;
    case 'arrayValue':
      return ((v.arrayValue as Obj).values as Obj[]).map(anyValue);
    default:
      return '';
  }
}
function attrs(list: unknown): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const kv of (list ?? []) as Obj[]) out[kv.key as string] = anyValue(kv.value as Obj);
  return out;
}

/** Flattens a decoded ExportTraceServiceRequest. */
export function spansOf(req: Obj): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (req.resourceSpans ?? []) as Obj[]) {
    const resource = attrs((rs.resource as Obj | undefined)?.attributes);
    for (const ss of (rs.scopeSpans ?? []) as Obj[]) {
      const scope = ((ss.scope as Obj | undefined)?.name as string | undefined) ?? '';
      for (const s of (ss.spans ?? []) as Obj[]) {
        const st = (s.status ?? {}) as Obj;
        out.push({
          traceId: (s.traceId as Buffer).toString('hex'),
          spanId: (s.spanId as Buffer).toString('hex'),
          parentSpanId: (s.parentSpanId as Buffer).toString('hex'),
          name: s.name as string,
          kind: s.kind as number,
          startTimeUnixNano: BigInt(s.startTimeUnixNano as string),
          endTimeUnixNano: BigInt(s.endTimeUnixNano as string),
          attributes: attrs(s.attributes),
          status: { code: (st.code as number | undefined) ?? 0, message: (st.message as string | undefined) ?? '' },
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

/** ExportTraceServiceResponse with partial_success { rejected_spans, error_message }, encoded by hand: the
 * vendored protos predate that field. */
function partialResponse(rejected: number): Buffer {
  const msg = Buffer.from('rejected by test receiver');
  const inner = Buffer.concat([Buffer.from([0x08, rejected]), Buffer.from([0x12, msg.length]), msg]);
  return Buffer.concat([Buffer.from([0x0a, inner.length]), inner]);
}

abstract class BaseReceiver implements OtlpReceiver {
  endpoint = '';
  readonly spans: ReceivedSpan[] = [];
  requests = 0;
  mode: ReceiverMode = 'ok';
  partialRejected = 1;
  // protected, not #: the gRPC and HTTP receivers below set the port they bound and record what they decoded.
  protected port = 0;
  #waiters: (() => void)[] = [];

  protected record(req: Obj): void {
    this.spans.push(...spansOf(req));
    for (const w of this.#waiters.splice(0)) w();
  }

  waitForSpans(n: number, timeoutMs = 20_000): Promise<ReceivedSpan[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`OTLP receiver: ${this.spans.length} spans after ${timeoutMs} ms, wanted ${n}`));
      }, timeoutMs);
      const check = (): void => {
        if (this.spans.length >= n) {
          clearTimeout(timer);
          resolve(this.spans);
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  abstract stop(): Promise<void>;
  abstract start(): Promise<void>;
  close(): Promise<void> {
    return this.stop();
  }
}

class GrpcReceiver extends BaseReceiver {
  #server: grpc.Server | null = null;

  async start(): Promise<void> {
    const server = new grpc.Server();
    const deserialize = requestDecoder();
    const definition: grpc.ServiceDefinition = {
      Export: {
        path: `/${SERVICE}/Export`,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    };
    server.addService(definition, {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        this.requests++;
        if (this.mode === 'unavailable')
          return callback({ code: grpc.status.UNAVAILABLE, details: 'test receiver refusing' });
        if (this.mode === 'reject')
          return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'test receiver rejecting' });
        this.record(deserialize(call.request));
        callback(null, this.mode === 'partial' ? partialResponse(this.partialRejected) : Buffer.alloc(0));
      },
    });
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`127.0.0.1:${this.port}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
    this.#server = server;
    this.endpoint = `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s !== null) s.forceShutdown();
  }
}

class HttpReceiver extends BaseReceiver {
  #server: HttpServer | null = null;

  async start(): Promise<void> {
    const deserialize = requestDecoder();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        if (req.headers['content-type'] !== 'application/x-protobuf') {
          res.writeHead(415).end();
          return;
        }
        if (this.mode === 'unavailable') {
          res.writeHead(503, { 'retry-after': '0' }).end();
          return;
        }
        if (this.mode === 'reject') {
          res.writeHead(400).end();
          return;
        }
        this.record(deserialize(Buffer.concat(chunks)));
        const body = this.mode === 'partial' ? partialResponse(this.partialRejected) : Buffer.alloc(0);
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('HTTP receiver: no address');
    this.port = addr.port;
    this.#server = server;
    this.endpoint = `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s === null) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export async function startGrpcReceiver(): Promise<OtlpReceiver> {
  const r = new GrpcReceiver();
  await r.start();
  return r;
}

export async function startHttpReceiver(): Promise<OtlpReceiver> {
  const r = new HttpReceiver();
  await r.start();
  return r;
}
