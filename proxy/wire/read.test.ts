// Every builder in messages.ts read back by its decoder in read.ts, the decoders' refusals, and fast-check:
// random bytes give a value or WireError, never another exception, and never depend on bytes past `end`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Backend, Frontend } from './codes.ts';
import { WireError } from './frames.ts';
import * as m from './messages.ts';
import {
  InvalidTextError,
  readAuthentication,
  readBackendKeyData,
  readBind,
  readBindTarget,
  readClose,
  readCommandComplete,
  readCopyResponse,
  readDescribe,
  readErrorFields,
  readExecute,
  readFunctionCall,
  readParameterStatus,
  readParse,
  readQuery,
  readReadyForQuery,
  readRowDescription,
  resultFormatFor,
} from './read.ts';
import type { FieldInfo } from './read.ts';

type Reader = (buf: Buffer, start: number, end: number) => unknown;

/** Reads `msg` placed between junk bytes, so offsets other than 0 and a buffer longer than the message are exercised. */
function readAt<T>(read: (buf: Buffer, start: number, end: number) => T, msg: Buffer): T {
  const buf = Buffer.concat([Buffer.from([0xaa, 0xbb, 0xcc]), msg, Buffer.from([0xdd, 0, 0, 0, 0xee])]);
  return read(buf, 3, 3 + msg.length);
}

describe('builder ↔ reader round trips', () => {
  test('Query', () => {
    for (const sql of ['', 'SELECT 1', "SELECT 'ünïcødé ✓' -- 🚀", 'x'.repeat(70_000)])
      assert.equal(readAt(readQuery, m.query(sql)), sql);
  });
  test('Parse', () => {
    assert.deepEqual(readAt(readParse, m.parse('s1', 'SELECT $1::int, $2', [23, 4294967295])), {
      name: 's1',
      query: 'SELECT $1::int, $2',
      paramTypes: [23, 4294967295],
    });
    assert.deepEqual(readAt(readParse, m.parse('', 'SELECT 1')), { name: '', query: 'SELECT 1', paramTypes: [] });
  });
  test('Bind (formats, NULL, empty and binary params, result formats)', () => {
    const params = [Buffer.from('42'), null, Buffer.alloc(0), Buffer.from([0, 0, 0, 7])];
    const b = readAt(
      readBind,
      m.bind({ portal: 'p', statement: 's', paramFormats: [0, 0, 0, 1], params, resultFormats: [1, 0] }),
    );
    assert.deepEqual(b, { portal: 'p', statement: 's', paramFormats: [0, 0, 0, 1], params, resultFormats: [1, 0] });
    assert.deepEqual(readAt(readBind, m.bind({})), {
      portal: '',
      statement: '',
      paramFormats: [],
      params: [],
      resultFormats: [],
    });
    assert.deepEqual(
      readAt(readBind, m.bind({ paramFormats: [1], params: [Buffer.from([1]), Buffer.from([2])] })).paramFormats,
      [1],
    );
  });
  test('readBindTarget: readBind without the values, the same checks', () => {
    const params = [Buffer.from('42'), null, Buffer.alloc(0), Buffer.from([0, 0, 0, 7])];
    const msg = m.bind({ portal: 'p', statement: 's', paramFormats: [0, 0, 0, 1], params, resultFormats: [1, 0] });
    assert.deepEqual(readAt(readBindTarget, msg), { portal: 'p', statement: 's', resultFormats: [1, 0] });
    const none = readAt(readBindTarget, m.bind({ statement: 'P0_1', params: [Buffer.from('7')] }));
    assert.deepEqual(none, { portal: '', statement: 'P0_1', resultFormats: [] });
    assert.ok(Object.isFrozen(none.resultFormats));
  });
  test('strings around the JavaScript scan bound (256 bytes), ASCII and not', () => {
    for (const n of [0, 1, 254, 255, 256, 257, 300, 1000]) {
      for (const unit of ['a', 'é', '✓']) {
        const s = unit.repeat(n).slice(0, n);
        assert.equal(readAt(readQuery, m.query(s)), s);
        assert.deepEqual(readAt(readExecute, m.execute(s, 3)), { portal: s, maxRows: 3 });
      }
    }
    // The first byte past the scan bound is the NUL, or non-ASCII.
    const ascii255 = 'x'.repeat(255);
    assert.equal(readAt(readQuery, m.query(`${ascii255}é`)), `${ascii255}é`);
    assert.deepEqual(readAt(readParse, m.parse('x'.repeat(256), 'SELECT 1')), {
      name: 'x'.repeat(256),
      query: 'SELECT 1',
      paramTypes: [],
    });
  });
  test('Describe and Close', () => {
    assert.deepEqual(readAt(readDescribe, m.describe('S', 'stmt')), { kind: 'S', name: 'stmt' });
    assert.deepEqual(readAt(readDescribe, m.describe('P')), { kind: 'P', name: '' });
    assert.deepEqual(readAt(readClose, m.close('P', 'c1')), { kind: 'P', name: 'c1' });
  });
  test('Execute', () => {
    assert.deepEqual(readAt(readExecute, m.execute('p', 100)), { portal: 'p', maxRows: 100 });
    assert.deepEqual(readAt(readExecute, m.execute()), { portal: '', maxRows: 0 });
  });
  test('FunctionCall', () => {
    assert.deepEqual(readAt(readFunctionCall, m.functionCall(764, [1], [Buffer.from([0, 0, 0, 1]), null], 1)), {
      functionOid: 764,
    });
    assert.deepEqual(readAt(readFunctionCall, m.functionCall(4000000000, [], [], 0)), { functionOid: 4000000000 });
  });
  test('RowDescription', () => {
    const fields: FieldInfo[] = [
      { name: 'id', tableOid: 16384, attnum: 1, typeOid: 23, typeLen: 4, typeMod: -1, format: 0 },
      { name: 'ctid', tableOid: 4294967290, attnum: -1, typeOid: 27, typeLen: 6, typeMod: -1, format: 1 },
      { name: '', tableOid: 0, attnum: 0, typeOid: 1043, typeLen: -1, typeMod: 68, format: 0 },
      { name: 'naïve', tableOid: 1, attnum: 32767, typeOid: 25, typeLen: -1, typeMod: -1, format: 1 },
    ];
    assert.deepEqual(readAt(readRowDescription, m.rowDescription(fields)), fields);
    // Read again, elsewhere in another buffer: the same (frozen) fields; one byte different: decoded anew.
    const again = readAt(readRowDescription, m.rowDescription(fields));
    assert.equal(readRowDescription(m.rowDescription(fields), 0, m.rowDescription(fields).length), again);
    assert.ok(Object.isFrozen(again) && again.every((f) => Object.isFrozen(f)));
    const other = m.rowDescription(fields.map((f, i) => (i === 1 ? { ...f, attnum: -2 } : f)));
    const otherFields = readAt(readRowDescription, other);
    assert.notEqual(otherFields, again);
    assert.equal(otherFields[1]!.attnum, -2);
    assert.deepEqual(readAt(readRowDescription, m.rowDescription(fields)), fields);
    // More shapes than the cache holds: every one still reads as itself.
    for (let round = 0; round < 2; round++) {
      for (let k = 0; k < 20; k++) {
        const fk: FieldInfo[] = [
          { name: `c${k}`, tableOid: k, attnum: 1, typeOid: 23, typeLen: 4, typeMod: -1, format: 0 },
        ];
        assert.deepEqual(readAt(readRowDescription, m.rowDescription(fk)), fk);
      }
    }
    assert.deepEqual(readAt(readRowDescription, m.rowDescription([])), []);
  });
  test('CommandComplete', () => {
    for (const tag of ['SELECT 3', 'INSERT 0 1', 'UPDATE 0', 'BEGIN'])
      assert.equal(readAt(readCommandComplete, m.commandComplete(tag)), tag);
  });
  test('ReadyForQuery (constants, not new buffers)', () => {
    for (const s of [0x49, 0x54, 0x45] as const) {
      assert.equal(readAt(readReadyForQuery, m.readyForQuery(s)), s);
      assert.equal(m.readyForQuery(s), m.readyForQuery(s));
    }
    assert.deepEqual(
      [m.RFQ_IDLE, m.RFQ_IN_TX, m.RFQ_FAILED].map((b) => b.toString('hex')),
      ['5a0000000549', '5a0000000554', '5a0000000545'],
    );
  });
  test('ErrorResponse and NoticeResponse (S, V, C, M, D, H; NUL in text becomes U+FFFD)', () => {
    const e = readAt(
      readErrorFields,
      m.errorResponse({
        severity: 'ERROR',
        code: '42501',
        message: 'permission denied for table "t"',
        detail: 'a\0b',
        hint: 'ask',
      }),
    );
    assert.deepEqual(
      [...e],
      [
        ['S', 'ERROR'],
        ['V', 'ERROR'],
        ['C', '42501'],
        ['M', 'permission denied for table "t"'],
        ['D', 'a\uFFFDb'],
        ['H', 'ask'],
      ],
    );
    const n = readAt(readErrorFields, m.noticeResponse({ severity: 'WARNING', code: '01000', message: 'careful' }));
    assert.deepEqual(
      [...n],
      [
        ['S', 'WARNING'],
        ['V', 'WARNING'],
        ['C', '01000'],
        ['M', 'careful'],
      ],
    );
    assert.equal(m.noticeResponse({ severity: 'NOTICE', code: '0', message: '' })[0], Backend.NoticeResponse);
  });
  test('Authentication requests', () => {
    assert.deepEqual(readAt(readAuthentication, m.AUTH_OK), { type: 'ok' });
    assert.deepEqual(readAt(readAuthentication, m.authenticationCleartextPassword()), { type: 'cleartext' });
    assert.deepEqual(readAt(readAuthentication, m.authenticationMD5Password(Buffer.from([1, 2, 3, 4]))), {
      type: 'md5',
      salt: Buffer.from([1, 2, 3, 4]),
    });
    assert.deepEqual(readAt(readAuthentication, m.authenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'])), {
      type: 'sasl',
      mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
    });
    assert.deepEqual(readAt(readAuthentication, m.authenticationSASLData(11, Buffer.from('r=x,s=y,i=1'))), {
      type: 'sasl-continue',
      data: Buffer.from('r=x,s=y,i=1'),
    });
    assert.deepEqual(readAt(readAuthentication, m.authenticationSASLData(12, Buffer.from('v=abc'))), {
      type: 'sasl-final',
      data: Buffer.from('v=abc'),
    });
    assert.deepEqual(readAt(readAuthentication, Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 7])), {
      type: 'other',
      code: 7,
    });
  });
  test('ParameterStatus and BackendKeyData', () => {
    assert.deepEqual(readAt(readParameterStatus, m.parameterStatus('TimeZone', 'Europe/Zürich')), {
      name: 'TimeZone',
      value: 'Europe/Zürich',
    });
    const key = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const k = m.backendKeyData(-7, key);
    const r = readAt(readBackendKeyData, k);
    assert.deepEqual(r, { processId: -7, secretKey: key });
  });
  test('Copy responses', () => {
    assert.deepEqual(readAt(readCopyResponse, m.copyResponse(Backend.CopyOutResponse, 0, [0, 0])), {
      format: 0,
      columnFormats: [0, 0],
    });
    assert.deepEqual(readAt(readCopyResponse, m.copyResponse(Backend.CopyInResponse, 1, [1, 1, 1])), {
      format: 1,
      columnFormats: [1, 1, 1],
    });
    assert.deepEqual(readAt(readCopyResponse, m.copyResponse(Backend.CopyBothResponse, 0, [])), {
      format: 0,
      columnFormats: [],
    });
  });
  test('fixed messages are 5-byte frames of the right type', () => {
    const table: [Buffer, number][] = [
      [m.EMPTY_QUERY_RESPONSE, Backend.EmptyQueryResponse],
      [m.PARSE_COMPLETE, Backend.ParseComplete],
      [m.BIND_COMPLETE, Backend.BindComplete],
      [m.CLOSE_COMPLETE, Backend.CloseComplete],
      [m.NO_DATA, Backend.NoData],
      [m.PORTAL_SUSPENDED, Backend.PortalSuspended],
      [m.SYNC, Frontend.Sync],
      [m.FLUSH, Frontend.Flush],
      [m.TERMINATE, Frontend.Terminate],
      [m.COPY_DONE, Frontend.CopyDone],
    ];
    for (const [b, type] of table) assert.deepEqual([...b], [type, 0, 0, 0, 4]);
  });
  test('PasswordMessage, CopyFail, CopyData, SASLInitialResponse bytes', () => {
    assert.equal(m.passwordMessage('pw').toString('hex'), '70' + '00000007' + '707700');
    assert.equal(m.passwordMessage(Buffer.from('raw')).toString('hex'), '70' + '00000007' + '726177');
    assert.equal(m.copyFail('no').toString('hex'), '66' + '00000007' + '6e6f00');
    assert.equal(m.copyData(Buffer.from([1, 2])).toString('hex'), '64' + '00000006' + '0102');
    assert.equal(
      m.saslInitialResponse('X', Buffer.from('ab')).toString('hex'),
      '70' + '0000000c' + '5800' + '00000002' + '6162',
    );
  });
  test('builders refuse NUL in protocol strings', () => {
    assert.throws(() => m.query('a\0b'), RangeError);
    assert.throws(() => m.parameterStatus('a', 'b\0'), RangeError);
    assert.throws(() => m.parse('s\0', 'x'), RangeError);
    assert.throws(() => m.commandComplete('\0'), RangeError);
  });
});

test('resultFormatFor: the 0 / 1 / N rule', () => {
  assert.equal(resultFormatFor([], 5), 0);
  assert.equal(resultFormatFor([1], 0), 1);
  assert.equal(resultFormatFor([1], 9), 1);
  assert.equal(resultFormatFor([0, 1], 1), 1);
  assert.equal(resultFormatFor([0, 1], 0), 0);
  assert.throws(() => resultFormatFor([0, 1], 2), WireError);
});

describe('malformed messages are WireError', () => {
  const withBody = (type: number, body: Buffer | number[]): Buffer => {
    const b = Buffer.from(body);
    const out = Buffer.alloc(5 + b.length);
    out[0] = type;
    out.writeInt32BE(4 + b.length, 1);
    b.copy(out, 5);
    return out;
  };
  const cases: [string, Reader, Buffer, RegExp][] = [
    ['Query without NUL', readQuery, withBody(0x51, Buffer.from('SELECT 1')), /not NUL-terminated/],
    ['Query with bytes after the NUL', readQuery, withBody(0x51, Buffer.from('SELECT 1\0x')), /1 unexpected bytes/],
    ['Query with invalid UTF-8', readQuery, withBody(0x51, [0x53, 0xff, 0]), /not valid UTF-8/],
    ['Query read as the wrong type', readQuery, m.parse('', 'x'), /expected type 'Q'/],
    [
      'a length word that disagrees with the frame',
      readQuery,
      Buffer.concat([m.query('x'), Buffer.from([0])]),
      /does not match/,
    ],
    [
      'Parse with a truncated type list',
      readParse,
      withBody(0x50, [0, 0x78, 0, 0, 2, 0, 0, 0, 23]),
      /ends inside parameter types/,
    ],
    [
      'Bind with 2 formats for 3 params',
      readBind,
      m.bind({ paramFormats: [0, 1], params: [null, null, null] }),
      /2 parameter formats for 3 parameters/,
    ],
    ['Bind with format code 2', readBind, m.bind({ resultFormats: [2] }), /unsupported format code 2/],
    [
      'Bind with a parameter length -2',
      readBind,
      withBody(0x42, [0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0]),
      /invalid length -2/,
    ],
    [
      'Bind with a parameter past the end',
      readBind,
      withBody(0x42, [0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2]),
      /ends inside parameter value/,
    ],
    [
      'Bind (target) with 2 formats for 3 params',
      readBindTarget,
      m.bind({ paramFormats: [0, 1], params: [null, null, null] }),
      /2 parameter formats for 3 parameters/,
    ],
    ['Bind (target) with format code 2', readBindTarget, m.bind({ resultFormats: [2] }), /unsupported format code 2/],
    [
      'Bind (target) with a parameter format 3',
      readBindTarget,
      m.bind({ paramFormats: [3], params: [null] }),
      /unsupported format code 3/,
    ],
    [
      'Bind (target) with a parameter length -2',
      readBindTarget,
      withBody(0x42, [0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0]),
      /invalid length -2/,
    ],
    [
      'Bind (target) with a parameter past the end',
      readBindTarget,
      withBody(0x42, [0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2]),
      /ends inside parameter value/,
    ],
    [
      'Bind (target) with bytes after the result formats',
      readBindTarget,
      Buffer.concat([withBody(0x42, [0, 0, 0, 0, 0, 0, 0, 0, 0])]),
      /1 unexpected bytes/,
    ],
    ['Describe of kind X', readDescribe, withBody(0x44, [0x58, 0]), /invalid target kind/],
    ['Execute without row limit', readExecute, withBody(0x45, [0]), /ends inside row limit/],
    [
      'FunctionCall with format mismatch',
      readFunctionCall,
      m.functionCall(1, [0, 0], [null], 0),
      /2 argument formats for 1 arguments/,
    ],
    ['RowDescription with a huge count', readRowDescription, withBody(0x54, [0xff, 0xff]), /ends inside fields/],
    [
      'RowDescription with format 7',
      readRowDescription,
      withBody(0x54, [0, 1, 0x61, 0, ...new Array<number>(16).fill(0), 0, 7]),
      /format code 7/,
    ],
    ['ReadyForQuery with status X', readReadyForQuery, withBody(0x5a, [0x58]), /invalid transaction status/],
    ['ReadyForQuery with 2 bytes', readReadyForQuery, withBody(0x5a, [0x49, 0x49]), /unexpected bytes/],
    ['ErrorResponse without final NUL', readErrorFields, withBody(0x45, Buffer.from('Mx\0')), /ends inside field type/],
    ['AuthenticationOk with extra bytes', readAuthentication, withBody(0x52, [0, 0, 0, 0, 1]), /unexpected bytes/],
    ['AuthenticationMD5Password with a short salt', readAuthentication, withBody(0x52, [0, 0, 0, 5, 1, 2]), /MD5 salt/],
    [
      'AuthenticationSASL without list terminator',
      readAuthentication,
      withBody(0x52, [0, 0, 0, 10, 0x41, 0]),
      /not NUL-terminated/,
    ],
    ['BackendKeyData with a 2-byte key', readBackendKeyData, withBody(0x4b, [0, 0, 0, 1, 2, 3]), /2-byte secret key/],
    [
      'text COPY with a binary column',
      readCopyResponse,
      withBody(0x48, [0, 0, 1, 0, 1]),
      /binary column in a text COPY/,
    ],
    ['CopyResponse with format 3', readCopyResponse, withBody(0x47, [3, 0, 0]), /invalid overall format/],
    ['offsets past the buffer', (b, s) => readQuery(b, s, b.length + 1), m.query('x'), /not a whole message/],
    ['fewer than 5 bytes', readQuery, Buffer.from([0x51, 0, 0, 0]), /not a whole message/],
  ];
  for (const [name, read, msg, re] of cases) {
    test(name, () =>
      assert.throws(
        () => readAt(read, msg),
        (e: unknown) => e instanceof WireError && re.test(e.message),
      ),
    );
  }
  // Text that is not UTF-8 in a whole message is not a framing error: the session answers 22021 and goes on.
  test('invalid UTF-8 is an InvalidTextError; framing errors are not', () => {
    assert.throws(() => readAt(readQuery, withBody(0x51, [0x53, 0xff, 0])), InvalidTextError);
    assert.throws(() => readAt(readParse, withBody(0x50, [0xc3, 0x28, 0, 0x53, 0, 0, 0])), InvalidTextError);
    assert.throws(
      () => readAt(readQuery, withBody(0x51, Buffer.from('SELECT 1'))),
      (e: unknown) => e instanceof WireError && !(e instanceof InvalidTextError),
    );
  });
});

describe('fast-check: random bytes into the readers', () => {
  const readers: [string, Reader, number][] = [
    ['readQuery', readQuery, 0x51],
    ['readParse', readParse, 0x50],
    ['readBind', readBind, 0x42],
    ['readBindTarget', readBindTarget, 0x42],
    ['readDescribe', readDescribe, 0x44],
    ['readExecute', readExecute, 0x45],
    ['readClose', readClose, 0x43],
    ['readFunctionCall', readFunctionCall, 0x46],
    ['readRowDescription', readRowDescription, 0x54],
    ['readCommandComplete', readCommandComplete, 0x43],
    ['readReadyForQuery', readReadyForQuery, 0x5a],
    ['readErrorFields', readErrorFields, 0x45],
    ['readAuthentication', readAuthentication, 0x52],
    ['readParameterStatus', readParameterStatus, 0x53],
    ['readBackendKeyData', readBackendKeyData, 0x4b],
    ['readCopyResponse', readCopyResponse, 0x48],
  ];
  /** Runs read on [prefix][type, len, body][suffix]: the result, or 'WireError'. Any other exception escapes. */
  const attempt = (
    read: Reader,
    type: number,
    prefix: Buffer,
    body: Buffer,
    suffix: Buffer,
    honestLength: boolean,
    lenWord: number,
  ): unknown => {
    const msg = Buffer.alloc(5 + body.length);
    msg[0] = type;
    msg.writeInt32BE(honestLength ? 4 + body.length : lenWord, 1);
    body.copy(msg, 5);
    const buf = Buffer.concat([prefix, msg, suffix]);
    try {
      const r = read(buf, prefix.length, prefix.length + msg.length);
      return JSON.parse(JSON.stringify(r, (_k, v) => (v instanceof Map ? [...v] : v)));
    } catch (e) {
      if (e instanceof WireError) return 'WireError';
      throw e;
    }
  };
  for (const [name, read, type] of readers) {
    test(`${name}: a value or WireError, and bytes past end never matter`, () => {
      // Bodies biased towards structure: small counts, NULs and valid lengths appear often.
      const body = fc
        .array(fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 0, max: 255 })), { maxLength: 64 })
        .map((a) => Buffer.from(a));
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 4 }),
          body,
          fc.uint8Array({ minLength: 1, maxLength: 8 }),
          fc.boolean(),
          fc.integer(),
          (prefix, b, suffix, honest, lenWord) => {
            const a = attempt(read, type, Buffer.from(prefix), b, Buffer.from(suffix), honest, lenWord);
            const z = attempt(read, type, Buffer.from(prefix), b, Buffer.alloc(suffix.length, 0), honest, lenWord);
            const f = attempt(read, type, Buffer.from(prefix), b, Buffer.alloc(suffix.length, 0xff), honest, lenWord);
            assert.deepEqual(a, z);
            assert.deepEqual(a, f);
          },
        ),
        { numRuns: 2000 },
      );
    });
  }
});

test('fast-check: readBindTarget accepts exactly what readBind accepts, with the same names and result formats', () => {
  const body = fc
    .array(fc.oneof(fc.constant(0), fc.constant(1), fc.constant(0xff), fc.integer({ min: 0, max: 255 })), {
      maxLength: 48,
    })
    .map((a) => Buffer.from(a));
  const outcome = (read: Reader, msg: Buffer): unknown => {
    try {
      const r = read(msg, 0, msg.length) as { portal: string; statement: string; resultFormats: readonly number[] };
      return { portal: r.portal, statement: r.statement, resultFormats: [...r.resultFormats] };
    } catch (e) {
      if (e instanceof WireError) return `${e.name}: ${e.message}`;
      throw e;
    }
  };
  fc.assert(
    fc.property(body, (b) => {
      const msg = Buffer.alloc(5 + b.length);
      msg[0] = 0x42;
      msg.writeInt32BE(4 + b.length, 1);
      b.copy(msg, 5);
      assert.deepEqual(outcome(readBindTarget, msg), outcome(readBind, msg));
    }),
    { numRuns: 5000 },
  );
});
