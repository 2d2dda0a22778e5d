import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedMessage, setCondition } from './conditions.ts';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T01:00:00.000Z');

test('keeps lastTransitionTime while the status stays, moves it when the status changes', () => {
  const a = setCondition([], { type: 'Ready', status: 'False', reason: 'SecretNotFound', message: 'x', observedGeneration: 1 }, t0);
  assert.equal(a[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'PolicyInvalid', message: 'y', observedGeneration: 2 }, t1);
  assert.deepEqual(b, [{ type: 'Ready', status: 'False', reason: 'PolicyInvalid', message: 'y', observedGeneration: 2, lastTransitionTime: '2026-01-01T00:00:00Z' }]);
  const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Compiled', message: 'ok', observedGeneration: 2 }, t1);
  assert.equal(c[0]?.lastTransitionTime, '2026-01-01T01:00:00Z');
});

test('one entry per type, others untouched', () => {
  const a = setCondition([{ type: 'Synced', status: 'True', reason: 'R', message: '', lastTransitionTime: 'T' }], { type: 'Ready', status: 'True', reason: 'Compiled', message: '' }, t0);
  assert.deepEqual(a.map((c) => c.type), ['Ready', 'Synced']);
  assert.equal(a[1]?.lastTransitionTime, 'T');
});

test('bounds long messages', () => {
  const m = boundedMessage(Array.from({ length: 100 }, (_, i) => `issue ${i} ${'x'.repeat(100)}`), 500);
  assert.ok(m.length < 560);
  assert.match(m, /… and \d+ more$/);
});
