import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectorMatches } from './selector.ts';

const pod = { app: 'etl', tier: 'batch' };
// One row per case: [what, selector, matches?] (style.md §9, decisions as data).
const cases: [string, Parameters<typeof selectorMatches>[0], boolean][] = [
  ['no selector selects nothing', undefined, false],
  ['{} selects everything', {}, true],
  ['matchLabels equal', { matchLabels: { app: 'etl' } }, true],
  ['matchLabels different value', { matchLabels: { app: 'web' } }, false],
  ['matchLabels missing key', { matchLabels: { team: 'data' } }, false],
  ['In hit', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['batch', 'x'] }] }, true],
  ['In miss', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] }, false],
  ['In on a missing label', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
  [
    'In without values is invalid: no match',
    { matchExpressions: [{ key: 'tier', operator: 'In', values: [] }] },
    false,
  ],
  ['NotIn hit', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, true],
  ['NotIn miss', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['batch'] }] }, false],
  ['NotIn on a missing label matches', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
  ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
  ['Exists with values is invalid', { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['etl'] }] }, false],
  ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
  ['DoesNotExist on a present label', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
  ['unknown operator', { matchExpressions: [{ key: 'app', operator: 'Matches', values: ['e.*'] }] }, false],
  [
    'labels and expressions are ANDed',
    { matchLabels: { app: 'etl' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] },
    false,
  ],
  ['an inherited property is not a label', { matchLabels: { constructor: 'x' } }, false],
];
for (const [name, sel, want] of cases) test(name, () => assert.equal(selectorMatches(sel, pod), want));
