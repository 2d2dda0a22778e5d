// COPY: the query text of COPY (query) TO, and the text and CSV options the masker follows.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from './analyze.ts';
import { initAnalyzer } from './testing-parser.ts';

before(async () => {
  await initAnalyzer();
});

test('COPY (query): the query text is cut out by the lexer, for the proxy to describe (issue 12)', () => {
  const q = (sql: string): string | undefined => analyze(sql).statements.at(-1)?.copyTo?.query;
  assert.equal(q('COPY (SELECT * FROM customers) TO STDOUT'), 'SELECT * FROM customers');
  assert.equal(
    q("SELECT 'é'; /* ( */ COPY ( SELECT ')', \"a)b\" FROM t /* ) */ WHERE f(1) > 0 ) TO STDOUT (FORMAT binary)"),
    ' SELECT \')\', "a)b" FROM t /* ) */ WHERE f(1) > 0 ',
  );
  assert.equal(q('-- lead\nCOPY (VALUES (1), (2)) TO STDOUT'), 'VALUES (1), (2)');
  assert.equal(q('COPY customers TO STDOUT'), undefined);
});

test('COPY TO text and CSV options the masker follows; HEADER true only when PostgreSQL is sure to send it (issue 12)', () => {
  const o = (sql: string) => analyze(sql).statements[0]?.copyTo?.textOptions;
  assert.deepEqual(o('COPY (SELECT 1) TO STDOUT WITH CSV HEADER'), { header: true });
  assert.deepEqual(
    o(
      "COPY t TO STDOUT (FORMAT csv, HEADER on, DELIMITER ';', QUOTE '''', ESCAPE '\\', NULL 'NA', FORCE_QUOTE *, ENCODING 'UTF8')",
    ),
    { header: true, delimiter: ';', quote: "'", escape: '\\', null: 'NA' },
  );
  assert.deepEqual(o('COPY t TO STDOUT (HEADER 0)'), { header: false });
  assert.deepEqual(o('COPY t TO STDOUT (HEADER 1)'), { header: true });
  assert.deepEqual(o("COPY t TO STDOUT (HEADER 'False')"), { header: false });
  assert.equal(o('COPY t TO STDOUT'), undefined, 'no options: nothing to follow');
  // anything else: not followed (the masker refuses)
  assert.equal(o('COPY t TO STDOUT (HEADER 2)'), undefined);
  assert.equal(o('COPY t TO STDOUT (HEADER match)'), undefined);
  assert.equal(o('COPY t TO STDOUT (HEADER, HEADER false)'), undefined, 'given twice');
  assert.equal(o('COPY t TO STDOUT (FORMAT csv, FORCE_NOT_NULL (a))'), undefined);
  assert.equal(o("COPY t TO STDOUT (ENCODING 'LATIN1')"), undefined);
});
