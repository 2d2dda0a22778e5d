// The analyzer's statement corpus, shared by analyze*.test.ts: a row is a statement with the pairs it must
// yield (every access, sorted) or UNSUPPORTED, and the facts beside them; testCorpus() makes each row a test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ColumnSource, SessionEffect } from '../types.ts';
import { analyze } from './analyze.ts';
import { accessesOf, reasonsOf } from './testing-facts.ts';

export interface Extra {
  command?: string;
  statements?: number;
  unfilteredWrite?: boolean;
  writes?: boolean;
  cacheable?: boolean;
  effects?: SessionEffect[];
  transaction?: boolean;
  prepares?: string;
  executes?: string;
  /** substring of an unsupported reason */
  reason?: string;
  outputs?: ColumnSource[];
}

export const UNSUPPORTED = 'unsupported' as const;
export type Row = readonly [string, string, readonly string[] | typeof UNSUPPORTED, Extra?];

export function testCorpus(cases: readonly Row[]): void {
  for (const [name, sql, want, extra] of cases) {
    test(name, () => {
      const a = analyze(sql);
      if (want === UNSUPPORTED) {
        const reasons = reasonsOf(a);
        assert.ok(reasons.length > 0, `expected a refusal for ${sql}, got ${JSON.stringify(a)}`);
        if (extra?.reason !== undefined)
          assert.ok(
            reasons.some((r) => r.includes(extra.reason!)),
            `reasons ${JSON.stringify(reasons)}`,
          );
        return;
      }
      assert.equal(a.error, null, `parse error: ${a.error}`);
      assert.deepEqual(reasonsOf(a), [], 'unsupported');
      assert.deepEqual(accessesOf(a), [...want].sort());
      const s = a.statements[a.statements.length - 1]!;
      if (extra === undefined) return;
      if (extra.statements !== undefined) assert.equal(a.statements.length, extra.statements);
      if (extra.command !== undefined) assert.equal(s.command, extra.command);
      if (extra.unfilteredWrite !== undefined)
        assert.equal(
          a.statements.some((x) => x.unfilteredWrite),
          extra.unfilteredWrite,
          'unfilteredWrite',
        );
      if (extra.writes !== undefined) assert.equal(s.writes, extra.writes, 'writes');
      if (extra.cacheable !== undefined) assert.equal(a.shapeCacheable, extra.cacheable, 'shapeCacheable');
      if (extra.effects !== undefined) assert.deepEqual(s.effects, extra.effects);
      if (extra.transaction !== undefined) assert.equal(s.transaction, extra.transaction);
      if (extra.prepares !== undefined) assert.equal(s.prepares, extra.prepares);
      if (extra.executes !== undefined) assert.equal(s.executes, extra.executes);
      if (extra.outputs !== undefined) assert.deepEqual(s.outputs, extra.outputs);
    });
  }
}
