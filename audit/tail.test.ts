import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditSink } from './index.ts';
import { auditTail } from './tail.ts';
import { session, statement } from './testdata/records.ts';

const SID = '0123456789abcdef';

test('tail renders the newest spooled statements as a table, oldest first, without session spans', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-tail-'));
  const sink = await createAuditSink({
    endpoint: null,
    protocol: 'grpc',
    spoolDir: dir,
    onFailure: 'block',
    log: () => {},
  });
  sink.sessionStarted(session(SID));
  for (let i = 0; i < 5; i++) sink.statement(statement(SID, i, { queryText: `SELECT ${i}` }));
  sink.statement(
    statement(SID, 5, {
      decision: 'deny',
      policy: null,
      rule: null,
      operation: 'DELETE',
      rows: null,
      queryText: `DELETE FROM public.orders WHERE note = $1 ${'AND x = $2 '.repeat(20)}`,
    }),
  );
  sink.sessionEnded(SID, 1_700_000_010_000);
  await sink.close();
  const lines = auditTail({ spoolDir: dir, limit: 3 });
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^TIME\s+SUBJECT\s+DECISION\s+OPERATION\s+COLLECTION\s+ROWS\s+POLICY\/RULE\s+QUERY$/);
  assert.match(
    lines[1]!,
    /^2023-11-14T22:13:20\.004Z\s+system:serviceaccount:ml:trainer\s+allow\s+SELECT\s+public\.orders\s+1\s+trainer\/read-app-tables\s+SELECT 3$/,
  );
  assert.match(
    lines[3]!,
    /\sdeny\s+DELETE\s+public\.orders\s+DELETE FROM public\.orders WHERE note = \$1 AND x = \$2 AND x …$/,
  );
  assert.ok(lines[3]!.length < 250, 'query text truncated');
});

test('tail neutralises terminal control characters an attacker could put in identifiers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-tail-'));
  const sink = await createAuditSink({
    endpoint: null,
    protocol: 'grpc',
    spoolDir: dir,
    onFailure: 'block',
    log: () => {},
  });
  sink.sessionStarted(session(SID));
  sink.statement(
    statement(SID, 1, { collection: 'public.t\u001b[2J', queryText: 'SELECT * FROM "t\u001b[2J"\n\t\u202eevil' }),
  );
  await sink.close();
  const [, row] = auditTail({ spoolDir: dir, limit: 10 });
  assert.equal(/[\u0000-\u001f\u007f-\u009f\u202e]/.test(row!), false);
  assert.match(row!, /public\.t\?\[2J/);
});

test('tail reads an OTLP JSON file export (collector file exporter, one request per line)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-tail-'));
  const span = (t: string, text: string, extra: object[] = []): object => ({
    traceId: 'ab',
    spanId: 'cd',
    name: 'SELECT orders.public.orders',
    kind: 3,
    startTimeUnixNano: t,
    endTimeUnixNano: t,
    attributes: [
      { key: 'airlock.subject', value: { stringValue: 'alice@example.com' } },
      { key: 'airlock.decision', value: { stringValue: 'warn' } },
      { key: 'db.operation.name', value: { stringValue: 'SELECT' } },
      { key: 'airlock.rows', value: { intValue: '42' } },
      { key: 'db.query.text', value: { stringValue: text } },
      ...extra,
    ],
  });
  const req = (...spans: object[]): string => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
  const session = { name: 'session orders', kind: 2, startTimeUnixNano: '1', attributes: [] };
  const file = join(dir, 'traces.json');
  writeFileSync(
    file,
    `${req(span('1700000000002000000', 'SELECT 2'), session)}\n${req(span('1700000000001000000', 'SELECT 1'))}\n`,
  );
  const lines = auditTail({ file, limit: 10 });
  assert.equal(lines.length, 3);
  assert.match(lines[1]!, /^2023-11-14T22:13:20\.001Z\s+alice@example\.com\s+warn\s+SELECT\s+42\s+SELECT 1$/);
  assert.match(lines[2]!, /SELECT 2$/);
  writeFileSync(file, 'not json\n');
  assert.throws(() => auditTail({ file, limit: 1 }), /traces\.json:1: not OTLP JSON/);
});

test('tail says so when there is nothing, and names a missing spool directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-tail-'));
  assert.deepEqual(auditTail({ spoolDir: dir, limit: 5 }), [`no audit records in ${dir}`]);
  assert.throws(() => auditTail({ spoolDir: join(dir, 'nope'), limit: 5 }), /spool directory .*nope does not exist/);
  assert.throws(() => auditTail({ limit: 5 }), /exactly one of/);
});
