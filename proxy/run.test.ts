import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLimitFlags, proxyLimits } from './run.ts';

test('parseLimitFlags: seconds (fractional allowed) to ms; drain may be 0; bad values name their flag', () => {
  assert.deepEqual(
    parseLimitFlags({
      'upstream-connect-timeout': '2.5',
      'authentication-timeout': '60',
      'drain-timeout': '0',
      'max-client-connections': '100',
    }),
    { upstreamConnectTimeoutMs: 2500, authenticationTimeoutMs: 60_000, drainTimeoutMs: 0, maxClientConnections: 100 },
  );
  assert.deepEqual(parseLimitFlags({}), {});
  assert.throws(
    () => parseLimitFlags({ 'upstream-connect-timeout': '0' }),
    /--upstream-connect-timeout must be a number of seconds greater than 0/,
  );
  assert.throws(() => parseLimitFlags({ 'authentication-timeout': '1m' }), /--authentication-timeout/);
  assert.throws(() => parseLimitFlags({ 'drain-timeout': '-1' }), /--drain-timeout/);
  assert.throws(
    () => parseLimitFlags({ 'max-client-connections': '0' }),
    /--max-client-connections must be a positive integer/,
  );
  assert.deepEqual(proxyLimits({ drainTimeoutMs: 5, maxClientConnections: 3 }, 10), {
    maxStatementBytes: 10,
    maxClientConnections: 3,
  });
});
