// Issue 16: per-session buffering is bounded. A client that stops reading makes the proxy stop reading the
// upstream socket (PostgreSQL then blocks in send()); the proxy must never hold the result set itself. The
// proxy runs in this process, so its buffers are this process's: a ~150 MiB result against a client that
// reads nothing for 2 s must leave arrayBuffers (every Buffer queued on a socket is one) and RSS near
// where they were. Then the client reads everything: every byte arrives, ending in ReadyForQuery.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startHarness } from './harness.ts';
import type { Harness } from './harness.ts';
import { RawClient } from './raw-client.ts';
import { query } from '../../proxy/wire/messages.ts';

const ROWS = 1000; // public.big × public.big: 1,000,000 rows of ~150 bytes on the wire
let h: Harness;
before(async () => {
  h = await startHarness();
  await h.admin(`INSERT INTO public.big SELECT g, repeat('x', 128) FROM generate_series(1, ${ROWS}) g`);
});
after(async () => {
  await h?.stop();
});

const rssMiB = (): number => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const buffersMiB = (): number => process.memoryUsage().arrayBuffers / 2 ** 20;

test('a client that stops reading pauses the upstream read: the proxy does not buffer the result', async () => {
  const c = await RawClient.connect(h.port, { user: 'raw', database: 'shop' });
  // From here on, bytes are only counted: decoding a million rows in this process would blur the measure.
  c.sock.removeAllListeners('data');
  let bytes = 0;
  let tail = Buffer.alloc(0);
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  c.sock.on('data', (d: Buffer) => {
    bytes += d.length;
    tail = Buffer.concat([tail, d]).subarray(-6);
    // ReadyForQuery, idle: the statement is over.
    if (tail.equals(Buffer.from([0x5a, 0, 0, 0, 5, 0x49]))) done();
  });
  c.sock.pause();
  global.gc?.();
  const before = { rss: rssMiB(), buffers: buffersMiB() };
  c.send(query('SELECT a.id, b.id, a.v FROM public.big a, public.big b'));
  let peak = { rss: before.rss, buffers: before.buffers };
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    peak = { rss: Math.max(peak.rss, rssMiB()), buffers: Math.max(peak.buffers, buffersMiB()) };
  }
  assert.equal(bytes, 0, 'the paused client read nothing');
  // Socket buffers in the kernel are not in RSS; what the proxy may hold is one read chunk and a socket's
  // write queue past its high-water mark, i.e. well under a MiB. The result is ~150 MiB.
  assert.ok(
    peak.buffers - before.buffers < 16,
    `array buffers grew by ${(peak.buffers - before.buffers).toFixed(1)} MiB while the client did not read`,
  );
  assert.ok(
    peak.rss - before.rss < 48,
    `RSS grew by ${(peak.rss - before.rss).toFixed(1)} MiB while the client did not read`,
  );
  c.sock.resume();
  await finished;
  assert.ok(bytes > ROWS * ROWS * 140, `the whole result arrived (${bytes} bytes)`);
  c.close();
});
