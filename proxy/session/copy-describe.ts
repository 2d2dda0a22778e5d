// COPY (query) TO with masked columns in reach (issue 12): the proxy describes the query before the COPY runs, so
// its output is masked field by field as a SELECT's rows are (result-mask.ts copyOutMask). Requests K_COPY_DESCRIBE.
import type { Decision, StatementFacts } from '../../policy/types.ts';
import { Backend } from '../wire/codes.ts';
import { WireError } from '../wire/frames.ts';
import { SYNC, close as closeMessage, describe as describeMessage, parse as parseMessage } from '../wire/messages.ts';
import { readErrorFields, readReadyForQuery, readRowDescription } from '../wire/read.ts';
import { HOLD_COPY_DESCRIBE } from './holds.ts';
import { K_COPY_DESCRIBE, req } from './requests.ts';
import type { Prepared, Req } from './requests.ts';
import type { Session } from './session.ts';

export class CopyDescribes {
  readonly #s: Session;

  constructor(s: Session) {
    this.#s = s;
  }

  /**
   * COPY (query) TO with masked columns in reach, simple protocol: describe the query first (Parse "" /
   * Describe S / Sync) with the client held, so its output can be masked like rows (K_COPY_DESCRIBE). The
   * unnamed statement is the client's to lose: its own Query would replace it anyway.
   */
  simple(r: Req, query: string, msg: Buffer): void {
    const s = this.#s;
    const pr = req(K_COPY_DESCRIBE);
    pr.runs = r.runs; // notices and the error are the COPY's
    pr.copy = { extended: false, fields: null, error: null, query: msg, resume: r, stmt: null };
    s.writeUp(Buffer.concat([parseMessage('', query), describeMessage('S', ''), SYNC]));
    s.enqueue(pr);
    s.holds.add(HOLD_COPY_DESCRIBE);
  }

  /** Extended protocol: described under a reserved name ahead of the client's Parse, in the same batch. */
  extended(stmt: Prepared, query: string): void {
    const s = this.#s;
    const pr = req(K_COPY_DESCRIBE);
    pr.copy = { extended: true, fields: null, error: null, query: null, resume: null, stmt };
    s.writeUp(
      Buffer.concat([
        parseMessage(COPY_DESCRIBE_NAME, query),
        describeMessage('S', COPY_DESCRIBE_NAME),
        closeMessage('S', COPY_DESCRIBE_NAME),
      ]),
    );
    s.enqueue(pr);
  }

  /** The responses to the proxy's Describe, swallowed; the fields are kept for the COPY's output. */
  response(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    const s = this.#s;
    const c = r.copy!;
    switch (type) {
      case Backend.ParseComplete:
      case Backend.ParameterDescription:
        return;
      case Backend.RowDescription:
        c.fields = readRowDescription(buf, start, end);
        return;
      case Backend.NoData:
        c.fields = [];
        return;
      case Backend.CloseComplete:
        if (!c.extended) break;
        s.queue.shift();
        if (c.stmt !== null) c.stmt.copyFields = c.fields;
        return;
      case Backend.ErrorResponse:
        // Extended: the batch's error (the server now skips to the client's Sync), reported as any other.
        if (c.extended) {
          s.backend.extendedError(r, buf, start, end);
          return;
        }
        c.error = Buffer.from(buf.subarray(start, end));
        return;
      case Backend.ReadyForQuery: {
        if (c.extended) break;
        s.queue.shift();
        s.tx = readReadyForQuery(buf, start, end);
        const q = c.resume!;
        const rn = q.runs?.[0] ?? null;
        if (c.error !== null) {
          // The COPY would fail the same way: the client gets this error and ReadyForQuery in its place.
          s.backend.forwardError(rn, c.error, 0, c.error.length, r);
          if (rn !== null) s.backend.auditRun(rn, readErrorFields(c.error, 0, c.error.length).get('C') ?? null);
          s.passClient(buf, start, end);
        } else {
          if (rn !== null) rn.copyFields = c.fields;
          // Written from the server side: flush toward the server now (this is not inside a client chunk).
          s.writeUp(c.query!);
          s.flushUp();
          s.enqueue(q);
        }
        s.holds.release(HOLD_COPY_DESCRIBE);
        s.resumeClient();
        return;
      }
    }
    throw new WireError(
      `unexpected message 0x${type.toString(16)} in response to the proxy's Describe of a COPY query`,
    );
  }
}

/** Reserved name of the statement the proxy describes a COPY (query) under, in the extended protocol. */
const COPY_DESCRIBE_NAME = 'airlock_copy_describe';

/**
 * The query of a COPY (query) TO whose output may carry masked values (it reads a relation with masked
 * columns), to describe before it runs; null when there is nothing to describe.
 */
export function copyQueryToDescribe(f: StatementFacts, d: Decision): string | null {
  const ct = f.copyTo;
  if (ct === null || ct.relation !== null || ct.query === undefined) return null;
  if (d.verdict !== 'allow' && d.verdict !== 'warn') return null;
  const touched = d.masks.touched;
  return touched !== undefined && touched.length === 0 ? null : ct.query;
}
