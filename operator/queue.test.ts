import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { Logger } from './log.ts';
import { WorkQueue } from './queue.ts';

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;

/** A work function whose reconciles finish when the test says so. */
function controlled() {
  const started: string[] = [];
  const finish = new Map<string, Array<(err?: Error) => void>>();
  const work = (key: string): Promise<void> => {
    started.push(key);
    return new Promise((resolve, reject) => {
      const list = finish.get(key) ?? [];
      list.push((err) => (err === undefined ? resolve() : reject(err)));
      finish.set(key, list);
    });
  };
  const done = async (key: string, err?: Error): Promise<void> => {
    const f = finish.get(key)?.shift();
    assert.ok(f !== undefined, `${key} is not running`);
    f(err);
    await tick();
    await tick();
  };
  return { started, work, done };
}

describe('WorkQueue', () => {
  it('runs different keys at once, up to the concurrency, in the order they were added', async () => {
    const c = controlled();
    const q = new WorkQueue(c.work, { log: quiet, concurrency: 2 });
    q.add('a');
    q.add('b');
    q.add('c');
    await tick();
    assert.deepEqual(c.started, ['a', 'b']);
    assert.equal(q.running, 2);
    assert.equal(q.depth, 1);
    await c.done('b');
    assert.deepEqual(c.started, ['a', 'b', 'c']);
    await c.done('a');
    await c.done('c');
    assert.equal(q.running, 0);
    assert.equal(q.depth, 0);
    q.stop();
  });

  it('runs one reconcile per key at a time; a key added while running runs once more after', async () => {
    const c = controlled();
    const q = new WorkQueue(c.work, { log: quiet, concurrency: 4 });
    q.add('a');
    await tick();
    q.add('a');
    q.add('a');
    q.add('b');
    await tick();
    assert.deepEqual(c.started, ['a', 'b'], 'the second a waits for the first, b does not');
    assert.equal(q.depth, 1, 'the two adds of a while it ran are one');
    await c.done('a');
    assert.deepEqual(c.started, ['a', 'b', 'a']);
    await c.done('a');
    await c.done('b');
    await tick();
    assert.deepEqual(c.started, ['a', 'b', 'a'], 'no third run of a');
    q.stop();
  });

  it('adds a key once however often it is added before it runs', async () => {
    const c = controlled();
    const q = new WorkQueue(c.work, { log: quiet, concurrency: 1 });
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('b');
    assert.equal(q.depth, 2);
    await tick();
    await c.done('a');
    await c.done('b');
    assert.deepEqual(c.started, ['a', 'b']);
    q.stop();
  });

  it('retries a failed key after its backoff, and logs the delay', async () => {
    const c = controlled();
    const warned: Array<Record<string, unknown>> = [];
    const log = {
      ...quiet,
      warn: (_m: string, f: Record<string, unknown>) => {
        warned.push(f);
      },
    } as unknown as Logger;
    const q = new WorkQueue(c.work, { log, retry: { initialMs: 20, maxMs: 40 } });
    q.add('a');
    await tick();
    await c.done('a', new Error('conflict'));
    assert.deepEqual(warned, [{ key: 'a', error: 'conflict', retryInMs: 20 }]);
    assert.deepEqual(c.started, ['a'], 'not retried at once');
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(c.started, ['a', 'a']);
    await c.done('a', new Error('conflict'));
    assert.equal(warned[1]?.retryInMs, 40, 'doubled for the second consecutive failure');
    await new Promise((r) => setTimeout(r, 80));
    await c.done('a'); // a success forgets the failures
    q.add('a');
    await tick();
    await c.done('a', new Error('again'));
    assert.equal(warned[2]?.retryInMs, 20);
    q.stop();
  });

  it('starts nothing after stop, and cancels pending retries', async () => {
    const c = controlled();
    const q = new WorkQueue(c.work, { log: quiet, concurrency: 1, retry: { initialMs: 10, maxMs: 10 } });
    q.add('a');
    q.add('b');
    await tick();
    q.add('a'); // dirty while it runs
    await c.done('a', new Error('x')); // its retry timer is armed, and it is queued behind b
    assert.deepEqual(c.started, ['a', 'b']);
    q.stop();
    await c.done('b'); // a running reconcile finishes; a does not start
    await new Promise((r) => setTimeout(r, 30)); // nor does its retry
    q.add('c');
    await tick();
    assert.deepEqual(c.started, ['a', 'b']);
    assert.equal(q.depth, 0);
  });

  it('refuses a concurrency below one', () => {
    assert.throws(() => new WorkQueue(async () => {}, { log: quiet, concurrency: 0 }), RangeError);
  });
});
