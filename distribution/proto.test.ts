// The hand-written codec (codec.ts) and service (proto.ts) against the reference they replace: protobufjs parsing
// proto/airlock/v1/distribution.proto, and @grpc/proto-loader's serializers and deserializers built from it with
// the options distribution/proto.ts gave it before (below). The field tables must be the .proto's; the bytes we
// write must be protobufjs's; the objects we read must be the loader's, key order included; garbage must throw.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { decode, encode } from './codec.ts';
import type { FieldSpec, MessageSpec } from './codec.ts';
import { MESSAGES, PolicyDistributionClient, PolicyDistributionService } from './proto.ts';
import { toMessage } from './types.ts';

const PROTO_DIR = join(import.meta.dirname, 'proto');
const PROTO_FILE = 'airlock/v1/distribution.proto';
/** What distribution/proto.ts passed to proto-loader until the codec replaced it (commit d9aa472). */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const root = new protobuf.Root();
root.resolvePath = (_origin: string, target: string): string => join(PROTO_DIR, target);
root.loadSync(PROTO_FILE, { keepCase: false });
root.resolveAll();
const pkg = root.lookup('airlock.v1') as protobuf.Namespace;
const protoService = pkg.lookupService('PolicyDistribution');
const protoTypes = pkg.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);

const loaded = protoLoader.loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
const loaderService = loaded['airlock.v1.PolicyDistribution'] as protoLoader.ServiceDefinition;
const ours = PolicyDistributionService;

type Obj = Record<string, unknown>;

/** One message type both ways: ours, and the reference (the loader's own functions where a method carries it). */
interface Side {
  readonly name: string;
  readonly type: protobuf.Type;
  readonly spec: MessageSpec;
  readonly oursEncode: (m: Obj) => Buffer;
  readonly oursDecode: (b: Buffer) => unknown;
  readonly refEncode: (m: Obj) => Buffer;
  readonly refDecode: (b: Buffer) => unknown;
}

function sides(): Side[] {
  const out: Side[] = [];
  const seen = new Set<string>();
  for (const [name, m] of Object.entries(loaderService)) {
    for (const dir of ['request', 'response'] as const) {
      const method = protoService.methods[name]!;
      const typeName = dir === 'request' ? method.requestType : method.responseType;
      const type = pkg.lookupType(typeName);
      const o = ours[name]!;
      const r = m;
      if (seen.has(type.fullName)) continue;
      seen.add(type.fullName);
      out.push({
        name: `${name} ${dir} (${type.name})`,
        type,
        spec: MESSAGES.get(type.fullName.slice(1))!,
        oursEncode: dir === 'request' ? o.requestSerialize : o.responseSerialize,
        oursDecode: dir === 'request' ? o.requestDeserialize : o.responseDeserialize,
        refEncode: dir === 'request' ? r.requestSerialize : r.responseSerialize,
        refDecode: dir === 'request' ? r.requestDeserialize : r.responseDeserialize,
      });
    }
  }
  // Message types no method carries directly (nested ones): the calls the loader's serializer and deserializer
  // make (cls.encode(cls.fromObject(arg)).finish(), cls.toObject(cls.decode(buf), options)).
  for (const type of protoTypes) {
    if (seen.has(type.fullName)) continue;
    const spec = MESSAGES.get(type.fullName.slice(1))!;
    out.push({
      name: type.name,
      type,
      spec,
      oursEncode: (m) => encode(spec, m),
      oursDecode: (b) => decode(spec, b),
      refEncode: (m) => type.encode(type.fromObject(m)).finish() as Buffer,
      refDecode: (b) => type.toObject(type.decode(b), LOADER_OPTIONS as protobuf.IConversionOptions),
    });
  }
  return out;
}
const SIDES = sides();

/** Same value, same keys in the same order (what JSON.stringify or a log line of the object would show). */
function sameObject(actual: unknown, expected: unknown, msg?: string): void {
  assert.deepStrictEqual(actual, expected, msg);
  assert.equal(JSON.stringify(actual), JSON.stringify(expected), msg);
}

test('the field tables are the .proto: every message, field name, number, type and repetition; the service', () => {
  const kindOf = (f: FieldSpec): string => (typeof f.kind === 'string' ? f.kind : f.kind.name);
  const ourTables = [...MESSAGES.values()]
    .map((m) => ({
      name: m.name,
      fields: m.fields.map((f) => ({ name: f.name, number: f.number, kind: kindOf(f), repeated: f.repeated })),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const protoTables = protoTypes
    .map((t) => ({
      name: t.fullName.slice(1),
      fields: t.fieldsArray.map((f) => ({
        name: f.name,
        number: f.id,
        kind: f.resolvedType === null ? f.type : f.resolvedType.fullName.slice(1),
        repeated: f.repeated,
      })),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(ourTables, protoTables);
  // Nothing the codec does not implement: no enums, maps, oneofs, nested types, options, proto2 or packed fields.
  assert.deepEqual(
    pkg.nestedArray.filter((n) => !(n instanceof protobuf.Type) && !(n instanceof protobuf.Service)).map((n) => n.name),
    [],
  );
  for (const t of protoTypes) {
    assert.deepEqual(t.oneofsArray, [], `${t.name}: no oneofs`);
    assert.equal(t.nestedArray.length, 0, `${t.name}: no nested types`);
    for (const f of t.fieldsArray) {
      assert.ok(!f.map && !f.required && f.options === undefined, `${t.name}.${f.name}: a plain proto3 field`);
      assert.ok(f.resolvedType === null || f.resolvedType instanceof protobuf.Type, `${t.name}.${f.name}: no enum`);
    }
  }

  // The service: methods, paths, streaming, the method names the client and the server's implementation use.
  const shape = (
    svc: Record<string, { path: string; requestStream: boolean; responseStream: boolean; originalName?: string }>,
  ) =>
    Object.fromEntries(
      Object.entries(svc).map(([k, m]) => [k, [m.path, m.requestStream, m.responseStream, m.originalName]]),
    );
  assert.deepEqual(shape(ours as never), shape(loaderService as never));
  assert.deepEqual(Object.keys(ours), Object.keys(protoService.methods));
  for (const [name, m] of Object.entries(protoService.methods)) {
    assert.equal(ours[name]!.requestStream, m.requestStream === true, name);
    assert.equal(ours[name]!.responseStream, m.responseStream === true, name);
  }

  // The client class: the methods grpc-js's loadPackageDefinition gave it from the loader's definition.
  const refClient = (grpc.loadPackageDefinition(loaded) as any).airlock.v1.PolicyDistribution;
  const methods = (c: grpc.ServiceClientConstructor) =>
    Object.getOwnPropertyNames(c.prototype)
      .filter((k) => k !== 'constructor')
      .sort();
  assert.deepEqual(methods(PolicyDistributionClient), methods(refClient));
  assert.deepEqual(methods(PolicyDistributionClient), [
    'ReportViolations',
    'RequestAccess',
    'Watch',
    'reportViolations',
    'requestAccess',
    'watch',
  ]);
  assert.equal(PolicyDistributionClient.serviceName, refClient.serviceName);
  assert.equal(PolicyDistributionClient.service, ours);
});

// Fixed messages: the shapes the operator and the sidecar send (toMessage, the violation reporter's numbers).
const FIXED: Record<string, Obj[]> = {
  PolicyUpdate: [
    toMessage(
      {
        policySet: { generation: 3, policies: [] },
        binding: { namespace: 'shop', name: 'orders', generation: 7, spec: {} as never },
        endpoint: { host: 'db', port: 5432, database: 'orders', tlsMode: 'verify-full', caPem: 'PEM' },
        credentials: { username: 'u', password: 'p' },
        grants: [{ request: 'r1', subject: 's', rules: null, statement: 'SELECT 1', expiresAtMs: 1_700_000_000_000 }],
        revoked: [{ request: 'r0', subject: 's', reason: 'why' }],
        shutdown: null,
      },
      1_765_000_000_000,
    ) as unknown as Obj,
    // Beyond 2^53 and negative, as strings both ways; a deny-all shutdown snapshot.
    {
      version: '18446744073709551615',
      policySetJson: '{"generation":0,"policies":[]}',
      bindingNamespace: 'ns',
      bindingName: 'b',
      bindingGeneration: '-9223372036854775808',
      bindingSpecJson: '{}',
      endpoint: { host: '', port: 0, database: '', tlsMode: '', caPem: '' },
      credentials: null,
      grants: [],
      revoked: [],
      shutdown: 'binding deleted',
    },
    {},
  ],
  ViolationReport: [
    {
      namespace: 'shop',
      binding: 'orders',
      violations: [
        { policy: 'shop/p', rule: 'r', count: 5, lastStatement: 'SELECT $1', lastSeenMs: 1_765_000_000_123 },
        { policy: 'shop/p', rule: '(default deny)', count: '9007199254740993', lastStatement: '', lastSeenMs: '-1' },
      ],
    },
  ],
  AccessIntent: [{ namespace: 'ml', binding: 'orders', statement: 'UPDATE t SET x = 1', policy: 'ml/p', rule: 'fix' }],
  AccessRequestRef: [{ namespace: 'ml', name: 'ar-1', phase: 'Pending' }, {}],
  WatchRequest: [{ namespace: 'ml', binding: 'orders' }],
  ReportAck: [{}],
};

test('fixed messages: the same bytes as protobufjs, the same objects as proto-loader', () => {
  let n = 0;
  for (const s of SIDES) {
    for (const m of FIXED[s.type.name] ?? []) {
      const bytes = s.oursEncode(m);
      assert.deepEqual(bytes, s.refEncode(m), `${s.name}: ${JSON.stringify(m)}`);
      sameObject(s.oursDecode(bytes), s.refDecode(bytes), s.name);
      n++;
    }
  }
  assert.equal(n, Object.values(FIXED).flat().length);
  const update = FIXED.PolicyUpdate![1]!;
  assert.deepEqual(ours.Watch!.responseDeserialize(ours.Watch!.responseSerialize(update)), update);
  assert.deepEqual(ours.RequestAccess!.responseDeserialize(Buffer.alloc(0)), { namespace: '', name: '', phase: '' });
});

// ---- generated messages ------------------------------------------------------------------------------------

const decimal = (min: bigint, max: bigint) => fc.bigInt({ min, max }).map(String);
const TWO_64 = 2n ** 64n;
const strings = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string(),
  // 40 UTF-16 units and more: protobufjs writes these with Buffer, the shorter ones with its own UTF-8 writer.
  fc.string({ unit: 'binary', minLength: 40, maxLength: 300 }),
  fc.constant(''),
);

/** Values an application could pass for a field of this scalar type, including what protobufjs coerces. */
function scalarValues(type: string): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string':
      return strings;
    case 'uint32':
      return fc.oneof(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.constant(0),
        fc.integer({ min: -(2 ** 31), max: -1 }),
        fc.double(),
      );
    case 'uint64':
    case 'int64':
      return fc.oneof(
        decimal(0n, TWO_64 - 1n),
        decimal(-(2n ** 63n), 2n ** 63n - 1n),
        // Outside both ranges: protobufjs (Long) keeps the low 64 bits.
        decimal(-TWO_64, 2n * TWO_64),
        fc.constant('0'),
        fc.maxSafeNat(),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
        fc.double(),
        fc.bigInt({ min: -TWO_64, max: 2n * TWO_64 }),
      );
    default:
      throw new Error(`no generator for ${type}`);
  }
}

/** Objects for a message type, from protobufjs's reflection (not from our tables): fields absent, null or set. */
function messageValues(t: protobuf.Type): fc.Arbitrary<Obj> {
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of t.fieldsArray) {
    const one = f.resolvedType instanceof protobuf.Type ? messageValues(f.resolvedType) : scalarValues(f.type);
    rec[f.name] = f.repeated
      ? fc.array(one, { maxLength: 4 })
      : fc.oneof({ arbitrary: one, weight: 8 }, { arbitrary: fc.constant(null), weight: 1 });
  }
  return fc.record(rec, { requiredKeys: [] }) as fc.Arbitrary<Obj>;
}

for (const s of SIDES) {
  test(`generated ${s.name}: our bytes are protobufjs's, our object of its bytes is proto-loader's`, () => {
    fc.assert(
      fc.property(messageValues(s.type), (m) => {
        const bytes = s.refEncode(m);
        assert.deepEqual(s.oursEncode(m), bytes);
        sameObject(s.oursDecode(bytes), s.refDecode(bytes));
      }),
      { numRuns: 300 },
    );
  });
}

// ---- bytes protobufjs would never write: fields out of order, repeated, unknown --------------------------------

type Rec = (w: protobuf.Writer) => void;
const tag = (n: number, wire: number) => (n << 3) | wire;

/** An unknown field of every wire type; a group holds unknown fields and perhaps another group. */
const unknownRecord = (known: Set<number>, depth = 0): fc.Arbitrary<Rec> => {
  const number = fc.integer({ min: 1, max: 2 ** 29 - 1 }).filter((n) => !known.has(n));
  const kinds: fc.Arbitrary<Rec>[] = [
    fc.tuple(number, decimal(0n, TWO_64 - 1n)).map(
      ([n, v]) =>
        (w) =>
          w.uint32(tag(n, 0)).uint64(v),
    ),
    fc.tuple(number, decimal(0n, TWO_64 - 1n)).map(
      ([n, v]) =>
        (w) =>
          w.uint32(tag(n, 1)).fixed64(v),
    ),
    fc.tuple(number, fc.uint8Array({ maxLength: 20 })).map(
      ([n, v]) =>
        (w) =>
          w.uint32(tag(n, 2)).bytes(v),
    ),
    fc.tuple(number, fc.nat()).map(
      ([n, v]) =>
        (w) =>
          w.uint32(tag(n, 5)).fixed32(v),
    ),
  ];
  if (depth < 2)
    kinds.push(
      fc.tuple(number, fc.array(unknownRecord(new Set(), depth + 1), { maxLength: 3 })).map(([n, inner]) => (w) => {
        w.uint32(tag(n, 3));
        for (const r of inner) r(w);
        w.uint32(tag(n, 4));
      }),
    );
  return fc.oneof(...kinds);
};

/** Bytes of `t` as any order of its known fields (each perhaps several times) and unknown ones, written by protobufjs. */
function scrambled(t: protobuf.Type): fc.Arbitrary<Uint8Array> {
  const known = new Set(t.fieldsArray.map((f) => f.id));
  const records: fc.Arbitrary<Rec>[] = t.fieldsArray.map((f) => {
    if (f.resolvedType instanceof protobuf.Type)
      return scrambled(f.resolvedType).map((b) => (w: protobuf.Writer) => w.uint32(tag(f.id, 2)).bytes(b));
    switch (f.type) {
      case 'string':
        return strings.map((v) => (w: protobuf.Writer) => w.uint32(tag(f.id, 2)).string(v));
      case 'uint32':
        // A negative int32 is 10 bytes on the wire; a uint32 field reads its low 32 bits.
        return fc
          .oneof(fc.nat(), fc.integer({ min: -(2 ** 31), max: -1 }))
          .map(
            (v) => (w: protobuf.Writer) => (v < 0 ? w.uint32(tag(f.id, 0)).int32(v) : w.uint32(tag(f.id, 0)).uint32(v)),
          );
      default:
        return decimal(0n, TWO_64 - 1n).map((v) => (w: protobuf.Writer) => w.uint32(tag(f.id, 0)).uint64(v));
    }
  });
  records.push(unknownRecord(known));
  return fc.array(fc.oneof(...records), { maxLength: 12 }).map((rs) => {
    const w = protobuf.Writer.create();
    for (const r of rs) r(w);
    return w.finish();
  });
}

for (const s of SIDES) {
  test(`${s.name} with fields out of order, repeated and unknown (groups too): decoded as proto-loader does`, () => {
    fc.assert(
      fc.property(scrambled(s.type), (b) => {
        const bytes = Buffer.from(b);
        sameObject(s.oursDecode(bytes), s.refDecode(bytes));
      }),
      { numRuns: 200 },
    );
  });
}

// ---- garbage -------------------------------------------------------------------------------------------------

const Update = MESSAGES.get('airlock.v1.PolicyUpdate')!;
const hex = (h: string) => Buffer.from(h.replaceAll(' ', ''), 'hex');

test('garbage throws a clear error, never a partial object', () => {
  const cases: [string, string, RegExp][] = [
    ['truncated varint (version)', '08 80', /truncated varint/],
    ['truncated tag', '80', /truncated varint/],
    ['varint over 10 bytes', '08 ff ff ff ff ff ff ff ff ff ff 01', /longer than 10 bytes/],
    ['string length past the end', '12 05 61 62', /past the end/],
    ['length over 2^32', '12 ff ff ff ff ff 01', /past the end/],
    ['a valid field, then a truncated one', '1a 02 6e 73 22 03 61', /past the end/],
    ['uint64 field as a string', '0a 00', /PolicyUpdate\.version \(field 1\).*wire type 2, expected 0/],
    ['string field as a varint', '10 01', /PolicyUpdate\.policySetJson \(field 2\).*wire type 0, expected 2/],
    ['message field as a varint', '38 01', /PolicyUpdate\.endpoint \(field 7\).*wire type 0, expected 2/],
    ['repeated message as fixed32', '4d 00 00 00 00', /PolicyUpdate\.grants \(field 9\).*wire type 5, expected 2/],
    ['garbage inside a nested message', '3a 02 10 80', /truncated varint/],
    ['wrong wire type inside a nested message', '3a 02 12 01', /Endpoint\.port \(field 2\).*wire type 2, expected 0/],
    ['field number 0', '00 00', /invalid field number/],
    ['wire type 6', '0e', /invalid wire type 6/],
    ['wire type 7', 'a7 01', /invalid wire type 7/],
    ['end of a group never started', 'a4 01', /end of group 20 without its start/],
    ['a group never ended', 'a3 01 a0 01 01', /truncated varint/],
    ['a group ended by another', 'a3 01 ac 01', /unmatched end of group/],
    ['truncated fixed64', 'a1 01 00 00', /truncated field/],
    ['truncated fixed32', 'a5 01 00', /truncated field/],
    ['field number over 2^29 - 1', 'f8 ff ff ff ff 01 00', /invalid field number/],
  ];
  for (const [what, h, re] of cases) {
    const bytes = hex(h);
    assert.throws(
      () => ours.Watch!.responseDeserialize(bytes),
      (e: Error) =>
        e instanceof Error && /^cannot decode airlock\.v1\.PolicyUpdate: /.test(e.message) && re.test(e.message),
      what,
    );
  }
});

test('random bytes: an error or a whole object, and never one protobufjs would not give', () => {
  const isWhole = (o: Obj): boolean => {
    const keys = Update.fields.map((f) => f.name).sort();
    return JSON.stringify(Object.keys(o).sort()) === JSON.stringify(keys);
  };
  let decoded = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const bytes = Buffer.from(b);
      let got: Obj;
      try {
        got = ours.Watch!.responseDeserialize(bytes) as Obj;
      } catch (e) {
        assert.match((e as Error).message, /^cannot decode airlock\.v1\.PolicyUpdate: /);
        return;
      }
      decoded++;
      assert.ok(isWhole(got));
      sameObject(got, loaderService.Watch!.responseDeserialize(bytes));
    }),
    { numRuns: 2000 },
  );
  assert.ok(decoded > 0);
});

test('a valid PolicyUpdate cut short or with one byte changed: an error, or what proto-loader reads', () => {
  const type = pkg.lookupType('PolicyUpdate');
  let threw = 0;
  fc.assert(
    fc.property(messageValues(type), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (m, at, byte, cut) => {
      const valid = Buffer.from(type.encode(type.fromObject(m)).finish());
      if (valid.length === 0) return;
      const bytes = cut ? valid.subarray(0, at % valid.length) : Buffer.from(valid);
      if (!cut) bytes[at % valid.length] = byte;
      let got: unknown;
      try {
        got = ours.Watch!.responseDeserialize(bytes);
      } catch (e) {
        assert.match((e as Error).message, /^cannot decode airlock\.v1\.PolicyUpdate: /);
        threw++;
        return;
      }
      sameObject(got, loaderService.Watch!.responseDeserialize(bytes));
    }),
    { numRuns: 1000 },
  );
  assert.ok(threw > 0);
});

test('encoding refuses what it cannot write', () => {
  const w = ours.Watch!.responseSerialize;
  assert.throws(() => w({ endpoint: 'db' }), /PolicyUpdate\.endpoint: object expected/);
  assert.throws(() => w({ grants: {} }), /PolicyUpdate\.grants: array expected/);
  assert.throws(() => w({ grants: [null] }), /PolicyUpdate\.grants\[0\]: object expected/);
  assert.throws(() => w({ version: '12a' }), /PolicyUpdate\.version: "12a" is not a decimal integer/);
  assert.throws(() => w({ version: '' }), /is not a decimal integer/);
  assert.throws(() => w({ version: true }), /PolicyUpdate\.version: a 64-bit integer must be a decimal string/);
  assert.throws(() => w([] as never), /object expected/);
});

// A string with an unpaired surrogate (never produced here: JSON.stringify escapes them, PostgreSQL's text is
// UTF-8) is written as U+FFFD by Node's encoder. protobufjs wrote the surrogate's own three bytes for strings
// under 40 UTF-16 units (its hand-written UTF-8 writer) and U+FFFD for longer ones; both decode to U+FFFD.
test('an unpaired surrogate is written as U+FFFD (protobufjs: its raw bytes when short)', () => {
  const m = { namespace: 'a\ud800b' };
  const bytes = ours.Watch!.requestSerialize(m);
  assert.deepEqual(bytes, hex('0a 05 61 ef bf bd 62'));
  assert.deepEqual(loaderService.Watch!.requestSerialize(m), hex('0a 05 61 ed a0 80 62'));
  const long = { namespace: `${'x'.repeat(40)}\ud800` };
  assert.deepEqual(ours.Watch!.requestSerialize(long), loaderService.Watch!.requestSerialize(long));
  assert.deepEqual(ours.Watch!.requestDeserialize(bytes), { namespace: 'a\ufffdb', binding: '' });
});
