// Prepared statements and portals as the session knows them, kept in step with the server's: protocol Parse
// and SQL PREPARE share one namespace in PostgreSQL, so both land here, and EXECUTE name finds the facts its
// statement was prepared with (enforce/gate.ts check merges them).
import type { StatementFacts } from '../../policy/types.ts';
import type { Portal, Prepared } from './requests.ts';

export class Statements {
  readonly #prepared = new Map<string, Prepared>();
  /** Facts of prepared statements by name, for EXECUTE (SQL PREPARE adds facts with no Prepared). */
  readonly facts = new Map<string, StatementFacts>();
  readonly #portals = new Map<string, Portal>();

  get(name: string): Prepared | undefined {
    return this.#prepared.get(name);
  }
  portal(name: string): Portal | undefined {
    return this.#portals.get(name);
  }

  /**
   * A Parse the session forwards. A named statement that already exists makes the server fail this Parse
   * (42P05) and keep the old one: keep ours in step so its facts and masks stay the ones that apply.
   */
  parsed(stmt: Prepared, facts: StatementFacts | null): void {
    if (stmt.name !== '' && this.#prepared.has(stmt.name)) return;
    this.#prepared.set(stmt.name, stmt);
    if (stmt.name !== '' && facts !== null) this.facts.set(stmt.name, facts);
  }

  /** The server refused this Parse: the statement does not exist (unless an earlier one of that name does). */
  parseFailed(stmt: Prepared): void {
    if (this.#prepared.get(stmt.name) !== stmt) return;
    this.#prepared.delete(stmt.name);
    this.facts.delete(stmt.name);
  }

  /** A Bind the session forwards: an existing named portal stays (the server refuses the Bind). */
  bound(portal: Portal): void {
    if (portal.name === '' || !this.#portals.has(portal.name)) this.#portals.set(portal.name, portal);
  }

  /** Close S or Close P. */
  close(kind: 'S' | 'P', name: string): void {
    if (kind === 'S') {
      this.#prepared.delete(name);
      this.facts.delete(name);
    } else this.#portals.delete(name);
  }

  /** PREPARE, DEALLOCATE and DISCARD ALL in SQL. */
  noteEffects(f: StatementFacts): void {
    if (f.prepares !== null) this.facts.set(f.prepares, f);
    for (const e of f.effects) {
      if (e.kind === 'deallocate') {
        if (e.name === null) {
          this.facts.clear();
          this.#prepared.clear();
        } else {
          this.facts.delete(e.name);
          this.#prepared.delete(e.name);
        }
      } else if (e.kind === 'discard') {
        this.facts.clear();
        this.#prepared.clear();
      }
    }
  }

  /** Portals live until the transaction ends (protocol 55.2.3); WITH HOLD cursors are not portals. */
  transactionEnded(): void {
    if (this.#portals.size > 0) this.#portals.clear();
  }
}
