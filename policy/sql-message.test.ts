import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadModule, parseSync } from 'libpg-query';
import { scrubParseError, scrubSqlMessage } from './sql-message.ts';
import { analyze } from './analyze/analyze.ts';
import { initAnalyzer } from './analyze/testing-parser.ts';

before(async () => {
  await loadModule();
  await initAnalyzer();
});

test('scrubSqlMessage: the token after "at or near" goes, what went wrong and where stay', () => {
  const cases: [string, number | null, string][] = [
    ['syntax error at or near "\'secret\'"', 35, 'syntax error at character 35'],
    ['unterminated quoted string at or near "\'abc"', 7, 'unterminated quoted string at character 7'],
    ['unterminated dollar-quoted string at or near "$$x"', null, 'unterminated dollar-quoted string'],
    ['zero-length delimited identifier at or near """"', 7, 'zero-length delimited identifier at character 7'],
    // A token holding the marker itself, or quotes: everything after the first marker goes.
    ['syntax error at or near "\'a" at or near "b\'"', 3, 'syntax error at character 3'],
    ['syntax error at end of input', 36, 'syntax error at end of input at character 36'],
    ['invalid Unicode escape', 10, 'invalid Unicode escape at character 10'],
  ];
  for (const [msg, pos, want] of cases) assert.equal(scrubSqlMessage(msg, pos), want, msg);
});

test('scrubSqlMessage: a message that still quotes a value is replaced whole', () => {
  assert.equal(scrubSqlMessage('invalid input syntax for type integer: "secret"'), 'the statement does not parse');
  assert.equal(scrubSqlMessage("unrecognized option 'secret'", 4), 'the statement does not parse at character 4');
  assert.equal(scrubSqlMessage(`bad ${'x'.repeat(300)}`), 'the statement does not parse');
  assert.equal(scrubSqlMessage('line\nbreak'), 'the statement does not parse');
  // Positions that are not positions are left out rather than printed.
  assert.equal(scrubSqlMessage('syntax error at end of input', -1), 'syntax error at end of input');
  assert.equal(scrubSqlMessage('syntax error at end of input', 1.5), 'syntax error at end of input');
});

test("scrubParseError reads libpg-query's SqlError (message and cursorPosition)", () => {
  let err: unknown;
  try {
    parseSync("SELECT id FROM orders WHERE id = 1 'secret'");
  } catch (e) {
    err = e;
  }
  // The literal starts at the 36th character, counted from 1 as PostgreSQL's P field is.
  assert.equal(scrubParseError(err), 'syntax error at character 36');
  assert.equal(scrubParseError('not an error'), 'the statement does not parse');
  assert.equal(scrubParseError(new Error('syntax error at or near "x"')), 'syntax error');
});

// The property the audit trail relies on: whatever a statement's literal holds, and wherever a parse error
// sits, the analysis's reasons never repeat it (nor does its normalized text, beyond what libpg-query keeps).
const MARK = 'Zq7secretQ';
const TEMPLATES: ((lit: string) => string)[] = [
  (l) => `SELECT id FROM orders WHERE id = 1 '${l}'`,
  (l) => `SELECT id FROM orders WHERE note = '${l}`,
  (l) => `SELECT $q$${l}`,
  (l) => `SELECT 1${l}`,
  (l) => `SELECT "${l}`,
  (l) => `SELECT E'${l}' '${l}' FROM`,
  (l) => `SELECT query_to_xml('SELECT 1 ''${l}''', true, true, '')`,
  (l) => `SELECT query_to_xml('SELECT ''${l}', true, true, '')`,
  (l) => `SET client_encoding = '${l}'`,
  (l) => `UPDATE orders SET status = '${l}' WHERE id = 1 '${l}'`,
  (l) => `INSERT INTO orders VALUES (1, '${l}') RETURNING '${l}' '${l}'`,
];

test('no analysis reason quotes a literal of the statement', () => {
  const safe = fc.stringMatching(/^[A-Za-z0-9 _.,@-]{0,12}$/);
  // The literal starts with the mark: `SELECT 1 Zq…` would make it an identifier (an alias), which the
  // normalized text rightly keeps.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: TEMPLATES.length - 1 }), safe, (i, post) => {
      const lit = `${MARK}${post}`;
      const a = analyze(TEMPLATES[i]!(lit));
      const reasons = a.error !== null ? [a.error] : a.statements.flatMap((s) => [...s.unsupported]);
      for (const r of reasons) assert.ok(!r.includes(MARK), `reason quotes the literal: ${r}`);
      assert.ok(!a.normalized.includes(MARK), `normalized quotes the literal: ${a.normalized}`);
    }),
    { numRuns: 300 },
  );
});
