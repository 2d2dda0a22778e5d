// psql (libpq; Debian's postgresql-client, installed with the server by scripts/ensure-postgres.sh)
// through airlock proxy, differentially: stdout, stderr and exit status of each script
// (test/clients/harness.ts, issue 12).
import { CLIENTS_DIR, ROOT } from './harness.ts';
import { clientSuite } from './suite.ts';

clientSuite({
  client: 'psql',
  // Debian bookworm's package; the pin is the distribution's (apt installs its current 15.x).
  version: /^psql \(PostgreSQL\) 15\.\d+/,
  // psql reads only text results and has no pipeline (before 18) and no pool; the rest is covered.
  scenarios: [
    'startup',
    'types_text',
    'prepared',
    'transactions',
    'errors_notices',
    'listen_notify',
    'cancel_timeout',
    'copy',
    'large_cursor',
    'pool_reconnect',
    'masking',
    'masked_copy_query',
    'masked_errors',
  ],
  program: () => ({ cmd: 'sh', args: [`${ROOT}scripts/node24.sh`, `${CLIENTS_DIR}psql/scenarios.ts`] }),
});
