// A minimal JSON client for the few writes the operator makes (status patches, TokenReview, the
// webhook's Secret and caBundle). Reads go through informers (controllers/informers.ts), never here on
// a hot path. Credentials and TLS come from @kubernetes/client-node's KubeConfig (in-cluster or file).
import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeResult {
  readonly status: number;
  readonly body: any;
}

export class KubeError extends Error {
  override name = 'KubeError';
  readonly status: number;
  readonly body: unknown;
  constructor(method: string, path: string, status: number, body: unknown) {
    const msg =
      typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
        ? (body as { message: string }).message
        : String(body).slice(0, 200);
    super(`${method} ${path}: HTTP ${status}: ${msg}`);
    this.status = status;
    this.body = body;
  }
}

export class KubeClient {
  readonly config: KubeConfig;
  readonly #server: URL;

  constructor(config: KubeConfig) {
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new Error('kubeconfig has no current cluster');
    this.config = config;
    this.#server = new URL(cluster.server);
  }

  static fromFile(path: string): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return new KubeClient(kc);
  }

  /** One call; resolves with any HTTP status (the caller decides), rejects only on transport errors. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    timeoutMs = 10_000,
  ): Promise<KubeResult> {
    const opts: RequestOptions = {
      method,
      protocol: this.#server.protocol,
      hostname: this.#server.hostname,
      port: this.#server.port,
      path,
      headers: { accept: 'application/json' },
      timeout: timeoutMs,
    };
    await this.config.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    if (payload !== undefined) (opts.headers as Record<string, string>)['content-type'] = contentType;
    return new Promise((resolve, reject) => {
      // `timeout` is the socket's idle timeout; on a TLS socket whose handshake stalls (a black-holed path)
      // Node fired it only after twice that (kube.test.ts). This bounds connect + TLS + the wait for the
      // response headers as a whole; the idle timeout still bounds the body.
      const headersDeadline = setTimeout(
        () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const req = request(opts, (res) => {
        clearTimeout(headersDeadline);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON: keep the text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', (e) => {
        clearTimeout(headersDeadline);
        reject(e);
      });
      req.end(payload);
    });
  }

  /** Like call(), but a status outside 2xx throws KubeError. */
  async must(method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
    const r = await this.call(method, path, body, contentType);
    if (r.status < 200 || r.status >= 300) throw new KubeError(method, path, r.status, r.body);
    return r.body;
  }
}
