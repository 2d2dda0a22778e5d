// The AdmissionReview envelope both webhooks (server.ts: pods; accessrequest.ts: AccessRequests) check before
// looking at the object: admission.k8s.io/v1, a uid to answer with. The apiserver never sends anything else;
// a caller that does gets HTTP 400 with the reason.

/** The body is not an AdmissionReview this webhook can answer (HTTP 400). */
export class BadReview extends Error {}

/** Parses the body and checks the envelope; returns `request` (with a non-empty uid). */
export function parseEnvelope(text: string): any {
  let review: any;
  try {
    review = JSON.parse(text);
  } catch (e) {
    throw new BadReview(`body is not JSON: ${(e as Error).message}`);
  }
  if (review?.apiVersion !== 'admission.k8s.io/v1' || review?.kind !== 'AdmissionReview') {
    throw new BadReview(
      `expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got ${String(review?.apiVersion)}, ${String(review?.kind)}`,
    );
  }
  const req = review.request;
  if (typeof req?.uid !== 'string' || req.uid === '') throw new BadReview('request.uid is missing');
  return req;
}
