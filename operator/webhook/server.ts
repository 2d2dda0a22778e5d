// The admission webhook: HTTPS, AdmissionReview admission.k8s.io/v1, POST /mutate-pods. It answers from
// memory only — the bindings come from the informer cache, the options are fixed at start — so no
// apiserver call sits on the pod-creation path (style.md §5; design target p99 ≤ 20 ms, bench/webhook.ts).
//
// Answers: allowed with a base64 JSONPatch (diff of the pod before and after inject()); allowed with no
// patch when nothing changes; allowed: false with the InjectError message when the bindings cannot be
// honoured (fail closed: such a pod would start without its proxy); HTTP 400 for a body that is not an
// AdmissionReview v1 of a Pod (the apiserver never sends one; a caller that does gets told why).
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DatabaseBinding } from '../../policy/types.ts';
import type { Logger } from '../log.ts';
import type { AdmissionResult, OperatorMetrics } from '../metrics.ts';
import { silentLogger } from '../log.ts';
import { InjectError, inject } from './inject.ts';
import type { InjectOptions } from './inject.ts';
import type { Pod } from '../pod.ts';
import { diff } from './patch.ts';
import { ACCESS_REQUEST_WEBHOOK_PATH, reviewAccessRequest } from './accessrequest.ts';
import type { AccessRequestReviewDeps } from './accessrequest.ts';
import { BadReview, parseEnvelope } from './review.ts';

export const WEBHOOK_PATH = '/mutate-pods';
/** The apiserver's request body limit is 3 MiB; a pod larger than that never reaches us legitimately. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface WebhookDeps {
  /** The DatabaseBindings of one namespace, from the informer cache. */
  readonly bindingsIn: (namespace: string) => readonly DatabaseBinding[];
  readonly inject: InjectOptions;
  readonly log?: Logger;
  /** airlock_operator_webhook_admissions_total / _duration_seconds (pod admissions only). */
  readonly metrics?: Pick<OperatorMetrics, 'admission'>;
  /** Serves POST /mutate-accessrequests (webhook/accessrequest.ts); absent: 404, and failurePolicy Fail refuses. */
  readonly accessRequests?: AccessRequestReviewDeps;
}

export interface ReviewResult {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
  /** For airlock_operator_webhook_admissions_total{result}. */
  readonly result?: AdmissionResult;
}

function parseReview(text: string): { uid: string; namespace: string; pod: Pod; dryRun: boolean } {
  const req = parseEnvelope(text);
  if (req.kind?.kind !== 'Pod' || req.kind?.group !== '')
    throw new BadReview(`request.kind is ${JSON.stringify(req.kind)}; this webhook mutates core/v1 Pods only`);
  const pod = req.object;
  if (typeof pod !== 'object' || pod === null || typeof pod.spec !== 'object' || !Array.isArray(pod.spec?.containers)) {
    throw new BadReview('request.object is not a Pod with spec.containers');
  }
  const namespace = typeof req.namespace === 'string' ? req.namespace : pod.metadata?.namespace;
  if (typeof namespace !== 'string' || namespace === '') throw new BadReview('request.namespace is missing');
  return { uid: req.uid, namespace, pod, dryRun: req.dryRun === true };
}

/** One AdmissionReview in, the HTTP answer out. Exported for the bench and tests. */
export function review(text: string, deps: WebhookDeps): ReviewResult {
  let parsed: ReturnType<typeof parseReview>;
  try {
    parsed = parseReview(text);
  } catch (e) {
    if (e instanceof BadReview)
      return {
        status: 400,
        contentType: 'text/plain; charset=utf-8',
        body: `malformed AdmissionReview: ${e.message}\n`,
        result: 'malformed',
      };
    throw e;
  }
  const { uid, namespace } = parsed;
  // A pod created in a namespace arrives without metadata.namespace (generateName pods especially):
  // fill it in on both sides of the diff so it is not part of the patch.
  const pod: Pod = { ...parsed.pod, metadata: { ...(parsed.pod.metadata ?? {}), namespace } };
  let response: Record<string, unknown>;
  try {
    const out = inject(pod, deps.bindingsIn(namespace), deps.inject);
    if (out === undefined) response = { uid, allowed: true };
    else {
      const patch = diff(pod, out);
      response =
        patch.length === 0
          ? { uid, allowed: true }
          : {
              uid,
              allowed: true,
              patchType: 'JSONPatch',
              patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
            };
    }
  } catch (e) {
    if (!(e instanceof InjectError)) throw e;
    (deps.log ?? silentLogger).warn('Refused pod', {
      namespace,
      pod: pod.metadata?.name ?? pod.metadata?.generateName,
      reason: e.message,
    });
    response = { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: `airlock: ${e.message}` } };
  }
  const result: AdmissionResult =
    response['allowed'] === false ? 'refused' : response['patch'] === undefined ? 'unchanged' : 'patched';
  return {
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }),
    result,
  };
}

function handle(req: IncomingMessage, res: ServerResponse, deps: WebhookDeps): void {
  const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz')) return send(200, 'ok\n');
  const path = req.url?.split('?')[0];
  const ar = path === ACCESS_REQUEST_WEBHOOK_PATH ? deps.accessRequests : undefined;
  if (path !== WEBHOOK_PATH && ar === undefined)
    return send(404, `not found; admission reviews go to POST ${WEBHOOK_PATH}\n`);
  if (req.method !== 'POST') return send(405, 'POST only\n');
  const t0 = performance.now();
  const observe = (result: AdmissionResult): void => {
    if (ar === undefined) deps.metrics?.admission(result, (performance.now() - t0) / 1000);
  };
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= MAX_BODY_BYTES) {
      chunks.push(c);
      return;
    }
    if (!res.headersSent) {
      // Answer at once and discard the rest (destroying the socket could lose the answer in a reset).
      chunks.length = 0;
      res.setHeader('connection', 'close');
      send(413, `AdmissionReview larger than ${MAX_BODY_BYTES} bytes\n`);
      observe('malformed');
    }
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return;
    if (ar !== undefined) {
      // Async (it asks the apiserver for a SubjectAccessReview); the pod path below stays synchronous.
      reviewAccessRequest(Buffer.concat(chunks).toString('utf8'), ar).then(
        (r) => send(r.status, r.body, r.contentType),
        (e: unknown) => {
          (deps.log ?? silentLogger).error('Failed to review AccessRequest', { error: (e as Error).message });
          send(500, 'internal error reviewing the AccessRequest\n');
        },
      );
      return;
    }
    try {
      const r = review(Buffer.concat(chunks).toString('utf8'), deps);
      send(r.status, r.body, r.contentType);
      observe(r.result ?? 'malformed');
    } catch (e) {
      // A bug, not a bad request: 500 makes the apiserver apply failurePolicy (Fail: the pod is refused).
      (deps.log ?? silentLogger).error('Failed to review pod', { error: (e as Error).message });
      send(500, 'internal error reviewing the pod\n');
      observe('error');
    }
  });
}

/** An HTTPS server for the webhook; call `setSecureContext` on it when the certificate is renewed. */
export function createWebhookServer(tls: { certPem: string; keyPem: string }, deps: WebhookDeps): Server {
  return createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' }, (req, res) =>
    handle(req, res, deps),
  );
}
