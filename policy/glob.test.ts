import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileGlob, isExact, nameMatches, parseColumnName, splitName } from './glob.ts';
import { dangerousFunction } from './dangerous.ts';

test('glob matching, one row per case', () => {
  const rows: [string, string, string, boolean][] = [
    ['*', 'any', 'thing', true],
    ['public.*', 'public', 'orders', true],
    ['public.*', 'private', 'orders', false],
    ['*.orders', 'sales', 'orders', true],
    ['*.orders', 'sales', 'orders_2024', false],
    ['public.orders', 'public', 'orders', true],
    ['PUBLIC.Orders', 'public', 'orders', true], // unquoted glob parts fold to lower case
    ['"Sales"."Orders"', 'Sales', 'Orders', true], // quoted parts keep their case
    ['"Sales"."Orders"', 'sales', 'orders', false],
    ['"a*b".x', 'a*b', 'x', true], // no wildcard inside quotes
    ['"a*b".x', 'axb', 'x', false],
    ['public.orders_*', 'public', 'orders_2024', true],
    ['public.orders_*', 'public', 'orders', false],
    ['public.*_archive', 'public', 'orders_archive', true],
    ['public.a*b*c', 'public', 'aXbYc', true],
    ['public.a*b*c', 'public', 'acb', false],
    ['public.a*a', 'public', 'a', false],
    ['*.*', 'x', 'y', true],
    ['pub*.*', 'public', 'x', true],
  ];
  for (const [glob, schema, name, want] of rows) {
    const m = compileGlob(glob);
    assert.ok(m, glob);
    assert.equal(nameMatches(m, schema, name), want, `${glob} vs ${schema}.${name}`);
  }
});

test('malformed globs are rejected', () => {
  for (const g of ['orders', 'a.b.c', '.orders', 'public.', 'a..b', '"open.x', 'a b.c', '', '"".x']) {
    assert.equal(compileGlob(g), null, g);
  }
});

test('exactness and names', () => {
  assert.equal(isExact(compileGlob('pg_catalog.pg_read_file')!), true);
  assert.equal(isExact(compileGlob('pg_catalog.*')!), false);
  assert.deepStrictEqual(splitName('"my.schema".t', 2), { parts: ['my.schema', 't'], quoted: [true, false] });
  assert.deepStrictEqual(splitName('"a""b".t', 2), { parts: ['a"b', 't'], quoted: [true, false] });
  assert.deepStrictEqual(parseColumnName('Public.Customers.Email'), ['public', 'customers', 'email']);
  assert.equal(parseColumnName('public.customers.*'), null);
  assert.equal(parseColumnName('customers.email'), null);
});

test('dangerous function list', () => {
  const rows: [string, string | null][] = [
    ['pg_read_file', 'a server filesystem function'],
    ['pg_ls_waldir', 'a server filesystem function'],
    ['lo_export', 'a large-object function'],
    ['dblink_connect', 'a network function (dblink)'],
    ['pg_create_logical_replication_slot', 'a replication function'],
    ['query_to_xml_and_xmlschema', 'a function that runs SQL given as a string'],
    ['pg_sleep_for', 'a sleep function'],
    ['set_config', null], // decided as SET name (issue 12)
    ['current_setting', null],
    ['now', null],
    ['pg_ls', null],
  ];
  for (const [name, want] of rows) assert.equal(dangerousFunction(name), want, name);
});
