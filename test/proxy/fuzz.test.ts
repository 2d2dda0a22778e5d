// Random bytes from a client never crash the proxy and never produce a statement upstream
// (style.md §9; brianc/node-postgres#3691): probe.writes stays unchanged and the proxy keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { startupMessage } from '../../proxy/wire/startup.ts';
import { startHarness } from './harness.ts';
import type { Harness } from './harness.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h?.stop(); });

/** Connect, optionally log in, send the bytes, and wait until the proxy answers or closes. */
function throwBytes(bytes: Uint8Array, login: boolean): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: h.port });
    let ready = !login;
    const done = () => { s.destroy(); resolve(); };
    const timer = setTimeout(done, 300);
    s.on('error', done);
    s.on('close', () => { clearTimeout(timer); resolve(); });
    s.on('connect', () => {
      if (login) s.write(startupMessage({ user: 'fuzz', database: 'shop' }));
      else s.write(bytes);
    });
    s.on('data', (d) => {
      if (!ready && d.includes(0x5a)) { ready = true; s.write(bytes); }
    });
  });
}

// Typed messages with random bodies look like real traffic to the framer; raw bytes test the startup path.
const typedMessage = fc.tuple(fc.constantFrom(0x51, 0x50, 0x42, 0x44, 0x45, 0x53, 0x48, 0x43, 0x64, 0x63, 0x66, 0x46, 0x70, 0x00, 0xff), fc.uint8Array({ maxLength: 64 }))
  .map(([type, body]) => {
    const b = Buffer.alloc(5 + body.length);
    b[0] = type;
    b.writeInt32BE(4 + body.length, 1);
    Buffer.from(body).copy(b, 5);
    return b;
  });

test('random bytes as the first packet never crash the proxy', async () => {
  const before = await h.writes();
  await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => { await throwBytes(bytes, false); }), { numRuns: 60 });
  assert.equal(await h.writes(), before);
  const c = await h.client();
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('random messages after login never crash the proxy nor write anything', async () => {
  const before = await h.writes();
  await fc.assert(fc.asyncProperty(fc.array(typedMessage, { minLength: 1, maxLength: 8 }), fc.uint8Array({ maxLength: 40 }), async (msgs, tail) => {
    await throwBytes(Buffer.concat([...msgs, Buffer.from(tail)]), true);
  }), { numRuns: 150 });
  assert.equal(await h.writes(), before);
  const c = await h.client();
  assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
});
