// Issue 11, class 4: no literal of a statement reaches the audit trail. Statements whose error sits at a
// literal (the parser's `syntax error at or near "'…'"`), or whose literal PostgreSQL echoes in its error
// (`invalid input syntax for type integer: "…"`), go through the real proxy in both protocols; the spans
// exported to a real OTLP receiver, and every log line, must not hold the literal anywhere: not in
// airlock.reason, the status message, db.query.text, the span name or any other attribute.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, failure, eventually } from './harness.ts';
import type { Harness } from './harness.ts';
import { startGrpcReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedSpan } from '../support/otlp-receiver.ts';
import { createAuditSink } from '../../audit/index.ts';

const MARK = 'Lit3ral-S3cret';
let h: Harness;
let receiver: OtlpReceiver;
const logs: string[] = [];
let spool = '';

before(async () => {
  receiver = await startGrpcReceiver();
  spool = mkdtempSync(join(tmpdir(), 'airlock-audit-literals-'));
  const audit = await createAuditSink({
    endpoint: receiver.endpoint,
    protocol: 'grpc',
    onFailure: 'block',
    flushIntervalMs: 50,
    spoolDir: spool,
    log: (m) => logs.push(m),
  });
  h = await startHarness({ proxy: { audit, log: (m: string) => logs.push(m) } });
});
after(async () => {
  await h?.stop();
  await receiver?.close();
  if (spool !== '') rmSync(spool, { recursive: true, force: true });
});

function statementSpans(): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.kind === 3); // SPAN_KIND_CLIENT: one per statement
}
const asText = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

test('statements failing at a literal are audited without it, in the simple and the extended protocol', async () => {
  const c = await h.client();
  const writes = await h.writes();
  const cases: { what: string; run: () => Promise<unknown>; code: string }[] = [
    // The parser's error quotes the literal (simple, then extended: Parse).
    {
      what: 'syntax error at a literal (Query)',
      run: () => c.query(`SELECT id FROM orders WHERE id = 1 '${MARK}'`),
      code: '42501',
    },
    {
      what: 'syntax error at a literal (Parse)',
      run: () => c.query({ text: `SELECT id FROM orders WHERE id = $1 '${MARK}'`, values: [1] }),
      code: '42501',
    },
    {
      what: 'unterminated literal',
      run: () => c.query(`SELECT id FROM orders WHERE status = '${MARK}`),
      code: '42501',
    },
    {
      what: 'unterminated dollar quote (Parse)',
      run: () => c.query({ text: `SELECT $x$${MARK}`, values: [] }),
      code: '42501',
    },
    {
      what: 'parse error inside a query string',
      run: () => c.query(`SELECT query_to_xml('SELECT 1 ''${MARK}''', true, true, '')`),
      code: '42501',
    },
    {
      what: 'a setting value the policy refuses',
      run: () => c.query(`SET client_encoding = '${MARK}'`),
      code: '42501',
    },
    // Allowed statements PostgreSQL refuses, quoting the literal in its error (simple, then a Bind value).
    {
      what: 'server error quoting a literal (Query)',
      run: () => c.query(`SELECT id FROM orders WHERE id = '${MARK}'`),
      code: '22P02',
    },
    {
      what: 'server error quoting a parameter (Bind)',
      run: () => c.query({ text: 'SELECT id FROM orders WHERE id = $1', values: [MARK] }),
      code: '22P02',
    },
  ];
  for (const k of cases) {
    const e = await failure(k.run());
    assert.equal(e.code, k.code, `${k.what}: ${e.message}`);
  }
  // The session went on after every one of them, and nothing was written.
  assert.equal((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 20);
  assert.equal(await h.writes(), writes);

  await eventually(() => statementSpans().length >= cases.length + 1, 20_000, 'the statement spans').catch((e) => {
    throw new Error(
      `${(e as Error).message}: ${receiver.spans.length} spans, ${asText(receiver.spans.map((s) => [s.name, s.attributes['db.query.text'], s.attributes['airlock.reason'], s.status.message]))}, logs ${logs.join(' / ')}`,
    );
  });
  const spans = statementSpans();
  for (const s of spans) assert.ok(!asText(s).includes(MARK), `a span holds the literal: ${asText(s)}`);
  assert.ok(!asText(receiver.spans).includes(MARK));
  for (const l of logs) assert.ok(!l.includes(MARK), `a log line holds the literal: ${l}`);

  // What the audit does say: the parser's error and where it is, and the SQLSTATE of a server error.
  const syntax = spans.filter((s) => s.attributes['airlock.reason'] === 'syntax error at character 36');
  assert.equal(syntax.length, 1, asText(spans.map((s) => s.attributes['airlock.reason'])));
  assert.equal(syntax[0]!.status.message, 'syntax error at character 36');
  assert.equal(syntax[0]!.attributes['airlock.decision'], 'deny');
  const server = spans.filter((s) => s.attributes['db.response.status_code'] === '22P02');
  assert.equal(server.length, 2);
  for (const s of server) assert.equal(s.status.message, 'SQLSTATE 22P02');
  assert.ok(server.some((s) => s.attributes['db.query.text'] === 'SELECT id FROM orders WHERE id = $1'));
});
