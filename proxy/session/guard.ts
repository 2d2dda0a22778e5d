// Guarded writes (maxAffectedRows): the responses to a guarded Query or Execute, held until the rows it changed
// are counted, then forwarded — or the statement rolled back (enforce/guardrails.ts decides which statements
// are guarded and builds every refusal). The client is held meanwhile (HOLD_GUARD), so nothing it sends after
// the statement reaches the server before the count (docs/adr/0001-denial-by-poison-statement.md).
//
// Simple protocol: BEGIN (or SAVEPOINT) and the counters before, the statement, the counters after, then
// COMMIT / RELEASE or ROLLBACK. Extended: the counters before and after the Execute read with a reserved
// statement and portal (K_COUNT), and over the limit the poison goes ahead of the client's Sync.
import { Backend, TxStatus } from '../wire/codes.ts';
import { WireError } from '../wire/frames.ts';
import {
  FLUSH,
  errorResponse,
  parse as parseMessage,
  query as queryMessage,
  bind as bindMessage,
  close as closeMessage,
  execute as executeMessage,
} from '../wire/messages.ts';
import { readErrorFields, readReadyForQuery, readRowDescription } from '../wire/read.ts';
import { maskDataRow } from '../mask/datarow.ts';
import { span, type Span } from '../mask/slab.ts';
import { POISON_PARSE, POISON_SQL } from '../enforce/denial.ts';
import { CHANGED_ROWS_SQL, guardOver, guardRollback, settleCount } from '../enforce/guardrails.ts';
import type { Guard } from '../enforce/guardrails.ts';
import { ResultCollector } from '../catalog.ts';
import { HOLD_GUARD } from './holds.ts';
import { PHASE_READY } from './phase.ts';
import { K_COUNT, K_INTERNAL, K_PARSE, req } from './requests.ts';
import type { Req, Run } from './requests.ts';
import type { Session } from './session.ts';

export class GuardedWrites {
  readonly #s: Session;

  constructor(s: Session) {
    this.#s = s;
  }

  /** Before a guarded simple Query: open its transaction (or savepoint) and read the counters. */
  begin(g: Guard): void {
    const s = this.#s;
    const pre = req(K_INTERNAL);
    pre.collector = new ResultCollector();
    pre.onDone = () => {
      g.before = changedRows(pre.collector!, 1);
    };
    s.writeUp(queryMessage(`${g.inBlock ? 'SAVEPOINT airlock_guard' : 'BEGIN'}; ${CHANGED_ROWS_SQL}`));
    s.enqueue(pre);
    s.holds.add(HOLD_GUARD); // released when the guard has finished (COMMIT/ROLLBACK answered)
  }

  /**
   * Before a guarded Execute: the counters before it, in the same (implicit or explicit) transaction; the count
   * after it is asked for when its CommandComplete arrives (not now: a COPY FROM STDIN must see only copy data).
   * The caller forwards the Execute, then calls executeSent.
   */
  beforeExecute(g: Guard): void {
    this.#s.enqueue(
      this.countChanges((n) => {
        g.before = n;
      }),
    );
  }

  /** The guarded Execute is forwarded: ask for its result now (Flush) and hold the client until it is counted. */
  executeSent(): void {
    this.#s.writeUp(FLUSH);
    this.#s.holds.add(HOLD_GUARD);
  }

  /**
   * Read CHANGED_ROWS_SQL inside the extended protocol without touching the client's unnamed statement or
   * portal: a reserved named statement and portal, closed around the read. Writes the messages; the caller
   * queues the returned request where its responses will arrive.
   */
  countChanges(then: (n: number) => void): Req {
    const c = req(K_COUNT);
    c.onCount = then;
    this.#s.writeUp(COUNT_MESSAGES);
    return c;
  }

  /** The responses to a K_COUNT read. */
  countResponse(r: Req, buf: Buffer, type: number, start: number, end: number): void {
    switch (type) {
      case Backend.ParseComplete:
      case Backend.BindComplete:
      case Backend.CommandComplete:
        return;
      case Backend.DataRow:
        r.counted = Number(readFirstValue(buf, start, end));
        return;
      case Backend.CloseComplete:
        if (++r.closes < 2) return;
        this.#s.queue.shift();
        if (r.counted === null || !Number.isSafeInteger(r.counted))
          throw new Error('the changed-rows count could not be read');
        r.onCount!(r.counted);
        return;
    }
    // An error here means the transaction is not what the guard expects: nothing of it can be trusted.
    throw new Error(
      `the proxy's changed-rows count failed: ${type === Backend.ErrorResponse ? (readErrorFields(buf, start, end).get('M') ?? '?') : `message 0x${type.toString(16)}`}`,
    );
  }

  /**
   * A result row of a guarded statement: held until the count is known, up to `limit` rows. Beyond that the
   * rows say nothing certain about the count (a SELECT over a data-modifying CTE, EXPLAIN ANALYZE output, or
   * RETURNING rows an INSTEAD OF trigger made up), so what is held is forwarded and the rest streams; the
   * verdict follows them (CommandComplete, or the 42501 of a rollback, as when a statement fails mid-result).
   */
  row(g: Guard, rn: Run | null, buf: Buffer, start: number, end: number): void {
    const s = this.#s;
    if (g.streaming) {
      s.backend.dataRow(rn, buf, start, end);
      return;
    }
    if (g.heldRows < g.limit) {
      g.heldRows++;
      g.held.push(
        rn !== null && rn.rowMask !== null
          ? heldMasked(maskDataRow(buf, start, end, rn.rowMask, rn.fields!, s.shared.maskSettings, span()))
          : Buffer.from(buf.subarray(start, end)),
      );
      return;
    }
    g.streaming = true;
    for (const b of g.held) s.writeClient(b);
    g.held.length = 0;
    s.backend.dataRow(rn, buf, start, end);
  }

  /** COPY FROM STDIN under maxAffectedRows: the client's data must flow while the rest stays held. */
  copyIn(r: Req, buf: Buffer, start: number, end: number): void {
    const s = this.#s;
    s.backend.enterCopyIn(r);
    s.passClient(buf, start, end);
    setImmediate(() => {
      if (s.phase !== PHASE_READY || !s.copyIn) return;
      s.drainClient();
      s.client.resume();
    });
  }

  /** The responses to a guarded simple Query that the shared result path (backend.ts) leaves to the guard. */
  queryResponse(r: Req, g: Guard, rn: Run | null, buf: Buffer, type: number, start: number, end: number): void {
    const s = this.#s;
    switch (type) {
      case Backend.RowDescription:
        if (rn !== null) s.backend.rowDescription(rn, readRowDescription(buf, start, end));
        g.held.push(Buffer.from(buf.subarray(start, end)));
        return;
      case Backend.CommandComplete:
        g.tagCount = tagCount(buf, start, end);
        if (rn !== null) rn.rows = g.tagCount;
        g.held.push(Buffer.from(buf.subarray(start, end)));
        return;
      case Backend.ErrorResponse:
        g.failed = true;
        g.held.length = 0;
        s.backend.forwardError(rn, buf, start, end, r);
        if (rn !== null) s.backend.auditRun(rn, readErrorFields(buf, start, end).get('C') ?? null);
        return;
      case Backend.CopyOutResponse:
      case Backend.CopyBothResponse:
        throw new WireError('COPY TO in a guarded statement');
      case Backend.EmptyQueryResponse:
        g.held.push(Buffer.from(buf.subarray(start, end)));
        return;
      case Backend.ReadyForQuery: {
        s.queue.shift();
        const status = readReadyForQuery(buf, start, end);
        if (g.failed || status === TxStatus.Failed) {
          this.#finish(g, rn, status, Buffer.from(buf.subarray(start, end)));
          return;
        }
        // What did it change? The counters after it, in the same transaction, before COMMIT or RELEASE.
        const rfq = Buffer.from(buf.subarray(start, end));
        const cr = req(K_INTERNAL);
        cr.collector = new ResultCollector();
        cr.onDone = () => {
          settleCount(g, rn?.facts ?? null, changedRows(cr.collector!, 0));
          this.#finish(g, rn, status, rfq);
        };
        s.writeUp(queryMessage(CHANGED_ROWS_SQL));
        s.flushUp();
        s.enqueue(cr);
        return;
      }
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to a guarded Query`);
  }

  /** The guarded simple Query has run and been counted: commit or release it, or roll it back (over the limit). */
  #finish(g: Guard, rn: Run | null, status: number, rfq: Buffer): void {
    const s = this.#s;
    const over = guardOver(g);
    let finish: string | null;
    if (g.inBlock) {
      // In a failed block the savepoint stays (the client must ROLLBACK anyway); over the limit, undo to
      // it and fail the transaction as a failing statement would (the poison).
      finish =
        g.failed || status === TxStatus.Failed
          ? null
          : over
            ? `ROLLBACK TO SAVEPOINT airlock_guard; RELEASE SAVEPOINT airlock_guard; ${POISON_SQL}`
            : 'RELEASE SAVEPOINT airlock_guard';
    } else {
      finish = g.failed || over || status === TxStatus.Failed ? 'ROLLBACK' : 'COMMIT';
    }
    if (finish === null) {
      s.setTx(status);
      s.writeClient(rfq);
      s.holds.release(HOLD_GUARD);
      s.resumeClient();
      return;
    }
    const fr = req(K_INTERNAL);
    fr.collector = new ResultCollector();
    fr.onDone = (done) => this.#finished(g, rn, over, fr.collector!, done);
    // Written from the server side: flush toward the server now (this is not inside a client chunk).
    s.writeUp(queryMessage(finish));
    s.flushUp();
    s.enqueue(fr);
  }

  #finished(g: Guard, rn: Run | null, over: boolean, c: ResultCollector, rfq: Buffer): void {
    const s = this.#s;
    if (over) {
      const refusal = guardRollback(g);
      s.writeClient(errorResponse(refusal.fields));
      if (rn !== null) {
        rn.rolledBack = true;
        s.backend.auditRun(rn, '42501', refusal.decision);
      }
    } else if (!g.failed) {
      if (c.error !== null && !g.inBlock) {
        // COMMIT failed (a deferred constraint): the statement's effects are gone; tell the client why.
        s.writeClient(
          errorResponse({
            severity: 'ERROR',
            code: c.error.get('C') ?? 'XX000',
            message: c.error.get('M') ?? 'COMMIT failed',
          }),
        );
        if (rn !== null) s.backend.auditRun(rn, c.error.get('C') ?? 'XX000');
      } else {
        for (const b of g.held) s.writeClient(b);
        if (rn !== null) s.backend.auditRun(rn, null);
      }
    }
    g.held.length = 0;
    s.setTx(rfq[5]!);
    s.writeClient(rfq);
    s.holds.release(HOLD_GUARD);
    s.resumeClient();
  }

  /** The responses to a guarded Execute that the shared result path (backend.ts) leaves to the guard. */
  executeResponse(r: Req, g: Guard, rn: Run | null, buf: Buffer, type: number, start: number, end: number): void {
    const s = this.#s;
    switch (type) {
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended: {
        s.queue.shift();
        if (type === Backend.CommandComplete) {
          g.tagCount = tagCount(buf, start, end);
          if (rn !== null) rn.rows = g.tagCount;
        }
        g.held.push(Buffer.from(buf.subarray(start, end)));
        // Count now. Nothing the client sent after the Execute has gone upstream (it is held), so this read is
        // the next thing the server answers, ahead of the client's Sync: nothing has committed yet.
        s.queue.unshift(
          this.countChanges((n) => {
            settleCount(g, rn?.facts ?? null, n);
            this.#executeCounted(g, rn);
          }),
        );
        s.writeUp(FLUSH);
        s.flushUp();
        return;
      }
      case Backend.ErrorResponse:
        g.held.length = 0;
        s.backend.extendedError(r, buf, start, end);
        s.holds.release(HOLD_GUARD);
        s.resumeClient();
        return;
    }
    throw new WireError(`unexpected message 0x${type.toString(16)} in response to a guarded Execute`);
  }

  /** A guarded Execute has run and been counted: forward what was held, or poison the batch before its Sync. */
  #executeCounted(g: Guard, rn: Run | null): void {
    const s = this.#s;
    if (guardOver(g)) {
      g.held.length = 0;
      const refusal = guardRollback(g);
      const pr = req(K_PARSE);
      pr.denial = refusal.fields;
      if (rn !== null) {
        rn.rolledBack = true;
        const prn = { ...rn, decision: refusal.decision, code: '42501', done: false };
        pr.runs = [prn];
        rn.done = true;
      }
      // Ahead of everything the client sent after the Execute (held): the Sync cannot commit first.
      s.queue.unshift(pr);
      s.writeUp(POISON_PARSE);
      s.flushUp();
    } else {
      for (const b of g.held) s.writeClient(b);
      g.held.length = 0;
      if (rn !== null) s.backend.auditRun(rn, null);
    }
    s.holds.release(HOLD_GUARD);
    s.resumeClient();
  }
}

/** The trailing row count of a CommandComplete tag ("UPDATE 3", "INSERT 0 5"), or null. */
export function tagCount(buf: Buffer, start: number, end: number): number | null {
  let i = end - 2; // before the NUL
  let n = 0;
  let mul = 1;
  let digits = 0;
  while (i > start + 5 && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    n += (buf[i]! - 0x30) * mul;
    mul *= 10;
    digits++;
    i--;
  }
  if (digits === 0 || buf[i] !== 0x20) return null;
  return n;
}

/**
 * The extended-protocol read of CHANGED_ROWS_SQL (K_COUNT): a reserved statement and portal name, closed first
 * (a Parse of an existing name fails) and after. Built once.
 */
const COUNT_NAME = 'airlock_guard_count';
const COUNT_MESSAGES = Buffer.concat([
  closeMessage('S', COUNT_NAME),
  parseMessage(COUNT_NAME, CHANGED_ROWS_SQL),
  bindMessage({ portal: COUNT_NAME, statement: COUNT_NAME }),
  executeMessage(COUNT_NAME, 0),
  closeMessage('P', COUNT_NAME),
]);

/** The changed-rows count from statement `i` of an internal simple Query (CHANGED_ROWS_SQL). */
function changedRows(c: ResultCollector, i: number): number {
  if (c.error !== null)
    throw new Error(
      `the proxy's changed-rows count failed: ${c.error.get('M') ?? '?'} (SQLSTATE ${c.error.get('C') ?? '?'})`,
    );
  const n = Number(c.statements[i]?.[0]?.[0]);
  if (!Number.isSafeInteger(n)) throw new Error('the changed-rows count could not be read');
  return n;
}

/** The first column of a DataRow as text (the proxy's own count query). */
function readFirstValue(buf: Buffer, start: number, end: number): string | null {
  if (buf.readInt16BE(start + 5) < 1) return null;
  const len = buf.readInt32BE(start + 7);
  if (len < 0 || start + 11 + len > end) return null;
  return buf.toString('utf8', start + 11, start + 11 + len);
}

/** A masked row to hold: its view in the output slab, which is never rewritten (mask/slab.ts). */
function heldMasked(m: Span): Buffer {
  return m.buf.subarray(m.start, m.end);
}
