// `airlock audit tail`: the most recent audit records as a table, read from the spool (what this sidecar
// recorded and has not yet deleted after export) or from an OTLP/JSON file (the Collector's file exporter,
// one ExportTraceServiceRequest per line, or one JSON document).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { decodeSpan, KIND_STATEMENT_SPAN, type AttrValue } from './otlp.ts';
import * as sc from './semconv.ts';
import { readRecentPayloads } from './spool.ts';

export interface AuditTailOptions {
  readonly spoolDir?: string;
  readonly file?: string;
  readonly limit: number;
}

interface Row {
  readonly timeNs: bigint;
  readonly attrs: ReadonlyMap<string, AttrValue>;
}

const QUERY_CHARS = 60;
const CELL_CHARS = 40;

/** Returns the lines to print: a header and one line per statement, oldest first. Throws on an unreadable source. */
export function auditTail(opts: AuditTailOptions): string[] {
  if ((opts.spoolDir === undefined) === (opts.file === undefined)) {
    throw new Error('audit tail: give exactly one of a spool directory or an OTLP JSON file');
  }
  const limit = Math.max(0, Math.floor(opts.limit));
  let rows: Row[];
  let source: string;
  if (opts.spoolDir !== undefined) {
    source = opts.spoolDir;
    if (!existsSync(source) || !statSync(source).isDirectory()) {
      throw new Error(`audit tail: spool directory ${source} does not exist`);
    }
    rows = readRecentPayloads(source, limit, (p) => p[0] === KIND_STATEMENT_SPAN).flatMap((p) => {
      try {
        const span = decodeSpan(p.subarray(1));
        return [{ timeNs: span.startTimeUnixNano, attrs: span.attributes }];
      } catch {
        return []; // a frame that passed its CRC but is not a span of ours: nothing to show
      }
    });
  } else {
    source = opts.file!;
    rows = rowsFromOtlpJson(readFileSync(source, 'utf8'), source);
    rows.sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
    rows = rows.slice(Math.max(0, rows.length - limit));
  }
  if (rows.length === 0) return [`no audit records in ${source}`];
  return render(rows);
}

function rowsFromOtlpJson(text: string, source: string): Row[] {
  let docs: unknown[];
  try {
    docs = [JSON.parse(text)];
  } catch {
    docs = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      try {
        docs.push(JSON.parse(line));
      } catch {
        throw new Error(
          `audit tail: ${source}:${i + 1}: not OTLP JSON (expected one ExportTraceServiceRequest per line)`,
        );
      }
    }
  }
  const rows: Row[] = [];
  for (const doc of docs) {
    for (const rs of arr(obj(doc).resourceSpans)) {
      for (const ss of arr(obj(rs).scopeSpans)) {
        for (const span of arr(obj(ss).spans)) {
          const s = obj(span);
          const attrs = new Map<string, AttrValue>();
          for (const kv of arr(s.attributes)) {
            const { key, value } = obj(kv);
            if (typeof key === 'string') attrs.set(key, jsonValue(value));
          }
          if (!attrs.has(sc.ATTR_AIRLOCK_DECISION)) continue; // session spans and foreign spans
          let timeNs = 0n;
          try {
            timeNs = BigInt(String(s.startTimeUnixNano ?? '0'));
          } catch {
            /* unreadable time shows as 1970 */
          }
          rows.push({ timeNs, attrs });
        }
      }
    }
  }
  return rows;
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** OTLP/JSON AnyValue: int64 arrives as a decimal string (proto3 JSON mapping). */
function jsonValue(v: unknown): AttrValue {
  const o = obj(v);
  if (typeof o.stringValue === 'string') return o.stringValue;
  if (typeof o.boolValue === 'boolean') return o.boolValue;
  if (o.intValue !== undefined) return Number(o.intValue);
  if (typeof o.doubleValue === 'number') return o.doubleValue;
  if (o.arrayValue !== undefined) return arr(obj(o.arrayValue).values).map(jsonValue);
  return '';
}

/**
 * Makes a value safe for a terminal: identifiers in query text and names are chosen by whoever wrote the SQL,
 * so control characters (ANSI escapes) and bidi overrides are replaced, whitespace runs become one space.
 */
function clean(s: string, max: number): string {
  const flat = s
    .replace(/\s+/g, ' ')
    .replace(/[\p{Cc}\p{Cf}]/gu, '?')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function str(v: AttrValue | undefined): string {
  if (v === undefined) return '';
  return Array.isArray(v) ? v.join(',') : String(v);
}

function render(rows: Row[]): string[] {
  const header = ['TIME', 'SUBJECT', 'DECISION', 'OPERATION', 'COLLECTION', 'ROWS', 'POLICY/RULE', 'QUERY'];
  const table = rows.map(({ timeNs, attrs }) => {
    const policy = str(attrs.get(sc.ATTR_AIRLOCK_POLICY));
    const rule = str(attrs.get(sc.ATTR_AIRLOCK_RULE));
    return [
      new Date(Number(timeNs / 1_000_000n)).toISOString(),
      clean(str(attrs.get(sc.ATTR_AIRLOCK_SUBJECT)), CELL_CHARS),
      clean(str(attrs.get(sc.ATTR_AIRLOCK_DECISION)), 8),
      clean(str(attrs.get(sc.ATTR_DB_OPERATION_NAME)), 12),
      clean(str(attrs.get(sc.ATTR_DB_COLLECTION_NAME)), CELL_CHARS),
      clean(str(attrs.get(sc.ATTR_AIRLOCK_ROWS)), 12),
      clean(policy === '' && rule === '' ? '' : `${policy}/${rule}`, CELL_CHARS),
      clean(str(attrs.get(sc.ATTR_DB_QUERY_TEXT)), QUERY_CHARS),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...table.map(line)];
}
