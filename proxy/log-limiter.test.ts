import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogLimiter } from './log-limiter.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('LogLimiter: the first event of a kind at once, repeats as one summary per window, kinds apart', async () => {
  const lines: string[] = [];
  const l = new LogLimiter((m) => lines.push(m), 100);
  l.event('upstream_failed', 'first');
  for (let i = 2; i <= 5; i++) l.event('upstream_failed', `n${i}`);
  l.event('too_many_clients', 'other kind');
  assert.deepEqual(lines, ['first', 'other kind']);
  await sleep(180);
  assert.equal(lines.length, 3);
  assert.match(
    lines[2]!,
    /^airlock: 4 more upstream_failed event\(s\) in 0\.1 s, first \S+Z, last \S+Z \(5 since start\); the last: n5$/,
  );
  // A storm that goes on: one more summary in the next window, none once it is quiet.
  l.event('upstream_failed', 'n6');
  await sleep(250);
  assert.equal(lines.length, 4);
  assert.match(lines[3]!, /1 more upstream_failed .*\(6 since start\); the last: n6$/);
  assert.equal(l.counts().get('upstream_failed')?.total, 6);
  assert.equal(l.counts().get('too_many_clients')?.total, 1);
  // After a quiet window the next event is logged at once again.
  await sleep(150);
  l.event('upstream_failed', 'again');
  assert.equal(lines.at(-1), 'again');
});

test('LogLimiter: flush() writes what open windows hold and stops their timers', () => {
  const lines: string[] = [];
  const l = new LogLimiter((m) => lines.push(m), 60_000);
  l.event('startup_timeout', 'a');
  l.event('startup_timeout', 'b');
  l.flush();
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /1 more startup_timeout .*the last: b$/);
  l.flush();
  assert.equal(lines.length, 2);
});
