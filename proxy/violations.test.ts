import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_STATEMENT_CHARS, ViolationCounter, boundedText, startViolationReporter } from './violations.ts';
import type { ViolationDelta } from './violations.ts';

const W = (policy: string, rule: string | null) => ({ policy, rule, reason: 'would be denied' });

test('counts per (policy, rule), keeps the newest example, and starts from zero after take()', () => {
  const c = new ViolationCounter();
  c.add([W('ml/trainer', 'no-items')], 'SELECT * FROM items WHERE id = $1', 1000);
  c.add([W('ml/trainer', 'no-items')], 'SELECT name FROM items WHERE id = $1', 2000);
  c.add([W('ml/trainer', null), W('ml/staged', null)], 'DELETE FROM t WHERE id = $1', 1500);
  assert.deepEqual(c.take(), [
    {
      policy: 'ml/trainer',
      rule: 'no-items',
      count: 2,
      lastStatement: 'SELECT name FROM items WHERE id = $1',
      lastSeenMs: 2000,
    },
    {
      policy: 'ml/trainer',
      rule: '(default deny)',
      count: 1,
      lastStatement: 'DELETE FROM t WHERE id = $1',
      lastSeenMs: 1500,
    },
    {
      policy: 'ml/staged',
      rule: '(default deny)',
      count: 1,
      lastStatement: 'DELETE FROM t WHERE id = $1',
      lastSeenMs: 1500,
    },
  ]);
  assert.deepEqual(c.take(), []);
  assert.equal(c.size, 0);
});

test('restore() merges an unsent report with what came since: counts add, the newer example wins', () => {
  const c = new ViolationCounter();
  c.add([W('ml/p', 'r')], 'old $1', 1000);
  const unsent = c.take();
  c.add([W('ml/p', 'r')], 'new $1', 3000);
  c.add([W('ml/p', 'r')], 'new $1', 3000);
  c.restore(unsent);
  assert.deepEqual(c.take(), [{ policy: 'ml/p', rule: 'r', count: 3, lastStatement: 'new $1', lastSeenMs: 3000 }]);
});

test('distinct pairs are capped; the overflow is dropped and counted, existing pairs still count', () => {
  const c = new ViolationCounter(2);
  c.add([W('a', 'x')], 's', 1);
  c.add([W('a', 'y')], 's', 1);
  c.add([W('a', 'z'), W('b', 'x')], 's', 1);
  c.add([W('a', 'x')], 's', 2);
  assert.equal(c.dropped, 2);
  assert.deepEqual(
    c.take().map((d) => [d.rule, d.count]),
    [
      ['x', 2],
      ['y', 1],
    ],
  );
});

test('texts are bounded and free of control characters', () => {
  assert.equal(boundedText('SELECT\n\t$1'), 'SELECT $1');
  const long = boundedText(`SELECT ${'x'.repeat(5000)}`);
  assert.equal(long.length, MAX_STATEMENT_CHARS);
  assert.ok(long.endsWith('…'));
});

test('the reporter sends deltas, keeps them when a send fails, and sends the merged counts next time', async () => {
  const c = new ViolationCounter();
  const sent: ViolationDelta[][] = [];
  const logs: string[] = [];
  let fail = true;
  const r = startViolationReporter(
    c,
    async (d) => {
      if (fail) throw new Error('UNAVAILABLE');
      sent.push([...d]);
    },
    (m) => logs.push(m),
    60_000,
  );
  await r.flush(); // nothing pending: nothing sent
  c.add([W('ml/p', 'r')], 'q $1', 10);
  await r.flush();
  await r.flush(); // still failing: logged once
  assert.equal(sent.length, 0);
  assert.equal(logs.filter((l) => l.includes('could not report')).length, 1);
  c.add([W('ml/p', 'r')], 'q $1', 20);
  fail = false;
  await r.flush();
  assert.deepEqual(sent, [[{ policy: 'ml/p', rule: 'r', count: 2, lastStatement: 'q $1', lastSeenMs: 20 }]]);
  assert.ok(logs.some((l) => l.includes('reach the operator again')));
  c.add([W('ml/p', 'r')], 'q $1', 30);
  await r.stop(); // the last counts go out on stop
  assert.equal(sent.length, 2);
  assert.equal(sent[1]![0]!.count, 1);
});

test('the reporter timer runs only while counts are pending: it stops when idle and starts at the next count', async () => {
  const c = new ViolationCounter();
  const sent: ViolationDelta[][] = [];
  let fail = false;
  const r = startViolationReporter(
    c,
    async (d) => {
      if (fail) throw new Error('UNAVAILABLE');
      sent.push([...d]);
    },
    () => {},
    10,
  );
  const until = async (what: string, f: () => boolean) => {
    const end = Date.now() + 5000;
    while (!f()) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await new Promise((res) => setTimeout(res, 5));
    }
  };
  try {
    assert.equal(r.ticking, false, 'nothing pending at start: no timer');
    c.add([W('ml/p', 'r')], 'q $1', 10);
    assert.equal(r.ticking, true, 'the first count starts the timer');
    await until('the report', () => sent.length === 1);
    await until('the timer to stop', () => !r.ticking);
    // A failed report keeps the timer running until the counts get through.
    fail = true;
    c.add([W('ml/p', 'r')], 'q $1', 20);
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(r.ticking, true, 'counts held back by a failed send keep the timer');
    fail = false;
    await until('the retried report', () => sent.length === 2);
    assert.equal(sent[1]![0]!.count, 1);
    await until('the timer to stop again', () => !r.ticking);
  } finally {
    await r.stop();
  }
  assert.equal(r.ticking, false);
});
