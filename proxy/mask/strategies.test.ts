import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { MASK_STRATEGIES, type MaskStrategy } from '../../policy/types.ts';
import { maskValue, partialText, valueKind, type ValueKind } from './strategies.ts';
import { MaskError } from './mask-error.ts';

const settings = { hashKey: Buffer.alloc(32, 7) };
const other = { hashKey: Buffer.alloc(32, 8) };

function mask(strategy: MaskStrategy, value: Buffer | string, kind: ValueKind, s = settings): string | null {
  const b = typeof value === 'string' ? Buffer.from(value) : value;
  // A non-zero offset makes sure offsets, not whole buffers, are honoured.
  const padded = Buffer.concat([Buffer.from('xx'), b, Buffer.from('yy')]);
  const out = maskValue(strategy, padded, 2, 2 + b.length, kind, s);
  return out === null ? null : out.toString('utf8');
}
const hex16 = (key: Buffer, v: string): string => createHmac('sha256', key).update(v).digest('hex').slice(0, 16);

test('valueKind: text-like built-ins in both formats, other built-ins never, unknown OIDs text only in text format', () => {
  const rows: [number, 0 | 1, ValueKind][] = [
    [25, 0, 'text'],
    [25, 1, 'text'],
    [1043, 0, 'text'],
    [1043, 1, 'text'],
    [19, 1, 'text'],
    [705, 0, 'text'],
    [1042, 0, 'bpchar'],
    [1042, 1, 'bpchar'],
    [114, 0, 'json'],
    [114, 1, 'json'],
    [3802, 0, 'json'],
    [3802, 1, 'jsonb-binary'],
    [23, 0, 'other'],
    [23, 1, 'other'],
    [20, 0, 'other'],
    [1700, 0, 'other'],
    [1082, 0, 'other'],
    [2950, 0, 'other'],
    [17, 0, 'other'],
    [16, 0, 'other'],
    [1009, 0, 'other'],
    [18, 0, 'other'],
    [142, 0, 'other'],
    [16385, 0, 'text'],
    [16385, 1, 'other'],
  ];
  for (const [oid, format, want] of rows) assert.equal(valueKind(oid, format), want, `oid ${oid} format ${format}`);
});

test('partial: emails keep the first character and the domain', () => {
  assert.equal(partialText('alice@example.com'), 'a***@example.com');
  assert.equal(partialText('é@x.io'), 'é***@x.io');
  assert.equal(partialText('😀bob@x.io'), '😀***@x.io');
});

test('partial: non-emails keep at most the last 4 code points and at most a third', () => {
  const rows: [string, string][] = [
    ['', ''],
    ['a', '*'],
    ['abcd', '****'], // shorter than 5: nothing shown
    ['abcde', '****e'],
    ['abcdef', '****ef'], // a third, rounded down
    ['4111111111111111', '************1111'], // capped at 4
    ['a@b', '***'],
    ['x@@y.io', '*****io'],
    ['a b@c.io', '******io'],
    ['a@localhost', '********ost'], // not emails
    ['日本語のテキスト', '******スト'], // code points, not bytes
    ['😀😀😀😀😀😀', '****😀😀'], // never half a surrogate pair
  ];
  for (const [v, want] of rows) assert.equal(partialText(v), want, v);
  for (const v of ['hello world', 'x'.repeat(100), '12345']) {
    const shown = partialText(v).replace(/^\*+/, '');
    assert.ok(shown.length * 3 <= v.length && shown.length <= 4, v);
  }
});

test('every strategy on text-like types, text and binary format alike', () => {
  for (const kind of ['text', 'bpchar'] as const) {
    assert.equal(mask('redact', 'alice@example.com', kind), '***');
    assert.equal(mask('partial', 'alice@example.com', kind), 'a***@example.com');
    assert.equal(mask('hash', 'alice@example.com', kind), hex16(settings.hashKey, 'alice@example.com'));
    assert.equal(mask('null', 'alice@example.com', kind), null);
    assert.equal(mask('redact', '', kind), '***', 'an empty string is not revealed as empty');
    assert.equal(mask('partial', '', kind), '');
  }
  // text/varchar/name have the same bytes in format 0 and 1, so valueKind gives 'text' for both:
  assert.equal(valueKind(25, 0), valueKind(25, 1));
});

test('hash is deterministic, keyed, and a 16-hex digest', () => {
  const a = mask('hash', 'secret-value', 'text');
  assert.equal(a, mask('hash', 'secret-value', 'text'));
  assert.notEqual(a, mask('hash', 'secret-value', 'text', other));
  assert.notEqual(a, mask('hash', 'secret-valuf', 'text'));
  assert.match(a!, /^[0-9a-f]{16}$/);
  assert.throws(() => mask('hash', 'x', 'text', { hashKey: Buffer.alloc(8) }), MaskError);
});

test('bpchar padding is not part of a partial view', () => {
  assert.equal(mask('partial', '4111111111111111    ', 'bpchar'), '************1111');
});

test('partial on bytes that are not UTF-8 redacts rather than cutting blindly', () => {
  assert.equal(mask('partial', Buffer.from([0x61, 0x62, 0x63, 0x64, 0x65, 0xff, 0xfe]), 'text'), '***');
  assert.equal(mask('partial', Buffer.from('abcdé'), 'text'), '****é');
});

test('non-text types become NULL under every strategy, in both formats', () => {
  for (const s of MASK_STRATEGIES) {
    assert.equal(mask(s, '12345', valueKind(23, 0)), null, `int4 text ${s}`);
    assert.equal(mask(s, Buffer.from([0, 0, 0x30, 0x39]), valueKind(23, 1)), null, `int4 binary ${s}`);
    assert.equal(mask(s, '{a,b}', valueKind(1009, 0)), null, `text[] ${s}`);
    assert.equal(mask(s, 'citext', valueKind(16400, 1)), null, `unknown binary ${s}`);
  }
});

test('json and jsonb stay valid JSON', () => {
  for (const kind of ['json'] as const) {
    assert.equal(mask('redact', '{"email":"a@b.io"}', kind), '"***"');
    assert.equal(mask('hash', '"alice@example.com"', kind), `"${hex16(settings.hashKey, '"alice@example.com"')}"`);
    assert.equal(mask('partial', '"alice@example.com"', kind), '"a***@example.com"');
    assert.equal(mask('partial', '"tab\\there\\"12345"', kind), JSON.stringify(partialText('tab\there"12345')));
    assert.equal(mask('partial', '{"email":"alice@example.com"}', kind), '"***"');
    assert.equal(mask('partial', '12345678', kind), '"***"');
    assert.equal(mask('null', '"x"', kind), null);
    for (const s of ['redact', 'hash', 'partial'] as const) JSON.parse(mask(s, '{"a": [1, "bb"]}', kind)!);
  }
  const jsonb = (t: string): Buffer => Buffer.concat([Buffer.from([1]), Buffer.from(t)]);
  const bin = (s: MaskStrategy, t: string): Buffer | null =>
    maskValue(s, jsonb(t), 0, jsonb(t).length, 'jsonb-binary', settings);
  assert.deepEqual(bin('redact', '{"a": 1}'), jsonb('"***"'));
  assert.deepEqual(bin('partial', '"alice@example.com"'), jsonb('"a***@example.com"'));
  assert.deepEqual(bin('hash', '"x"'), jsonb(`"${hex16(settings.hashKey, '"x"')}"`), 'same digest as the text form');
  assert.equal(bin('null', '"x"'), null);
  const v2 = Buffer.from([2, 0x22, 0x22]);
  assert.equal(maskValue('redact', v2, 0, 3, 'jsonb-binary', settings), null, 'unknown jsonb version');
});

// maskValue has a byte-level path for all-ASCII values; it must agree with partialText on the decoded
// string (the definition) for every ASCII value, emails and near-emails included, text and char(n).
test('partial: the ASCII byte path gives exactly partialText', async () => {
  const fc = (await import('fast-check')).default;
  const ascii = fc.string({
    unit: fc.constantFrom(...'ab@.@. \t\n\rx\u000b\u000c\u007f\u0000Z9'.split('')),
    maxLength: 24,
  });
  const fixed = [
    'a@b.c',
    '@b.c',
    'a@.c',
    'a@b.',
    'a@bc',
    'a@b@c.d',
    'ab c@d.e',
    'alice@example.com  ',
    'abcd',
    'abcde',
    'x'.repeat(40),
    '   ',
  ];
  const check = (v: string): void => {
    assert.equal(mask('partial', v, 'text'), partialText(v), JSON.stringify(v));
    const trimmed = v.replace(/ +$/, '');
    assert.equal(mask('partial', v, 'bpchar'), v === '' ? '' : partialText(trimmed), JSON.stringify(v));
  };
  for (const v of fixed) check(v);
  fc.assert(
    fc.property(fc.oneof(ascii, fc.string({ maxLength: 30 })), (v) => {
      check(v);
    }),
    { numRuns: 2000 },
  );
});
