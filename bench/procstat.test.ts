import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  childPids,
  commOf,
  cpuSeconds,
  parseCpuTicks,
  parseCpuTickSplit,
  rssBytes,
  userCpuSeconds,
} from './procstat.ts';

test('parseCpuTicks adds utime and stime, whatever the command name holds', () => {
  // fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const stat = '4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 1 0 100 0 0';
  assert.equal(parseCpuTicks(stat), 1234 + 567);
  assert.deepEqual(parseCpuTickSplit(stat), { utime: 1234, stime: 567 });
  assert.throws(() => parseCpuTicks('4242 (x) S 1'), /cannot read CPU times/);
});

test('reads this process: CPU grows with work, RSS and comm are sane', () => {
  const before = cpuSeconds(process.pid);
  let x = 0;
  const until = Date.now() + 150;
  while (Date.now() < until) x += Math.sqrt(x + 1); // burn > one 10 ms clock tick
  assert.ok(x > 0);
  assert.ok(cpuSeconds(process.pid) > before);
  assert.ok(userCpuSeconds(process.pid) > 0 && userCpuSeconds(process.pid) <= cpuSeconds(process.pid));
  assert.ok(rssBytes(process.pid) > 1024 * 1024);
  assert.match(commOf(process.pid) ?? '', /^\S/); // Node 24 names its main thread MainThread
  assert.equal(commOf(2 ** 22 + 1), null); // above pid_max's maximum: never a process
  assert.ok(Array.isArray(childPids(process.pid)));
});
