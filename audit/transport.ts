// Sends one encoded ExportTraceServiceRequest to a collector, over OTLP/gRPC (@grpc/grpc-js, raw bytes in and
// out) or OTLP/HTTP with protobuf bodies (node:http), and classifies the answer per the OTLP specification
// (https://opentelemetry.io/docs/specs/otlp/ "Failures", "Partial Success", "Retryable Response Codes").
// One deliberate departure: the spec says to drop data on a non-retryable error. An audit trail must not
// silently lose records because a collector is misconfigured (UNAUTHENTICATED, 404, 500…), so only an
// answer that says the *data* is bad (gRPC INVALID_ARGUMENT, HTTP 400) is final; everything else is retried
// with backoff while the spool holds the records (and onFailure decides what happens when it is full).
import type * as Http from 'node:http';
import { createRequire } from 'node:module';
import type * as Grpc from '@grpc/grpc-js';
import { decodePartialSuccess } from './otlp.ts';

export type SendResult =
  | { readonly kind: 'ok'; readonly rejectedSpans: number; readonly message: string }
  /** worth retrying later; tooLarge: the request exceeded the receiver's size limit (send fewer spans) */
  | {
      readonly kind: 'retry';
      readonly message: string;
      readonly retryAfterMs: number | null;
      readonly tooLarge: boolean;
    }
  /** the receiver refuses this data for good */
  | { readonly kind: 'reject'; readonly message: string; readonly tooLarge: boolean };

export interface Transport {
  send(body: Buffer, signal: AbortSignal): Promise<SendResult>;
  close(): void;
}

export type OtlpProtocol = 'grpc' | 'http/protobuf';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Accepts `http://host:port`, `https://host:port[/path]`, or a bare `host:port` (taken as http). */
export function parseEndpoint(endpoint: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`audit: invalid OTLP endpoint "${endpoint}"; expected http://host:port or https://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(
      `audit: unsupported OTLP endpoint scheme "${url.protocol}" in "${endpoint}"; expected http or https`,
    );
  }
  return url;
}

export function createTransport(protocol: OtlpProtocol, endpoint: string, timeoutMs: number): Transport {
  const url = parseEndpoint(endpoint);
  if (protocol === 'grpc') return grpcTransport(url, timeoutMs);
  if (protocol === 'http/protobuf') return httpTransport(url, timeoutMs);
  throw new Error(`audit: unknown OTLP protocol "${String(protocol)}"; expected grpc or http/protobuf`);
}

const identity = (b: Buffer): Buffer => b;

// grpc-js is loaded only for a gRPC endpoint: it costs ~10 MiB of a sidecar's idle memory (a target in
// design.md), and an HTTP/protobuf exporter does not need it.
const requireCjs = createRequire(import.meta.url);

function grpcTransport(url: URL, timeoutMs: number): Transport {
  const grpc = requireCjs('@grpc/grpc-js') as typeof Grpc;
  const tls = url.protocol === 'https:';
  const target = `${url.hostname}:${url.port === '' ? (tls ? '443' : '4317') : url.port}`;
  const client = new grpc.Client(target, tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure(), {
    // Retries are ours (backoff, ordered acks); grpc-js's own would hide failures from the counters.
    'grpc.enable_retries': 0,
  });
  return {
    send(body, signal) {
      return new Promise((resolve) => {
        let call: Grpc.ClientUnaryCall;
        // A closed channel (the sink was reconfigured to another endpoint mid-export) throws here: retry,
        // which the sink then does on its new transport.
        try {
          call = client.makeUnaryRequest(
            EXPORT_PATH,
            identity,
            identity,
            body,
            new grpc.Metadata(),
            { deadline: Date.now() + timeoutMs },
            (err, response) => {
              signal.removeEventListener('abort', cancel);
              if (err === null || err === undefined) {
                const ps = response === undefined ? { rejectedSpans: 0, errorMessage: '' } : safePartial(response);
                resolve({ kind: 'ok', rejectedSpans: ps.rejectedSpans, message: ps.errorMessage });
                return;
              }
              const message = `gRPC ${grpc.status[err.code] ?? err.code}: ${err.details}`;
              if (err.code === grpc.status.INVALID_ARGUMENT) resolve({ kind: 'reject', message, tooLarge: false });
              else
                resolve({
                  kind: 'retry',
                  message,
                  retryAfterMs: null,
                  tooLarge: err.code === grpc.status.RESOURCE_EXHAUSTED,
                });
            },
          );
        } catch (e) {
          resolve({
            kind: 'retry',
            message: `gRPC channel: ${(e as Error).message}`,
            retryAfterMs: null,
            tooLarge: false,
          });
          return;
        }
        const cancel = (): void => call.cancel();
        signal.addEventListener('abort', cancel, { once: true });
      });
    },
    close() {
      client.close();
    },
  };
}

/** ExportTraceServiceResponse.partial_success (OTLP "Partial Success"); an unreadable body counts as full success. */
function safePartial(body: Buffer): { rejectedSpans: number; errorMessage: string } {
  try {
    return decodePartialSuccess(body);
  } catch {
    return { rejectedSpans: 0, errorMessage: '' };
  }
}

function httpTransport(url: URL, timeoutMs: number): Transport {
  // OTLP/HTTP: a base endpoint gets the signal path appended; an endpoint with a path is used as given.
  const target = new URL(url.href);
  if (target.pathname === '' || target.pathname === '/') target.pathname = '/v1/traces';
  const href = target.href;
  // node:http with one kept-alive connection, not fetch(): undici's per-request objects, body copies and
  // web streams cost ~4 µs of CPU per exported span at 512 spans a request (docs/performance.md).
  // node:https (and with it node:tls) is loaded only for an https endpoint.
  const mod = requireCjs(target.protocol === 'https:' ? 'node:https' : 'node:http') as typeof Http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: 1 });
  const request = mod.request;
  return {
    send(body, signal) {
      return new Promise<SendResult>((resolve) => {
        let settled = false;
        const finish = (r: SendResult): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        };
        const failed = (err: Error): void =>
          finish({
            kind: 'retry',
            message: `HTTP request failed: ${err.message}`,
            retryAfterMs: null,
            tooLarge: false,
          });
        const req = request(
          target,
          {
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', failed);
            res.on('end', () => {
              const status = res.statusCode ?? 0;
              if (status >= 200 && status < 300) {
                const ps = (res.headers['content-type'] ?? '').includes('protobuf')
                  ? safePartial(Buffer.concat(chunks))
                  : { rejectedSpans: 0, errorMessage: '' };
                finish({ kind: 'ok', rejectedSpans: ps.rejectedSpans, message: ps.errorMessage });
                return;
              }
              const message = `HTTP ${status} from ${href}`;
              if (status === 400) finish({ kind: 'reject', message, tooLarge: false });
              else if (status === 413) finish({ kind: 'reject', message, tooLarge: true });
              else {
                const ra = res.headers['retry-after'];
                finish({
                  kind: 'retry',
                  message,
                  retryAfterMs: retryAfter(typeof ra === 'string' ? ra : null),
                  tooLarge: false,
                });
              }
            });
          },
        );
        const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        const onAbort = (): void => {
          req.destroy(new Error('aborted'));
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
        req.on('error', failed);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function retryAfter(value: string | null): number | null {
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
