// Approval holds (design.md: an `approve` rule needs an approved AccessRequest; approval.holdTimeout). A
// statement that needs approval and has no grant is held — its message stays unread, nothing of it reaches
// PostgreSQL — while the operator creates the AccessRequest, until a policy update (the grant arriving), the
// deadline, or the client's CancelRequest; then the session decides it again from scratch.
import type { ApproveDecision } from '../enforce/gate.ts';
import type { DenyDecision } from '../enforce/denial.ts';
import { HOLD_APPROVAL } from './holds.ts';
import type { Holds } from './holds.ts';
import type { Approvals } from './shared.ts';

/** A statement held while its AccessRequest is decided. */
interface Hold {
  readonly text: string;
  readonly deadlineMs: number;
  /** "ns/name" once the operator answered; the error text when it could not. */
  request: string | null;
  error: string | null;
  /** The session is holding the client for it now (released by a policy change or the deadline). */
  waiting: boolean;
  /** The client sent a CancelRequest while it was held: answer 57014, as PostgreSQL does, and do not run it. */
  cancelled: boolean;
  timer: NodeJS.Timeout | null;
}

export class ApprovalHolds {
  readonly #approvals: Approvals | null;
  readonly #holds: Holds;
  /** Called when a hold ends: the session reads the held message again on a fresh stack. */
  readonly #released: () => void;
  #hold: Hold | null = null;

  constructor(approvals: Approvals | null, holds: Holds, released: () => void) {
    this.#approvals = approvals;
    this.#holds = holds;
    this.#released = released;
  }

  /** The client is held for a statement's approval now. */
  get waiting(): boolean {
    return this.#hold?.waiting === true;
  }

  /**
   * A statement needs approval and no grant covers it. Sidecar mode: ask the operator for the AccessRequest
   * (once per statement) and hold. Returns null to hold, or the denial once holding is over.
   */
  check(text: string, d: ApproveDecision): DenyDecision | null {
    const approvals = this.#approvals;
    if (approvals === null) {
      return {
        verdict: 'deny',
        policy: d.policy,
        rule: d.rule,
        reason:
          'it needs an approved AccessRequest, and this proxy runs without the operator (local mode), so none can be requested',
        kind: 'approval',
      };
    }
    let h = this.#hold;
    if (h !== null && h.text !== text) {
      this.release();
      h = null;
    }
    if (h === null) {
      const hold: Hold = {
        text,
        deadlineMs: Date.now() + d.holdTimeoutMs,
        request: null,
        error: null,
        waiting: false,
        timer: null,
        cancelled: false,
      };
      this.#hold = h = hold;
      approvals.request({ statement: text, policy: d.policy, rule: d.rule }).then(
        (r) => {
          hold.request = `${r.namespace}/${r.name}`;
        },
        (e: unknown) => {
          hold.error = (e as Error).message;
          if (this.#hold === hold) this.release();
        },
      );
    }
    if (h.cancelled) {
      this.#hold = null;
      return {
        verdict: 'deny',
        policy: d.policy,
        rule: d.rule,
        reason: 'cancelled by the client while waiting for approval',
        kind: 'cancelled',
        ...(h.request === null ? {} : { accessRequest: h.request }),
      };
    }
    if (h.error !== null || Date.now() >= h.deadlineMs) {
      this.#hold = null; // not waiting: release() already cleared its timer
      const secs = Math.round(d.holdTimeoutMs / 1000);
      let reason: string;
      if (h.request !== null) {
        const [ns, name] = h.request.split('/') as [string, string];
        reason = `it needs an approved AccessRequest; ${h.request} was not approved within ${secs} s (holdTimeout). An approver runs \`airlock request approve ${name} -n ${ns}\`; then send the statement again`;
      } else
        reason = `it needs an approved AccessRequest, and none could be requested: ${h.error ?? `the operator did not answer within ${secs} s`}`;
      return {
        verdict: 'deny',
        policy: d.policy,
        rule: d.rule,
        reason,
        kind: 'approval',
        ...(h.request === null ? {} : { accessRequest: h.request }),
      };
    }
    if (!h.waiting) {
      h.waiting = true;
      this.#holds.add(HOLD_APPROVAL);
      h.timer = setTimeout(() => this.release(), Math.max(0, h.deadlineMs - Date.now()) + 1);
    }
    return null;
  }

  /** A statement was decided without needing approval: whatever was held before is over. */
  clear(): void {
    this.#hold = null;
  }

  /** The client's CancelRequest: true when a statement was held (it is then refused with 57014). */
  cancel(): boolean {
    const h = this.#hold;
    if (h === null || !h.waiting) return false;
    h.cancelled = true;
    this.release();
    return true;
  }

  /** Lets the held message be decided again (policy update, deadline, or the request failed). */
  release(): void {
    const h = this.#hold;
    if (h === null || !h.waiting) return;
    h.waiting = false;
    if (h.timer !== null) {
      clearTimeout(h.timer);
      h.timer = null;
    }
    this.#holds.release(HOLD_APPROVAL);
    this.#released();
  }

  /** The session ends. */
  close(): void {
    if (this.#hold?.timer != null) clearTimeout(this.#hold.timer);
  }
}
