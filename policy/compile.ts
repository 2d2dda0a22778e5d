// Policy compilation, in two steps:
//   compile(policies, generation) → CompiledPolicySet: plain JSON, defaults applied, ALL expanded,
//     durations in ms. The operator computes it once per generation and pushes it over gRPC.
//   selectFor(set, identity, database) → Selected (select.ts, re-exported here): the policies that apply to one
//     identity on one database, turned into per-operation arrays of precompiled matchers, so decide() is a few
//     array and map reads. One per session (or per identity+database); never sent anywhere.
import { parseDuration } from './duration.ts';
import { parseColumnName } from './glob.ts';
import { CONCRETE_OPERATIONS, DEFAULT_HOLD_TIMEOUT_MS, DEFAULT_MAX_DURATION_MS, stricter } from './select.ts';
import type {
  AccessPolicy,
  CompiledPolicy,
  CompiledPolicySet,
  CompiledRule,
  MaskStrategy,
  Rule,
  Subject,
} from './types.ts';
import { formatIssues, validate } from './validate.ts';

export {
  CONCRETE_OPERATIONS,
  DEFAULT_HOLD_TIMEOUT_MS,
  DEFAULT_MAX_DURATION_MS,
  matchersOf,
  policyApplies,
  selectFor,
  stricter,
} from './select.ts';
export type { MaskIndex, OpRules, RuleRef, Selected, View } from './select.ts';

export class PolicyCompileError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`policy does not compile:\n  ${issues.join('\n  ')}`);
    this.name = 'PolicyCompileError';
    this.issues = issues;
  }
}

/** `namespace/name` when the policy has a namespace (cluster mode), else `name`. */
export function policyName(policy: { metadata: { name: string; namespace?: string } }): string {
  return policy.metadata.namespace === undefined
    ? policy.metadata.name
    : `${policy.metadata.namespace}/${policy.metadata.name}`;
}

export function compileRule(rule: Rule): CompiledRule {
  const ops = rule.operations.includes('ALL')
    ? CONCRETE_OPERATIONS
    : CONCRETE_OPERATIONS.filter((operation) => rule.operations.includes(operation));
  // A rule that names only functions does not reach relations (its tables are "none"), so
  // `{operations: [ALL], functions: [public.f]}` cannot open every table. For CALL pairs a rule
  // without functions uses its tables globs (a schema.name glob names functions just as well).
  // Channels likewise: a rule that names tables or functions reaches no channel unless it names channels
  // too, so `{operations: [ALL], tables: [scratch.*]}` cannot notify every listener.
  return {
    name: rule.name,
    effect: rule.effect,
    operations: ops,
    tables:
      rule.tables !== undefined
        ? [...rule.tables]
        : rule.functions !== undefined || rule.channels !== undefined
          ? []
          : null,
    functions:
      rule.functions !== undefined
        ? [...rule.functions]
        : rule.tables !== undefined
          ? [...rule.tables]
          : rule.channels !== undefined
            ? []
            : null,
    channels:
      rule.channels !== undefined
        ? [...rule.channels]
        : rule.tables !== undefined || rule.functions !== undefined
          ? []
          : null,
  };
}

function withNamespace(subject: Subject, namespace: string | undefined): Subject {
  if (subject.kind !== 'ServiceAccount' || subject.namespace !== undefined || namespace === undefined)
    return { ...subject };
  return { ...subject, namespace };
}

/**
 * Compile validated policies. Throws PolicyCompileError (every issue of every policy) when one does
 * not validate: a half-understood policy must never be enforced (the caller keeps its last good set).
 */
export function compile(policies: readonly AccessPolicy[], generation: number): CompiledPolicySet {
  const problems: string[] = [];
  for (const policy of policies) problems.push(...formatIssues('', policy, validate(policy)));
  if (problems.length > 0) throw new PolicyCompileError(problems);
  const out: CompiledPolicy[] = policies.map((policy) => {
    const ns = policy.metadata.namespace;
    const spec = policy.spec;
    const masking: Record<string, MaskStrategy> = {};
    for (const maskRule of spec.masking ?? []) {
      for (const column of maskRule.columns) {
        const key = (parseColumnName(column) as [string, string, string]).join('.');
        masking[key] = stricter(masking[key], maskRule.strategy);
      }
    }
    const approval = spec.approval;
    return {
      name: policyName(policy),
      mode: spec.mode ?? 'enforce',
      subjects: spec.subjects.map((subject) => withNamespace(subject, ns)),
      databases: [...spec.databases],
      rules: spec.rules.map(compileRule),
      masking,
      blockUnfilteredWrites: spec.guardrails?.blockUnfilteredWrites ?? false,
      maxAffectedRows: spec.guardrails?.maxAffectedRows ?? null,
      approval:
        approval === undefined
          ? null
          : {
              approvers: approval.approvers.map((subject) => withNamespace(subject, ns)),
              minApprovals: approval.minApprovals ?? 1,
              maxDurationMs:
                approval.maxDuration === undefined
                  ? DEFAULT_MAX_DURATION_MS
                  : (parseDuration(approval.maxDuration) as number),
              holdTimeoutMs:
                approval.holdTimeout === undefined
                  ? DEFAULT_HOLD_TIMEOUT_MS
                  : (parseDuration(approval.holdTimeout) as number),
            },
    };
  });
  return { generation, policies: out };
}
