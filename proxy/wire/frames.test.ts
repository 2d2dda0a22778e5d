import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { eachFrame, FrameReader, MAX_MESSAGE_BYTES_DEFAULT, WireError } from './frames.ts';
import {
  AUTH_OK,
  backendKeyData,
  bind,
  commandComplete,
  dataRow,
  describe as describeMsg,
  errorResponse,
  execute,
  noticeResponse,
  parameterStatus,
  parse,
  query,
  RFQ_IDLE,
  RFQ_IN_TX,
  rowDescription,
  SYNC,
} from './messages.ts';

/** A realistic server stream: startup tail, a simple query with rows (one of them large), an error. */
const SERVER_STREAM = Buffer.concat([
  AUTH_OK,
  parameterStatus('server_version', '15.8'),
  parameterStatus('client_encoding', 'UTF8'),
  backendKeyData(4242, Buffer.from([1, 2, 3, 4])),
  RFQ_IDLE,
  rowDescription([
    { name: 'id', tableOid: 16384, attnum: 1, typeOid: 23, typeLen: 4, typeMod: -1, format: 0 },
    { name: 'email', tableOid: 16384, attnum: 2, typeOid: 25, typeLen: -1, typeMod: -1, format: 0 },
  ]),
  dataRow(['1', 'a@example.com']),
  dataRow(['2', null]),
  dataRow(['3', 'x'.repeat(300)]),
  commandComplete('SELECT 3'),
  noticeResponse({ severity: 'NOTICE', code: '00000', message: 'hi' }),
  errorResponse({ severity: 'ERROR', code: '42501', message: 'permission denied', detail: 'd', hint: 'h' }),
  RFQ_IN_TX,
]);
/** A pipelined extended-protocol client stream. */
const CLIENT_STREAM = Buffer.concat([
  parse('', 'SELECT abalance FROM pgbench_accounts WHERE aid = $1', [23]),
  bind({ params: [Buffer.from('12345')], resultFormats: [1] }),
  describeMsg('P'),
  execute(),
  SYNC,
  query('SELECT 1; SELECT 2'),
]);

type Seen = [number, string][];
/** Frames via FrameReader.next(), each as (type, hex of its bytes). */
function viaNext(chunks: Buffer[], max = MAX_MESSAGE_BYTES_DEFAULT): Seen {
  const r = new FrameReader(max);
  const out: Seen = [];
  for (const c of chunks) {
    r.push(c);
    for (let f = r.next(); f !== null; f = r.next()) out.push([f.type, f.buf.toString('hex', f.start, f.end)]);
  }
  return out;
}
function viaDrain(chunks: Buffer[], max = MAX_MESSAGE_BYTES_DEFAULT): Seen {
  const r = new FrameReader(max);
  const out: Seen = [];
  for (const c of chunks) {
    r.push(c);
    r.drain((buf, type, s, e) => {
      out.push([type, buf.toString('hex', s, e)]);
    });
  }
  return out;
}
function viaEachFrame(whole: Buffer, max = MAX_MESSAGE_BYTES_DEFAULT): Seen {
  const out: Seen = [];
  const rest = eachFrame(whole, 0, max, (type, s, e) => {
    out.push([type, whole.toString('hex', s, e)]);
  });
  assert.equal(rest, whole.length);
  return out;
}

describe('eachFrame', () => {
  test('visits every message in place and returns the start of the unfinished one', () => {
    const seen = viaEachFrame(SERVER_STREAM);
    assert.equal(seen.length, 13);
    assert.equal(Buffer.concat(seen.map(([, h]) => Buffer.from(h, 'hex'))).equals(SERVER_STREAM), true);
    const cut = SERVER_STREAM.length - 3;
    let last = -1;
    const rest = eachFrame(SERVER_STREAM.subarray(0, cut), 0, MAX_MESSAGE_BYTES_DEFAULT, (_t, _s, e) => {
      last = e;
    });
    assert.equal(rest, last);
    assert.equal(rest, SERVER_STREAM.length - RFQ_IN_TX.length);
  });
  test('starts at `at` and returns `at` when fewer than 5 bytes remain', () => {
    assert.equal(
      eachFrame(SYNC, 1, 100, () => assert.fail('visited')),
      1,
    );
    assert.equal(
      eachFrame(Buffer.alloc(0), 0, 100, () => assert.fail('visited')),
      0,
    );
  });
  for (const [name, len] of [
    ['0', 0],
    ['3', 3],
    ['negative (-1)', -1],
    ['2^31 (reads negative)', 0x80000000],
    ['max + 1', 101],
  ] as const) {
    test(`length ${name} throws WireError`, () => {
      const b = Buffer.from([0x51, 0, 0, 0, 0, 0, 0, 0, 0]);
      b.writeUInt32BE(len >>> 0, 1);
      assert.throws(
        () => eachFrame(b, 0, 100, () => {}),
        (e: unknown) => e instanceof WireError && /outside the allowed 4\.\.100/.test(e.message),
      );
    });
  }
  test('length == max is accepted', () => {
    const b = Buffer.alloc(101);
    b[0] = 0x64;
    b.writeInt32BE(100, 1);
    let n = 0;
    eachFrame(b, 0, 100, () => {
      n++;
    });
    assert.equal(n, 1);
  });
});

describe('FrameReader', () => {
  for (const [name, wire] of [
    ['server stream', SERVER_STREAM],
    ['client stream', CLIENT_STREAM],
  ] as const) {
    const want = viaEachFrame(wire);
    test(`${name}: frames survive every split point (next and drain)`, () => {
      for (let cut = 0; cut <= wire.length; cut++) {
        const chunks = [wire.subarray(0, cut), wire.subarray(cut)];
        assert.deepEqual(viaNext(chunks), want, `cut at ${cut}`);
        assert.deepEqual(viaDrain(chunks), want, `cut at ${cut}`);
      }
    });
    test(`${name}: frames survive every pair of split points`, () => {
      const w = wire.subarray(0, Math.min(wire.length, 260));
      const wantW = viaNext([w]);
      for (let a = 0; a <= w.length; a++) {
        for (let b = a; b <= w.length; b++) {
          assert.deepEqual(viaNext([w.subarray(0, a), w.subarray(a, b), w.subarray(b)]), wantW, `cuts at ${a}, ${b}`);
        }
      }
    });
    test(`${name}: 1-byte chunks`, () => {
      const chunks = Array.from(wire, (_, i) => wire.subarray(i, i + 1));
      assert.deepEqual(viaNext(chunks), want);
      assert.deepEqual(viaDrain(chunks), want);
    });
  }

  test('whole messages are views into the pushed chunk, not copies', () => {
    const r = new FrameReader(1000);
    r.push(SERVER_STREAM);
    const f = r.next()!;
    assert.equal(f.buf, SERVER_STREAM);
    assert.deepEqual([f.start, f.end], [0, AUTH_OK.length]);
  });

  test('a message cut by a boundary is assembled into an exact-size buffer that later pushes do not touch', () => {
    const r = new FrameReader(1000);
    const row = dataRow(['hello', 'world']);
    r.push(row.subarray(0, 7));
    assert.equal(r.next(), null);
    assert.equal(r.pendingBytes, 7);
    const tail = Buffer.concat([row.subarray(7), RFQ_IDLE]);
    r.push(tail);
    const f = r.next()!;
    assert.equal(f.buf.length, row.length);
    assert.deepEqual([f.start, f.end], [0, row.length]);
    assert.equal(f.buf.equals(row), true);
    assert.equal(r.next()!.buf, tail);
    tail.fill(0);
    r.push(Buffer.from(row));
    r.next();
    assert.equal(f.buf.equals(row), true);
  });

  test('pushing while frames are unread keeps them in order', () => {
    const r = new FrameReader(1000);
    r.push(Buffer.concat([SYNC, SYNC, query('x').subarray(0, 3)]));
    assert.equal(r.next()!.type, 0x53);
    r.push(query('x').subarray(3));
    assert.deepEqual([r.next()!.type, r.next()!.type, r.next()], [0x53, 0x51, null]);
  });

  test('drain stops when the visitor returns false and resumes later', () => {
    const r = new FrameReader(1000);
    r.push(Buffer.concat([SYNC, RFQ_IDLE, SYNC]));
    const types: number[] = [];
    r.drain((_b, t) => {
      types.push(t);
      return false;
    });
    assert.deepEqual(types, [0x53]);
    assert.equal(r.pendingBytes, RFQ_IDLE.length + SYNC.length);
    r.drain((_b, t) => {
      types.push(t);
    });
    assert.deepEqual(types, [0x53, 0x5a, 0x53]);
  });

  test('release(): reading every chunk into one reused buffer gives the same frames, stopped drains included', () => {
    const whole = Buffer.concat([SERVER_STREAM, CLIENT_STREAM]);
    const want = viaEachFrame(whole);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        (sizes, stops) => {
          const r = new FrameReader(1000);
          const reused = Buffer.alloc(256);
          const seen: Seen = [];
          let stop = 0;
          const visit = (buf: Buffer, type: number, st: number, e: number): boolean => {
            seen.push([type, buf.toString('hex', st, e)]);
            return !(stops[stop++ % Math.max(1, stops.length)] ?? false); // sometimes stop early, leaving a rest
          };
          let at = 0;
          for (let k = 0; at < whole.length; k++) {
            const n = Math.min(sizes[k % sizes.length]!, whole.length - at);
            whole.copy(reused, 0, at, at + n);
            at += n;
            r.push(reused.subarray(0, n));
            r.drain(visit);
            r.release();
            reused.fill(0xee); // the next read overwrites it: nothing kept may still point into it
          }
          for (let guard = 0; r.pendingBytes > 0 && guard < 1000; guard++) r.drain(visit);
          assert.deepEqual(seen, want);
          assert.equal(r.pendingBytes, 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('takeRemaining hands over the unread bytes exactly and empties the reader', () => {
    for (let cut = 0; cut <= SERVER_STREAM.length; cut++) {
      const r = new FrameReader(1000);
      r.push(SERVER_STREAM.subarray(0, cut));
      let consumed = 0;
      while (consumed < 30) {
        // take a few frames, leave the rest (whole, cut, or cut inside a header)
        const f = r.next();
        if (f === null) break;
        consumed += f.end - f.start;
      }
      r.push(SERVER_STREAM.subarray(cut));
      const rest = r.takeRemaining();
      assert.equal(rest.equals(SERVER_STREAM.subarray(consumed)), true, `cut ${cut}`);
      assert.equal(r.pendingBytes, 0);
      assert.equal(r.next(), null);
    }
  });

  for (const [name, header] of [
    ['oversize', [0x44, 0x00, 0x00, 0x04, 0x01]],
    ['negative', [0x44, 0xff, 0xff, 0xff, 0xfe]],
    ['too small', [0x44, 0, 0, 0, 3]],
  ] as const) {
    test(`${name} length throws WireError whole or with the header split, and poisons the reader`, () => {
      for (let cut = 0; cut <= 5; cut++) {
        const r = new FrameReader(1024);
        const b = Buffer.concat([SYNC, Buffer.from(header)]);
        assert.throws(() => {
          viaReader(r, [b.subarray(0, SYNC.length + cut), b.subarray(SYNC.length + cut)]);
        }, WireError);
        assert.throws(() => r.next(), WireError);
        assert.throws(() => r.push(SYNC), WireError);
      }
    });
  }

  test('random bytes in random chunks: the same frames as eachFrame, or WireError, never anything else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(600), { maxLength: 6 }),
        fc.integer({ min: 4, max: 300 }),
        (bytes, cutsRaw, max) => {
          const wire = Buffer.from(bytes);
          const cuts = [...new Set(cutsRaw.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const c of cuts) {
            chunks.push(wire.subarray(prev, c));
            prev = c;
          }
          chunks.push(wire.subarray(prev));
          let want: Seen = [];
          let wantErr = false;
          let wantEnd = 0;
          try {
            wantEnd = eachFrame(wire, 0, max, (t, s, e) => {
              assert.ok(e <= wire.length);
              want.push([t, wire.toString('hex', s, e)]);
            });
          } catch (e) {
            if (!(e instanceof WireError)) throw e;
            wantErr = true;
            want = [];
          }
          const got: Seen = [];
          try {
            const r = new FrameReader(max);
            for (const c of chunks) {
              r.push(c);
              for (let f = r.next(); f !== null; f = r.next())
                got.push([f.type, f.buf.toString('hex', f.start, f.end)]);
            }
            assert.equal(wantErr, false, 'FrameReader accepted what eachFrame refused');
            assert.deepEqual(got, want);
            assert.equal(r.pendingBytes, wire.length - wantEnd);
          } catch (e) {
            if (!(e instanceof WireError)) throw e;
            assert.equal(wantErr, true, 'FrameReader refused what eachFrame accepted');
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('constructor refuses a bound outside 4..2^31-1', () => {
    assert.throws(() => new FrameReader(3), RangeError);
    assert.throws(() => new FrameReader(2 ** 31), RangeError);
  });
});

function viaReader(r: FrameReader, chunks: Buffer[]): void {
  for (const c of chunks) {
    r.push(c);
    while (r.next() !== null);
  }
}
