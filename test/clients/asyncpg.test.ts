// asyncpg (binary protocol, statement cache, its own COPY) through airlock proxy, differentially
// (test/clients/harness.ts, issue 12).
import { CLIENTS_DIR, SCENARIOS } from './harness.ts';
import { clientSuite } from './suite.ts';

clientSuite({
  client: 'asyncpg',
  version: '0.32.0',
  scenarios: SCENARIOS,
  program: (paths) => ({ cmd: paths.python!, args: [`${CLIENTS_DIR}python/asyncpg_scenarios.py`] }),
});
