// The policy of issue 12's scenario: everything on public.* allowed, one masked column (customers.email, partial),
// no guardrails (a maxAffectedRows guard holds the client around writes, which hid the COPY FROM hang), DDL and
// DROP only on public.scratch*, user functions and pg_sleep callable. Used with startHarness({ policy }).
export const OPEN_POLICY = `
apiVersion: airlock.dev/v1alpha1
kind: AccessPolicy
metadata: { name: open, namespace: team }
spec:
  subjects: [{ kind: ServiceAccount, name: trainer, namespace: team }]
  databases: [shop]
  rules:
    - { name: public-data, effect: allow, operations: [SELECT, INSERT, UPDATE, DELETE, COPY_TO, COPY_FROM], tables: ["public.*"] }
    - { name: scratch, effect: allow, operations: [DDL, DROP], tables: ["public.scratch*"] }
    - { name: functions, effect: allow, operations: [CALL], functions: ["pg_catalog.pg_sleep", "public.*"] }
  masking:
    - { columns: ["public.customers.email"], strategy: partial }
`;
