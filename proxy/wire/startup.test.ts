import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RequestCode } from './codes.ts';
import { WireError } from './frames.ts';
import {
  cancelRequest,
  GSSENC_REQUEST,
  MAX_STARTUP_PACKET_LENGTH,
  negotiateProtocolVersion,
  negotiateProtocolVersionFor,
  parseStartup,
  readStartupLength,
  SSL_NO,
  SSL_REQUEST,
  SSL_YES,
  startupMessage,
} from './startup.ts';

const whole = (b: Buffer) => parseStartup(b, 0, b.length);

/** A startup packet with an arbitrary code and body. */
function packet(code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8 + body.length);
  b.writeInt32BE(b.length, 0);
  b.writeUInt32BE(code, 4);
  body.copy(b, 8);
  return b;
}

describe('startup packets', () => {
  test('StartupMessage round trip (3.0, order kept, UTF-8 values)', () => {
    const b = startupMessage({ user: 'alice', database: 'orders', application_name: 'psql ✓', options: '-c x=1' });
    assert.equal(readStartupLength(b, 0), b.length);
    const p = whole(b);
    assert.equal(p.kind, 'startup');
    if (p.kind !== 'startup') return;
    assert.equal(p.protocol, RequestCode.Protocol30);
    assert.deepEqual(
      [...p.params],
      [
        ['user', 'alice'],
        ['database', 'orders'],
        ['application_name', 'psql ✓'],
        ['options', '-c x=1'],
      ],
    );
    assert.equal(negotiateProtocolVersionFor(p), null);
  });

  test('an empty parameter list is just the terminator', () => {
    const p = whole(packet(RequestCode.Protocol30, Buffer.from([0])));
    assert.deepEqual(p.kind === 'startup' && [...p.params], []);
  });

  test('a later duplicate parameter wins, as in PostgreSQL', () => {
    const p = whole(packet(RequestCode.Protocol30, Buffer.from('user\0a\0user\0b\0\0')));
    assert.equal(p.kind === 'startup' && p.params.get('user'), 'b');
  });

  test('SSLRequest, GSSENCRequest and their constants', () => {
    assert.deepEqual(whole(SSL_REQUEST), { kind: 'ssl' });
    assert.deepEqual(whole(GSSENC_REQUEST), { kind: 'gssenc' });
    assert.equal(SSL_REQUEST.toString('hex'), '0000000804d2162f');
    assert.equal(SSL_NO.toString(), 'N');
    assert.equal(SSL_YES.toString(), 'S');
  });

  test('CancelRequest round trip, with a 4-byte and a 3.2-length key; the key is a copy', () => {
    for (const key of [Buffer.from([9, 8, 7, 6]), Buffer.alloc(32, 5)]) {
      const b = cancelRequest(-12345, key);
      const p = whole(b);
      assert.deepEqual(p, { kind: 'cancel', processId: -12345, secretKey: key });
      b.fill(0, 12);
      assert.deepEqual(p.kind === 'cancel' && p.secretKey, key);
    }
    assert.throws(() => cancelRequest(1, Buffer.alloc(3)), RangeError);
  });

  test('protocol 3.2 and _pq_ options get NegotiateProtocolVersion(3.0, options)', () => {
    const b = startupMessage({ user: 'u', '_pq_.compression': 'on' });
    b.writeUInt32BE(RequestCode.Protocol32, 4);
    const p = whole(b);
    assert.equal(p.kind === 'startup' && p.protocol, RequestCode.Protocol32);
    if (p.kind !== 'startup') return;
    const v = negotiateProtocolVersionFor(p)!;
    assert.deepEqual(v, negotiateProtocolVersion(0, ['_pq_.compression']));
    assert.equal(
      v.toString('hex'),
      '76' + '0000001d' + '00000000' + '00000001' + Buffer.from('_pq_.compression\0').toString('hex'),
    );
    const plain32 = startupMessage({ user: 'u' });
    plain32.writeUInt32BE(RequestCode.Protocol32, 4);
    const q = whole(plain32);
    assert.deepEqual(q.kind === 'startup' && negotiateProtocolVersionFor(q), negotiateProtocolVersion(0, []));
  });

  for (const [name, b, msg] of [
    ['protocol 2.0', packet(0x20000, Buffer.from([0])), /unsupported frontend protocol 2\.0/],
    ['an unknown 1234.x request', packet(80877105), /unsupported frontend protocol 1234\.5681/],
    ['an SSLRequest with a body', packet(RequestCode.SSLRequest, Buffer.from([0])), /SSLRequest must be 8 bytes/],
    [
      'a GSSENCRequest with a body',
      packet(RequestCode.GSSENCRequest, Buffer.from([0, 0, 0, 0])),
      /GSSENCRequest must be 8 bytes/,
    ],
    ['a CancelRequest with a 3-byte key', packet(RequestCode.CancelRequest, Buffer.alloc(7)), /3-byte key/],
    ['a CancelRequest with a 257-byte key', packet(RequestCode.CancelRequest, Buffer.alloc(261)), /257-byte key/],
    ['no terminator', packet(RequestCode.Protocol30), /expected terminator as last byte/],
    ['an unterminated name', packet(RequestCode.Protocol30, Buffer.from('user')), /unterminated parameter name/],
    ['an unterminated value', packet(RequestCode.Protocol30, Buffer.from('user\0bob')), /unterminated parameter value/],
    [
      'a name without value before the end',
      packet(RequestCode.Protocol30, Buffer.from('user\0')),
      /unterminated parameter value/,
    ],
    [
      'bytes after the terminator',
      packet(RequestCode.Protocol30, Buffer.from('user\0a\0\0x')),
      /terminator as last byte/,
    ],
    [
      'invalid UTF-8 in a value',
      packet(RequestCode.Protocol30, Buffer.from([0x75, 0, 0xc3, 0x28, 0, 0])),
      /not valid UTF-8/,
    ],
  ] as const) {
    test(`${name} is refused with WireError`, () => {
      assert.throws(
        () => whole(b),
        (e: unknown) => e instanceof WireError && msg.test(e.message),
      );
    });
  }

  test('readStartupLength: null until 4 bytes; WireError outside 8..10000 (negative included)', () => {
    assert.equal(readStartupLength(Buffer.from([0, 0, 0]), 0), null);
    assert.equal(readStartupLength(Buffer.from([9, 0, 0, 0, 8]), 1), 8);
    assert.equal(readStartupLength(Buffer.from([0, 0, 0x27, 0x10]), 0), MAX_STARTUP_PACKET_LENGTH);
    for (const len of [0, 7, MAX_STARTUP_PACKET_LENGTH + 1, -8, 0x7fffffff]) {
      const b = Buffer.alloc(4);
      b.writeInt32BE(len, 0);
      assert.throws(() => readStartupLength(b, 0), WireError, String(len));
    }
  });

  test('parseStartup refuses a length word that disagrees with the framed size', () => {
    const b = Buffer.concat([startupMessage({ user: 'u' }), Buffer.from([0])]);
    assert.throws(() => parseStartup(b, 0, b.length), /says \d+ bytes but \d+ were framed/);
  });

  test('startupMessage refuses NUL and oversize', () => {
    assert.throws(() => startupMessage({ user: 'a\0b' }), RangeError);
    assert.throws(() => startupMessage({ options: 'x'.repeat(MAX_STARTUP_PACKET_LENGTH) }), RangeError);
  });

  test('random bytes: a packet or WireError, never another exception, never reading past end', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.boolean(),
        (body, suffix, realHeader) => {
          const raw = Buffer.from(body);
          if (realHeader && raw.length >= 8) raw.writeInt32BE(raw.length, 0);
          const run = (tail: Buffer): unknown => {
            const b = Buffer.concat([raw, tail]);
            try {
              return parseStartup(b, 0, raw.length);
            } catch (e) {
              if (e instanceof WireError) return 'WireError';
              throw e;
            }
          };
          // The bytes after `end` must not matter: compare against a different suffix.
          assert.deepEqual(run(Buffer.from(suffix)), run(Buffer.alloc(suffix.length, 0)));
        },
      ),
      { numRuns: 5000 },
    );
    // And with well-formed headers and codes, random bodies.
    fc.assert(
      fc.property(
        fc.constantFrom(
          RequestCode.Protocol30,
          RequestCode.Protocol32,
          RequestCode.CancelRequest,
          RequestCode.SSLRequest,
        ),
        fc.uint8Array({ maxLength: 60 }),
        (code, body) => {
          try {
            whole(packet(code, Buffer.from(body)));
          } catch (e) {
            if (!(e instanceof WireError)) throw e;
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});
