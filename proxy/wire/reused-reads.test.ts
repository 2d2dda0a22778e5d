import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { connectReusingReads } from './reused-reads.ts';

async function server(): Promise<{ port: number; next: Promise<net.Socket>; close(): void }> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const next = once(s, 'connection').then(([c]) => c as net.Socket);
  return { port: (s.address() as net.AddressInfo).port, next, close: () => s.close() };
}

/** Waits until `cond` holds, checking after each I/O turn. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(cond(), 'timed out');
}

test('before relay(): reads arrive as copies in data events, each intact although the buffer is reused', async () => {
  const srv = await server();
  const { socket } = connectReusingReads({ host: '127.0.0.1', port: srv.port, bufferBytes: 16, reuse: () => true });
  const peer = await srv.next;
  const got: Buffer[] = [];
  socket.on('data', (d: Buffer) => got.push(d)); // kept, not copied: they must be copies already
  for (const part of ['first message', 'second, longer than the 16-byte buffer', 'third']) {
    peer.write(part);
    const before = Buffer.concat(got).length;
    await until(() => Buffer.concat(got).length >= before + Buffer.byteLength(part));
  }
  assert.equal(Buffer.concat(got).toString(), 'first messagesecond, longer than the 16-byte bufferthird');
  socket.destroy();
  peer.destroy();
  srv.close();
});

test('after relay(): views into one buffer while reuse() allows it, fresh buffers while it does not', async () => {
  const srv = await server();
  let allow = true;
  const { socket, relay } = connectReusingReads({
    host: '127.0.0.1',
    port: srv.port,
    bufferBytes: 64,
    reuse: () => allow,
  });
  const peer = await srv.next;
  await once(socket, 'connect');
  const seen: { text: string; buffer: ArrayBufferLike; view: Buffer }[] = [];
  relay((view) => {
    seen.push({ text: view.toString(), buffer: view.buffer, view });
  });
  socket.on('data', () => assert.fail('no data events after relay()'));
  const send = async (s: string) => {
    const n = seen.length;
    peer.write(s);
    await until(() => seen.length > n);
  };
  await send('a');
  await send('b');
  assert.equal(seen[0]!.buffer, seen[1]!.buffer, 'the same buffer, reused');
  assert.equal(seen[0]!.view.toString(), 'b', 'and so the first view now shows the second read');
  allow = false; // the caller says a view may still be queued somewhere
  await send('c'); // read into the reused buffer (chosen before reuse() said no)…
  await send('d'); // …but this one into a fresh buffer
  assert.notEqual(seen[3]!.buffer, seen[2]!.buffer);
  assert.equal(seen[2]!.view.toString(), 'c', 'the view handed out before reuse() said no is left alone');
  assert.deepEqual(
    seen.map((s) => s.text),
    ['a', 'b', 'c', 'd'],
  );
  socket.destroy();
  peer.destroy();
  srv.close();
});

test('pause() stops reading and resume() goes on; end arrives as usual', async () => {
  const srv = await server();
  const { socket, relay } = connectReusingReads({ host: '127.0.0.1', port: srv.port, reuse: () => true });
  const peer = await srv.next;
  await once(socket, 'connect');
  let text = '';
  relay((view) => {
    text += view.toString();
  });
  socket.pause();
  peer.write('held');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(text, '', 'nothing read while paused');
  socket.resume();
  await until(() => text === 'held');
  const ended = once(socket, 'end');
  peer.end('!');
  await ended;
  assert.equal(text, 'held!');
  socket.destroy();
  srv.close();
});
