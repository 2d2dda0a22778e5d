import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { Outbox, OUTBOX_JOIN_MAX_BYTES, type OutboxTarget } from './outbox.ts';

/** Records what reaches the socket: each write, and whether it came while corked. */
function recorder(): OutboxTarget & { writes: { bytes: Buffer; corked: boolean }[]; corks: number } {
  let corked = 0;
  const r = {
    writes: [] as { bytes: Buffer; corked: boolean }[],
    corks: 0,
    write(b: Buffer) {
      r.writes.push({ bytes: Buffer.from(b), corked: corked > 0 });
      return true;
    },
    cork() {
      corked++;
      r.corks++;
    },
    uncork() {
      corked--;
    },
  };
  return r;
}

test('one run of consecutive messages is one write of a view, without cork', () => {
  const to = recorder();
  const out = new Outbox(to);
  const chunk = Buffer.from('aaabbbccc');
  out.pass(chunk, 0, 3);
  out.pass(chunk, 3, 6);
  out.pass(chunk, 6, 9);
  assert.equal(out.pendingBytes, 9);
  out.flush();
  assert.deepEqual(
    to.writes.map((w) => w.bytes.toString()),
    ['aaabbbccc'],
  );
  assert.equal(to.corks, 0);
  out.flush(); // nothing queued: no write
  assert.equal(to.writes.length, 1);
  assert.equal(out.pendingBytes, 0);
});

test('runs broken by a built message, or by a gap, keep their order in one joined write', () => {
  const to = recorder();
  const out = new Outbox(to);
  const chunk = Buffer.from('0123456789');
  out.pass(chunk, 0, 2);
  out.push(Buffer.from('X'));
  out.pass(chunk, 2, 4);
  out.pass(chunk, 6, 8); // a gap: a new run
  out.pass(Buffer.from('45'), 0, 2); // another buffer: a new run
  out.flush();
  assert.deepEqual(
    to.writes.map((w) => w.bytes.toString()),
    ['01X236745'],
  );
  assert.equal(to.corks, 0);
});

test('large batches are written under one cork, without a copy', () => {
  const to = recorder();
  const out = new Outbox(to);
  const big = Buffer.alloc(OUTBOX_JOIN_MAX_BYTES, 1);
  out.push(big);
  out.push(Buffer.from([2]));
  out.flush();
  assert.equal(to.corks, 1);
  assert.deepEqual(
    to.writes.map((w) => [w.bytes.length, w.corked]),
    [
      [OUTBOX_JOIN_MAX_BYTES, true],
      [1, true],
    ],
  );
});

test('fast-check: whatever the pieces, the bytes written are the pieces in order, in one flush', () => {
  const piece = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
    fc.record({ kind: fc.constant('pass' as const), from: fc.nat(20), len: fc.nat(20) }),
    fc.record({ kind: fc.constant('big' as const), len: fc.integer({ min: 1, max: 3 * OUTBOX_JOIN_MAX_BYTES }) }),
  );
  const chunk = Buffer.from(Array.from({ length: 41 }, (_, i) => i));
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), (ps) => {
      const to = recorder();
      const out = new Outbox(to);
      const want: Buffer[] = [];
      for (const p of ps) {
        if (p.kind === 'push') {
          out.push(Buffer.from(p.bytes));
          want.push(Buffer.from(p.bytes));
        } else if (p.kind === 'big') {
          const b = Buffer.alloc(p.len, 7);
          out.push(b);
          want.push(b);
        } else {
          out.pass(chunk, p.from, p.from + p.len);
          want.push(chunk.subarray(p.from, p.from + p.len));
        }
      }
      out.flush();
      assert.deepEqual(Buffer.concat(to.writes.map((w) => w.bytes)), Buffer.concat(want));
      const total = Buffer.concat(want).length;
      // One write, or (large) several under one cork.
      if (to.writes.length > 1)
        assert.ok(to.corks === 1 && to.writes.every((w) => w.corked) && total > OUTBOX_JOIN_MAX_BYTES);
    }),
    { numRuns: 500 },
  );
});

test('through a real socket: the peer receives exactly the bytes, in order', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted = once(server, 'connection');
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = (await accepted) as [net.Socket];
  const received: Buffer[] = [];
  peer.on('data', (d: Buffer) => received.push(d));
  const out = new Outbox(client);
  const chunk = Buffer.from('hello, world');
  out.pass(chunk, 0, 5);
  out.push(Buffer.from(' there'));
  out.pass(chunk, 5, 12);
  const big = Buffer.alloc(OUTBOX_JOIN_MAX_BYTES * 2, 0x61);
  out.flush();
  out.push(big);
  out.push(Buffer.from('!'));
  out.flush();
  client.end();
  await once(peer, 'end');
  assert.deepEqual(Buffer.concat(received), Buffer.concat([Buffer.from('hello there, world'), big, Buffer.from('!')]));
  server.close();
});
