// Go-style durations (time.ParseDuration), the notation Kubernetes users already write:
// "90s", "15m", "4h", "1h30m", "1.5h", "300ms". A sign is not accepted: every duration we take
// (maxDuration, holdTimeout, an AccessRequest's duration) is a positive span.

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds (rounded down), or null when `text` is not a duration. "0" alone is 0, as in Go. */
export function parseDuration(text: string): number | null {
  if (text === '0') return 0;
  if (text.length === 0) return null;
  PART.lastIndex = 0;
  let ms = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (m === null || m.index !== at) return null;
    ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return Number.isFinite(ms) ? Math.floor(ms) : null;
}

export const DURATION_HINT = 'write a duration such as 90s, 15m, 4h or 1h30m';
