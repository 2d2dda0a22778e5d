import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notificationWithoutPayload } from './notification.ts';
import { WireError } from '../wire/frames.ts';

function notification(pid: number, channel: string, payload: string): Buffer {
  const body = Buffer.concat([Buffer.from(channel), Buffer.from([0]), Buffer.from(payload), Buffer.from([0])]);
  const b = Buffer.alloc(9 + body.length);
  b[0] = 0x41;
  b.writeInt32BE(8 + body.length, 1);
  b.writeInt32BE(pid, 5);
  body.copy(b, 9);
  return b;
}

test('the payload is dropped; PID and channel stay; lengths are right', () => {
  const pre = Buffer.from('xyz'); // the message sits inside a larger read buffer
  const msg = notification(4242, 'cache_orders', '919-56-7042');
  const buf = Buffer.concat([pre, msg, pre]);
  assert.deepEqual(notificationWithoutPayload(buf, 3, 3 + msg.length), notification(4242, 'cache_orders', ''));
});

test('an empty payload stays empty; a multi-byte channel is copied whole', () => {
  const msg = notification(1, 'kanäl', '');
  assert.deepEqual(notificationWithoutPayload(msg, 0, msg.length), msg);
});

test('a malformed message is a wire error, never a partial copy', () => {
  const msg = notification(1, 'c', 'p');
  assert.throws(() => notificationWithoutPayload(msg.subarray(0, 10), 0, 10), WireError);
  const noNul = Buffer.from(msg);
  noNul[noNul.length - 1] = 0x41;
  assert.throws(() => notificationWithoutPayload(noNul, 0, noNul.length), WireError);
});
