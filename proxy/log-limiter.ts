// Repeated errors as one log line per kind and window, with counts (issue 15: a 1000-connection burst past
// PostgreSQL's limit wrote ~800 lines, a 3 s outage ~240). The first event of a kind is logged at once, as it
// was; the repeats within the next window are counted and written as one summary when the window ends — count,
// first and last time, the last message — and a storm that goes on gives one summary per window. Totals per kind
// stay for metrics (airlock_errors_total{kind}, proxy/metrics.ts).

/** One summary line per kind at most this often. */
export const LOG_WINDOW_MS_DEFAULT = 10_000;

export interface EventCount {
  /** Every event of the kind since start. */
  readonly total: number;
}

interface Window {
  suppressed: number;
  firstMs: number;
  lastMs: number;
  lastMessage: string;
  timer: NodeJS.Timeout;
}

export class LogLimiter {
  readonly #log: (message: string) => void;
  readonly #windowMs: number;
  readonly #totals = new Map<string, { total: number }>();
  readonly #open = new Map<string, Window>();

  constructor(log: (message: string) => void, windowMs = LOG_WINDOW_MS_DEFAULT) {
    this.#log = log;
    this.#windowMs = windowMs;
  }

  /** Record an event of `kind` (a short snake_case name); `message` is its full log line. */
  event(kind: string, message: string): void {
    let c = this.#totals.get(kind);
    if (c === undefined) this.#totals.set(kind, (c = { total: 0 }));
    c.total++;
    const w = this.#open.get(kind);
    const now = Date.now();
    if (w !== undefined) {
      if (w.suppressed === 0) w.firstMs = now;
      w.suppressed++;
      w.lastMs = now;
      w.lastMessage = message;
      return;
    }
    this.#log(message);
    this.#openWindow(kind);
  }

  #openWindow(kind: string): void {
    const w: Window = {
      suppressed: 0,
      firstMs: 0,
      lastMs: 0,
      lastMessage: '',
      timer: setTimeout(() => this.#close(kind, w), this.#windowMs),
    };
    w.timer.unref();
    this.#open.set(kind, w);
  }

  #close(kind: string, w: Window): void {
    this.#open.delete(kind);
    if (w.suppressed === 0) return;
    this.#log(
      `airlock: ${w.suppressed} more ${kind} event(s) in ${this.#windowMs / 1000} s, first ${new Date(w.firstMs).toISOString()}, `
        + `last ${new Date(w.lastMs).toISOString()} (${this.#totals.get(kind)!.total} since start); the last: ${w.lastMessage}`,
    );
    this.#openWindow(kind); // a storm that goes on: one summary per window
  }

  /** Totals by kind, for metrics. */
  counts(): ReadonlyMap<string, EventCount> {
    return this.#totals;
  }

  /** Write what the open windows hold now (at shutdown) and stop their timers. */
  flush(): void {
    for (const [kind, w] of [...this.#open]) {
      clearTimeout(w.timer);
      this.#close(kind, w);
      const again = this.#open.get(kind);
      if (again !== undefined) {
        clearTimeout(again.timer);
        this.#open.delete(kind);
      }
    }
  }
}
