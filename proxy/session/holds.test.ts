// Holds: why the client is not read, counted per reason (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOLD_APPROVAL, HOLD_GUARD, HOLD_REFRESH, Holds } from './holds.ts';

test('the client is read only when every hold of every reason is released', () => {
  const h = new Holds();
  assert.equal(h.count, 0);
  h.add(HOLD_GUARD);
  h.add(HOLD_REFRESH);
  h.add(HOLD_REFRESH); // a refresh behind a statement and one after a Sync may overlap
  assert.equal(h.count, 3);
  assert.equal(h.toString(), 'guarded write, context refresh');
  h.release(HOLD_REFRESH);
  assert.equal(h.has(HOLD_REFRESH), true);
  h.release(HOLD_REFRESH);
  h.release(HOLD_GUARD);
  assert.equal(h.count, 0);
  assert.equal(h.toString(), 'none');
});

test('releasing a hold that was not taken is an error, not a silent unblock', () => {
  const h = new Holds();
  h.add(HOLD_GUARD);
  assert.throws(() => h.release(HOLD_APPROVAL), /approval/);
  assert.equal(h.count, 1);
});
