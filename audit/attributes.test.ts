import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  hrTime,
  sessionCommonAttributes,
  statementAttributes,
  statementSpanName,
  statementStatus,
  truncateUtf8,
} from './attributes.ts';
import { session, statement } from './testdata/records.ts';

test('truncateUtf8: a prefix of whole characters, at most maxBytes, the longest such; null when it fits', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.integer({ min: 0, max: 400 }), (text, max) => {
      const cut = truncateUtf8(text, max);
      const bytes = Buffer.byteLength(text);
      if (bytes <= max) {
        assert.equal(cut, null);
        return;
      }
      assert.notEqual(cut, null);
      assert.ok(Buffer.byteLength(cut!) <= max);
      assert.ok(text.startsWith(cut!), 'a prefix');
      assert.equal(Buffer.from(cut!, 'utf8').toString('utf8'), cut, 'no half character');
      const next = text.codePointAt(cut!.length)!;
      assert.ok(Buffer.byteLength(cut!) + Buffer.byteLength(String.fromCodePoint(next)) > max, 'the longest prefix');
    }),
    { numRuns: 500 },
  );
});

test('hrTime keeps microseconds exactly', () => {
  assert.deepEqual(hrTime(1_700_000_000_000.123), [1_700_000_000, 123_000]);
  assert.deepEqual(hrTime(1_700_000_000_999.9995), [1_700_000_001, 0]);
  assert.deepEqual(hrTime(0), [0, 0]);
});

test('statement attributes and status follow each record: nulls are left out, decisions and errors show', () => {
  const common = sessionCommonAttributes(session('0123456789abcdef'));
  assert.deepEqual(common, {
    'db.system.name': 'postgresql',
    'db.namespace': 'orders',
    'server.address': 'orders-pg.db.svc',
    'server.port': 5432,
    'airlock.subject': 'system:serviceaccount:ml:trainer',
  });
  const allow = statement('0123456789abcdef', 1);
  assert.deepEqual(statementAttributes(common, allow, 1024), {
    ...common,
    'db.operation.name': 'SELECT',
    'db.collection.name': 'public.orders',
    'db.query.text': allow.queryText,
    'airlock.decision': 'allow',
    'airlock.policy': 'trainer',
    'airlock.rule': 'read-app-tables',
    'airlock.masked_columns': [],
    'airlock.rows': 1,
    'airlock.rolled_back': false,
  });
  assert.equal(statementStatus(allow), null, 'UNSET on success');
  assert.equal(statementSpanName(allow, 'orders'), 'SELECT orders.public.orders');

  const deny = statement('0123456789abcdef', 2, {
    operation: 'DROP',
    collection: null,
    decision: 'deny',
    policy: 'p2',
    rule: null,
    reason: 'destructive operation',
    rows: null,
    statusCode: '42501',
    maskedColumns: ['public.c.ssn'],
    rolledBack: true,
    accessRequest: 'ml/req-1',
  });
  const a = statementAttributes(common, deny, 1024);
  assert.equal(a['db.collection.name'], undefined);
  assert.equal(a['airlock.rule'], undefined);
  assert.equal(a['airlock.rows'], undefined);
  assert.equal(a['db.response.status_code'], '42501');
  assert.equal(a['error.type'], '42501');
  assert.equal(a['airlock.reason'], 'destructive operation');
  assert.deepEqual(a['airlock.masked_columns'], ['public.c.ssn']);
  assert.equal(a['airlock.access_request'], 'ml/req-1');
  assert.equal(a['airlock.rolled_back'], true);
  assert.deepEqual(statementStatus(deny), { code: 2, message: 'destructive operation' });
  assert.equal(statementSpanName(deny, 'orders'), 'DROP orders');
  assert.deepEqual(statementStatus(statement('x', 3, { statusCode: '23505' })), { code: 2, message: 'SQLSTATE 23505' });
  assert.deepEqual(statementStatus(statement('x', 4, { decision: 'deny' })), { code: 2, message: 'denied' });

  const long = statementAttributes(common, statement('x', 5, { queryText: 'é'.repeat(100) }), 51);
  assert.equal(long['db.query.text'], 'é'.repeat(25));
  assert.equal(long['airlock.query_text_truncated'], true);
});
