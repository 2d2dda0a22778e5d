// The transcript comparison of the differential client harness: pure, so tested on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareTranscripts, maskedAsStrategySays, rawValuesIn } from './compare.ts';
import { MASKED_VALUES } from './fixture.ts';

const M = MASKED_VALUES;

test('identical transcripts have no differences and nothing masked', () => {
  const t = { a: [1, 'x', null, { b: true }], c: 'numeric:1.50' };
  assert.deepEqual(compareTranscripts(t, structuredClone(t), M), { differences: [], masked: 0 });
});

test('every other difference is reported with its path: value, type, length, missing key', () => {
  const { differences } = compareTranscripts(
    { a: [1, 2, 3], b: 'x', c: { d: 1 }, e: 1, 'odd key': 1 },
    { a: [1, 5], b: null, c: {}, f: 1, 'odd key': 2 },
    M,
  );
  assert.deepEqual(
    differences.map((d) => d.path),
    ['$.a.length', '$.a[1]', '$.b', '$.c.d', '$.e', '$.f', '$["odd key"]'],
  );
});

test('a masked value may differ only as the partial strategy says, inside a longer string too', () => {
  assert.ok(maskedAsStrategySays('ava.costa@example.org', 'a***@example.org', M));
  assert.ok(
    maskedAsStrategySays(
      '1\tava.costa@example.org\n2\tliam.johansson@example.net\n',
      '1\ta***@example.org\n2\tl***@example.net\n',
      M,
    ),
  );
  assert.ok(!maskedAsStrategySays('ava.costa@example.org', 'ava.costa@example.org', M), 'unmasked is not masked');
  assert.ok(!maskedAsStrategySays('ava.costa@example.org', '', M));
  assert.ok(!maskedAsStrategySays('ava.costa@example.org', 'a***@example.com', M), 'wrong domain');
  assert.ok(!maskedAsStrategySays('1\tava.costa@example.org', '2\ta***@example.org', M), 'something else changed too');
  assert.ok(!maskedAsStrategySays('Ava Costa', '***', M), 'not a value of the masked column');
});

test('a value computed from the masked column may be redacted (policy/decide.ts), only when it is the whole value', () => {
  assert.ok(maskedAsStrategySays('liam.johansson@example.net', '***', M));
  assert.ok(!maskedAsStrategySays('x liam.johansson@example.net', '***', M));
});

test('hex of masked bytes (a file written by \\copy) follows the same rule', () => {
  const hex = (s: string) => Buffer.from(s).toString('hex');
  assert.ok(maskedAsStrategySays(hex('1\tava.costa@example.org\n'), hex('1\ta***@example.org\n'), M));
  assert.ok(!maskedAsStrategySays(hex('1\tava.costa@example.org\n'), hex('1\tava.costa@example.org\n'), M));
});

test('masked differences are counted, not reported; rawValuesIn finds leaks anywhere', () => {
  const r = compareTranscripts({ rows: [[1, 'ava.costa@example.org']] }, { rows: [[1, 'a***@example.org']] }, M);
  assert.deepEqual(r, { differences: [], masked: 1 });
  assert.deepEqual(rawValuesIn({ deep: ['x', { y: 'is sofia.haddad@example.com here' }] }, M), [
    'sofia.haddad@example.com',
  ]);
  assert.deepEqual(rawValuesIn({ rows: [[1, 'a***@example.org']] }, M), []);
});
