// Differences between a client's direct and proxied transcripts that are known: what the security model
// changes on purpose. Keyed by (client,
// scenario), with the reason named and a pattern the difference must match, so a different failure in
// the same scenario is still caught. An entry whose difference no longer occurs fails its test: delete
// it. docs/compatibility.md explains each. (The five bugs of issue 12 and the proxy's own backend pid, which this list first held, are fixed.)
import type { Scenario } from './harness.ts';

export type Client =
  | 'psql'
  | 'node-postgres'
  | 'psycopg'
  | 'asyncpg'
  | 'sqlalchemy'
  | 'sqlalchemy-asyncio'
  | 'pgjdbc'
  | 'pgx';

export interface KnownDifference {
  readonly client: Client;
  readonly scenario: Scenario;
  /** Why it differs, in one line. */
  readonly bug: string;
  /** Must match the JSON of the differences' paths and proxy sides. */
  readonly evidence: RegExp;
}

// By design (documented in docs/masking.md, docs/threat-model.md and docs/compatibility.md): what the security
// model changes on purpose, recorded so that any other difference in the same scenario still fails.
const MASKED_MESSAGES =
  'by design: in a statement that reads masked columns, values in errors and notices are hidden (Key (email)=(***), "***"), and a RAISE text from user code is replaced, since it may hold masked values';
const EMPTY_PAYLOADS =
  'by design: an identity with masking in force receives NOTIFY payloads empty (channel and sender kept): the proxy cannot tell what another session or a trigger put in one';
const SYNTAX_42501 =
  'by design: a statement the analyzer cannot parse is denied (42501) before it reaches PostgreSQL, which would have said 42601';

const ERRORS = /\*\*\*|message hidden by Airlock/;

function each(clients: readonly Client[], scenario: Scenario, bug: string, evidence: RegExp): KnownDifference[] {
  return clients.map((client) => ({ client, scenario, bug, evidence }));
}

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  ...each(['psycopg', 'asyncpg', 'node-postgres', 'pgx', 'pgjdbc', 'psql'], 'masked_errors', MASKED_MESSAGES, ERRORS),
  ...each(
    ['psycopg', 'asyncpg', 'node-postgres', 'pgx', 'pgjdbc', 'psql'],
    'listen_notify',
    EMPTY_PAYLOADS,
    /payload|Asynchronous notification \\"[^\\]*\\" received/,
  ),
  ...each(['psycopg'], 'errors_notices', SYNTAX_42501, /42501|InsufficientPrivilege/),
];

export function knownDifference(client: Client, scenario: Scenario): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find((k) => k.client === client && k.scenario === scenario);
}
