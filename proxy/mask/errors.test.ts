import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scrubErrorFields, scrubMessage } from './errors.ts';
import { MaskError } from './mask-error.ts';

type Fields = [string, string][];
// The exact bytes PostgreSQL sends (protocol-error-fields): type, Int32 length, code + C string…, 0.
function message(fields: Fields, type = 'E'): Buffer {
  const parts = fields.map(([code, v]) =>
    Buffer.concat([Buffer.from(code, 'latin1'), Buffer.from(v), Buffer.from([0])]),
  );
  const body = Buffer.concat([...parts, Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
function parse(msg: Buffer): Fields {
  assert.equal(msg.readInt32BE(1), msg.length - 1);
  const out: Fields = [];
  let p = 5;
  while (msg[p] !== 0) {
    const z = msg.indexOf(0, p + 1);
    out.push([String.fromCharCode(msg[p]!), msg.toString('utf8', p + 1, z)]);
    p = z + 1;
  }
  assert.equal(p, msg.length - 1);
  return out;
}
const masked = ['public.customers.email'];
function scrub(fields: Fields, anyMasked = true, type = 'E', touched: readonly string[] = masked): Fields | null {
  const msg = message(fields, type);
  const chunk = Buffer.concat([Buffer.from('..'), msg, Buffer.from('..')]);
  const out = scrubErrorFields(chunk, 2, 2 + msg.length, anyMasked ? touched : []);
  if (out !== null) assert.equal(out.toString('latin1', 0, 1), type);
  return out === null ? null : parse(out);
}

const head: Fields = [
  ['S', 'ERROR'],
  ['V', 'ERROR'],
  ['C', '23505'],
];
const tail: Fields = [
  ['F', 'nbtinsert.c'],
  ['L', '664'],
  ['R', '_bt_check_unique'],
];

test('unique violation: the key keeps its column, its value is hidden; names and SQLSTATE kept', () => {
  const fields: Fields = [
    ...head,
    ['M', 'duplicate key value violates unique constraint "customers_email_key"'],
    ['D', 'Key (email)=(alice@example.com) already exists.'],
    ['s', 'public'],
    ['t', 'customers'],
    ['n', 'customers_email_key'],
    ...tail,
  ];
  assert.deepEqual(
    scrub(fields),
    fields.map(([c, v]) => [c, c === 'D' ? 'Key (email)=(***) already exists.' : v]),
  );
});

test('key details: values shown only when no key column is masked (issue 12)', () => {
  const detail = (d: string, table = 'customers'): string | undefined =>
    new Map(scrub([...head, ['M', 'x'], ['D', d], ['s', 'public'], ['t', table]]) ?? [['D', d]]).get('D');
  assert.equal(detail('Key (id)=(1) already exists.'), 'Key (id)=(1) already exists.');
  assert.equal(
    detail('Key (lower(email::text))=(a@b.c) already exists.'),
    'Key (lower(email::text))=(***) already exists.',
  );
  assert.equal(detail('Key (name, email)=(Ava, a@b.c) is duplicated.'), 'Key (name, email)=(***) is duplicated.');
  assert.equal(
    detail('Key (customer_id)=(99) is not present in table "customers".', 'orders'),
    'Key (customer_id)=(99) is not present in table "customers".',
  );
  // a foreign-key detail names the other table's columns: checked against every masked column in play
  assert.equal(
    detail('Key (email)=(a@b.c) is still referenced from table "orders".', 'orders'),
    'Key (email)=(***) is still referenced from table "orders".',
  );
  assert.equal(
    detail('Key (email)=(a@b.c) conflicts with existing key (email)=(d@e.f).'),
    'Key (email)=(***) conflicts with existing key (email)=(***).',
  );
  // a quoted column list cannot be split safely: dropped
  assert.equal(detail('Key ("e)=(x", email)=(a@b.c) already exists.'), undefined);
  assert.equal(detail('Failing row contains (1, a@b.c).'), 'Failing row contains (***).');
  assert.equal(
    detail('Failing row contains (1, 10.00, pending).', 'orders'),
    'Failing row contains (1, 10.00, pending).',
  );
  assert.equal(detail('some other detail "a@b.c"'), undefined);
  // names with non-ASCII characters compare as the UTF-8 bytes PostgreSQL sends
  const accented = (d: string): string | undefined =>
    new Map(
      scrub([...head, ['M', 'x'], ['D', d], ['s', 'public'], ['t', 'kunden']], true, 'E', ['public.kunden.e_mäil']) ?? [
        ['D', d],
      ],
    ).get('D');
  assert.equal(accented('Key (e_mäil)=(a@b.c) already exists.'), 'Key (e_mäil)=(***) already exists.');
  assert.equal(accented('Failing row contains (1, a@b.c).'), 'Failing row contains (***).');
});

test("raised while analysing the client's own text (P, no W or q): kept whole (issue 12)", () => {
  const undefinedColumn: Fields = [
    ['S', 'ERROR'],
    ['V', 'ERROR'],
    ['C', '42703'],
    ['M', 'column "emial" does not exist'],
    ['H', 'Perhaps you meant to reference the column "customers.email".'],
    ['P', '8'],
    ['F', 'parse_relation.c'],
    ['L', '3722'],
    ['R', 'errorMissingColumn'],
  ];
  assert.equal(scrub(undefinedColumn), null);
  // the same position inside a function body (context present) proves nothing: scrubbed
  const inFunction: Fields = [
    ...undefinedColumn.slice(0, 4),
    ['P', '8'],
    ['W', 'SQL statement "SELECT emial"\nPL/pgSQL function f() line 3 at PERFORM'],
  ];
  assert.deepEqual(scrub(inFunction), [
    ...undefinedColumn.slice(0, 3),
    ['M', 'column "***" does not exist'],
    ['P', '8'],
    ['W', 'PL/pgSQL function f() line 3 at PERFORM'],
  ]);
  // a data error is scrubbed even with a position: only analysis errors (class 42) are trusted by it
  const dataError: Fields = [
    ['S', 'ERROR'],
    ['V', 'ERROR'],
    ['C', '22P02'],
    ['M', 'invalid input syntax for type integer: "a@b.c"'],
    ['P', '8'],
  ];
  assert.deepEqual(scrub(dataError), [
    ...dataError.slice(0, 3),
    ['M', 'invalid input syntax for type integer: "***"'],
    ['P', '8'],
  ]);
});

test('context: only lines naming code and a line are kept', () => {
  const w = (text: string): string | undefined =>
    new Map(scrub([...head, ['M', 'x'], ['W', text]]) ?? [['W', text]]).get('W');
  assert.equal(w('PL/pgSQL function f(integer) line 3 at RAISE'), 'PL/pgSQL function f(integer) line 3 at RAISE');
  assert.equal(w('SQL function "f" statement 1'), 'SQL function "f" statement 1');
  assert.equal(
    w('SQL statement "SELECT \'a@b.c\'"\nPL/pgSQL function f() line 3 at EXECUTE'),
    'PL/pgSQL function f() line 3 at EXECUTE',
  );
  assert.equal(w('COPY customers, line 1: "1,a@b.c"'), undefined);
  assert.equal(w('JSON data, line 1: a@b...'), undefined);
});

test('check violation: "Failing row contains" is hidden, WHERE and internal query dropped', () => {
  const fields: Fields = [
    ['S', 'ERROR'],
    ['V', 'ERROR'],
    ['C', '23514'],
    ['M', 'new row for relation "customers" violates check constraint "email_lower"'],
    ['D', 'Failing row contains (1, Alice@Example.com, 555-0100).'],
    ['W', 'SQL statement "INSERT …"\nPL/pgSQL function f() line 3'],
    ['q', "INSERT INTO customers VALUES (1, 'Alice@Example.com')"],
    ['p', '12'],
    ['s', 'public'],
    ['t', 'customers'],
    ['n', 'email_lower'],
    ...tail,
  ];
  assert.deepEqual(
    scrub(fields),
    fields.filter(([c]) => !'Wqp'.includes(c)).map(([c, v]) => [c, c === 'D' ? 'Failing row contains (***).' : v]),
  );
});

test('a cast of a masked value: the quoted value in MESSAGE is replaced', () => {
  const fields: Fields = [
    ['S', 'ERROR'],
    ['V', 'ERROR'],
    ['C', '22P02'],
    ['M', 'invalid input syntax for type integer: "alice@example.com"'],
    ['W', "unnamed portal parameter $1 = '...'"],
    ...tail,
  ];
  assert.deepEqual(scrub(fields), [
    ['S', 'ERROR'],
    ['V', 'ERROR'],
    ['C', '22P02'],
    ['M', 'invalid input syntax for type integer: "***"'],
    ...tail,
  ]);
});

test('messages: names reported in s/t/c/d/n survive, values do not, quotes inside values cannot smuggle text', () => {
  const names = new Set(['customers', 'customers_email_key']);
  const rows: [string, string | null][] = [
    ['duplicate key value violates unique constraint "customers_email_key"', null],
    ['integer out of range', null],
    ['value "2147483648" is out of range for type integer', 'value "***" is out of range for type integer'],
    ['invalid input syntax for type integer: "a" leak "b"', 'invalid input syntax for type integer: "***"'],
    ['invalid input syntax for type integer: "a"b"', 'invalid input syntax for type integer: "***"'],
    ['invalid value "alice" for "YYYY"', 'invalid value "***"'],
    ['relation "customers" and "x: y"', 'relation "customers" and "***"'],
    ['unterminated "customers', 'unterminated "***"'],
    [
      'character with byte sequence 0xe2 0x82 0xac in encoding "UTF8" has no equivalent in encoding "LATIN1"',
      'character with byte sequence "***"',
    ],
    ['invalid byte sequence for encoding "UTF8": 0xff', 'invalid byte sequence for encoding "***"'],
  ];
  for (const [m, want] of rows) assert.equal(scrubMessage(m, names), want, m);
});

test('input values PostgreSQL prints unquoted: reg* name lists, and the tail of a data exception (issue 11 oracle)', () => {
  const names = new Set<string>();
  const rows: [string, string, string | null][] = [
    // email::regclass, ::regproc, ::regtype, ::regconfig, ::regoper (namespace.c, regproc.c)
    [
      '42601',
      'improper relation name (too many dotted names): ava.costa.k7q@example.org',
      'improper relation name (too many dotted names): ***',
    ],
    [
      '42601',
      'improper qualified name (too many dotted names): ava.costa.k7q@example.org',
      'improper qualified name (too many dotted names): ***',
    ],
    [
      '0A000',
      'cross-database references are not implemented: a.b.c',
      'cross-database references are not implemented: ***',
    ],
    // the quoted variant (RangeVarGetRelidExtended) keeps its quotes, and hides all of the tail
    [
      '0A000',
      'cross-database references are not implemented: "ava.costa@example.org"',
      'cross-database references are not implemented: "***"',
    ],
    [
      '0A000',
      'cross-database references are not implemented: "a".b.c',
      'cross-database references are not implemented: "***"',
    ],
    ['42883', 'operator does not exist: ava@x', 'operator does not exist: ***'],
    ['42725', 'more than one operator named ava', 'more than one operator named ***'],
    // class 22: whatever follows the first ': ' unless it is one quoted segment
    ['2201B', 'invalid regular expression: ava.costa@x', 'invalid regular expression: ***'],
    ['22P02', 'invalid input syntax for type integer: "ava"', 'invalid input syntax for type integer: "***"'],
    ['22008', 'date/time field value out of range: "ava"', 'date/time field value out of range: "***"'],
    ['22P02', 'invalid input syntax for type integer: "a" and then ava', 'invalid input syntax for type integer: ***'],
    ['22003', 'integer out of range', null],
    ['22001', 'value too long for type character varying(5)', null],
    // other classes keep an unquoted tail: it is not a value (`could not open file "…": No such file or directory`)
    ['42501', 'permission denied for table customers', null],
    ['XX000', 'could not open file: No such file or directory', null],
  ];
  for (const [code, m, want] of rows) assert.equal(scrubMessage(m, names, code), want, m);
  // Through the whole message: the runtime error of `SELECT email::regclass FROM customers` (no P).
  assert.deepEqual(
    scrub([
      ['S', 'ERROR'],
      ['V', 'ERROR'],
      ['C', '42601'],
      ['M', 'improper relation name (too many dotted names): ava.costa.k7q@example.org'],
      ['F', 'namespace.c'],
      ['L', '3150'],
      ['R', 'makeRangeVarFromNameList'],
    ]),
    [
      ['S', 'ERROR'],
      ['V', 'ERROR'],
      ['C', '42601'],
      ['M', 'improper relation name (too many dotted names): ***'],
      ['F', 'namespace.c'],
      ['L', '3150'],
      ['R', 'makeRangeVarFromNameList'],
    ],
  );
  // …and nothing is hidden when the statement touches no masked column.
  assert.equal(
    scrub(
      [
        ['S', 'ERROR'],
        ['C', '42601'],
        ['M', 'improper relation name (too many dotted names): a.b.c.d'],
      ],
      false,
    ),
    null,
  );
});

test('hints are kept unless they quote something', () => {
  const h1: Fields = [...head, ['M', 'division by zero'], ['H', 'Check the divisor.']];
  assert.equal(scrub(h1), null, 'nothing to change: null');
  const h2: Fields = [...head, ['M', 'x'], ['H', 'Perhaps you meant "alice@example.com".']];
  assert.deepEqual(scrub(h2), [...head, ['M', 'x']]);
});

test('notices are scrubbed like errors; unknown field codes are dropped', () => {
  const n: Fields = [
    ['S', 'NOTICE'],
    ['V', 'NOTICE'],
    ['C', '00000'],
    ['M', 'row: "alice@example.com"'],
    ['Z', 'future field'],
  ];
  assert.deepEqual(scrub(n, true, 'N'), [
    ['S', 'NOTICE'],
    ['V', 'NOTICE'],
    ['C', '00000'],
    ['M', 'row: "***"'],
  ]);
});

test('RAISE text is hidden whole: PL/pgSQL formats values unquoted', () => {
  const raise: Fields = [
    ['S', 'NOTICE'],
    ['V', 'NOTICE'],
    ['C', '00000'],
    ['M', 'email is alice@example.com'],
    ['H', 'check alice@example.com'],
    ['W', 'PL/pgSQL function leak() line 3 at RAISE'],
    ['F', 'pl_exec.c'],
    ['L', '3893'],
    ['R', 'exec_stmt_raise'],
  ];
  const out = scrub(raise, true, 'N')!;
  assert.deepEqual(
    out.map(([c]) => c),
    ['S', 'V', 'C', 'M', 'W', 'F', 'L', 'R'],
  );
  assert.ok(!out.some(([, v]) => v.includes('alice')));
  const custom: Fields = [
    ['S', 'ERROR'],
    ['V', 'ERROR'],
    ['C', 'P0001'],
    ['M', 'bad alice@example.com'],
  ];
  assert.ok(!scrub(custom)!.some(([, v]) => v.includes('alice')));
});

test('without masked columns in play the message goes out unchanged: a NOTICE from an allowed function (issue 12)', () => {
  const fields: Fields = [...head, ['M', 'duplicate key'], ['D', 'Key (email)=(a@b.c) already exists.']];
  assert.equal(scrub(fields, false), null);
  const raise: Fields = [
    ['S', 'NOTICE'],
    ['V', 'NOTICE'],
    ['C', '00000'],
    ['M', 'refreshed 3 rows'],
    ['W', 'PL/pgSQL function public.refresh() line 2 at RAISE'],
    ['R', 'exec_stmt_raise'],
  ];
  assert.equal(scrub(raise, false, 'N'), null);
  const skipping: Fields = [
    ['S', 'NOTICE'],
    ['V', 'NOTICE'],
    ['C', '00000'],
    ['M', 'table "scratch" does not exist, skipping'],
    ['R', 'DropErrorMsgNonExistent'],
  ];
  assert.equal(scrub(skipping, false, 'N'), null);
});

test('multi-byte text in kept fields passes byte for byte', () => {
  const fields: Fields = [
    ...head,
    ['M', 'doppelter Schlüsselwert verletzt Unique-Constraint »customers_email_key«'],
    ['D', 'Schlüssel (email)=(ä@x.io)'],
  ];
  assert.deepEqual(scrub(fields), fields.slice(0, 4));
});

test('malformed messages throw MaskError', () => {
  const good = message([...head, ['M', 'x']]);
  const bad = (b: Buffer, start = 0, end = b.length): void =>
    assert.throws(() => scrubErrorFields(b, start, end, masked), MaskError);
  const m = (fn: (c: Buffer) => void): Buffer => {
    const c = Buffer.from(good);
    fn(c);
    return c;
  };
  bad(
    m((c) => {
      c[0] = 0x44;
    }),
  ); // not E or N
  bad(m((c) => c.writeInt32BE(c.length, 1))); // length off by one
  bad(
    m((c) => {
      c[c.length - 1] = 0x41;
    }),
  ); // no terminator
  bad(
    m((c) => {
      c[c.length - 2] = 0x41;
    }),
  ); // last field unterminated
  const extra = Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([0, 0x41, 0])]);
  extra.writeInt32BE(extra.length - 1, 1);
  bad(extra); // bytes after the terminator
  bad(good, 0, good.length + 1);
});
