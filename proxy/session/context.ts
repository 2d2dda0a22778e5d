// The session context every statement is decided against, and its refresh: search_path, the mask catalog, the
// views and SQL functions over masked tables (policy/derived.ts), security_invoker views, and what existed when
// they were read (catalog.ts KnownObjects). Read in the setup round trip, again after a statement that changes
// any of them, after a policy change that masks other tables, and once older than CATALOG_MAX_AGE_MS.
import type { CompiledPolicySet, SessionContext, StatementFacts } from '../../policy/types.ts';
import { TxStatus } from '../wire/codes.ts';
import { query as queryMessage } from '../wire/messages.ts';
import { Gate, changesCatalog, changesResolution, masksAnything } from '../enforce/gate.ts';
import type { Checked, PolicyState } from '../enforce/gate.ts';
import {
  ResultCollector,
  setupPlan,
  maskedTables,
  unknownObject,
  ownCreatedKeys,
  EMPTY_MASK_CATALOG,
} from '../catalog.ts';
import type { KnownObjects } from '../catalog.ts';
import type { MaskCatalog, RowMask } from '../mask/types.ts';
import type { FieldInfo } from '../wire/read.ts';
import type { DerivedCatalog } from '../../policy/derived.ts';
import { HOLD_REFRESH } from './holds.ts';
import { K_INTERNAL, req } from './requests.ts';
import type { Session } from './session.ts';

/** How long views and SQL functions over masked tables are trusted before a session refetches them (ms). */
const CATALOG_MAX_AGE_MS = 10_000;

export const NO_COLUMNS: readonly string[] = Object.freeze([]);

export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** What the setup round trip read (catalog.ts SetupPlan.parse), for Context.start. */
export interface SetupRead {
  readonly searchPath: string[];
  readonly maskCatalog: MaskCatalog;
  readonly derived: DerivedCatalog;
  readonly known: KnownObjects | null;
  readonly invoker: SessionContext['invoker'];
}

export class Context {
  readonly #s: Session;
  /** Null until the setup round trip is in (Context.start). */
  gate: Gate | null = null;
  ctx: SessionContext | null = null;
  maskCatalog: MaskCatalog = EMPTY_MASK_CATALOG;
  #maskGeneration = -1;
  /** maskedTables() of the policy generation the mask catalog was read for, joined. */
  #maskTables = '';
  /** When the mask catalog (and the views over masked tables) was fetched: refetched once older than CATALOG_MAX_AGE_MS. */
  #catalogAtMs = 0;
  /** shared.catalogEpoch when the catalog this session decides with was fetched. */
  #catalogEpoch = 0;
  /** What existed at that fetch (catalog.ts KnownObjects); null when no policy masks anything. */
  #known: KnownObjects | null = null;
  /** This session ran DDL in the transaction now open (or the statement now running): bump the epoch once it commits. */
  #ddlUncommitted = false;
  /** The statement being decided again was held for a refetch because it named an object created since. */
  lineageRefetched = false;
  /** Analyses whose every name existed at the read behind this context. */
  readonly #allKnown = new WeakMap<object, SessionContext>();
  /**
   * Names this session's DDL created since its catalog was read (ownCreatedKeys), until the read that follows
   * it: a batch may use what it created. While set, result fields from relations newer than the read are not
   * redacted either (they are this session's own, or a same-name replacement from outside: Threat model).
   */
  #ownDdl: Set<string> | null = null;
  #maskingState: PolicyState | null = null;
  #masking = false;
  /** A SET LOCAL ran in the open transaction: its end changes settings back (refetch at the transaction statement). */
  #localSet = false;
  /** A statement just queued changes what the context holds: refetch behind it (simple protocol). */
  needsRefresh = false;
  /** Refetch at the next Sync's ReadyForQuery (no simple Query may be injected inside a batch). */
  refreshAfterSync = false;

  constructor(s: Session) {
    this.#s = s;
  }

  /** The setup round trip is in: the first context, and the gate that decides with it. */
  start(
    state: PolicyState,
    read: SetupRead,
    catalogRelations: ReadonlySet<string>,
    catalogFunctions: ReadonlySet<string>,
    epoch: number,
  ): void {
    const s = this.#s;
    const t = s.shared.target;
    this.#catalogAtMs = nowMs();
    this.#catalogEpoch = epoch;
    this.#known = read.known;
    s.shared.maskCatalogs.set(`${t.host}:${t.port}/${t.database}`, {
      generation: state.set.generation,
      catalog: read.maskCatalog,
      derived: read.derived,
      known: read.known,
      atMs: this.#catalogAtMs,
      epoch,
    });
    this.maskCatalog = read.maskCatalog;
    this.#maskGeneration = state.set.generation;
    this.#maskTables = maskedTables(state.set).join(',');
    this.ctx = {
      identity: s.shared.identity,
      database: t.binding,
      searchPath: read.searchPath,
      catalogRelations,
      catalogFunctions,
      grants: [],
      derived: read.derived,
      invoker: read.invoker,
    };
    this.gate = new Gate(state, this.ctx);
  }

  /** The state every statement is decided against: the current policy generation and search_path. */
  currentGate(): Gate {
    const gate = this.gate!;
    const state = this.#s.shared.state;
    if (gate.state !== state) {
      gate.rebind(state, this.ctx!);
      this.#maskCatalogFor(state.set);
    }
    return gate;
  }

  /** True while the mask catalog does not match the policy generation (refetch waits for Sync). */
  get stale(): boolean {
    return this.#maskGeneration !== this.#s.shared.state.set.generation;
  }

  /**
   * After a policy change: the mask catalog must cover the tables the new policies mask. When the set of
   * masked tables is unchanged the one we have is still right; otherwise use the server-wide cache or
   * refetch (queued before the statement being decided, so its rows are masked with the new catalog).
   */
  #maskCatalogFor(set: CompiledPolicySet): void {
    const tables = maskedTables(set).join(',');
    if (tables === this.#maskTables) {
      this.#maskGeneration = set.generation;
      return;
    }
    const s = this.#s;
    const t = s.shared.target;
    const cached = s.shared.maskCatalogs.get(`${t.host}:${t.port}/${t.database}`);
    if (cached !== undefined && cached.generation === set.generation) {
      this.#catalogAtMs = cached.atMs;
      this.#catalogEpoch = cached.epoch;
      this.#known = cached.known;
      this.maskCatalog = cached.catalog;
      this.#maskGeneration = set.generation;
      this.#maskTables = tables;
      this.ctx = { ...this.ctx!, derived: cached.derived };
      this.gate!.rebind(s.shared.state, this.ctx);
      return;
    }
    if (s.frontend.inBatch) {
      this.refreshAfterSync = true;
      return;
    }
    this.refresh();
  }

  /**
   * Views and SQL functions change under the proxy (DDL from other connections): a session deciding with
   * masked tables refetches them once they are older than CATALOG_MAX_AGE_MS, before the next statement.
   */
  tooOld(t0: number): boolean {
    return (
      this.#maskTables !== ''
      && (t0 - this.#catalogAtMs > CATALOG_MAX_AGE_MS || this.#catalogEpoch !== this.#s.shared.catalogEpoch)
      && this.#s.tx !== TxStatus.Failed
    );
  }

  /**
   * A statement naming a relation or function created after the catalog was fetched (another connection's new
   * view) has no lineage: true when it must wait for a refetch (once; a name that still does not exist is the
   * server's to refuse). Only for an identity with masking in force.
   */
  namesUnknownObject(checked: Checked): boolean {
    if (this.lineageRefetched) {
      this.lineageRefetched = false;
      return false;
    }
    if (this.#known === null || checked.denied !== null || this.#s.tx === TxStatus.Failed || !this.masksNow())
      return false;
    // A statement decided from the gate's cache is the same Analysis: asked once per catalog read (every
    // read, like every search_path change, makes a new context).
    const ctx = this.ctx!;
    if (this.#allKnown.get(checked.analysis) === ctx) return false;
    if (
      unknownObject(this.#known, checked.analysis.statements, ctx.searchPath, ctx.catalogFunctions, this.#ownDdl)
      !== null
    )
      return true;
    if (this.#ownDdl === null) this.#allKnown.set(checked.analysis, ctx);
    return false;
  }

  /** masksAnything for the current policy state, computed once per state (RowDescription asks it). */
  masksNow(): boolean {
    const shared = this.#s.shared;
    const state = shared.state;
    if (state !== this.#maskingState) {
      this.#maskingState = state;
      this.#masking = masksAnything(state, shared.identity, shared.target.binding);
    }
    return this.#masking;
  }

  /** Result fields of relations created since the catalog was read are redacted (masking in force, no own DDL). */
  get redactsUnknown(): boolean {
    return this.#known !== null && this.#ownDdl === null && this.masksNow();
  }

  /**
   * A field whose table OID is above the bound of the catalog's fetch comes from a relation created since
   * (another connection's new view): its lineage is not established, so it is redacted (issue 11), and the
   * catalog is refetched before the next statement. One compare per field.
   */
  redactUnknown(fields: readonly FieldInfo[], mask: RowMask | null): RowMask | null {
    const bound = this.#known!.oidBound;
    let out: RowMask[number][] | null = null;
    for (let i = 0; i < fields.length; i++) {
      if (fields[i]!.tableOid <= bound) continue;
      out ??= mask === null ? new Array<RowMask[number]>(fields.length).fill(null) : [...mask];
      if (out[i] !== 'null') out[i] = 'redact';
    }
    if (out === null) return mask;
    this.#catalogAtMs = 0;
    return out;
  }

  /** Track what a statement does to the context: name resolution, the catalog, SET LOCAL (statements.ts does prepared names). */
  noteEffects(f: StatementFacts): void {
    if (changesResolution(f) || changesCatalog(f) || (f.transaction && this.#localSet)) this.needsRefresh = true;
    if (changesCatalog(f)) {
      this.#ddlUncommitted = true;
      ownCreatedKeys(f, (this.#ownDdl ??= new Set()));
    }
    for (const e of f.effects) if (e.kind === 'set' && e.local) this.#localSet = true;
  }

  /** Every ReadyForQuery's status comes here: DDL this session ran is visible to others once it is Idle. */
  txStatus(status: number): void {
    if (this.#ddlUncommitted && status === TxStatus.Idle) {
      // Committed (or rolled back: a needless refetch). This session's own copy already reflects its DDL.
      this.#ddlUncommitted = false;
      const shared = this.#s.shared;
      const current = this.#catalogEpoch === shared.catalogEpoch;
      shared.catalogEpoch++;
      if (current) this.#catalogEpoch = shared.catalogEpoch;
    }
  }

  /** "schema.table.column" of every masked column of this identity (what an unattributed error could echo). */
  allMasked(): readonly string[] {
    const cols = this.gate?.sel.maskColumns;
    if (cols === undefined) return NO_COLUMNS;
    for (const _ in cols) return Object.keys(cols);
    return NO_COLUMNS;
  }

  /**
   * Refetch search_path (and the mask catalog) after the statement just forwarded: an internal query
   * queued behind it, with the client held so nothing is decided on the stale context.
   */
  refresh(): void {
    const s = this.#s;
    const state = s.shared.state;
    const tables = maskedTables(state.set);
    const plan = setupPlan({ needNames: false, maskTables: tables, analyze: (q) => state.analyzer.analyze(q) });
    const epoch = s.shared.catalogEpoch;
    const r = req(K_INTERNAL);
    r.collector = new ResultCollector();
    s.holds.add(HOLD_REFRESH);
    r.onDone = () => {
      s.holds.release(HOLD_REFRESH);
      try {
        const got = plan.parse(r.collector!);
        this.ctx = {
          ...this.ctx!,
          searchPath: got.searchPath,
          ...(got.derived === null ? {} : { derived: got.derived }),
          invoker: got.invoker,
        };
        if (got.maskCatalog !== null) {
          this.maskCatalog = got.maskCatalog;
          this.#maskGeneration = state.set.generation;
          this.#maskTables = tables.join(',');
          const t = s.shared.target;
          this.#catalogAtMs = nowMs();
          // max: this session's own DDL may have bumped the epoch (and its own copy) while this was in flight
          this.#catalogEpoch = Math.max(this.#catalogEpoch, epoch);
          this.#known = got.known;
          this.#ownDdl = null;
          s.shared.maskCatalogs.set(`${t.host}:${t.port}/${t.database}`, {
            generation: state.set.generation,
            catalog: got.maskCatalog,
            derived: got.derived!,
            known: got.known,
            atMs: this.#catalogAtMs,
            epoch,
          });
        }
        this.gate!.rebind(s.shared.state, this.ctx);
        this.#localSet = false;
      } catch (e) {
        // A failed refresh (e.g. in a failed transaction block) leaves the context unknown: fail closed.
        if (s.tx === TxStatus.Failed || r.collector!.error?.get('C') === '25P02') {
          // Retry after the transaction ends: the next statement to run will be ROLLBACK.
          this.needsRefresh = true;
        } else {
          s.fatal('XX000', `Airlock could not refresh the session's catalog context: ${(e as Error).message}`);
          return;
        }
      }
      s.resumeClient();
    };
    s.writeUp(queryMessage(plan.sql));
    s.enqueue(r);
  }
}
