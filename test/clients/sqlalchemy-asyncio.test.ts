// SQLAlchemy 2 (asyncio engine, asyncpg underneath), Core and ORM, through airlock proxy,
// differentially (test/clients/harness.ts, issue 12).
import { CLIENTS_DIR } from './harness.ts';
import { clientSuite } from './suite.ts';

clientSuite({
  client: 'sqlalchemy-asyncio',
  version: '2.1.9',
  // Driver-level features (LISTEN/NOTIFY, cancel, COPY, binary format) are the driver's own suite's.
  scenarios: [
    'startup',
    'types_text',
    'prepared',
    'pipeline',
    'transactions',
    'errors_notices',
    'cancel_timeout',
    'large_cursor',
    'pool_reconnect',
    'masking',
    'masked_errors',
  ],
  program: (paths) => ({ cmd: paths.python!, args: [`${CLIENTS_DIR}python/sqlalchemy_scenarios.py`, 'asyncio'] }),
});
