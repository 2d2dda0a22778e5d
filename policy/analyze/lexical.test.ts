import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalizeSync } from 'libpg-query';
import { initAnalyzer } from './testing-parser.ts';
import { lexicalNormalize } from './lexical.ts';

before(async () => {
  await initAnalyzer();
});

function libpgNormalize(sql: string): string | null {
  try {
    return normalizeSync(sql);
  } catch {
    return null;
  }
}

test("lexicalNormalize: the statements it exists for get libpg-query's key without the parser", () => {
  for (const sql of [
    'SELECT abalance FROM pgbench_accounts WHERE aid = 12345;', // pgbench -S
    'select a, b from t where id = 1',
    "SELECT * FROM users u WHERE u.email = 'a@example.com' AND u.tenant_id = 7",
    "SELECT count(*) FROM orders WHERE status IN ('new', 'paid') AND total >= 100",
    "SELECT name FROM t WHERE note = 'it''s'",
    'SELECT a FROM t JOIN u ON t.id = u.t_id WHERE u.k <> 3 ORDER BY a',
    'SELECT a FROM t WHERE b IN (SELECT c FROM u WHERE d != 4)',
  ]) {
    const key = lexicalNormalize(sql);
    assert.notEqual(key, null, sql);
    assert.equal(key, normalizeSync(sql), sql);
  }
});

test('lexicalNormalize: anything outside its subset is left to libpg-query (null)', () => {
  for (const sql of [
    'SELECT 1', // a constant in the select list
    'select a from t order by 1 limit 2 offset 3', // libpg-query: "order by 1 limit $2 offset $1"
    'SELECT a FROM t WHERE b = 1 LIMIT 5',
    'WITH x AS (SELECT 1) SELECT * FROM x WHERE a = 2',
    'SELECT a FROM t WHERE b = -5',
    'SELECT a FROM t WHERE b = 1.5',
    'SELECT a FROM t WHERE b = 1e3',
    "SELECT a FROM t WHERE b = E'x'",
    "SELECT a FROM t WHERE b = 'a\\b'",
    "SELECT a FROM t WHERE b = 'x'\n'y'",
    'SELECT a FROM t WHERE b = $1',
    'SELECT a FROM t WHERE b = 1 -- comment',
    'SELECT a FROM t WHERE b = 1 /* c */',
    'SELECT a FROM t WHERE b BETWEEN 1 AND 2',
    'SELECT a FROM t WHERE b = 1; SELECT 2',
    'SELECT a FROM "T" WHERE b = 1',
    'SELECT a FROM t WHERE b =* 1',
    "SELECT a FROM t WHERE b = 'é'",
    'UPDATE t SET a = 1 WHERE b = 2',
    'SELECT a::int FROM t WHERE b = 1',
    'SELECT a FROM t WHERE b = (1)',
    'SELECT a FROM t WHERE b = 1 AND c = f(2)',
    '',
    ';',
  ]) {
    assert.equal(lexicalNormalize(sql), null, sql);
  }
});

// Statements built from the pieces that matter: constants of every lexical kind in every position the
// subset accepts or refuses, clauses whose constants libpg-query numbers out of text order, odd spacing
// and case. Whenever lexicalNormalize gives a key, it must be exactly libpg-query's.
const sp = fc.constantFrom(' ', '  ', '\n', '\t', ' \r\n ');
const kw = (w: string) => fc.constantFrom(w, w.toLowerCase(), w[0] + w.slice(1).toLowerCase());
const ident = fc.constantFrom('a', 'b', 'aid', 'abalance', 't.a', 'u.b', 'x_1', 'Name', '"Quoted"', 'pg_catalog.now');
const literal = fc.oneof(
  { arbitrary: fc.bigInt({ min: 0n, max: 10n ** 25n }).map(String), weight: 3 },
  { arbitrary: fc.stringMatching(/^[a-z @.%_]{0,8}$/).map((s) => `'${s}'`), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      "'it''s'",
      "''",
      "'a\\b'",
      "'é'",
      '1.5',
      '.5',
      '5.',
      '1e3',
      '0x1F',
      '1_000',
      "E'x'",
      "B'101'",
      "X'1F'",
      "date '2020-01-01'",
      'true',
      'null',
      '-5',
      '+5',
      '$1',
      "'a' 'b'",
      "'a'\n'b'",
      '(5)',
      '5::int',
      "interval '1 day'",
    ),
    weight: 2,
  },
);
const cmp = fc.constantFrom('=', '<', '>', '<=', '>=', '<>', '!=', '=*', '!', '=>', '==', '~');
const cond: fc.Arbitrary<string> = fc.letrec<{ c: string }>((tie) => ({
  c: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(ident, sp, cmp, fc.constantFrom(' ', '', '  '), literal).map((p) => p.join('')),
    fc
      .tuple(
        ident,
        sp,
        kw('IN'),
        fc.constantFrom(' (', '(', ' ( '),
        fc.array(literal, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(')', ' )'),
      )
      .map(([i, s, k, o, ls, c]) => `${i}${s}${k}${o}${ls.join(', ')}${c}`),
    fc.tuple(ident, kw('BETWEEN'), literal, kw('AND'), literal).map((p) => p.join(' ')),
    fc.tuple(ident, kw('IS'), fc.constantFrom('NULL', 'NOT NULL')).map((p) => p.join(' ')),
    fc
      .tuple(ident, sp, cmp, sp, fc.constantFrom('f(1)', 'lower(b)', 'ANY (ARRAY[1, 2])', 'u.b', '(SELECT 1)'))
      .map((p) => p.join('')),
    fc
      .tuple(
        ident,
        kw('IN'),
        fc.constantFrom(' (SELECT c FROM u WHERE d = ', '(SELECT c FROM u WHERE d IN ('),
        literal,
        fc.constantFrom(')', '))'),
      )
      .map(([i, k, o, l, c]) => `${i} ${k}${o}${l}${c}`),
    fc
      .tuple(fc.constantFrom('(', 'NOT ', 'NOT ('), tie('c'), fc.constant(''))
      .map(([o, c]) => (o.endsWith('(') ? `${o}${c})` : `${o}${c}`)),
    fc.tuple(tie('c'), sp, fc.constantFrom('AND', 'and', 'OR'), sp, tie('c')).map((p) => p.join('')),
  ),
})).c;
const selectList = fc.constantFrom(
  '*',
  'a',
  'abalance',
  't.a, u.b',
  'count(*)',
  'a = 1',
  '1',
  "'x'",
  'a AS b',
  't.*',
  'DISTINCT a',
);
const from = fc.constantFrom(
  't',
  'pgbench_accounts',
  't x',
  't JOIN u ON t.a = u.b',
  't JOIN u ON t.a = 5',
  '(SELECT a FROM u WHERE b = 2) s',
  'f(1)',
);
const tail = fc.oneof(
  { arbitrary: fc.constant(''), weight: 4 },
  {
    arbitrary: fc.constantFrom(
      ' ORDER BY 1',
      ' ORDER BY a',
      ' ORDER BY a = 1',
      ' GROUP BY a',
      ' GROUP BY a HAVING count(*) > 3',
      ' LIMIT 2',
      ' LIMIT 2 OFFSET 3',
      ' OFFSET 3',
      ' FETCH FIRST 2 ROWS ONLY',
      ' FOR UPDATE',
      ' INTO t2',
      ' UNION SELECT a FROM u WHERE b = 9',
    ),
    weight: 3,
  },
);
const end = fc.oneof(
  { arbitrary: fc.constantFrom('', ';'), weight: 4 },
  { arbitrary: fc.constantFrom('; ', ';;', '; SELECT 1', ' -- c', '/* c */', '\n'), weight: 1 },
);
const statement = fc
  .tuple(
    kw('SELECT'),
    sp,
    selectList,
    sp,
    kw('FROM'),
    sp,
    from,
    fc.option(fc.tuple(sp, kw('WHERE'), sp, cond)),
    tail,
    end,
  )
  .map(
    ([s, s1, l, s2, f, s3, fr, w, t, e]) => `${s}${s1}${l}${s2}${f}${s3}${fr}${w === null ? '' : w.join('')}${t}${e}`,
  );

test("lexicalNormalize agrees with libpg-query's normalize on generated statements", () => {
  let keyed = 0;
  fc.assert(
    fc.property(statement, (sql) => {
      const key = lexicalNormalize(sql);
      if (key === null) return true;
      keyed++;
      assert.equal(key, libpgNormalize(sql), `lexical key differs from libpg-query's for ${JSON.stringify(sql)}`);
      return true;
    }),
    { numRuns: 4000 },
  );
  // The generator reaches the subset often enough for the comparison to mean something.
  assert.ok(keyed > 400, `only ${keyed} of 4000 generated statements were in the lexical subset`);
});

test('lexicalNormalize agrees with libpg-query on token soup over its alphabet', () => {
  const token = fc.constantFrom(
    'SELECT',
    'select',
    'a',
    'in',
    'IN',
    'from',
    'where',
    'order',
    'by',
    '(',
    ')',
    ',',
    '.',
    '*',
    '=',
    '<',
    '>',
    '!',
    ';',
    "'",
    "''",
    "'x'",
    '1',
    '12',
    ' ',
    '\n',
    'with',
    'limit',
    'E',
    '-',
    '/',
    ':',
    '$',
    '"',
  );
  fc.assert(
    fc.property(
      fc.array(token, { minLength: 1, maxLength: 14 }),
      fc.array(fc.boolean(), { maxLength: 14 }),
      (parts, gaps) => {
        const sql = parts.map((p, i) => (gaps[i] === true ? `${p} ` : p)).join('');
        const key = lexicalNormalize(sql);
        const ref = libpgNormalize(sql);
        // A key for text libpg-query cannot parse is harmless (no shape entry can equal it: every stored shape
        // is a successful normalization of text that differs from this one in constants only), but where
        // libpg-query has an answer the two must agree.
        if (key !== null && ref !== null) assert.equal(key, ref, JSON.stringify(sql));
        return true;
      },
    ),
    { numRuns: 20000 },
  );
});
