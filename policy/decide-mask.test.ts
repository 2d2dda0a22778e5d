// Decision table (style.md §9), masking: the MaskPlan a decision carries (each output's strategy, COPY
// refusals, the columns a message could echo), and masked values that must not be stored where they could
// be read back unmasked. The fixtures are in testing-decide.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ColumnSource, StatementFacts } from './types.ts';
import { TRAINER, WARN_ONLY_CUSTOMERS, acc, allow, check, col, facts, rel, run, select } from './testing-decide.ts';
import type { Case } from './testing-decide.ts';

const cases: Case[] = [
  // masking
  [
    'masked column passes its strategy',
    facts({
      accesses: [acc('SELECT', 'public.customers')],
      outputs: [col('public.customers.id'), col('public.customers.email')],
    }),
    { ...allow('read-app-tables'), outputs: [null, 'partial'], needsRowDescription: false, refuse: null },
  ],
  [
    'unqualified masked column',
    facts({ accesses: [acc('SELECT', 'customers')], outputs: [col('customers.ssn')] }),
    { outputs: ['redact'] },
  ],
  [
    'whole row takes the strictest strategy',
    facts({
      accesses: [acc('SELECT', 'public.customers')],
      outputs: [{ kind: 'row', relation: rel('public.customers') }],
    }),
    { outputs: ['redact'] },
  ],
  [
    'derived from masked sources takes the strictest',
    facts({
      accesses: [acc('SELECT', 'public.customers')],
      outputs: [
        { kind: 'derived', from: [col('public.customers.email'), col('public.customers.phone')] },
        { kind: 'derived', from: [col('public.customers.id')] },
      ],
    }),
    { outputs: ['hash', null] },
  ],
  [
    'star over a masked relation needs RowDescription',
    facts({
      accesses: [acc('SELECT', 'public.customers')],
      outputs: [{ kind: 'star', relations: [rel('public.customers')] }],
    }),
    { outputs: [null], needsRowDescription: true },
  ],
  [
    'star over an unmasked relation',
    facts({
      accesses: [acc('SELECT', 'public.orders')],
      outputs: [{ kind: 'star', relations: [rel('public.orders')] }],
    }),
    { outputs: [null], needsRowDescription: false },
  ],
  [
    'opaque output beside a masked relation is redacted',
    facts({
      accesses: [acc('SELECT', 'public.customers'), acc('CALL', 'public.calc_x', 'function')],
      outputs: [{ kind: 'opaque' }],
    }),
    { outputs: ['redact'] },
  ],
  [
    'opaque output without masked relations passes',
    facts({ accesses: [acc('SELECT', 'public.orders')], outputs: [{ kind: 'opaque' }] }),
    { outputs: [null] },
  ],
  [
    'masks come from enforce-mode policies only',
    facts({ accesses: [acc('SELECT', 'public.customers')], outputs: [col('public.customers.name')] }),
    { verdict: 'allow', outputs: [null] },
    { policies: [TRAINER, WARN_ONLY_CUSTOMERS] },
  ],
  [
    'COPY binary of a masked table is refused',
    facts({
      tag: 'CopyStmt',
      command: 'COPY',
      accesses: [acc('COPY_TO', 'public.customers')],
      copyTo: { relation: rel('public.customers'), columns: null, format: 'binary', optionsDefault: true },
    }),
    {
      verdict: 'allow',
      refuse:
        'COPY of public.customers in binary format cannot be masked (masked: public.customers.email, public.customers.ssn, public.customers.phone); use COPY (SELECT … FROM public.customers) TO STDOUT (FORMAT binary), or text or csv format',
    },
  ],
  [
    'COPY text of a masked table is masked, not refused',
    facts({
      tag: 'CopyStmt',
      command: 'COPY',
      accesses: [acc('COPY_TO', 'public.customers')],
      copyTo: { relation: rel('public.customers'), columns: null, format: 'text', optionsDefault: true },
    }),
    { verdict: 'allow', refuse: null },
  ],
  [
    'COPY binary of unmasked columns only',
    facts({
      tag: 'CopyStmt',
      command: 'COPY',
      accesses: [acc('COPY_TO', 'public.customers')],
      copyTo: { relation: rel('public.customers'), columns: ['id'], format: 'binary', optionsDefault: true },
    }),
    { verdict: 'allow', refuse: null },
  ],
  [
    'COPY csv with non-default options',
    facts({
      tag: 'CopyStmt',
      command: 'COPY',
      accesses: [acc('COPY_TO', 'public.customers')],
      copyTo: { relation: rel('public.customers'), columns: ['ssn'], format: 'csv', optionsDefault: false },
    }),
    {
      refuse:
        'COPY of public.customers with options other than FORMAT, HEADER, DELIMITER, QUOTE, ESCAPE, NULL and FORCE_QUOTE cannot be masked (masked: public.customers.ssn); use only those options (none with FORMAT binary)',
    },
  ],
  [
    'COPY csv with HEADER and DELIMITER is masked, not refused',
    facts({
      tag: 'CopyStmt',
      command: 'COPY',
      accesses: [acc('COPY_TO', 'public.customers')],
      copyTo: {
        relation: rel('public.customers'),
        columns: ['ssn'],
        format: 'csv',
        optionsDefault: false,
        textOptions: { header: true, delimiter: ';' },
      },
    }),
    { refuse: null },
  ],
  // issue 12: the proxy describes a COPY (query) and masks its output, binary included
  [
    'COPY (query) binary of a masked column is masked, not refused',
    facts({
      tag: 'CopyStmt',
      command: 'COPY',
      accesses: [acc('SELECT', 'public.customers'), acc('COPY_TO', 'public.customers')],
      outputs: [{ kind: 'star', relations: [rel('public.customers')] }],
      copyTo: {
        relation: null,
        columns: null,
        format: 'binary',
        optionsDefault: true,
        query: 'SELECT * FROM public.customers',
      },
    }),
    { verdict: 'allow', refuse: null },
  ],
  [
    'COPY (query) with an option the masker cannot follow is refused',
    facts({
      tag: 'CopyStmt',
      command: 'COPY',
      accesses: [acc('SELECT', 'public.customers'), acc('COPY_TO', 'public.customers')],
      outputs: [col('public.customers.ssn')],
      copyTo: {
        relation: null,
        columns: null,
        format: 'csv',
        optionsDefault: false,
        query: 'SELECT ssn FROM public.customers',
      },
    }),
    {
      refuse:
        'COPY (query) with options other than FORMAT, HEADER, DELIMITER, QUOTE, ESCAPE, NULL and FORCE_QUOTE cannot be masked because its result includes masked columns; use only those options (none with FORMAT binary)',
    },
  ],
];

for (const [name, stmt, want, opts] of cases) test(name, () => check(run(stmt, opts), want));

test('MaskPlan.columns lists every masked column of enforce policies', () => {
  const d = run(select('public.orders'));
  assert.equal(d.verdict, 'allow');
  if (d.verdict === 'allow')
    assert.deepStrictEqual(d.masks.columns, {
      'public.customers.email': 'partial',
      'public.customers.ssn': 'redact',
      'public.customers.phone': 'hash',
    });
});

test('an opaque output makes positions untrustworthy (it may stand for several columns)', () => {
  const d = run(
    facts({
      accesses: [acc('SELECT', 'public.customers')],
      outputs: [{ kind: 'opaque' }, col('public.customers.email')],
    }),
  );
  assert.equal(d.verdict, 'allow');
  if (d.verdict === 'allow') {
    assert.equal(d.masks.hasStar, true);
    assert.deepEqual(d.masks.outputs, ['redact', 'partial']);
  }
});

test('without a star or opaque output, positions are trusted', () => {
  const d = run(
    facts({
      accesses: [acc('SELECT', 'public.customers')],
      outputs: [col('public.customers.id'), col('public.customers.email')],
    }),
  );
  if (d.verdict !== 'allow') assert.fail(d.verdict);
  assert.equal(d.masks.hasStar, false);
});

// Masking launders if a masked value can be stored somewhere unmasked and read back (found by probing the
// demo: INSERT INTO orders … SELECT length(ssn) FROM customers). One row per way of storing a value.
const storing: readonly (readonly [string, StatementFacts, 'deny' | 'allow'])[] = [
  [
    'INSERT … SELECT of a masked column',
    facts({
      tag: 'InsertStmt',
      command: 'INSERT',
      writes: true,
      accesses: [acc('INSERT', 'public.orders'), acc('SELECT', 'public.customers')],
      written: [col('public.customers.email')],
    }),
    'deny',
  ],
  [
    'a value derived from a masked column',
    facts({
      tag: 'InsertStmt',
      command: 'INSERT',
      writes: true,
      accesses: [acc('INSERT', 'public.orders'), acc('SELECT', 'public.customers')],
      written: [{ kind: 'derived', from: [col('public.customers.ssn')] }],
    }),
    'deny',
  ],
  [
    'UPDATE SET from a masked column of the same table',
    facts({
      tag: 'UpdateStmt',
      command: 'UPDATE',
      writes: true,
      accesses: [acc('UPDATE', 'public.orders'), acc('SELECT', 'public.customers')],
      written: [col('public.customers.phone')],
    }),
    'deny',
  ],
  [
    'SELECT * INTO a new table',
    facts({
      accesses: [acc('DDL', 'scratch.t'), acc('SELECT', 'public.customers')],
      written: [{ kind: 'star', relations: [rel('public.customers')] }],
    }),
    'deny',
  ],
  [
    'an untraceable value in a statement that reads masked columns',
    facts({
      tag: 'InsertStmt',
      command: 'INSERT',
      writes: true,
      accesses: [acc('INSERT', 'public.orders'), acc('SELECT', 'public.customers')],
      written: [{ kind: 'opaque' }],
    }),
    'deny',
  ],
  [
    'storing an unmasked column of a masked table is fine',
    facts({
      tag: 'InsertStmt',
      command: 'INSERT',
      writes: true,
      accesses: [acc('INSERT', 'public.orders'), acc('SELECT', 'public.customers')],
      written: [col('public.customers.id')],
    }),
    'allow',
  ],
  [
    'constants are fine',
    facts({
      tag: 'UpdateStmt',
      command: 'UPDATE',
      writes: true,
      accesses: [acc('UPDATE', 'public.orders')],
      written: [{ kind: 'derived', from: [] }],
    }),
    'allow',
  ],
];
for (const [name, stmt, want] of storing) {
  test(`storing values: ${name}`, () => {
    const d = run(stmt);
    assert.equal(d.verdict, want, d.verdict === 'deny' ? d.reason : '');
    if (d.verdict === 'deny') assert.match(d.reason, /could be read back unmasked/);
  });
}

// Found by probing the demo: split_part(email, '@', 1) under `partial` showed the end of the local part.
test('partial on a computed value becomes redact; on the column itself (or a cast) it stays partial', () => {
  const d = run(
    facts({
      accesses: [acc('SELECT', 'public.customers')],
      outputs: [
        col('public.customers.email'),
        { kind: 'derived', from: [col('public.customers.email')] },
        { kind: 'derived', from: [col('public.customers.phone')] },
      ],
    }),
  );
  if (d.verdict !== 'allow') assert.fail(d.verdict);
  assert.deepEqual(d.masks.outputs, ['partial', 'redact', 'hash']);
});

// Found by probing the demo: FETCH from a cursor over lower(email) returned the raw value.
test('a cursor over values computed from masked columns is refused; over the columns themselves it is not', () => {
  const declare = (outputs: ColumnSource[]) =>
    facts({
      tag: 'DeclareCursorStmt',
      command: 'DECLARE CURSOR',
      accesses: [acc('SELECT', 'public.customers')],
      outputs,
    });
  const computed = run(declare([{ kind: 'derived', from: [col('public.customers.email')] }]));
  if (computed.verdict !== 'allow') assert.fail(computed.verdict);
  assert.match(computed.masks.refuse ?? '', /cursor over values computed from masked columns/);
  const direct = run(declare([col('public.customers.email'), { kind: 'derived', from: [col('public.customers.id')] }]));
  if (direct.verdict !== 'allow') assert.fail(direct.verdict);
  assert.equal(direct.masks.refuse, null);
});

test('MaskPlan.touched: the masked columns whose values a message about the statement could echo (issue 12)', () => {
  const touched = (f: StatementFacts): readonly string[] | undefined => {
    const d = run(f);
    return d.verdict === 'allow' || d.verdict === 'warn' ? d.masks.touched : undefined;
  };
  const customers = ['public.customers.email', 'public.customers.ssn', 'public.customers.phone'];
  assert.deepEqual([...touched(select('public.customers'))!].sort(), [...customers].sort());
  assert.deepEqual([...touched(select('customers'))!].sort(), [...customers].sort(), 'unqualified: via search_path');
  assert.deepEqual(touched(select('public.orders')), []);
  assert.deepEqual(
    touched(facts({ accesses: [acc('CALL', 'public.calc_tax', 'function')] })),
    [],
    'a function alone touches nothing',
  );
  // a masked output whose relation the accesses do not name (a view resolved to its base): every masked column
  assert.deepEqual(
    [
      ...touched(facts({ accesses: [acc('SELECT', 'public.orders')], outputs: [col('public.customers.email')] }))!,
    ].sort(),
    [...customers].sort(),
  );
});
