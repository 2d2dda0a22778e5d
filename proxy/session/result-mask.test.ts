// copyOutMask: how a COPY … TO STDOUT's CopyData are masked, resolved once at its CopyOutResponse (pure; the
// end-to-end cases are in test/proxy/copy-and-large.test.ts and test/proxy/masking.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Decision, MaskPlan, StatementFacts } from '../../policy/types.ts';
import { NO_MASKS } from '../../policy/types.ts';
import { MaskError } from '../mask/mask-error.ts';
import type { MaskCatalog } from '../mask/types.ts';
import type { FieldInfo } from '../wire/read.ts';
import { copyOutMask, planMasks } from './result-mask.ts';
import type { CopyOutInput } from './result-mask.ts';

const catalog: MaskCatalog = {
  byOid: new Map([
    [
      16400,
      new Map([
        [1, 'public.customers.id'],
        [2, 'public.customers.email'],
        [3, 'public.customers.ssn'],
      ]),
    ],
  ]),
  columnsOf: new Map([
    ['public.customers', ['id', 'email', 'ssn']],
    ['public.orders', ['id', 'total']],
  ]),
};
const plan: MaskPlan = {
  columns: { 'public.customers.email': 'hash', 'public.customers.ssn': 'redact' },
  outputs: [],
  needsRowDescription: false,
  refuse: null,
};
const allow = (masks: MaskPlan): Decision => ({
  verdict: 'allow',
  policy: 'p',
  rule: 'r',
  masks,
  wouldDeny: [],
  guardrails: { maxAffectedRows: null, policy: null },
});
type CopyTo = NonNullable<StatementFacts['copyTo']>;
const table = (o: Partial<CopyTo> = {}): CopyTo => ({
  relation: { schema: null, name: 'customers' },
  columns: null,
  format: 'text',
  optionsDefault: true,
  ...o,
});
const field = (name: string, attnum: number, tableOid = 16400): FieldInfo => ({
  name,
  tableOid,
  attnum,
  typeOid: 25,
  typeLen: -1,
  typeMod: -1,
  format: 0,
});
const input = (o: Partial<CopyOutInput>): CopyOutInput => ({
  decision: allow(plan),
  copyTo: table(),
  copyFields: null,
  format: 0,
  columns: 3,
  catalog,
  searchPath: ['public'],
  redactUnknown: null,
  ...o,
});

test('nothing to mask: no plan masks, or a denial', () => {
  assert.equal(planMasks(NO_MASKS), false);
  assert.equal(copyOutMask(input({ decision: allow(NO_MASKS) })), null);
  assert.equal(copyOutMask(input({ decision: { verdict: 'deny', policy: null, rule: null, reason: 'no' } })), null);
});

test("the table form maps the table's columns, found through the search_path", () => {
  const m = copyOutMask(input({}));
  assert.ok(m !== null && m.kind === 'text');
  assert.deepEqual(m.mask, [null, 'hash', 'redact']);
  assert.deepEqual(m.options, { format: 'text' });
  assert.equal(m.header, false);
  assert.deepEqual(m.maskedColumns, ['1', '2']);
});

test('a column list picks those columns; CSV with HEADER keeps its options', () => {
  const m = copyOutMask(
    input({
      columns: 2,
      copyTo: table({
        columns: ['ssn', 'id'],
        format: 'csv',
        optionsDefault: false,
        textOptions: { header: true, delimiter: ';' },
      }),
    }),
  );
  assert.ok(m !== null && m.kind === 'text');
  assert.deepEqual(m.mask, ['redact', null]);
  assert.deepEqual(m.options, { format: 'csv', delimiter: ';', quote: undefined, escape: undefined, null: undefined });
  assert.equal(m.header, true);
});

test('a table with no masked columns in catalog or policy is not masked', () => {
  assert.equal(
    copyOutMask(input({ copyTo: table({ relation: { schema: 'public', name: 'orders' } }), columns: 2 })),
    null,
  );
});

test('the query form masks the fields its query was described with, by name in the audit', () => {
  const fields = [field('id', 1), field('email', 2)];
  const m = copyOutMask(input({ copyTo: table({ relation: null }), copyFields: fields, columns: 2 }));
  assert.ok(m !== null && m.kind === 'text');
  assert.deepEqual(m.mask, [null, 'hash']);
  assert.deepEqual(m.maskedColumns, ['public.customers.email']);
});

test('the query form redacts fields of relations created since the catalog was read, when told to', () => {
  const fields = [field('id', 1), field('fresh', 1, 99999)];
  const m = copyOutMask(
    input({
      copyTo: table({ relation: null }),
      copyFields: fields,
      columns: 2,
      redactUnknown: (f, mask) => f.map((x, i) => (x.tableOid > 50000 ? 'redact' : (mask?.[i] ?? null))),
    }),
  );
  assert.ok(m !== null && m.kind === 'text');
  assert.deepEqual(m.mask, [null, 'redact']);
});

test('a binary COPY of a described query gets the binary stream state', () => {
  const m = copyOutMask(
    input({
      copyTo: table({ relation: null, format: 'binary' }),
      copyFields: [field('ssn', 3)],
      columns: 1,
      format: 1,
    }),
  );
  assert.ok(m !== null && m.kind === 'binary');
  assert.deepEqual(m.maskedColumns, ['public.customers.ssn']);
});

test('what cannot be matched or masked is refused (fail closed)', () => {
  assert.throws(
    () => copyOutMask(input({ copyTo: table({ relation: null }), copyFields: [field('id', 1)], columns: 2 })),
    MaskError,
  );
  assert.throws(() => copyOutMask(input({ copyTo: table({ format: 'binary' }), format: 1 })), MaskError);
  assert.throws(
    () => copyOutMask(input({ copyTo: table({ optionsDefault: false }) })),
    /only supported with default options/,
  );
  // Unknown table in the catalog, masked by the policy: nothing to map its columns with.
  assert.throws(
    () =>
      copyOutMask(
        input({
          copyTo: table({ relation: { schema: 'public', name: 'customers' } }),
          catalog: { byOid: new Map(), columnsOf: new Map() },
        }),
      ),
    MaskError,
  );
});
