import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, PolicyDistributionService } from '../distribution/proto.ts';
import { toMessage } from '../distribution/types.ts';
import { JSON_PATH, PROTO_DIR, PROTO_FILE, protoJson } from './gen-proto.ts';

test('distribution.json is up to date with distribution.proto', () => {
  assert.equal(
    readFileSync(JSON_PATH, 'utf8'),
    protoJson(),
    `${JSON_PATH} is stale: run sh scripts/node24.sh scripts/gen-proto.ts`,
  );
});

// The service proto.ts builds from the JSON must be the one proto-loader builds from the .proto itself: same
// methods, paths and streaming, and the same bytes on the wire both ways for a message using every field kind.
test('the service loaded from the JSON is the one parsed from the .proto', () => {
  const parsed = protoLoader.loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  const fromProto = parsed['airlock.v1.PolicyDistribution'] as protoLoader.ServiceDefinition;
  const shape = (
    svc: Record<string, { path: string; requestStream: boolean; responseStream: boolean; originalName?: string }>,
  ) =>
    Object.fromEntries(
      Object.entries(svc).map(([k, m]) => [k, [m.path, m.requestStream, m.responseStream, m.originalName]]),
    );
  assert.deepEqual(shape(PolicyDistributionService as never), shape(fromProto as never));
  assert.deepEqual(Object.keys(PolicyDistributionService).sort(), ['ReportViolations', 'RequestAccess', 'Watch']);

  const update = toMessage(
    {
      policySet: { generation: 3, policies: [] },
      // biome-ignore lint/correctness/noPrecisionLoss: beyond 2^53 on purpose; the strings below carry the exact values
      binding: { namespace: 'shop', name: 'orders', generation: 9_007_199_254_740_993, spec: {} as never },
      endpoint: { host: 'db', port: 5432, database: 'orders', tlsMode: 'verify-full', caPem: 'PEM' },
      credentials: { username: 'u', password: 'p' },
      grants: [{ request: 'r1', subject: 's', rules: null, statement: 'SELECT 1', expiresAtMs: 1_700_000_000_000 }],
      revoked: [{ request: 'r0', subject: 's', reason: 'why' }],
      shutdown: null,
    },
    // biome-ignore lint/correctness/noPrecisionLoss: beyond 2^53 on purpose; the strings below carry the exact values
    18_446_744_073_709_551_615 as never,
  );
  update.bindingGeneration = '9007199254740993'; // beyond 2^53: longs as strings both ways
  update.version = '18446744073709551615';
  const watch = PolicyDistributionService.Watch!;
  const bytes = watch.responseSerialize(update);
  assert.deepEqual(bytes, fromProto.Watch!.responseSerialize(update));
  assert.ok(bytes.length > 50);
  assert.deepEqual(watch.responseDeserialize(bytes), fromProto.Watch!.responseDeserialize(bytes));
  assert.deepEqual(watch.responseDeserialize(bytes), update);
  const report = {
    namespace: 'shop',
    binding: 'orders',
    violations: [{ policy: 'shop/p', rule: 'r', count: '5', lastStatement: 'SELECT $1', lastSeenMs: '-1' }],
  };
  const rb = PolicyDistributionService.ReportViolations!.requestSerialize(report);
  assert.deepEqual(rb, fromProto.ReportViolations!.requestSerialize(report));
  assert.deepEqual(PolicyDistributionService.ReportViolations!.requestDeserialize(rb), report);
});
