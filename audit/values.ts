// Plain helpers shared by the SDK path (attributes.ts, encoder.ts) and the lean writer (lean-span.ts). Imports
// no OpenTelemetry package: the proxy's main thread, which writes statement spans itself, loads none.

/** The SDK's HrTime: [seconds, nanoseconds]. */
export type HrTime = [number, number];

/** epoch ms (fractional) → the SDK's [seconds, nanoseconds], exact to the microsecond (µs since 1970 < 2^53). */
export function hrTime(ms: number): HrTime {
  const us = Math.round(ms * 1000);
  const s = Math.floor(us / 1_000_000);
  return [s, (us - s * 1_000_000) * 1000];
}

/** `text` cut to at most maxBytes of UTF-8, at a character boundary; null when it fits as it is. */
export function truncateUtf8(text: string, maxBytes: number): string | null {
  if (text.length * 3 <= maxBytes) return null; // a UTF-16 unit is at most 3 UTF-8 bytes: fits
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return null;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off a continuation byte to a character start
  return bytes.toString('utf8', 0, end);
}
