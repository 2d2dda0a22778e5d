import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MASK_STRATEGIES, type MaskStrategy } from '../../policy/types.ts';
import type { FieldInfo } from '../wire/read.ts';
import { maskDataRow as maskDataRowSpan } from './datarow.ts';
import { span } from './slab.ts';
import { MaskError } from './mask-error.ts';
import { partialText, valueKind } from './strategies.ts';

// The masked row's bytes, as the session passes them.
function maskDataRow(
  ...a: [Buffer, number, number, readonly (MaskStrategy | null)[], FieldInfo[], { hashKey: Buffer }]
): Buffer {
  const m = maskDataRowSpan(...a, span());
  return m.buf.subarray(m.start, m.end);
}

const settings = { hashKey: Buffer.alloc(32, 3) };

// Independent little codec: built from the protocol docs, sharing nothing with datarow.ts.
function encodeRow(values: readonly (Buffer | null)[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    const n = Buffer.alloc(4);
    n.writeInt32BE(v === null ? -1 : v.length);
    parts.push(n);
    if (v !== null) parts.push(v);
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(7);
  head.write('D', 0, 'latin1');
  head.writeInt32BE(6 + body.length, 1);
  head.writeInt16BE(values.length, 5);
  return Buffer.concat([head, body]);
}
function decodeRow(msg: Buffer): (Buffer | null)[] {
  assert.equal(msg.toString('latin1', 0, 1), 'D');
  assert.equal(msg.readInt32BE(1), msg.length - 1, 'message length');
  const count = msg.readInt16BE(5);
  const out: (Buffer | null)[] = [];
  let p = 7;
  for (let i = 0; i < count; i++) {
    const n = msg.readInt32BE(p);
    p += 4;
    if (n === -1) {
      out.push(null);
      continue;
    }
    out.push(msg.subarray(p, p + n));
    p += n;
  }
  assert.equal(p, msg.length, 'no trailing bytes');
  return out;
}

const field = (typeOid: number, format: 0 | 1 = 0): FieldInfo => ({
  name: 'c',
  tableOid: 0,
  attnum: 0,
  typeOid,
  typeLen: -1,
  typeMod: -1,
  format,
});
const TEXT = field(25);
const INT4 = field(23);
const INT4_BIN = field(23, 1);
const TEXT_BIN = field(25, 1);
const b = (s: string): Buffer => Buffer.from(s);

/** The row embedded at an offset inside a bigger buffer, as the session hands it over. */
function run(values: (Buffer | null)[], mask: (MaskStrategy | null)[], fields: FieldInfo[]): (Buffer | null)[] {
  const row = encodeRow(values);
  const chunk = Buffer.concat([b('junk'), row, b('more')]);
  return decodeRow(maskDataRow(chunk, 4, 4 + row.length, mask, fields, settings));
}

test('masks the masked columns and copies the others byte for byte', () => {
  const int = Buffer.from([0, 0, 0, 42]);
  const out = run(
    [b('1'), b('alice@example.com'), null, int, b('Zürich 8001')],
    [null, 'partial', 'redact', 'redact', null],
    [INT4, TEXT, TEXT, INT4_BIN, TEXT],
  );
  assert.deepEqual(out, [b('1'), b('a***@example.com'), null, null, b('Zürich 8001')]);
});

test('every strategy, text and binary format, text-like and non-text types', () => {
  const v = b('4111-1111-1111-1111');
  for (const s of MASK_STRATEGIES) {
    for (const f of [TEXT, TEXT_BIN, field(1043), field(1043, 1)]) {
      const [out] = run([v], [s], [f]);
      if (s === 'null') assert.equal(out, null);
      else if (s === 'redact') assert.deepEqual(out, b('***'));
      else if (s === 'partial') assert.deepEqual(out, b('*'.repeat(15) + '1111'));
      else assert.match(out!.toString(), /^[0-9a-f]{16}$/);
    }
    for (const f of [INT4, INT4_BIN, field(1700), field(2950, 1), field(17), field(1009)]) {
      assert.deepEqual(run([v], [s], [f]), [null], `type ${f.typeOid} format ${f.format} ${s}`);
    }
  }
});

test('NULLs stay NULL, empty strings are masked, zero columns round-trip', () => {
  assert.deepEqual(run([null, b('')], ['redact', 'redact'], [TEXT, TEXT]), [null, b('***')]);
  assert.deepEqual(run([b('')], ['partial'], [TEXT]), [b('')]);
  assert.deepEqual(run([], [], []), []);
});

test('multi-byte UTF-8 is masked on code points', () => {
  const [out] = run([b('東京都千代田区丸の内')], ['partial'], [TEXT]);
  assert.equal(out!.toString('utf8'), '*******丸の内');
  assert.equal(Buffer.from(out!.toString('utf8')).length, out!.length, 'valid UTF-8');
});

test('a value that grows changes the length prefix and the message length', () => {
  const [out] = run([b('')], ['hash'], [TEXT]);
  assert.equal(out!.length, 16);
  const big = run([b('x'.repeat(70000)), b('y')], ['redact', null], [TEXT, TEXT]);
  assert.deepEqual(big, [b('***'), b('y')]);
});

test('malformed rows throw MaskError', () => {
  const good = encodeRow([b('abc'), null]);
  const f2 = [TEXT, TEXT];
  const m2 = ['redact', null] as const;
  const bad = (
    buf: Buffer,
    fields: FieldInfo[] = f2,
    mask: readonly (MaskStrategy | null)[] = m2,
    start = 0,
    end = buf.length,
  ) => assert.throws(() => maskDataRow(buf, start, end, mask, fields, settings), MaskError);
  const mutate = (fn: (c: Buffer) => void): Buffer => {
    const c = Buffer.from(good);
    fn(c);
    return c;
  };
  bad(good, [TEXT]); // count does not match the fields
  bad(good, f2, ['redact']); // mask does not match the fields
  bad(
    mutate((c) => {
      c[0] = 0x54;
    }),
  ); // not 'D'
  bad(mutate((c) => c.writeInt32BE(c.length, 1))); // length field off by one
  bad(
    mutate((c) => c.writeInt16BE(3, 5)),
    [TEXT, TEXT, TEXT],
    ['redact', null, null],
  ); // third column missing
  bad(mutate((c) => c.writeInt32BE(100, 7))); // length past the end
  bad(mutate((c) => c.writeInt32BE(-2, 7))); // negative, not -1
  bad(mutate((c) => c.writeInt32BE(-2147483648, 14))); // very negative in an unmasked column
  bad(mutate((c) => c.writeInt32BE(2, 7))); // shorter value leaves trailing bytes
  const trailing = Buffer.concat([good, b('x')]);
  trailing.writeInt32BE(trailing.length - 1, 1);
  bad(trailing); // bytes after the last column
  bad(good, f2, m2, 0, good.length + 1); // end past the buffer
  bad(good.subarray(0, 6)); // shorter than a header
  bad(
    mutate((c) => c.writeInt16BE(-1, 5)),
    [],
    [],
  ); // negative count
});

// A value with a non-hex character and no '*' cannot appear inside ***, a partial view, a hex
// digest or a shorter string, so "the output never contains the original" is a sharp claim.
const secret = fc
  .string({
    unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz@.é東😀\t\n"\\ 0123456789'),
    minLength: 5,
    maxLength: 40,
  })
  .filter((s) => /[^0-9a-f]/.test(s));
const strategy = fc.option(fc.constantFrom(...MASK_STRATEGIES), { nil: null });
const typeOid = fc.constantFrom(25, 1043, 19, 1042, 114, 23, 20, 1700, 16, 17, 16384 + 5);
const column = fc.record({
  value: fc.option(secret, { nil: null, freq: 6 }),
  strategy,
  typeOid,
  format: fc.constantFrom(0 as const, 1 as const),
});

test('property: unmasked columns keep their bytes, masked ones never contain the original', () => {
  fc.assert(
    fc.property(fc.array(column, { maxLength: 12 }), (cols) => {
      const fields = cols.map((c) => field(c.typeOid, c.format));
      // jsonb binary values carry a version byte; json values are quoted JSON strings.
      const values = cols.map((c) =>
        c.value === null ? null : c.typeOid === 114 ? b(JSON.stringify(c.value)) : b(c.value),
      );
      const out = run(
        values,
        cols.map((c) => c.strategy),
        fields,
      );
      assert.equal(out.length, cols.length);
      cols.forEach((c, i) => {
        if (c.strategy === null || values[i] === null) {
          assert.deepEqual(out[i], values[i]);
          return;
        }
        const o = out[i];
        if (valueKind(c.typeOid, c.format) === 'other' || c.strategy === 'null') {
          assert.equal(o, null);
          return;
        }
        assert.ok(o != null, `text-like column ${i} masked as NULL`);
        const text = o.toString('utf8');
        assert.ok(
          !text.includes(c.value!),
          `column ${i} (${c.strategy}, oid ${c.typeOid}) leaked ${JSON.stringify(c.value)} as ${JSON.stringify(text)}`,
        );
        if (c.typeOid === 114) JSON.parse(text);
        if (c.strategy === 'partial' && c.typeOid !== 114 && c.typeOid !== 1042)
          assert.equal(text, partialText(c.value!));
      });
    }),
    { numRuns: 2000 },
  );
});

test('a masked row is written into the output slab and stays as written while later rows are masked', () => {
  // The session passes the span to the socket, and a guarded write holds it until its count is known:
  // neither may see the bytes change when tens of thousands of later rows fill further slabs.
  const kept: { row: Buffer; want: (Buffer | null)[] }[] = [];
  const fields = [TEXT, TEXT];
  for (let i = 0; i < 30_000; i++) {
    const input = encodeRow([b(String(i)), b(`user${i}@example.com`)]);
    const m = maskDataRowSpan(input, 0, input.length, [null, 'partial'], fields, settings, span());
    assert.notEqual(m.buf, input, 'never a view of the input: the read buffer is reused');
    if (i % 997 === 0)
      kept.push({ row: m.buf.subarray(m.start, m.end), want: [b(String(i)), b(partialText(`user${i}@example.com`))] });
  }
  assert.ok(new Set(kept.map((k) => k.row.buffer)).size > 1, 'the test spans more than one slab');
  for (const k of kept) assert.deepEqual(decodeRow(k.row), k.want);
});
