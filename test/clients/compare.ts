// Field-by-field comparison of two transcripts of the same client program, one run directly against
// PostgreSQL and one through `airlock proxy` (issue 12). Pure: no I/O.
//
// A transcript is plain JSON (each program canonicalises its driver's values: numbers that JSON
// cannot carry exactly become tagged strings, bytes become hex, and so on), so "the same result" is
// deep equality. The one allowed difference is a masked value, and only as the masking strategy
// says: a string of the direct run that holds a raw value of the masked column must, through the
// proxy, hold exactly the masked form of that value in its place (MASKED_VALUES), and nothing else
// in that string may change. Everything else that differs is reported with its path.

const REDACTED = '***';

export interface Difference {
  readonly path: string;
  readonly direct: unknown;
  readonly proxy: unknown;
}

export interface Comparison {
  readonly differences: Difference[];
  /** Strings that differed only as masking says (so a test can tell masking really happened). */
  readonly masked: number;
}

export function compareTranscripts(direct: unknown, proxy: unknown, masks: ReadonlyMap<string, string>): Comparison {
  const out = { differences: [] as Difference[], masked: 0 };
  walk(direct, proxy, '$', masks, out);
  return out;
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function walk(
  d: unknown,
  p: unknown,
  path: string,
  masks: ReadonlyMap<string, string>,
  out: { differences: Difference[]; masked: number },
): void {
  const kd = kind(d);
  if (kd !== kind(p)) {
    out.differences.push({ path, direct: d, proxy: p });
    return;
  }
  if (kd === 'array') {
    const a = d as unknown[];
    const b = p as unknown[];
    if (a.length !== b.length) {
      out.differences.push({ path: `${path}.length`, direct: a.length, proxy: b.length });
    }
    for (let i = 0; i < Math.min(a.length, b.length); i++) walk(a[i], b[i], `${path}[${i}]`, masks, out);
    return;
  }
  if (kd === 'object') {
    const a = d as Record<string, unknown>;
    const b = p as Record<string, unknown>;
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of [...keys].sort()) {
      const sub = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
      if (!(k in a)) out.differences.push({ path: sub, direct: undefined, proxy: b[k] });
      else if (!(k in b)) out.differences.push({ path: sub, direct: a[k], proxy: undefined });
      else walk(a[k], b[k], sub, masks, out);
    }
    return;
  }
  if (d === p) return;
  if (kd === 'string' && maskedAsStrategySays(d as string, p as string, masks)) {
    out.masked++;
    return;
  }
  out.differences.push({ path, direct: d, proxy: p });
}

/**
 * True when `proxy` is `direct` with every raw masked value replaced by its masked form (and at least
 * one was), or when `direct` is exactly a raw value and `proxy` is `***`: a value computed from a
 * partially masked column (`email || ''`, `lower(email)`) is redacted, not partially shown
 * (policy/decide.ts: "computed values get at least redact").
 */
export function maskedAsStrategySays(direct: string, proxy: string, masks: ReadonlyMap<string, string>): boolean {
  if (proxy === REDACTED && masks.has(direct)) return true;
  let want = direct;
  for (const [raw, masked] of masks) want = want.replaceAll(raw, masked);
  if (want !== direct) return want === proxy;
  // The same in hex, for bytes a program printed as hex (a file psql's \copy wrote).
  for (const [raw, masked] of masks)
    want = want.replaceAll(Buffer.from(raw).toString('hex'), Buffer.from(masked).toString('hex'));
  return want !== direct && want === proxy;
}

/** Every raw masked value found anywhere in a transcript (a leak when the transcript is the proxy's). */
export function rawValuesIn(transcript: unknown, masks: ReadonlyMap<string, string>): string[] {
  const text = JSON.stringify(transcript);
  return [...masks.keys()].filter((raw) => text.includes(raw));
}

/** A readable list of differences for an assertion message (long values cut). */
export function describe(diffs: readonly Difference[], max = 20): string {
  const cut = (v: unknown): string => {
    const s = v === undefined ? '(absent)' : JSON.stringify(v);
    return s.length > 300 ? `${s.slice(0, 300)}…` : s;
  };
  const lines = diffs
    .slice(0, max)
    .map((d) => `  ${d.path}\n    direct: ${cut(d.direct)}\n    proxy:  ${cut(d.proxy)}`);
  if (diffs.length > max) lines.push(`  … and ${diffs.length - max} more`);
  return lines.join('\n');
}
