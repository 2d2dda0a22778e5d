import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedMessage, setCondition, setReady } from './conditions.ts';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T01:00:00.000Z');

test('keeps lastTransitionTime while the status stays, moves it when the status changes', () => {
  const a = setCondition(
    [],
    { type: 'Ready', status: 'False', reason: 'SecretNotFound', message: 'x', observedGeneration: 1 },
    t0,
  );
  assert.equal(a[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  const b = setCondition(
    a,
    { type: 'Ready', status: 'False', reason: 'PolicyInvalid', message: 'y', observedGeneration: 2 },
    t1,
  );
  assert.deepEqual(b, [
    {
      type: 'Ready',
      status: 'False',
      reason: 'PolicyInvalid',
      message: 'y',
      observedGeneration: 2,
      lastTransitionTime: '2026-01-01T00:00:00Z',
    },
  ]);
  const c = setCondition(
    b,
    { type: 'Ready', status: 'True', reason: 'Compiled', message: 'ok', observedGeneration: 2 },
    t1,
  );
  assert.equal(c[0]?.lastTransitionTime, '2026-01-01T01:00:00Z');
});

test('one entry per type, others untouched', () => {
  const a = setCondition(
    [{ type: 'Synced', status: 'True', reason: 'R', message: '', lastTransitionTime: 'T' }],
    { type: 'Ready', status: 'True', reason: 'Compiled', message: '' },
    t0,
  );
  assert.deepEqual(
    a.map((c) => c.type),
    ['Ready', 'Synced'],
  );
  assert.equal(a[1]?.lastTransitionTime, 'T');
});

test('bounds long messages', () => {
  const m = boundedMessage(
    Array.from({ length: 100 }, (_, i) => `issue ${i} ${'x'.repeat(100)}`),
    500,
  );
  assert.ok(m.length < 560);
  assert.match(m, /… and \d+ more$/);
});

test('setReady: Stalled while a spec must change, Reconciling while waiting for a Secret, Ready alone when healthy', () => {
  const bad = setReady(
    [],
    { status: 'False', reason: 'InvalidSpec', message: 'spec.rules[0]: …', observedGeneration: 3 },
    t0,
  );
  assert.deepEqual(
    bad.map((c) => [c.type, c.status, c.reason, c.observedGeneration]),
    [
      ['Ready', 'False', 'InvalidSpec', 3],
      ['Stalled', 'True', 'InvalidSpec', 3],
    ],
  );
  const waiting = setReady(
    bad,
    { status: 'False', reason: 'SecretNotFound', message: 'no Secret', observedGeneration: 4 },
    t1,
  );
  assert.deepEqual(
    waiting.map((c) => [c.type, c.status, c.reason]),
    [
      ['Ready', 'False', 'SecretNotFound'],
      ['Reconciling', 'True', 'SecretNotFound'],
    ],
  );
  assert.equal(waiting[0]?.lastTransitionTime, '2026-01-01T00:00:00Z', 'Ready stayed False: its transition time stays');
  const ok = setReady(waiting, { status: 'True', reason: 'Compiled', message: 'ok', observedGeneration: 4 }, t1);
  assert.deepEqual(
    ok.map((c) => [c.type, c.status]),
    [['Ready', 'True']],
  );
});
