// startupParams and upstreamFailure: what the client's startup packet may carry upstream, and the FATAL a
// failed upstream login becomes (pure; the end-to-end cases are in test/proxy/auth-and-psql.test.ts and
// test/proxy/upstream-faults.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PgError } from '../wire/auth.ts';
import { startupParams, upstreamFailure } from './startup.ts';
import type { UpstreamTarget } from './shared.ts';

const target: UpstreamTarget = {
  binding: 'orders-ro',
  database: 'orders',
  host: 'db.internal',
  port: 5432,
  tlsMode: 'disable',
  user: 'airlock',
  password: 'x',
};
const params = (o: Record<string, string>) => new Map(Object.entries(o));

test('only the listed parameters pass, and client_encoding is pinned to UTF8', () => {
  const p = startupParams(
    params({
      user: 'alice',
      database: 'orders',
      application_name: 'psql',
      DateStyle: 'ISO',
      TimeZone: 'UTC',
      client_encoding: 'LATIN1',
      search_path: 'evil',
      work_mem: '1GB',
    }),
    target,
  );
  assert.deepEqual(p, { application_name: 'psql', DateStyle: 'ISO', TimeZone: 'UTC', client_encoding: 'UTF8' });
});

test('fallback_application_name is used only without application_name', () => {
  assert.deepEqual(startupParams(params({ fallback_application_name: 'pgbench' }), target), {
    application_name: 'pgbench',
    client_encoding: 'UTF8',
  });
  assert.deepEqual(startupParams(params({ application_name: 'a', fallback_application_name: 'b' }), target), {
    application_name: 'a',
    client_encoding: 'UTF8',
  });
});

test('the database may be named as the binding, the upstream database, or not at all', () => {
  for (const database of ['orders-ro', 'orders', ''])
    assert.ok(!('severity' in startupParams(params({ database }), target)), database);
  const f = startupParams(params({ database: 'payroll' }), target);
  assert.ok('severity' in f);
  assert.equal(f.code, '3D000');
  assert.equal(
    f.message,
    'database "payroll" is not served here: this Airlock proxy serves "orders-ro" (database "orders")',
  );
});

test('options and replication are refused before anything reaches the server', () => {
  const o = startupParams(params({ options: '-c search_path=evil' }), target);
  assert.ok('severity' in o);
  assert.equal(o.severity, 'FATAL');
  assert.equal(o.code, '42501');
  assert.match(o.hint ?? '', /PGOPTIONS/);
  const r = startupParams(params({ replication: 'database' }), target);
  assert.ok('severity' in r);
  assert.equal(r.code, '08P01');
});

test('a connect deadline is reported as such, whatever failed underneath', () => {
  const f = upstreamFailure(new Error('socket hang up'), target, 15_000);
  assert.equal(f.event, 'upstream_timeout');
  assert.equal(f.fields.code, '08006');
  assert.match(f.fields.message, /did not complete connect and login within 15000 ms/);
  assert.match(f.fields.hint ?? '', /--upstream-connect-timeout/);
});

test("the server's own refusal keeps its SQLSTATE and message, and says whose login it was", () => {
  const err = new PgError(
    'login',
    new Map([
      ['S', 'FATAL'],
      ['C', '53300'],
      ['M', 'sorry, too many clients already'],
    ]),
  );
  const f = upstreamFailure(err, target, null);
  assert.equal(f.event, 'upstream_login_refused');
  assert.deepEqual(f.fields, {
    severity: 'FATAL',
    code: '53300',
    message: 'sorry, too many clients already',
    detail: 'Airlock\'s login to the upstream server db.internal:5432 for "orders-ro" was refused.',
  });
});

test('any other failure is 08006 with its message', () => {
  const f = upstreamFailure(new Error('connect ECONNREFUSED'), target, null);
  assert.equal(f.event, 'upstream_failed');
  assert.deepEqual(f.fields, {
    severity: 'FATAL',
    code: '08006',
    message: 'Airlock could not open the upstream connection for "orders-ro": connect ECONNREFUSED',
  });
});
