// withExecuted, the facts Gate.check hands the session, and one normalize per cache miss (the end-to-end cases
// are in test/proxy/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionContext, StatementFacts } from '../../policy/types.ts';
import { compile } from '../../policy/compile.ts';
import { makeIdentity } from '../../policy/identity.ts';
import { loadAnalyzer } from './analyzer.ts';
import { Gate, policyState, withExecuted, type Analyzer } from './gate.ts';

const base: StatementFacts = {
  tag: 'SelectStmt',
  command: 'SELECT',
  accesses: [],
  unsupported: [],
  effects: [],
  unfilteredWrite: false,
  writes: false,
  outputs: [],
  copyTo: null,
  transaction: false,
  executes: null,
  prepares: null,
};
const stored: StatementFacts = {
  ...base,
  accesses: [{ operation: 'SELECT', relation: { schema: 'public', name: 'orders' }, kind: 'relation' }],
  outputs: [{ kind: 'column', relation: { schema: 'public', name: 'orders' }, column: 'id' }],
};

test('a plain EXECUTE runs with the prepared facts unchanged', () => {
  const outer: StatementFacts = { ...base, tag: 'ExecuteStmt', command: 'EXECUTE', executes: 'p' };
  assert.equal(withExecuted(outer, stored), stored);
});

test('CREATE TABLE … AS EXECUTE keeps its own DDL pair beside the prepared reads', () => {
  const outer: StatementFacts = {
    ...base,
    tag: 'CreateTableAsStmt',
    command: 'CREATE TABLE AS',
    executes: 'p',
    accesses: [{ operation: 'DDL', relation: { schema: 'public', name: 'evil' }, kind: 'relation' }],
  };
  const f = withExecuted(outer, stored);
  assert.deepEqual(
    f.accesses.map((a) => `${a.operation} ${a.relation.name}`),
    ['DDL evil', 'SELECT orders'],
  );
  assert.equal(f.command, 'CREATE TABLE AS');
  assert.equal(f.executes, null);
});

test('arguments that read tables make the prepared outputs opaque', () => {
  const outer: StatementFacts = {
    ...base,
    tag: 'ExecuteStmt',
    command: 'EXECUTE',
    executes: 'p',
    accesses: [{ operation: 'CALL', relation: { schema: 'public', name: 'lookup' }, kind: 'function' }],
  };
  const f = withExecuted(outer, stored);
  assert.deepEqual(f.outputs, [{ kind: 'opaque' }]);
  assert.equal(f.accesses.length, 2);
});

test('unsupported and effects of the outer statement are kept', () => {
  const outer: StatementFacts = {
    ...base,
    tag: 'ExplainStmt',
    command: 'EXPLAIN',
    executes: 'p',
    unsupported: ['x'],
    effects: [{ kind: 'role' }],
  };
  const f = withExecuted(outer, stored);
  assert.deepEqual(f.unsupported, ['x']);
  assert.deepEqual(f.effects, [{ kind: 'role' }]);
});

test('arguments that read tables make what the prepared statement stores or notifies untraceable (issue 11)', () => {
  const param = { kind: 'derived', from: [] } as const;
  const p: StatementFacts = { ...stored, written: [param], notified: [param] };
  const outer: StatementFacts = {
    ...base,
    tag: 'ExecuteStmt',
    command: 'EXECUTE',
    executes: 'p',
    accesses: [{ operation: 'SELECT', relation: { schema: 'public', name: 'customers' }, kind: 'relation' }],
  };
  const f = withExecuted(outer, p);
  assert.deepEqual(f.written, [{ kind: 'opaque' }]);
  assert.deepEqual(f.notified, [{ kind: 'opaque' }]);
  // constant arguments read nothing: the prepared lineage stands
  assert.equal(withExecuted({ ...base, tag: 'ExecuteStmt', command: 'EXECUTE', executes: 'p' }, p), p);
});

test('a cache miss normalizes once: analyze is handed the shape key the lookup computed', async () => {
  const real = await loadAnalyzer();
  const handed: (string | undefined)[] = [];
  let normalizes = 0;
  const counting: Analyzer = {
    analyze(sql, normalized) {
      handed.push(normalized);
      return real.analyze(sql, normalized);
    },
    normalize(sql) {
      normalizes++;
      return real.normalize!(sql);
    },
  };
  const ctx: SessionContext = {
    identity: makeIdentity('alice', []),
    database: 'orders',
    searchPath: ['public'],
    catalogRelations: new Set(),
    catalogFunctions: new Set(),
    grants: [],
  };
  const gate = new Gate(policyState(compile([], 1), counting), ctx);
  const checked = gate.check('select total from orders where id = 42', new Map());
  assert.equal(normalizes, 1);
  assert.deepEqual(handed, ['select total from orders where id = $1']);
  assert.equal(checked.analysis.normalized, 'select total from orders where id = $1');
  // Text normalize gives no key for (not SQL): analyze normalizes it itself, and reports it.
  const junk = gate.check('selec 1', new Map());
  assert.deepEqual(handed.slice(1), [undefined]);
  assert.notEqual(junk.analysis.error, null);
});

test("Gate.check hands the session the facts each decision was made on: an EXECUTE's merged, the rest as analysed", async () => {
  const { loadAnalyzer } = await import('./analyzer.ts');
  const { Gate, policyState } = await import('./gate.ts');
  const { compile } = await import('../../policy/compile.ts');
  const { makeIdentity } = await import('../../policy/identity.ts');
  const gate = new Gate(policyState(compile([], 1), await loadAnalyzer()), {
    identity: makeIdentity('alice'),
    database: 'shop',
    searchPath: ['public'],
    catalogRelations: new Set(),
    catalogFunctions: new Set(),
    grants: [],
  });
  const plain = gate.check('SELECT 1; SELECT 2', new Map());
  assert.equal(plain.facts, plain.analysis.statements, 'no EXECUTE: the analysed facts themselves, nothing allocated');
  const prepared = new Map([['p', stored]]);
  const c = gate.check('SELECT 1; EXECUTE p', prepared);
  assert.equal(c.facts.length, 2);
  assert.equal(c.facts[0], c.analysis.statements[0]);
  assert.equal(c.facts[1], stored, 'a plain EXECUTE runs with the prepared facts');
  const missing = gate.check('EXECUTE q', prepared);
  assert.equal(
    missing.facts[0],
    missing.analysis.statements[0],
    'an EXECUTE of an unknown statement keeps its own facts (and is denied)',
  );
  assert.notEqual(missing.denied, null);
});
