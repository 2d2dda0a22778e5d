import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MaskPlan, MaskStrategy } from '../../policy/types.ts';
import type { MaskCatalog } from './types.ts';
import type { FieldInfo } from '../wire/read.ts';
import { stricter } from '../../policy/compile.ts';
import { resolveRowMask } from './resolve.ts';

const CUSTOMERS = 16401;
const ORDERS = 16410;
const catalog: MaskCatalog = {
  byOid: new Map([
    [
      CUSTOMERS,
      new Map([
        [2, 'public.customers.email'],
        [3, 'public.customers.phone'],
        [4, 'public.customers.ssn'],
      ]),
    ],
  ]),
  columnsOf: new Map([['public.customers', ['id', 'email', 'phone', 'ssn', 'city']]]),
};
const columns: Record<string, MaskStrategy> = {
  'public.customers.email': 'partial',
  'public.customers.phone': 'hash',
  'public.customers.ssn': 'null',
};
const plan = (outputs: (MaskStrategy | null)[], needsRowDescription = false): MaskPlan => ({
  columns,
  outputs,
  needsRowDescription,
  hasStar: needsRowDescription,
  refuse: null,
});
const col = (tableOid: number, attnum: number, name = 'c'): FieldInfo => ({
  name,
  tableOid,
  attnum,
  typeOid: 25,
  typeLen: -1,
  typeMod: -1,
  format: 0,
});
const expr = (name = '?column?'): FieldInfo => col(0, 0, name);

const cases: [string, MaskPlan, FieldInfo[], (MaskStrategy | null)[] | null][] = [
  ['plain columns, catalog only', plan([null, null]), [col(CUSTOMERS, 1), col(CUSTOMERS, 2)], [null, 'partial']],
  ['alias through a subquery keeps provenance', plan([null]), [col(CUSTOMERS, 3, 'p')], ['hash']],
  ['nothing masked: fast path', plan([null, null]), [col(CUSTOMERS, 1), col(ORDERS, 2)], null],
  [
    'aligned outputs mask an expression',
    plan([null, 'partial']),
    [col(CUSTOMERS, 1), expr('lower')],
    [null, 'partial'],
  ],
  ['strictest of catalog and outputs', plan(['redact']), [col(CUSTOMERS, 2)], ['redact']],
  ['catalog stricter than outputs', plan(['partial']), [col(CUSTOMERS, 4)], ['null']],
  [
    'star: expression gets the strictest in the plan',
    plan([null, 'partial'], true),
    [col(CUSTOMERS, 1), col(CUSTOMERS, 2), col(CUSTOMERS, 5), expr()],
    [null, 'partial', null, 'null'],
  ],
  [
    'misaligned count: expression fails closed to strictest output',
    plan([null, 'hash', 'partial']),
    [col(ORDERS, 1), col(ORDERS, 2), expr(), expr()],
    [null, null, 'hash', 'hash'],
  ],
  ['misaligned, no masked output, no star: nothing masked', plan([null]), [col(ORDERS, 1), expr()], null],
  ['unknown attnum of a masked table passes', plan([null]), [col(CUSTOMERS, 9)], null],
  ['zero fields', plan([]), [], null],
];
for (const [name, p, fields, want] of cases) {
  test(name, () => assert.deepEqual(resolveRowMask(p, fields, catalog), want));
}

test('catalog names that are not in plan.columns, or are Object.prototype keys, are not masked', () => {
  const cat: MaskCatalog = {
    byOid: new Map([
      [
        1,
        new Map([
          [1, 'constructor'],
          [2, 'public.x.y'],
        ]),
      ],
    ]),
    columnsOf: new Map(),
  };
  assert.equal(resolveRowMask(plan([null, null]), [col(1, 1), col(1, 2)], cat), null);
});

test('strictness order null > redact > hash > partial', () => {
  const order: MaskStrategy[] = ['partial', 'hash', 'redact', 'null'];
  for (let i = 0; i < order.length; i++) {
    for (let j = 0; j < order.length; j++) assert.equal(stricter(order[i], order[j]), order[Math.max(i, j)]);
    assert.equal(stricter(order[i], null), order[i]);
    assert.equal(stricter(undefined, order[i]), order[i]);
  }
});

test('a `*` over unmasked relations does not let outputs be paired by count alone', () => {
  // SELECT t.*, lower(c.email) FROM t, customers c — if t expands to 1 column the counts match
  // (2 outputs, 2 fields) but field 0 is t's column and field 1 the masked expression.
  const p: MaskPlan = { columns, outputs: [null, 'partial'], needsRowDescription: false, hasStar: true, refuse: null };
  const fields = [col(ORDERS, 1, 'a'), expr('lower')];
  assert.deepEqual(resolveRowMask(p, fields, catalog), [null, 'partial']);
  // The same plan without the star flag would trust positions; with a shifted expansion that is a leak:
  // here the expression sits at position 0 and a star column at position 1.
  const shifted = [expr('lower'), col(ORDERS, 1, 'a')];
  assert.deepEqual(resolveRowMask(p, shifted, catalog), ['partial', null]);
});
