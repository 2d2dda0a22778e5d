import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecisionCache, ENTRY_OVERHEAD_BYTES } from './cache.ts';

const entry = (key: string) => key.length * 2 + ENTRY_OVERHEAD_BYTES;

test('exact and normalized lookups are separate', () => {
  const c = new DecisionCache<string>();
  c.set('SELECT 1 WHERE id = 5', 'shaped', 'SELECT $1 WHERE id = $2');
  c.set('DO $$ BEGIN PERFORM 1; END $$', 'exact-only', null);
  assert.equal(c.getExact('SELECT 1 WHERE id = 5'), 'shaped');
  assert.equal(c.getShape('SELECT $1 WHERE id = $2'), 'shaped');
  assert.equal(c.getExact('DO $$ BEGIN PERFORM 1; END $$'), 'exact-only');
  assert.equal(c.getShape('DO $$ BEGIN PERFORM 1; END $$'), undefined);
  assert.equal(c.getExact('SELECT $1 WHERE id = $2'), undefined, 'normalized text is not an exact key');
  assert.equal(c.size, 3);
});

test('the byte bound evicts least recently used entries', () => {
  const k = (i: number) => `SELECT * FROM t${i}`; // all the same length
  const max = entry(k(1)) * 3;
  const c = new DecisionCache<number>(max);
  c.set(k(1), 1);
  c.set(k(2), 2);
  c.set(k(3), 3);
  assert.equal(c.bytes, max);
  assert.equal(c.getExact(k(1)), 1); // 1 is now the most recent
  c.set(k(4), 4); // evicts 2, the least recent
  assert.equal(c.getExact(k(2)), undefined);
  assert.deepStrictEqual([c.getExact(k(1)), c.getExact(k(3)), c.getExact(k(4))], [1, 3, 4]);
  assert.ok(c.bytes <= max);
});

test('replacing a key does not double count; oversized entries are not stored', () => {
  const c = new DecisionCache<string>(1000);
  c.set('q', 'a');
  c.set('q', 'b');
  assert.equal(c.bytes, entry('q'));
  assert.equal(c.getExact('q'), 'b');
  c.set('x'.repeat(1000), 'big');
  assert.equal(c.getExact('x'.repeat(1000)), undefined);
  assert.equal(c.getExact('q'), 'b', 'an oversized entry evicts nothing');
  c.set('q', 'c', 'q', 10_000); // valueBytes counts too
  assert.equal(c.getExact('q'), undefined);
});

test('shape entries share the budget with exact entries', () => {
  const max = 4 * entry('SELECT 1');
  const c = new DecisionCache<number>(max);
  for (let i = 0; i < 50; i++) c.set(`SELECT ${i % 10}`, i, `SELECT $${i % 10}`);
  assert.ok(c.bytes <= max, `${c.bytes} > ${max}`);
  assert.equal(c.getExact('SELECT 9'), 49);
  assert.equal(c.getShape('SELECT $9'), 49);
  c.clear();
  assert.equal(c.bytes, 0);
  assert.equal(c.size, 0);
});

test('repeated hits on the newest entry keep the LRU order exact (exact and shape maps)', () => {
  const k = (i: number) => `SELECT * FROM t${i}`;
  const n = (i: number) => `SELECT * FROM n${i}`;
  const max = (entry(k(1)) + entry(n(1))) * 3;
  const c = new DecisionCache<number>(max);
  c.set(k(1), 1, n(1));
  c.set(k(2), 2, n(2));
  c.set(k(3), 3, n(3));
  for (let i = 0; i < 3; i++) {
    assert.equal(c.getExact(k(3)), 3);
    assert.equal(c.getShape(n(3)), 3);
  } // already newest
  assert.equal(c.getExact(k(1)), 1);
  assert.equal(c.getExact(k(1)), 1); // 1 moves to the end, then is newest
  assert.equal(c.getShape(n(1)), 1);
  assert.equal(c.getShape(n(1)), 1);
  c.set(k(4), 4, n(4)); // evicts 2 from both maps (least recent)
  assert.equal(c.getExact(k(2)), undefined);
  assert.equal(c.getShape(n(2)), undefined);
  assert.equal(c.getExact(k(3)), 3); // 3 moves behind 4
  c.set(k(5), 5, n(5)); // evicts 1 (exact), 3 (shape)
  assert.deepStrictEqual(
    [c.getExact(k(1)), c.getExact(k(3)), c.getExact(k(4)), c.getExact(k(5))],
    [undefined, 3, 4, 5],
  );
  assert.deepStrictEqual(
    [c.getShape(n(1)), c.getShape(n(3)), c.getShape(n(4)), c.getShape(n(5))],
    [1, undefined, 4, 5],
  );
  // A key stored again after its entry was the newest: the new value, and the order still follows use.
  c.set(k(5), 50);
  assert.equal(c.getExact(k(5)), 50);
  c.clear();
  assert.equal(c.getExact(k(5)), undefined);
});
