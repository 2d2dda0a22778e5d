// Rewrite one DataRow with its masked columns replaced (protocol-message-formats: DataRow).
//   Byte1('D') Int32 len (counts itself, not the type byte) Int16 count
//   then per column: Int32 n (-1 = NULL, no bytes follow) and n bytes.
// The session calls this only for rows of a statement whose RowMask masks something; every other
// row is forwarded as the bytes it came in. Anything malformed throws MaskError: the session sends
// FATAL 08P01 and closes, so a row we could not parse never reaches the client.
// The masked row is written into the output slab (slab.ts), never a view of the input: the session passes
// it like an unmasked row, so the rows of one read leave in one socket write, and a guarded write may hold it.
import type { MaskSettings, RowMask } from './types.ts';
import type { FieldInfo } from '../wire/read.ts';
import { MaskError } from './mask-error.ts';
import { fieldKind, maskValue } from './strategies.ts';
import { copyBytes, place, type Span } from './slab.ts';

const DATA_ROW = 0x44; // 'D'
/** Type byte + length + column count. */
const HEADER_BYTES = 7;
const MAX_MESSAGE_LEN = 0x7fffffff;

// Replacement per masked column between the sizing pass and the writing pass. Module scratch, not a
// per-row array: maskDataRow is synchronous and never re-entered, and the entries are cleared before
// it returns so no row's value outlives the call (shared/style.md §2: retained views corrupt).
const scratch: (Buffer | null)[] = [];

/** The DataRow buf[start, end) with its masked columns replaced, written into the output slab: `out`, returned. */
export function maskDataRow(
  buf: Buffer,
  start: number,
  end: number,
  mask: RowMask,
  fields: readonly FieldInfo[],
  settings: MaskSettings,
  out: Span,
): Span {
  if (!(start >= 0 && end <= buf.length && end - start >= HEADER_BYTES)) {
    throw new MaskError(`DataRow: bounds ${start}..${end} invalid for a ${buf.length}-byte buffer`);
  }
  if (buf[start] !== DATA_ROW) throw new MaskError(`DataRow: type byte 0x${buf[start]!.toString(16)} is not 'D'`);
  const len = buf.readInt32BE(start + 1);
  if (len !== end - start - 1)
    throw new MaskError(`DataRow: length field ${len} does not match message size ${end - start - 1}`);
  const count = buf.readInt16BE(start + 5);
  if (count !== fields.length) throw new MaskError(`DataRow: ${count} columns, RowDescription has ${fields.length}`);
  if (mask.length !== count) throw new MaskError(`DataRow: mask has ${mask.length} entries for ${count} columns`);

  // Pass 1: validate every length, mask the masked values, size the output.
  let size = HEADER_BYTES;
  let pos = start + HEADER_BYTES;
  try {
    for (let i = 0; i < count; i++) {
      if (end - pos < 4) throw new MaskError(`DataRow: column ${i + 1} length runs past the message end`);
      const n = buf.readInt32BE(pos);
      pos += 4;
      if (n === -1) {
        size += 4;
        continue;
      } // NULL stays NULL whatever the strategy: nothing to leak
      if (n < 0) throw new MaskError(`DataRow: column ${i + 1} has negative length ${n}`);
      if (n > end - pos) throw new MaskError(`DataRow: column ${i + 1} length ${n} runs past the message end`);
      const strategy = mask[i];
      if (strategy == null) {
        size += 4 + n;
      } else {
        const v = maskValue(strategy, buf, pos, pos + n, fieldKind(fields[i]!), settings);
        scratch[i] = v;
        size += 4 + (v === null ? 0 : v.length);
      }
      pos += n;
    }
    if (pos !== end) throw new MaskError(`DataRow: ${end - pos} bytes after the last column`);
    if (size - 1 > MAX_MESSAGE_LEN) throw new MaskError('DataRow: masked row exceeds the protocol message size');
  } catch (err) {
    scratch.fill(null, 0, count); // drop references to this row's masked values
    throw err;
  }

  // Pass 2: one allocation, every byte of it written. Runs of unmasked columns (length prefixes
  // included) are copied as one block.
  const dst = place(size, out);
  const at = out.start;
  dst[at] = DATA_ROW;
  dst.writeInt32BE(size - 1, at + 1);
  dst.writeInt16BE(count, at + 5);
  let w = at + HEADER_BYTES;
  let runStart = start + HEADER_BYTES;
  pos = runStart;
  for (let i = 0; i < count; i++) {
    const n = buf.readInt32BE(pos);
    const valueEnd = pos + 4 + (n < 0 ? 0 : n);
    if (mask[i] == null || n === -1) {
      pos = valueEnd;
      continue;
    }
    w += copyBytes(buf, runStart, pos, dst, w);
    const v = scratch[i]!;
    scratch[i] = null;
    if (v === null) {
      dst.writeInt32BE(-1, w);
      w += 4;
    } else {
      dst.writeInt32BE(v.length, w);
      w += 4 + copyBytes(v, 0, v.length, dst, w + 4);
    }
    pos = runStart = valueEnd;
  }
  w += copyBytes(buf, runStart, end, dst, w);
  if (w !== out.end) throw new MaskError(`DataRow: internal size mismatch ${w - at} != ${size}`);
  return out;
}
