// psycopg 3 through airlock proxy, differentially (test/clients/harness.ts, issue 12).
import { CLIENTS_DIR, SCENARIOS } from './harness.ts';
import { clientSuite } from './suite.ts';

clientSuite({
  client: 'psycopg',
  version: '3.3.9',
  scenarios: SCENARIOS,
  program: (paths) => ({ cmd: paths.python!, args: [`${CLIENTS_DIR}python/psycopg_scenarios.py`] }),
});
