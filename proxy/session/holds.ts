// Why the session is not reading the client: one explicit set of hold reasons instead of a counter and flags.
// While any reason is held, client messages stay unread (the one the reader stopped at is stashed, session.ts),
// except COPY FROM STDIN input, which flows to the server whatever else waits (frontend.ts).

/** A guarded write (maxAffectedRows) is in flight: nothing else may reach the server before its count. */
export const HOLD_GUARD = 0;
/** The session context (search_path, mask catalog, views) is being read again: nothing is decided on the old one. */
export const HOLD_REFRESH = 1;
/** The proxy is describing a COPY (query) before it runs, to mask its output (K_COPY_DESCRIBE). */
export const HOLD_COPY_DESCRIBE = 2;
/** A statement waits for its AccessRequest to be decided (approval.ts). */
export const HOLD_APPROVAL = 3;
/** A guarded Query waits for the requests before it to finish: it needs the transaction status it runs in. */
export const HOLD_IDLE = 4;

const NAMES = ['guarded write', 'context refresh', 'COPY describe', 'approval', 'waiting for idle'];

/**
 * Counted per reason: two refreshes (one queued behind a statement, one after a Sync) or a refresh behind a
 * guarded write may overlap, and each release must match its own hold. `count` is the total, the one number the
 * hot path reads.
 */
export class Holds {
  readonly #byReason = [0, 0, 0, 0, 0];
  /** Holds in force, of every reason: the client is read only at 0. */
  count = 0;

  add(reason: number): void {
    this.#byReason[reason]!++;
    this.count++;
  }

  release(reason: number): void {
    if (this.#byReason[reason] === 0) throw new Error(`released a hold the session did not have: ${NAMES[reason]}`);
    this.#byReason[reason]!--;
    this.count--;
  }

  has(reason: number): boolean {
    return this.#byReason[reason]! > 0;
  }

  /** For errors and logs: `guarded write, context refresh`. */
  toString(): string {
    const out: string[] = [];
    for (let i = 0; i < NAMES.length; i++) if (this.#byReason[i]! > 0) out.push(NAMES[i]!);
    return out.length === 0 ? 'none' : out.join(', ');
  }
}
