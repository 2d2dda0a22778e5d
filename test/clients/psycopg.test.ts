// psycopg 3 through airlock proxy, differentially (test/clients/harness.ts, issue 12).
import { CLIENTS_DIR, SCENARIOS } from './harness.ts';
import { clientSuite } from './suite.ts';

clientSuite({
  client: 'psycopg',
  version: '3.3.9',
  // copy_in and pool_reset are asyncpg's APIs; psycopg's COPY FROM is part of `copy`.
  scenarios: SCENARIOS.filter((s) => s !== 'copy_in' && s !== 'pool_reset'),
  program: (paths) => ({ cmd: paths.python!, args: [`${CLIENTS_DIR}python/psycopg_scenarios.py`] }),
});
