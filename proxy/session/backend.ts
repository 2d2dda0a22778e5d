// Server → client: every message from the server, matched to the request at the head of the queue
// (requests.ts). The results of a Query and of an Execute take one path — RowDescription, DataRow, CopyData,
// CopyOut/CopyIn — with a guarded write's rows held by guard.ts; what differs between the two is only how a
// result ends (CommandComplete, ErrorResponse, ReadyForQuery). Unmasked messages leave as the bytes they came
// in, one write per run of them (style.md §2).
import { Backend, TxStatus } from '../wire/codes.ts';
import { WireError } from '../wire/frames.ts';
import { errorResponse } from '../wire/messages.ts';
import {
  readCopyResponse,
  readErrorFields,
  readParameterStatus,
  readReadyForQuery,
  readRowDescription,
  resultFormatFor,
} from '../wire/read.ts';
import type { FieldInfo } from '../wire/read.ts';
import { MaskError } from '../mask/mask-error.ts';
import { maskDataRow } from '../mask/datarow.ts';
import { maskCopyBinary, maskCopyData } from '../mask/copy.ts';
import { span, type Span } from '../mask/slab.ts';
import { resolveRowMask } from '../mask/resolve.ts';
import { scrubErrorFields } from '../mask/errors.ts';
import { notificationWithoutPayload } from '../mask/notification.ts';
import { masksAnything } from '../enforce/gate.ts';
import type { DenyDecision } from '../enforce/denial.ts';
import { grantOf, newStatementRecord, statementRecord } from './audit-record.ts';
import { NO_COLUMNS, nowMs } from './context.ts';
import { tagCount } from './guard.ts';
import { HOLD_GUARD, HOLD_IDLE } from './holds.ts';
import { PHASE_READY } from './phase.ts';
import {
  K_BIND,
  K_CLOSE,
  K_COPY_DESCRIBE,
  K_COUNT,
  K_DESCRIBE,
  K_DESCRIBE_INTERNAL,
  K_EXECUTE,
  K_INTERNAL,
  K_PARSE,
  K_QUERY,
  K_SYNC,
} from './requests.ts';
import type { Portal, Req, Run } from './requests.ts';
import { copyOutMask, maskedColumnNames, planMasks } from './result-mask.ts';
import type { Session } from './session.ts';

/** Where a masked DataRow or CopyData is (mask/slab.ts); passed at once, so one for every session. */
const masked: Span = span();

export class BackendMessages {
  readonly #s: Session;
  /** A FATAL arrived between requests: the server is ending the connection, with its own words to the client. */
  serverEnded = false;

  constructor(s: Session) {
    this.#s = s;
  }

  message(buf: Buffer, type: number, start: number, end: number): void {
    const s = this.#s;
    // Asynchronous messages may come at any time (protocol 55.2.8).
    if (s.phase !== PHASE_READY) {
      // During the setup round trip nothing may reach the client before AuthenticationOk: keep reported
      // parameters for the startup burst, drop notices (they answer our query, not the client's).
      if (type === Backend.ParameterStatus) {
        const p = readParameterStatus(buf, start, end);
        s.setupParameters?.set(p.name, p.value);
        return;
      }
      if (type === Backend.NoticeResponse || type === Backend.NotificationResponse) return;
    }
    switch (type) {
      case Backend.NoticeResponse:
        this.#notice(buf, start, end);
        return;
      case Backend.NotificationResponse:
        this.#notification(buf, start, end);
        return;
      case Backend.ParameterStatus:
        this.#parameterStatus(buf, start, end);
        return;
    }
    const r = s.queue[0];
    if (r === undefined) {
      // A FATAL between requests (pg_terminate_backend, shutdown): PostgreSQL's own words go to the client.
      if (type === Backend.ErrorResponse) {
        s.passClient(buf, start, end);
        this.serverEnded = true;
        return;
      }
      throw new WireError(`unexpected message 0x${type.toString(16)} from the server with no request outstanding`);
    }
    switch (r.kind) {
      case K_QUERY:
      case K_EXECUTE:
        this.#result(r, buf, type, start, end);
        return;
      case K_INTERNAL:
        this.#internalResponse(r, buf, type, start, end);
        return;
      case K_COUNT:
        s.guards.countResponse(r, buf, type, start, end);
        return;
      case K_PARSE:
        if (type === Backend.ParseComplete) {
          s.queue.shift();
          s.passClient(buf, start, end);
          return;
        }
        break;
      case K_BIND:
        if (type === Backend.BindComplete) {
          s.queue.shift();
          s.passClient(buf, start, end);
          return;
        }
        break;
      case K_CLOSE:
        if (type === Backend.CloseComplete) {
          s.queue.shift();
          s.passClient(buf, start, end);
          return;
        }
        break;
      case K_DESCRIBE:
      case K_DESCRIBE_INTERNAL: {
        const internal = r.kind === K_DESCRIBE_INTERNAL;
        if (type === Backend.ParameterDescription && !internal) {
          s.passClient(buf, start, end);
          return;
        }
        if (type === Backend.RowDescription) {
          const fields = readRowDescription(buf, start, end);
          if (r.portal !== null) r.portal.fields = fields;
          else if (r.stmt !== null) r.stmt.fields = fields;
          s.queue.shift();
          if (!internal) s.passClient(buf, start, end);
          return;
        }
        if (type === Backend.NoData) {
          s.queue.shift();
          if (!internal) s.passClient(buf, start, end);
          return;
        }
        break;
      }
      case K_COPY_DESCRIBE:
        s.copyDescribes.response(r, buf, type, start, end);
        return;
      case K_SYNC:
        if (type === Backend.ReadyForQuery) {
          s.queue.shift();
          this.#readyForQuery(buf, start, end);
          s.passClient(buf, start, end);
          if (s.context.refreshAfterSync) {
            s.context.refreshAfterSync = false;
            s.flushClient();
            s.context.refresh();
            s.flushUp();
          }
          this.#afterReady();
          return;
        }
        break;
    }
    if (type === Backend.ErrorResponse) {
      this.extendedError(r, buf, start, end);
      return;
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} from the server`);
  }

  // -------------------------------------------------------------------------------------------
  // Results of a Query or an Execute: one path for rows and COPY, then how each ends

  #result(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    const s = this.#s;
    const rn = (r.kind === K_QUERY ? r.runs![r.runIndex] : r.runs?.[0]) ?? null;
    const g = r.guard;
    switch (type) {
      case Backend.DataRow:
        // An Execute's rows are described by its portal (Describe P, or Describe S with Bind's formats).
        if (r.kind === K_EXECUTE && rn !== null && rn.fields === null && r.portal !== null)
          this.#portalFields(rn, r.portal);
        if (g !== null) s.guards.row(g, rn, buf, start, end);
        else this.dataRow(rn, buf, start, end);
        return;
      case Backend.CopyInResponse:
        if (g !== null) {
          s.guards.copyIn(r, buf, start, end);
          return;
        }
        this.enterCopyIn(r);
        s.passClient(buf, start, end);
        return;
      case Backend.CopyData:
        if (g !== null) break;
        this.#copyData(rn, buf, start, end);
        return;
      case Backend.CopyDone:
        if (g !== null) break;
        s.passClient(buf, start, end);
        return;
      case Backend.CopyOutResponse: {
        if (g !== null) break;
        const c = readCopyResponse(buf, start, end);
        if (rn !== null) this.#copyOut(rn, c.format, c.columnFormats.length);
        s.passClient(buf, start, end);
        return;
      }
    }
    if (r.kind === K_QUERY) {
      if (g !== null) s.guards.queryResponse(r, g, rn, buf, type, start, end);
      else this.#queryEnd(r, rn, buf, type, start, end);
    } else if (g !== null) s.guards.executeResponse(r, g, rn, buf, type, start, end);
    else this.#executeEnd(r, rn, buf, type, start, end);
  }

  #queryEnd(r: Req, rn: Run | null, buf: Buffer, type: number, start: number, end: number): void {
    const s = this.#s;
    switch (type) {
      case Backend.RowDescription:
        if (rn !== null) this.rowDescription(rn, readRowDescription(buf, start, end));
        s.passClient(buf, start, end);
        return;
      case Backend.CommandComplete:
        if (rn !== null) {
          rn.rows = tagCount(buf, start, end);
          this.auditRun(rn, null);
          r.runIndex++;
        }
        s.passClient(buf, start, end);
        return;
      case Backend.EmptyQueryResponse:
        r.runIndex++;
        s.passClient(buf, start, end);
        return;
      case Backend.ErrorResponse: {
        if (r.denial !== null) {
          s.writeClient(errorResponse(r.denial));
          if (rn !== null) this.auditRun(rn, r.denial.code);
          r.denial = null;
        } else {
          s.copyIn = false;
          this.forwardError(rn, buf, start, end, r);
          if (rn !== null) this.auditRun(rn, readErrorFields(buf, start, end).get('C') ?? null);
        }
        r.runIndex = r.runs!.length; // the rest of the string is not run
        return;
      }
      case Backend.ReadyForQuery:
        s.queue.shift();
        this.#readyForQuery(buf, start, end);
        s.passClient(buf, start, end);
        this.#afterReady();
        return;
      case Backend.CopyBothResponse:
        throw new WireError('CopyBothResponse (replication) is not supported through Airlock');
      case Backend.FunctionCallResponse:
        throw new WireError('unexpected FunctionCallResponse');
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to a Query`);
  }

  #executeEnd(r: Req, rn: Run | null, buf: Buffer, type: number, start: number, end: number): void {
    const s = this.#s;
    switch (type) {
      case Backend.CommandComplete:
        s.queue.shift();
        if (rn !== null) {
          rn.rows = tagCount(buf, start, end);
          this.auditRun(rn, null);
        }
        s.passClient(buf, start, end);
        return;
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended:
        s.queue.shift();
        s.passClient(buf, start, end);
        return;
      case Backend.ErrorResponse:
        s.copyIn = false;
        this.extendedError(r, buf, start, end);
        return;
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to Execute`);
  }

  /** Rows of a result: masked when the statement's RowMask masks anything, else forwarded as they came. */
  dataRow(rn: Run | null, buf: Buffer, start: number, end: number): void {
    if (rn !== null && rn.rowMask !== null) {
      const m = maskDataRow(buf, start, end, rn.rowMask, rn.fields!, this.#s.shared.maskSettings, masked);
      this.#s.passClient(m.buf, m.start, m.end); // in the output slab: the rows of one read extend one run
    } else {
      this.#s.passClient(buf, start, end);
    }
  }

  /** A result's fields are known: resolve how its rows are masked, once for all of them. */
  rowDescription(rn: Run, fields: FieldInfo[]): void {
    rn.fields = fields;
    rn.rowMask = null;
    const d = rn.decision;
    if (d.verdict !== 'allow' && d.verdict !== 'warn') return;
    const masks = planMasks(d.masks);
    const context = this.#s.context;
    // With masking in force, a field from a relation created since the catalog was fetched is redacted.
    const fresh = context.redactsUnknown;
    if (masks || fresh) {
      let mask = masks ? resolveRowMask(d.masks, fields, context.maskCatalog) : null;
      if (fresh) mask = context.redactUnknown(fields, mask);
      rn.rowMask = mask;
      if (mask !== null) rn.maskedColumns = maskedColumnNames(mask, fields, context.maskCatalog);
    }
  }

  /** The fields of a portal's result with their actual formats (Describe P, or Describe S + Bind formats). */
  #portalFields(rn: Run, portal: Portal): void {
    let fields = portal.fields;
    if (fields === null && portal.stmt.fields !== null) {
      fields = portal.stmt.fields.map((f, i) => ({ ...f, format: resultFormatFor(portal.resultFormats, i) }));
      portal.fields = fields;
    }
    if (fields === null) {
      const d = rn.decision;
      if ((d.verdict === 'allow' || d.verdict === 'warn') && planMasks(d.masks)) {
        // Cannot happen: Execute injects a Describe when no description was asked for. Fail closed.
        throw new MaskError('rows of a masked statement arrived before their description');
      }
      return;
    }
    this.rowDescription(rn, fields);
  }

  /** One CopyData of COPY … TO STDOUT: masked when the COPY's columns need it, else forwarded as it came. */
  #copyData(rn: Run | null, buf: Buffer, start: number, end: number): void {
    const s = this.#s;
    if (rn === null) {
      s.passClient(buf, start, end);
      return;
    }
    // A masked message comes back as bytes the session may pass like any other (copy.ts: the input, or a slab
    // never rewritten), so the masked rows of one read extend one run: one socket write, not one per row.
    let m: Span;
    if (rn.copyBinary !== null) m = maskCopyBinary(buf, start, end, rn.copyBinary, s.shared.maskSettings, masked);
    else if (rn.copyHeader) {
      rn.copyHeader = false;
      s.passClient(buf, start, end);
      return;
    } // column names (copyto.c sends them alone)
    else if (rn.copyMask !== null)
      m = maskCopyData(buf, start, end, rn.copyMask, rn.copyOptions!, s.shared.maskSettings, masked);
    else {
      s.passClient(buf, start, end);
      return;
    }
    s.passClient(m.buf, m.start, m.end);
  }

  /** COPY … TO STDOUT began: how its CopyData are masked (result-mask.ts copyOutMask), or a MaskError. */
  #copyOut(rn: Run, format: 0 | 1, columns: number): void {
    const context = this.#s.context;
    const m = copyOutMask({
      decision: rn.decision,
      copyTo: rn.facts?.copyTo ?? null,
      copyFields: rn.copyFields,
      format,
      columns,
      catalog: context.maskCatalog,
      searchPath: context.ctx!.searchPath,
      redactUnknown: context.redactsUnknown ? (f, mask) => context.redactUnknown(f, mask) : null,
    });
    if (m === null) return;
    rn.maskedColumns = m.maskedColumns;
    if (m.kind === 'binary') {
      rn.copyBinary = m.state;
      return;
    }
    rn.copyMask = m.mask;
    rn.copyOptions = m.options;
    rn.copyHeader = m.header;
  }

  /**
   * The server entered copy-in mode for request `r`: client input goes upstream, and the Syncs the client sent
   * after `r` before ending its input will be ignored by the server (Req.duringCopy), so they leave the queue.
   */
  enterCopyIn(r: Req): void {
    const s = this.#s;
    s.copyIn = true;
    const q = s.queue;
    const at = q.indexOf(r);
    if (at < 0) return;
    let w = at + 1;
    for (let i = at + 1; i < q.length; i++) {
      const x = q[i]!;
      if (x.kind === K_SYNC && x.duringCopy) continue;
      q[w++] = x;
    }
    q.length = w;
  }

  #readyForQuery(buf: Buffer, start: number, end: number): void {
    const s = this.#s;
    const status = readReadyForQuery(buf, start, end);
    s.setTx(status);
    s.copyIn = false;
    if (s.queue.length === 0) s.copyInAhead = 0;
    if (status === TxStatus.Idle) s.statements.transactionEnded();
  }

  /** After a ReadyForQuery: a guarded Query that waited for the queue to empty may go. */
  #afterReady(): void {
    const s = this.#s;
    if (s.holds.has(HOLD_IDLE) && s.queue.length === 0) {
      s.holds.release(HOLD_IDLE);
      s.resumeClient();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Errors and notices

  extendedError(r: Req, buf: Buffer, start: number, end: number): void {
    const s = this.#s;
    if (r.denial !== null) {
      s.writeClient(errorResponse(r.denial));
      this.auditRun(r.runs?.[0] ?? null, r.denial.code);
      r.denial = null;
    } else {
      // A Parse, Bind or Describe that fails carries no run of its own: the statement that will not run is
      // the first Execute queued before Sync; audit it with this error's SQLSTATE (else it has no span).
      const rn = r.runs?.[0] ?? this.#skippedExecute();
      const code = readErrorFields(buf, start, end).get('C') ?? null;
      if (r.kind === K_PARSE && r.stmt !== null) s.statements.parseFailed(r.stmt);
      this.forwardError(rn, buf, start, end, r);
      if (rn !== null) this.auditRun(rn, code);
    }
    // The server now discards everything up to Sync: so do we with what we queued. A guarded Execute among
    // them holds the client until its result, which will never come: release it, or the client's Sync stays
    // unread and the session hangs.
    let released = false;
    while (s.queue.length > 0 && s.queue[0]!.kind !== K_SYNC) {
      const q = s.queue.shift()!;
      if (q !== r && q.kind === K_EXECUTE && q.guard !== null) {
        s.holds.release(HOLD_GUARD);
        released = true;
      }
    }
    if (released) s.resumeClient();
    if (s.queue.length === 0) s.skipping = true;
  }

  #skippedExecute(): Run | null {
    for (const q of this.#s.queue) {
      if (q.kind === K_SYNC) return null;
      if (q.kind === K_EXECUTE) return q.runs?.[0] ?? null;
    }
    return null;
  }

  /** An ErrorResponse or NoticeResponse for the client, with values of masked columns hidden (mask/errors.ts). */
  forwardError(rn: Run | null, buf: Buffer, start: number, end: number, r?: Req): void {
    const touched = this.#echoable(rn, r);
    if (touched.length > 0) {
      const scrubbed = scrubErrorFields(buf, start, end, touched);
      if (scrubbed !== null) {
        this.#s.writeClient(scrubbed);
        return;
      }
    }
    this.#s.passClient(buf, start, end);
  }

  /**
   * The masked columns whose values a message answering `rn` could echo: the statement's MaskPlan.touched.
   * Parse, Bind, Describe and Close read no rows (Bind's input errors quote the client's own parameters). With
   * no statement to attribute it to (a Sync, whose COMMIT checks deferred constraints) or a transaction
   * statement (COMMIT does the same), every masked column of this identity.
   */
  #echoable(rn: Run | null, r: Req | undefined): readonly string[] {
    if (
      rn === null
      && r !== undefined
      && (r.kind === K_PARSE || r.kind === K_BIND || r.kind === K_DESCRIBE || r.kind === K_CLOSE)
    )
      return NO_COLUMNS;
    if (rn === null || rn.facts === null || rn.facts.transaction) return this.#s.context.allMasked();
    const runs = r?.kind === K_QUERY ? r.runs : null;
    if (runs !== null && runs.length > 1) {
      // Several statements in one Query run in one implicit transaction, committed with the last: a deferred
      // constraint's error arrives with a later statement than the one that caused it. Any of them counts.
      const all = new Set<string>();
      for (let i = 0; i < runs.length && i <= r!.runIndex; i++) for (const c of touchedBy(runs[i]!)) all.add(c);
      return [...all];
    }
    const touched = touchedBy(rn);
    // The result masks a field the statement's accesses did not account for (PostgreSQL's provenance through a
    // view): it reads masked values, so any of them may be in the message.
    return touched.length === 0 && rn.rowMask !== null ? this.#s.context.allMasked() : touched;
  }

  #notice(buf: Buffer, start: number, end: number): void {
    const r = this.#s.queue[0];
    if (r !== undefined && (r.kind === K_INTERNAL || r.kind === K_DESCRIBE_INTERNAL)) return; // our own: not the client's
    this.forwardError(r?.runs?.[r.runIndex] ?? null, buf, start, end, r);
  }

  /** A payload is forwarded only to an identity with nothing masked (proxy/mask/notification.ts says why). */
  #notification(buf: Buffer, start: number, end: number): void {
    const shared = this.#s.shared;
    // The current state, not the gate's: a policy that starts masking applies before the next statement.
    if (masksAnything(shared.state, shared.identity, shared.target.binding))
      this.#s.writeClient(notificationWithoutPayload(buf, start, end));
    else this.#s.passClient(buf, start, end);
  }

  #parameterStatus(buf: Buffer, start: number, end: number): void {
    const p = readParameterStatus(buf, start, end);
    if (p.name === 'standard_conforming_strings' && p.value !== 'on') {
      throw new WireError('the server turned standard_conforming_strings off; Airlock cannot parse statements safely');
    }
    if (p.name === 'client_encoding' && p.value !== 'UTF8') {
      throw new WireError(`client_encoding changed to ${p.value}; Airlock requires UTF8`);
    }
    this.#s.passClient(buf, start, end);
  }

  // -------------------------------------------------------------------------------------------
  // The proxy's own requests

  #internalResponse(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    if (type === Backend.CopyInResponse || type === Backend.CopyOutResponse || type === Backend.CopyBothResponse) {
      throw new WireError("COPY in response to the proxy's own query");
    }
    const done = r.collector === null ? type === Backend.ReadyForQuery : r.collector.feed(buf, type, start, end);
    if (type === Backend.ErrorResponse && r.collector === null) {
      // Our BEGIN/SAVEPOINT failed: nothing of the guarded statement can be trusted to roll back.
      throw new WireError(`the proxy's own statement failed: ${readErrorFields(buf, start, end).get('M') ?? '?'}`);
    }
    if (!done) return;
    const s = this.#s;
    s.queue.shift();
    s.setTx(readReadyForQuery(buf, start, end));
    if (r.onDone !== null) r.onDone(Buffer.from(buf.subarray(start, end)));
  }

  // -------------------------------------------------------------------------------------------
  // Audit

  /** The statement `rn` has ended with SQLSTATE `code` (null: success); `override` replaces its decision (a rollback). */
  auditRun(rn: Run | null, code: string | null, override?: DenyDecision): void {
    if (rn === null || rn.done) return;
    rn.done = true;
    const s = this.#s;
    const d = override ?? rn.decision;
    const grant = grantOf(d);
    if (grant !== undefined && d.verdict !== 'deny') s.grantsUsed.add(grant);
    // Staging counters: a verdict compare for every statement; only a would-be denial does more.
    if ((d.verdict === 'allow' || d.verdict === 'warn') && d.wouldDeny.length > 0)
      s.shared.violations?.add(d.wouldDeny, rn.normalized, rn.startMs);
    s.shared.audit.statement(statementRecord(s.id, rn, d, code, nowMs(), s.context.ctx?.searchPath[0], RECORD));
  }
}

/** The audit record every statement of the process is written into: the sink consumes it during statement(). */
const RECORD = newStatementRecord();

/** The masked columns a statement's messages could echo (MaskPlan.touched; all of the plan's when unknown). */
function touchedBy(rn: Run): readonly string[] {
  const d = rn.decision;
  if (d.verdict !== 'allow' && d.verdict !== 'warn') return NO_COLUMNS;
  return d.masks.touched ?? Object.keys(d.masks.columns);
}
