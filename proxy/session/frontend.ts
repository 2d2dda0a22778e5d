// Client → server: every client message in the relay phase. Query and Parse are decided by the gate
// (enforce/gate.ts) before a byte of them goes upstream; a denial goes upstream as the poison statement in
// their place (docs/adr/0001-denial-by-poison-statement.md) and its error is replaced by the denial. Each
// forwarded message queues the request its responses will be matched to (requests.ts).
import type { Decision, StatementFacts } from '../../policy/types.ts';
import { NO_MASKS } from '../../policy/types.ts';
import { Frontend, TxStatus } from '../wire/codes.ts';
import { WireError } from '../wire/frames.ts';
import { FLUSH, describe as describeMessage } from '../wire/messages.ts';
import type { PgErrorFields } from '../wire/messages.ts';
import {
  InvalidTextError,
  readBind,
  readClose,
  readDescribe,
  readExecute,
  readParse,
  readQuery,
} from '../wire/read.ts';
import { POISON_PARSE, POISON_QUERY, deniedWhat, denialFields, heldFields, proxyRefusal } from '../enforce/denial.ts';
import type { DenyDecision } from '../enforce/denial.ts';
import type { Checked } from '../enforce/gate.ts';
import { guardFor, guardedInMultiStatement, guardedInParts, isGuarded } from '../enforce/guardrails.ts';
import { nowMs } from './context.ts';
import { copyQueryToDescribe } from './copy-describe.ts';
import { HOLD_IDLE } from './holds.ts';
import {
  K_BIND,
  K_CLOSE,
  K_DESCRIBE,
  K_DESCRIBE_INTERNAL,
  K_EXECUTE,
  K_PARSE,
  K_QUERY,
  K_SYNC,
  req,
  run,
} from './requests.ts';
import type { Portal, Prepared } from './requests.ts';
import { planMasks } from './result-mask.ts';
import type { Session } from './session.ts';

export class FrontendMessages {
  readonly #s: Session;
  /** Inside an extended-protocol batch (between the first message and Sync) no simple Query may be injected. */
  inBatch = false;

  constructor(s: Session) {
    this.#s = s;
  }

  /** Returns false to leave the message unread (the client is held). */
  message(buf: Buffer, type: number, start: number, end: number): boolean {
    const s = this.#s;
    if (
      s.holds.count > 0
      && !(s.copyFlows && (type === Frontend.CopyData || type === Frontend.CopyDone || type === Frontend.CopyFail))
      // libpq sends Sync right behind an extended-protocol COPY FROM, before its data. Held (a guarded
      // Execute), that Sync would stop the data behind it. It may go: in copy-in mode the server ignores
      // it (Req.duringCopy); had the COPY failed first, there is nothing left for it to commit.
      && !(s.copyInAhead > 0 && (type === Frontend.Sync || type === Frontend.Flush))
    ) {
      return false;
    }
    try {
      return this.#messageOf(buf, type, start, end);
    } catch (e) {
      if (!(e instanceof InvalidTextError)) throw e;
      // Every reader decodes its strings before the handler changes any state: refusing here loses nothing.
      this.#invalidText(type, e);
      return true;
    }
  }

  #messageOf(buf: Buffer, type: number, start: number, end: number): boolean {
    const s = this.#s;
    switch (type) {
      case Frontend.Query:
        return this.#query(buf, start, end);
      case Frontend.Parse:
        return this.#parse(buf, start, end);
      case Frontend.Bind:
        return this.#bind(buf, start, end);
      case Frontend.Describe:
        this.#describe(buf, start, end);
        return true;
      case Frontend.Execute:
        this.#execute(buf, start, end);
        return true;
      case Frontend.Close: {
        const c = readClose(buf, start, end);
        this.inBatch = true;
        s.statements.close(c.kind, c.name);
        s.passUp(buf, start, end);
        s.enqueue(req(K_CLOSE));
        return true;
      }
      case Frontend.Sync: {
        this.inBatch = false;
        s.passUp(buf, start, end);
        const r = req(K_SYNC);
        r.duringCopy = s.copyInAhead > 0;
        s.enqueue(r);
        return true;
      }
      case Frontend.Flush:
        s.passUp(buf, start, end);
        return true;
      case Frontend.CopyData:
      case Frontend.CopyDone:
      case Frontend.CopyFail:
        // Outside COPY FROM STDIN PostgreSQL ignores these; we drop them rather than forward bytes we do not expect.
        if (s.copyFlows) {
          s.passUp(buf, start, end);
          if (type !== Frontend.CopyData) {
            s.copyIn = false;
            if (s.copyInAhead > 0) s.copyInAhead--;
            // In the extended protocol the server keeps the COPY's CommandComplete in its output buffer until
            // a Flush or Sync. A held client (a guarded Execute waits for that very CommandComplete) cannot
            // send one that gets through, so we do: a Flush has no reply and changes nothing else.
            if (s.holds.count > 0) s.writeUp(FLUSH);
          }
        }
        return true;
      case Frontend.FunctionCall: {
        // The function call protocol runs a function by OID with no SQL to parse (style.md §3): deny.
        const d: DenyDecision = {
          verdict: 'deny',
          policy: null,
          rule: null,
          reason: 'the function call protocol is not allowed through Airlock',
        };
        this.#poisonQuery(denialFields(d, 'FunctionCall'), null, d, 'FUNCTION CALL');
        return true;
      }
      case Frontend.Terminate:
        s.close();
        return false;
      default:
        throw new WireError(`unexpected message type 0x${type.toString(16)} from the client`);
    }
  }

  /**
   * A Query, Parse, Bind, Describe, Execute or Close holding a string that is not UTF-8: refused, not
   * forwarded, with the error PostgreSQL gives (22021), and the session goes on; in the extended protocol the
   * error fails the batch up to Sync, as it does in PostgreSQL. The audit names no bytes of it.
   */
  #invalidText(type: number, e: InvalidTextError): void {
    const f: PgErrorFields = {
      severity: 'ERROR',
      code: '22021',
      message: 'invalid byte sequence for encoding "UTF8"',
      detail: `${e.message}; Airlock did not run it.`,
    };
    const d: DenyDecision = {
      verdict: 'deny',
      policy: null,
      rule: null,
      reason: 'invalid byte sequence for encoding "UTF8"',
    };
    if (type === Frontend.Query) {
      this.#poisonQuery(f, null, d, '');
      return;
    }
    this.inBatch = true;
    this.#poisonParse(f, d, null, '');
  }

  /** Before deciding: a catalog older than its limit is read again first, the statement left unread meanwhile. */
  #refreshFirst(t0: number): boolean {
    const s = this.#s;
    if (!s.context.tooOld(t0) || s.queue.length !== 0 || s.holds.count !== 0) return false;
    s.context.refresh();
    s.flushUp();
    return true;
  }

  /** The statement names an object created since the catalog was read: left unread until it is read again. */
  #refetchForLineage(): false {
    const s = this.#s;
    s.context.lineageRefetched = true;
    s.context.refresh();
    s.flushUp();
    return false;
  }

  /** Returns false to leave the Query unread (held: a refresh, an approval, or earlier requests first). */
  #query(buf: Buffer, start: number, end: number): boolean {
    const s = this.#s;
    const t0 = nowMs();
    if (end - start - 5 > s.shared.limits.maxStatementBytes) {
      this.#refuse(tooLarge(end - start - 5, s.shared.limits.maxStatementBytes), 'statement too large');
      return true;
    }
    if (!s.shared.audit.accepting()) {
      this.#refuse(AUDIT_FULL, 'audit spool full');
      return true;
    }
    const gate = s.context.currentGate();
    // Left unread: decided once the refetched catalog is in (the refresh holds the client).
    if (this.#refreshFirst(t0)) return false;
    const sql = readQuery(buf, start, end);
    const checked = gate.check(sql, s.statements.facts);
    if (s.context.namesUnknownObject(checked)) return this.#refetchForLineage();
    const stmts = checked.analysis.statements;
    const normalized = checked.analysis.normalized;
    if (checked.approval !== null) {
      const held = s.approvals.check(sql, checked.approval.decision);
      if (held === null) return false; // left unread until the request is decided or times out
      this.#poisonQuery(heldFields(held, checked.approval.what), stmts[0] ?? null, held, normalized, t0);
      return true;
    }
    s.approvals.clear();
    if (checked.denied !== null) {
      this.#poisonQuery(
        denialFields(checked.denied.decision, checked.denied.what),
        stmts[0] ?? null,
        checked.denied.decision,
        normalized,
        t0,
      );
      return true;
    }
    const facts = checked.facts;
    let copyQuery: string | null = null;
    for (let i = 0; i < facts.length; i++) {
      const q = copyQueryToDescribe(facts[i]!, checked.decisions[i]!);
      if (q === null) continue;
      if (facts.length > 1 || this.inBatch || s.skipping) {
        const d: DenyDecision = {
          verdict: 'deny',
          policy: null,
          rule: null,
          reason:
            'a COPY (query) that reads masked columns must be sent as a statement on its own, outside an extended-protocol batch',
        };
        this.#poisonQuery(denialFields(d, 'COPY statement'), stmts[i]!, d, normalized, t0);
        return true;
      }
      copyQuery = q;
    }
    // Guarded writes: maxAffectedRows (policy guardrails) needs the count before anything commits.
    const ctx = s.context.ctx!;
    let guarded = -1;
    for (let i = 0; i < facts.length; i++) if (isGuarded(checked.decisions[i]!, facts[i]!, ctx)) guarded = i;
    if (guarded >= 0 && (facts.length > 1 || s.tx === TxStatus.Failed)) {
      if (facts.length > 1) {
        const refusal = guardedInMultiStatement(checked.decisions[guarded] as GuardedDecision, facts[guarded]!, ctx);
        this.#poisonQuery(refusal.fields, facts[guarded]!, refusal.decision, normalized, t0);
        return true;
      }
      guarded = -1; // failed transaction: the server refuses it (25P02) and nothing can be written
    }
    if (guarded >= 0 && s.queue.length > 0) {
      // The guard needs the transaction status this statement will run in: wait for earlier requests.
      if (!s.holds.has(HOLD_IDLE)) s.holds.add(HOLD_IDLE);
      return false;
    }
    const r = req(K_QUERY);
    r.runs = [];
    for (let i = 0; i < facts.length; i++) {
      const f = facts[i]!;
      r.runs.push(run(f, checked.decisions[i]!, t0, normalized));
      if (isCopyFrom(f)) s.copyInAhead++;
      this.#noteEffects(stmts[i]!);
    }
    if (facts.length === 0) r.runs.push(run(null, EMPTY_ALLOW, t0, ''));
    if (copyQuery !== null) {
      s.copyDescribes.simple(r, copyQuery, Buffer.from(buf.subarray(start, end)));
      return true;
    }
    if (guarded >= 0) {
      const g = guardFor(
        checked.decisions[guarded] as GuardedDecision,
        facts[guarded]!,
        ctx,
        s.tx === TxStatus.InTransaction,
      );
      r.guard = g;
      s.guards.begin(g);
    }
    s.passUp(buf, start, end);
    s.enqueue(r);
    if (s.context.needsRefresh) {
      s.context.needsRefresh = false;
      s.context.refresh();
    }
    return true;
  }

  /** What a statement does to the session that the proxy must mirror: prepared names, and the context. */
  #noteEffects(f: StatementFacts): void {
    this.#s.statements.noteEffects(f);
    this.#s.context.noteEffects(f);
  }

  /** Deny a simple Query (or FunctionCall): the poison goes upstream, its error is replaced by `f`. */
  #poisonQuery(
    f: PgErrorFields,
    facts: StatementFacts | null,
    d: DenyDecision,
    normalized: string,
    t0 = nowMs(),
  ): void {
    const r = req(K_QUERY);
    r.denial = f;
    const rn = run(facts, d, t0, normalized);
    rn.code = f.code;
    r.runs = [rn];
    this.#s.writeUp(POISON_QUERY);
    this.#s.enqueue(r);
  }

  /** A refusal by the proxy itself (limits, audit): same path as a denial. */
  #refuse(f: PgErrorFields, reason: string): void {
    const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason };
    this.#poisonQuery(f, null, d, '');
  }

  /** Deny in the extended protocol: a Parse of the poison under a reserved name fails and skips to Sync. */
  #poisonParse(f: PgErrorFields, d: DenyDecision, facts: StatementFacts | null, normalized: string): void {
    const r = req(K_PARSE);
    r.denial = f;
    r.runs = [run(facts, d, nowMs(), normalized)];
    r.runs[0]!.code = f.code;
    this.#s.writeUp(POISON_PARSE);
    this.#s.enqueue(r);
  }

  /** Returns false to leave the Parse unread (held for approval or a refresh). */
  #parse(buf: Buffer, start: number, end: number): boolean {
    const s = this.#s;
    const t0 = nowMs();
    const limits = s.shared.limits;
    if (end - start - 5 > limits.maxStatementBytes || !s.shared.audit.accepting()) this.inBatch = true;
    if (end - start - 5 > limits.maxStatementBytes) {
      const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'statement too large' };
      this.#poisonParse(tooLarge(end - start - 5, limits.maxStatementBytes), d, null, '');
      return true;
    }
    if (!s.shared.audit.accepting()) {
      const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'audit spool full' };
      this.#poisonParse(AUDIT_FULL, d, null, '');
      return true;
    }
    const p = readParse(buf, start, end);
    const gate = s.context.currentGate();
    if (!this.inBatch && this.#refreshFirst(t0)) return false;
    const first = !this.inBatch;
    this.inBatch = true;
    if (s.context.stale) {
      this.#policyChangedMidBatch();
      return true;
    }
    const checked: Checked = gate.check(p.query, s.statements.facts);
    const facts = checked.analysis.statements[0] ?? null;
    const normalized = checked.analysis.normalized;
    if (s.context.namesUnknownObject(checked)) {
      if (first) {
        this.inBatch = false;
        return this.#refetchForLineage();
      }
      // No simple Query may be injected mid-batch: refuse, refetch after Sync (fail closed).
      s.context.refreshAfterSync = true;
      const d: DenyDecision = {
        verdict: 'deny',
        policy: null,
        rule: null,
        reason: 'names an object created since the catalog was read',
      };
      this.#poisonParse(
        proxyRefusal(
          '55000',
          'this statement names a relation or function created after Airlock last read the catalog; run it again',
          'Airlock reads the catalog again at the next Sync. Inside one batch, a relation must exist before the batch starts.',
        ),
        d,
        facts,
        normalized,
      );
      return true;
    }
    if (checked.approval !== null) {
      const held = s.approvals.check(p.query, checked.approval.decision);
      if (held === null) return false;
      this.#poisonParse(heldFields(held, checked.approval.what), held, facts, normalized);
      return true;
    }
    s.approvals.clear();
    if (checked.denied !== null) {
      this.#poisonParse(
        denialFields(checked.denied.decision, checked.denied.what),
        checked.denied.decision,
        facts,
        normalized,
      );
      return true;
    }
    if (checked.analysis.statements.length > 1) {
      // PostgreSQL refuses this too (42601 "cannot insert multiple commands into a prepared statement").
      const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'multiple statements in one Parse' };
      this.#poisonParse(
        proxyRefusal('42601', 'cannot insert multiple commands into a prepared statement'),
        d,
        facts,
        normalized,
      );
      return true;
    }
    const decision = checked.decisions[0] ?? EMPTY_ALLOW;
    const effFacts = checked.facts[0] ?? null;
    const stmt: Prepared = {
      name: p.name,
      text: p.query,
      facts: effFacts ?? EMPTY_FACTS,
      decision,
      generation: gate.generation,
      catalog: gate.catalogId,
      normalized,
      fields: null,
      describeSent: false,
    };
    s.statements.parsed(stmt, effFacts);
    if (effFacts !== null) this.#noteEffects(effFacts);
    const copyQuery = effFacts === null ? null : copyQueryToDescribe(effFacts, decision);
    if (copyQuery !== null) s.copyDescribes.extended(stmt, copyQuery);
    const r = req(K_PARSE);
    r.stmt = stmt;
    s.passUp(buf, start, end);
    s.enqueue(r);
    if (s.context.needsRefresh) {
      s.context.needsRefresh = false;
      s.context.refreshAfterSync = true;
    }
    return true;
  }

  /** The masked tables changed mid-batch: the catalog to mask with arrives after Sync; fail this batch. */
  #policyChangedMidBatch(): void {
    const d: DenyDecision = { verdict: 'deny', policy: null, rule: null, reason: 'policy changed' };
    this.#poisonParse(
      proxyRefusal(
        '40001',
        'the access policy changed during this batch of statements; run it again',
        'Airlock reloads which columns are masked at the next Sync.',
      ),
      d,
      null,
      '',
    );
  }

  /** Returns false to leave the Bind unread (the catalog is refetched first). */
  #bind(buf: Buffer, start: number, end: number): boolean {
    const s = this.#s;
    const gate = s.context.currentGate();
    // A statement prepared once and bound for hours must see views created since (as Query and Parse do).
    if (!this.inBatch && this.#refreshFirst(nowMs())) return false;
    this.inBatch = true;
    const b = readBind(buf, start, end);
    const stmt = s.statements.get(b.statement);
    if (stmt === undefined) {
      // Unknown to us (its Parse failed, or it never existed): the server would refuse it too; fail closed.
      const d: DenyDecision = {
        verdict: 'deny',
        policy: null,
        rule: null,
        reason: `prepared statement "${b.statement}" is not known to the proxy`,
      };
      this.#poisonParse(proxyRefusal('26000', `prepared statement "${b.statement}" does not exist`), d, null, '');
      return true;
    }
    if (s.context.stale) {
      this.#policyChangedMidBatch();
      return true;
    }
    const catalog = gate.catalogId;
    if (stmt.generation !== gate.generation || stmt.catalog !== catalog) {
      // A policy change (or new views) since Parse: decide the kept facts again (the statement text is unchanged).
      stmt.decision = gate.decideFacts(stmt.facts, stmt.text);
      stmt.generation = gate.generation;
      stmt.catalog = catalog;
    }
    if (stmt.decision.verdict === 'deny') {
      this.#poisonParse(
        denialFields(stmt.decision, deniedWhat(stmt.decision, stmt.facts, s.context.ctx)),
        stmt.decision,
        stmt.facts,
        stmt.normalized,
      );
      return true;
    }
    const portal: Portal = { name: b.portal, stmt, resultFormats: b.resultFormats, fields: null, describeSent: false };
    s.statements.bound(portal);
    s.passUp(buf, start, end);
    const r = req(K_BIND);
    r.portal = portal;
    s.enqueue(r);
    return true;
  }

  #describe(buf: Buffer, start: number, end: number): void {
    const s = this.#s;
    this.inBatch = true;
    const d = readDescribe(buf, start, end);
    const r = req(K_DESCRIBE);
    if (d.kind === 'S') {
      const stmt = s.statements.get(d.name) ?? null;
      if (stmt !== null) stmt.describeSent = true;
      r.stmt = stmt;
    } else {
      const portal = s.statements.portal(d.name) ?? null;
      if (portal !== null) portal.describeSent = true;
      r.portal = portal;
    }
    s.passUp(buf, start, end);
    s.enqueue(r);
  }

  #execute(buf: Buffer, start: number, end: number): void {
    const s = this.#s;
    this.inBatch = true;
    const e = readExecute(buf, start, end);
    const portal = s.statements.portal(e.portal) ?? null;
    const r = req(K_EXECUTE);
    r.portal = portal;
    if (portal !== null) {
      const stmt = portal.stmt;
      const rn = run(stmt.facts, stmt.decision, nowMs(), stmt.normalized);
      rn.copyFields = stmt.copyFields ?? null;
      r.runs = [rn];
      if (isCopyFrom(stmt.facts)) s.copyInAhead++;
      const d = stmt.decision;
      if (isGuarded(d, stmt.facts, s.context.ctx!)) {
        if (e.maxRows !== 0) {
          const refusal = guardedInParts(d, stmt.facts, s.context.ctx!);
          this.#poisonParse(refusal.fields, refusal.decision, stmt.facts, stmt.normalized);
          return;
        }
        // maxAffectedRows in the extended protocol: the implicit transaction (or the client's block) commits
        // only at Sync, so the proxy holds everything after this Execute, asks for the result now (Flush),
        // and if the count is over the limit sends the poison before the client's Sync: the transaction
        // aborts and nothing commits (docs/adr/0001-denial-by-poison-statement.md).
        r.guard = guardFor(d, stmt.facts, s.context.ctx!, false);
      }
      if (
        (d.verdict === 'allow' || d.verdict === 'warn')
        && planMasks(d.masks)
        && portal.fields === null
        && !portal.describeSent
        && !stmt.describeSent
      ) {
        // We must know the result's fields (and formats) to mask its rows: ask, and keep the answer to ourselves.
        const ir = req(K_DESCRIBE_INTERNAL);
        ir.portal = portal;
        portal.describeSent = true;
        s.writeUp(describeMessage('P', portal.name));
        s.enqueue(ir);
      }
    }
    const g = r.guard;
    if (g !== null && s.skipping) {
      // The server will skip it (an earlier message of the batch failed): nothing to guard.
      s.passUp(buf, start, end);
      return;
    }
    if (g !== null) s.guards.beforeExecute(g);
    s.passUp(buf, start, end);
    if (g !== null) s.guards.executeSent();
    s.enqueue(r);
  }
}

type GuardedDecision = Extract<Decision, { verdict: 'allow' | 'warn' }>;

function tooLarge(bytes: number, max: number): PgErrorFields {
  return proxyRefusal(
    '54000',
    `statement of ${bytes} bytes exceeds the proxy's --max-statement-bytes ${max}; it was not run`,
  );
}
const AUDIT_FULL = proxyRefusal(
  '53400',
  "the audit spool is full and the binding's audit.onFailure is block: statement refused, not run",
);

/** A COPY … FROM STDIN: the client sends its rows after the statement. */
function isCopyFrom(f: StatementFacts | null): boolean {
  if (f === null || f.tag !== 'CopyStmt' || f.copyTo !== null) return false;
  for (const a of f.accesses) if (a.operation === 'COPY_FROM') return true;
  return false;
}

/** The decision of an empty string (`;`): nothing to decide, nothing to mask. */
const EMPTY_ALLOW: Decision = Object.freeze({
  verdict: 'allow',
  policy: '',
  rule: '',
  masks: NO_MASKS,
  wouldDeny: Object.freeze([]),
  guardrails: Object.freeze({ maxAffectedRows: null, policy: null }),
});
const EMPTY_FACTS: StatementFacts = Object.freeze({
  tag: '',
  command: '',
  accesses: [],
  unsupported: [],
  effects: [],
  unfilteredWrite: false,
  writes: false,
  outputs: [],
  copyTo: null,
  transaction: false,
  executes: null,
  prepares: null,
});
