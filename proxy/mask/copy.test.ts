import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MASK_STRATEGIES, type MaskStrategy } from '../../policy/types.ts';
import { partialText } from './strategies.ts';
import {
  maskCopyData as maskCopyDataSpan,
  decodeText,
  encodeText,
  copyBinaryMaskUnsupported,
  binaryCopyState,
  maskCopyBinary as maskCopyBinarySpan,
  type CopyOptions,
  type BinaryCopyState,
} from './copy.ts';
import { span, type Span } from './slab.ts';
import type { FieldInfo } from '../wire/read.ts';
import { MaskError } from './mask-error.ts';

const settings = { hashKey: Buffer.alloc(32, 5) };

// The message's bytes, copied: what the session would write (it passes the span before the next call).
const bytesOf = (m: Span): Buffer => Buffer.from(m.buf.subarray(m.start, m.end));
function maskCopyData(
  buf: Buffer,
  start: number,
  end: number,
  mask: (MaskStrategy | null)[],
  opts: CopyOptions,
  s: typeof settings,
): Buffer {
  return bytesOf(maskCopyDataSpan(buf, start, end, mask, opts, s, span()));
}
function maskCopyBinary(buf: Buffer, start: number, end: number, st: BinaryCopyState, s: typeof settings): Buffer {
  return bytesOf(maskCopyBinarySpan(buf, start, end, st, s, span()));
}

function copyData(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head.write('d', 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
function masked(payload: string, mask: (MaskStrategy | null)[], opts: CopyOptions): string {
  const msg = copyData(payload);
  const chunk = Buffer.concat([Buffer.from('zz'), msg, Buffer.from('zz')]);
  const out = maskCopyData(chunk, 2, 2 + msg.length, mask, opts, settings);
  assert.equal(out.toString('latin1', 0, 1), 'd');
  assert.equal(out.readInt32BE(1), out.length - 1);
  return out.subarray(5).toString('utf8');
}
const TEXT: CopyOptions = { format: 'text' };
const CSV: CopyOptions = { format: 'csv' };

test('text: masked columns replaced, others byte for byte, escapes intact', () => {
  // As PostgreSQL writes 1 | 'a\tb\nc\\d' | NULL | '' | 'alice@example.com'
  const row = '1\ta\\tb\\nc\\\\d\t\\N\t\talice@example.com\n';
  assert.equal(masked(row, [null, null, null, null, 'partial'], TEXT), '1\ta\\tb\\nc\\\\d\t\\N\t\ta***@example.com\n');
  assert.equal(
    masked(row, ['redact', 'redact', 'redact', 'redact', null], TEXT),
    '***\t***\t\\N\t***\talice@example.com\n',
    'NULL stays \\N, the empty string is masked',
  );
  assert.equal(masked(row, [null, 'null', null, 'null', null], TEXT), '1\t\\N\t\\N\t\\N\talice@example.com\n');
});

test('text: a partial view that keeps tabs, newlines and backslashes is re-escaped', () => {
  // value 'abcdefgh\\\t\n\r' (12 code points): partial keeps the last 4 → '\\\t\n\r'
  const row = 'abcdefgh\\\\\\t\\n\\r\n';
  assert.equal(masked(row, ['partial'], TEXT), '********\\\\\\t\\n\\r\n');
});

test('text: hash works on the decoded value', () => {
  const a = masked('a\\tb12345\n', ['hash'], TEXT);
  const b = masked('a\\x09b12345\n', ['hash'], TEXT); // same value, written with a hex escape
  const c = masked('a\\011b12345\n', ['hash'], TEXT); // and with an octal one
  assert.match(a, /^[0-9a-f]{16}\n$/);
  assert.equal(a, b);
  assert.equal(a, c);
});

test('text: several rows in one message, custom delimiter and null string', () => {
  const opts: CopyOptions = { format: 'text', delimiter: '|', null: 'NULL' };
  assert.equal(masked('1|x\\|y|NULL\n2|secret|z\n', [null, 'redact', 'redact'], opts), '1|***|NULL\n2|***|***\n');
  // The delimiter inside a masked value is escaped: partial of '1234|5678|90' keeps '8|90'
  assert.equal(masked('1234\\|5678\\|90\n', ['partial'], opts), '********8\\|90\n');
});

test('text: zero columns', () => {
  assert.equal(masked('\n\n', [], TEXT), '\n\n');
  assert.throws(() => masked('x\n', [], TEXT), MaskError);
});

test('decodeText and encodeText invert each other', () => {
  const v = Buffer.from('tab\there\nnew\\back\rcr\b\f\v|pipe é');
  for (const delim of [0x09, 0x7c, 0x2c]) {
    const enc = encodeText(v, delim);
    assert.ok(!enc.includes(0x0a) && !enc.includes(0x0d));
    assert.deepEqual(decodeText(enc, 0, enc.length), v);
  }
  const esc = Buffer.from('\\x4g\\x\\q\\1234');
  assert.deepEqual(decodeText(esc, 0, esc.length), Buffer.from('\x04gxq\x534'));
});

test('csv: quoting, NULL versus empty, doubled quotes, embedded newlines', () => {
  // As PostgreSQL writes 1 | 'a,b' | NULL | '' | 'say "hi"\nbye' | 'alice@example.com'
  const row = '1,"a,b",,"","say ""hi""\nbye",alice@example.com\n';
  assert.equal(
    masked(row, [null, null, null, null, null, 'partial'], CSV),
    '1,"a,b",,"","say ""hi""\nbye",a***@example.com\n',
  );
  assert.equal(
    masked(row, ['redact', 'redact', 'redact', 'redact', 'redact', null], CSV),
    '***,"***",,"***","***",alice@example.com\n',
    'quoted stays quoted, NULL stays NULL',
  );
  assert.equal(
    masked(row, [null, 'null', 'null', 'null', null, null], CSV),
    '1,,,,"say ""hi""\nbye",alice@example.com\n',
  );
  // partial of 'say "hi"\nbye' (12 code points) keeps '\nbye': still quoted
  assert.equal(
    masked(row, [null, null, null, null, 'partial', null], CSV),
    '1,"a,b",,"","********\nbye",alice@example.com\n',
  );
  // partial keeping a quote: 'x,1234567"8' (11 code points) keeps '7"8'
  assert.equal(masked('"x,1234567""8"\n', ['partial'], CSV), '"********7""8"\n');
});

test('csv: an unquoted masked value gains quotes when it needs them', () => {
  assert.equal(masked('abcdefgh\n', ['null'], { format: 'csv', null: 'NULL' }), 'NULL\n');
  assert.equal(
    masked('NUL\n', ['partial'], { format: 'csv', null: '***' }),
    '"***"\n',
    'a mask equal to the null string is quoted',
  );
});

test('csv: custom quote, escape and delimiter', () => {
  const opts: CopyOptions = { format: 'csv', delimiter: ';', quote: "'", escape: '\\' };
  // value "it's;\\x" written quoted with escapes; partial of "it's;\x12345678" (15) keeps 5678
  assert.equal(masked("'it\\'s;\\\\x12345678';2\n", ['partial', null], opts), "'***********5678';2\n");
  assert.equal(masked("'ab\\'cd;ef\\\\g';2\n", ['hash', 'redact'], opts).split(';')[1], '***\n');
});

test('malformed messages and rows that do not end at a row boundary throw MaskError', () => {
  const bad = (payload: string, mask: (MaskStrategy | null)[], opts: CopyOptions): void =>
    assert.throws(() => masked(payload, mask, opts), MaskError, JSON.stringify(payload));
  bad('1\tabc', [null, 'redact'], TEXT); // no newline: the row continues in the next message
  bad('1\tab\\', [null, 'redact'], TEXT); // ends inside an escape
  bad('1\tab\n2', [null, 'redact'], TEXT); // second row incomplete
  bad('1\n', [null, 'redact'], TEXT); // too few columns
  bad('1\t2\t3\n', [null, 'redact'], TEXT); // too many
  bad('1,"abc\n', [null, 'redact'], CSV); // open quote: newline inside the value
  bad('1,"abc"x\n', [null, 'redact'], CSV); // text after a closing quote
  bad('1,ab"c\n', [null, 'redact'], CSV); // a quote PostgreSQL would have quoted
  assert.throws(() => masked('x\n', ['redact'], { format: 'text', delimiter: '||' }), MaskError);
  assert.throws(() => masked('x\n', ['redact'], { format: 'binary' } as unknown as CopyOptions), MaskError);
  const msg = copyData('x\n');
  msg[0] = 0x44;
  assert.throws(() => maskCopyData(msg, 0, msg.length, ['redact'], TEXT, settings), MaskError);
  const short = copyData('x\n');
  assert.throws(() => maskCopyData(short, 0, short.length - 1, ['redact'], TEXT, settings), MaskError);
});

test('output: a message with nothing replaced is its input; a masked one is never rewritten by later messages', () => {
  // Nothing to replace (the masked column is NULL): the input view itself, no copy.
  const nul = Buffer.concat([Buffer.from('zz'), copyData('1\t\\N\n')]);
  const same = maskCopyDataSpan(nul, 2, nul.length, [null, 'redact'], TEXT, settings, span());
  assert.ok(same.buf === nul && same.start === 2 && same.end === nul.length);
  // The session hands each span to the socket, which may hold it until the client reads: every byte of it
  // must stay as written while tens of thousands of later messages (several output slabs) are masked.
  const kept: { view: Span; want: string }[] = [];
  for (let i = 0; i < 30_000; i++) {
    const msg = copyData(`${i}\tuser${i}@example.com\n`);
    const m = maskCopyDataSpan(msg, 0, msg.length, [null, 'partial'], TEXT, settings, span());
    assert.notEqual(m.buf, msg);
    if (i % 997 === 0 || i === 29_999) kept.push({ view: m, want: `${i}\t${partialText(`user${i}@example.com`)}\n` });
  }
  const slabs = new Set(kept.map((k) => k.view.buf));
  assert.ok(slabs.size > 1, 'the test spans more than one slab');
  for (const { view, want } of kept) {
    const b = view.buf.subarray(view.start, view.end);
    assert.equal(b[0], 0x64);
    assert.equal(b.readInt32BE(1), b.length - 1);
    assert.equal(b.subarray(5).toString('utf8'), want);
  }
  // Consecutive masked messages lie next to each other in a slab (the session's run extends over them).
  const a = copyData('1\tsecret\n');
  const m1 = maskCopyDataSpan(a, 0, a.length, [null, 'redact'], TEXT, settings, span());
  const m2 = maskCopyDataSpan(a, 0, a.length, [null, 'redact'], TEXT, settings, span());
  assert.ok(m1.buf === m2.buf && m1.end === m2.start);
});

test('binary COPY has a refusal reason for the session', () => {
  assert.match(copyBinaryMaskUnsupported, /binary/);
});

// ---- property: random rows through an independent encoder/decoder pair -----------------------
// Written from the sql-copy docs, sharing nothing with copy.ts.
function pgText(rows: (string | null)[][]): string {
  const esc: Record<string, string> = {
    '\\': '\\\\',
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    '\b': '\\b',
    '\f': '\\f',
    '\v': '\\v',
  };
  return rows
    .map((r) => r.map((v) => (v === null ? '\\N' : v.replace(/[\\\n\r\t\b\f\v]/g, (c) => esc[c]!))).join('\t') + '\n')
    .join('');
}
function parseText(s: string): (string | null)[][] {
  const un: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v' };
  return s
    .slice(0, -1)
    .split('\n')
    .map((line) =>
      line.split('\t').map((f) => (f === '\\N' ? null : f.replace(/\\(.)/g, (_, c: string) => un[c] ?? c))),
    );
}
function pgCsv(rows: (string | null)[][]): string {
  return rows
    .map(
      (r) =>
        r.map((v) => (v === null ? '' : v === '' || /[,"\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(',')
        + '\n',
    )
    .join('');
}
function parseCsv(s: string): (string | null)[][] {
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let i = 0;
  while (i < s.length) {
    let v: string | null;
    if (s[i] === '"') {
      let j = i + 1;
      v = '';
      for (;;) {
        if (s[j] === '"' && s[j + 1] === '"') {
          v += '"';
          j += 2;
        } else if (s[j] === '"') {
          j++;
          break;
        } else v += s[j++];
      }
      i = j;
    } else {
      let j = i;
      while (s[j] !== ',' && s[j] !== '\n') j++;
      v = j === i ? null : s.slice(i, j);
      i = j;
    }
    row.push(v);
    if (s[i++] === '\n') {
      rows.push(row);
      row = [];
    }
  }
  return rows;
}

const value = fc.option(fc.string({ unit: fc.constantFrom(...'ab@.é😀\t\n\r\\",|N* 0'), maxLength: 16 }), {
  nil: null,
  freq: 5,
});
test('property: text and CSV rows survive masking; unmasked values identical, masked ones as the strategy says', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }).chain((n) =>
        fc.record({
          mask: fc.array(fc.option(fc.constantFrom(...MASK_STRATEGIES), { nil: null }), { minLength: n, maxLength: n }),
          rows: fc.array(fc.array(value, { minLength: n, maxLength: n }), { minLength: 1, maxLength: 3 }),
        }),
      ),
      ({ mask, rows }) => {
        for (const [encode, parse, opts] of [
          [pgText, parseText, TEXT],
          [pgCsv, parseCsv, CSV],
        ] as const) {
          const out = parse(masked(encode(rows), mask, opts));
          assert.equal(out.length, rows.length);
          rows.forEach((r, i) => {
            r.forEach((v, j) => {
              const got = out[i]![j];
              const s = mask[j];
              if (s == null || v === null) assert.equal(got, v);
              else if (s === 'null') assert.equal(got, null);
              else if (s === 'redact') assert.equal(got, '***');
              else if (s === 'partial') assert.equal(got, partialText(v));
              else assert.match(got!, /^[0-9a-f]{16}$/);
            });
          });
        }
      },
    ),
    { numRuns: 1000 },
  );
});

// ---- binary format (issue 12: COPY (query) TO … (FORMAT binary) of a masked column) ---------------

const SIG = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const field = (typeOid: number): FieldInfo => ({
  name: 'f',
  tableOid: 0,
  attnum: 0,
  typeOid,
  typeLen: -1,
  typeMod: -1,
  format: 1,
});
const int4 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
};
const int2 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n, 0);
  return b;
};
const lenValue = (v: Buffer | null): Buffer => (v === null ? int4(-1) : Buffer.concat([int4(v.length), v]));
const tuple = (...vs: (Buffer | null)[]): Buffer => Buffer.concat([int2(vs.length), ...vs.map(lenValue)]);
const HEADER = Buffer.concat([SIG, int4(0), int4(0)]);
const TRAILER = int2(-1);

test('binary: the header, unmasked fields and NULLs pass byte for byte; masked values are masked by type', () => {
  const st = binaryCopyState([null, 'partial', 'redact', 'partial'], [field(23), field(25), field(23), field(25)]);
  const first = Buffer.concat([HEADER, tuple(int4(7), Buffer.from('alice@example.com'), int4(42), null)]);
  const out = maskCopyBinary(copyData(first), 0, first.length + 5, st, settings);
  assert.equal(out.readInt32BE(1), out.length - 1);
  assert.deepEqual(
    out.subarray(5),
    Buffer.concat([HEADER, tuple(int4(7), Buffer.from('a***@example.com'), null, null)]),
    'int4 under redact becomes NULL (a *** would not decode); NULL stays NULL',
  );
  const second = tuple(int4(8), Buffer.from('bob@example.net'), null, Buffer.from('x@y.zz'));
  assert.deepEqual(
    maskCopyBinary(copyData(second), 0, second.length + 5, st, settings).subarray(5),
    tuple(int4(8), Buffer.from('b***@example.net'), null, Buffer.from('x***@y.zz')),
  );
  const end = maskCopyBinary(copyData(TRAILER), 0, 7, st, settings);
  assert.deepEqual(end.subarray(5), TRAILER);
  assert.equal(st.ended, true);
});

test('binary: no rows (header and trailer in one message), and a header extension, are read', () => {
  const st = binaryCopyState(['redact'], [field(25)]);
  const ext = Buffer.concat([SIG, int4(0), int4(3), Buffer.from('abc'), TRAILER]);
  assert.deepEqual(maskCopyBinary(copyData(ext), 0, ext.length + 5, st, settings).subarray(5), ext);
});

test('binary: malformed or unexpected streams throw MaskError (the session closes, nothing leaks)', () => {
  const bad = (mask: (MaskStrategy | null)[], payload: Buffer, header = false): void => {
    const st = binaryCopyState(
      mask,
      mask.map(() => field(25)),
    );
    st.header = header;
    assert.throws(() => maskCopyBinary(copyData(payload), 0, payload.length + 5, st, settings), MaskError);
  };
  bad(['redact'], Buffer.from('not a copy stream at all'));
  bad(['redact'], Buffer.concat([SIG, int4(0x10000), int4(0)])); // WITH OIDS flag
  bad(['redact'], tuple(Buffer.from('a'), Buffer.from('b')), true); // wrong field count
  bad(['redact'], Buffer.concat([int2(1), int4(50), Buffer.from('short')]), true); // value runs past the end
  bad(['redact'], Buffer.concat([int2(1), int4(1)]), true); // tuple split across messages
  bad(['redact'], Buffer.concat([TRAILER, tuple(Buffer.from('a'))]), true); // data after the trailer
  assert.throws(() => binaryCopyState(['redact'], []), MaskError);
});

test('binary: property — a random tuple stream round-trips with no mask and never leaks a masked text value', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.option(fc.string(), { nil: null }), fc.option(fc.string({ minLength: 1 }), { nil: null })), {
        maxLength: 5,
      }),
      (rows) => {
        const msgs = rows.map(([a, b]) =>
          tuple(a === null ? null : Buffer.from(a), b === null ? null : Buffer.from(`secret-${b}`)),
        );
        const plain = binaryCopyState([null, null], [field(25), field(25)]);
        const hidden = binaryCopyState([null, 'redact'], [field(25), field(25)]);
        msgs.forEach((m, i) => {
          const payload = i === 0 ? Buffer.concat([HEADER, m]) : m;
          assert.deepEqual(
            maskCopyBinary(copyData(payload), 0, payload.length + 5, plain, settings).subarray(5),
            payload,
          );
          const out = maskCopyBinary(copyData(payload), 0, payload.length + 5, hidden, settings);
          assert.ok(!out.includes('secret-'));
        });
      },
    ),
  );
});
