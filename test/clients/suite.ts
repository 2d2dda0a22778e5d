// The node:test cases of one client of the differential harness: one test per scenario, plus the
// checks that hold for the whole transcript (pinned version, no raw masked value through the proxy).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { differential, SCENARIOS } from './harness.ts';
import type { Differential, Program, Scenario } from './harness.ts';
import { compareTranscripts, describe, rawValuesIn } from './compare.ts';
import { MASKED_VALUES } from './fixture.ts';
import { knownDifference } from './known-differences.ts';
import type { Client } from './known-differences.ts';

export interface ClientSpec {
  readonly client: Client;
  /** The driver version the program must report (the pin in its registry's lock file). */
  readonly version: string | RegExp;
  /** Scenarios this client runs; the rest of SCENARIOS are not applicable to it (docs/compatibility.md). */
  readonly scenarios: readonly Scenario[];
  readonly program: (paths: Record<string, string>) => Program;
}

export function clientSuite(spec: ClientSpec): void {
  let d: Differential;
  before(
    async () => {
      d = await differential(spec.client, spec.program);
    },
    { timeout: 900_000 },
  );

  test(`${spec.client}: the pinned driver ran, with the same transcript layout direct and through the proxy`, () => {
    if (typeof spec.version === 'string') assert.equal(d.direct.version, spec.version);
    else assert.match(d.direct.version, spec.version);
    assert.equal(d.proxy.version, d.direct.version);
    assert.deepEqual(
      Object.keys(d.direct.scenarios).sort(),
      [...spec.scenarios].sort(),
      'the program ran exactly its scenarios',
    );
    assert.deepEqual(Object.keys(d.proxy.scenarios).sort(), [...spec.scenarios].sort());
    for (const s of spec.scenarios) assert.ok(SCENARIOS.includes(s));
  });

  test(`${spec.client}: no raw value of the masked column leaves the proxy, in any scenario`, () => {
    assert.deepEqual(rawValuesIn(d.proxy, MASKED_VALUES), []);
    // …and the direct run really read them, so the check above means something.
    assert.deepEqual(rawValuesIn(d.direct.scenarios.masking, MASKED_VALUES).sort(), [...MASKED_VALUES.keys()].sort());
  });

  for (const scenario of spec.scenarios) {
    const known = knownDifference(spec.client, scenario);
    const title =
      known === undefined
        ? 'same results direct and through airlock proxy'
        : `known difference, ${known.bug.split(':')[0]}`;
    test(`${spec.client}: ${scenario} — ${title}`, () => {
      const direct = d.direct.scenarios[scenario];
      const proxy = d.proxy.scenarios[scenario];
      assert.ok(
        !isCrash(direct),
        `the scenario itself failed when run directly (a bug in the program):\n${JSON.stringify(direct)}`,
      );
      const { differences, masked } = compareTranscripts(direct, proxy, MASKED_VALUES);
      if (scenario === 'masking') assert.ok(masked > 0, 'no value was masked in the masking scenario');
      if (known === undefined) {
        assert.equal(
          differences.length,
          0,
          `${spec.client} ${scenario}: results differ through the proxy:\n${describe(differences)}\n--- proxy stderr (tail) ---\n${d.proxyLog.slice(-2000)}`,
        );
        return;
      }
      // A known difference (a bug being fixed elsewhere): it must still be there, and be that bug.
      // Once the fix lands this fails: delete the entry from known-differences.ts.
      assert.ok(
        differences.length > 0,
        `${spec.client} ${scenario}: the known difference "${known.bug}" no longer occurs: delete its entry in test/clients/known-differences.ts`,
      );
      const seen = JSON.stringify(differences.map((x) => ({ path: x.path, proxy: x.proxy })));
      assert.match(
        seen,
        known.evidence,
        `${spec.client} ${scenario}: differs, but not as the known bug "${known.bug}" does:\n${describe(differences)}`,
      );
    });
  }
}

/** A scenario that threw out of the program's own handling (the program records it as {"crash": …}). */
function isCrash(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && 'crash' in v;
}
