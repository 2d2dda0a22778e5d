// Pass-through toward one socket (style.md §2: forward, don't rebuild).

/**
 * Consecutive messages passed through unchanged from one read buffer: written as one slice when the run
 * ends (one socket write per run, not per message — the profile's largest cost is writing).
 */
export class WriteRun {
  buf: Buffer | null = null;
  start = 0;
  end = 0;
  /** Appends [start, end) when it continues the run; false when it does not. */
  extend(buf: Buffer, start: number, end: number): boolean {
    if (this.buf !== buf || this.end !== start) return false;
    this.end = end;
    return true;
  }
  begin(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.start = start;
    this.end = end;
  }
  flushTo(out: { write(b: Buffer): unknown }): this {
    if (this.buf !== null) {
      out.write(this.buf.subarray(this.start, this.end));
      this.buf = null;
    }
    return this;
  }
}
