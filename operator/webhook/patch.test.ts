import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyPatch, diff, escapePointer } from './patch.ts';

test('escapes ~ and / in pointer tokens (RFC 6901 §3)', () => {
  assert.equal(escapePointer('airlock.dev/injected'), 'airlock.dev~1injected');
  assert.equal(escapePointer('a~/b'), 'a~0~1b');
  assert.deepEqual(diff({ metadata: {} }, { metadata: { annotations: { 'a/b~c': 'x' } } }), [
    { op: 'add', path: '/metadata/annotations', value: { 'a/b~c': 'x' } },
  ]);
  assert.deepEqual(diff({ a: { 'x/y': 1 } }, { a: { 'x/y': 2 } }), [{ op: 'replace', path: '/a/x~1y', value: 2 }]);
});

test('identical documents give an empty patch', () => {
  assert.deepEqual(diff({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), []);
});

test('an element inserted at the front of a list is an add, not a rewrite of every element', () => {
  const before = { spec: { initContainers: [{ name: 'migrate' }] } };
  const after = { spec: { initContainers: [{ name: 'airlock-proxy-orders' }, { name: 'migrate' }] } };
  assert.deepEqual(diff(before, after), [
    { op: 'add', path: '/spec/initContainers/0', value: { name: 'airlock-proxy-orders' } },
  ]);
});

test('applying the diff of any two JSON documents gives the second', () => {
  const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
  const doc = fc
    .dictionary(fc.string({ maxLength: 4 }), json, { maxKeys: 5 })
    .map((d) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>);
  fc.assert(
    fc.property(doc, doc, (a, b) => {
      assert.deepEqual(applyPatch(a, diff(a, b)), b);
    }),
    { numRuns: 2000 },
  );
});
