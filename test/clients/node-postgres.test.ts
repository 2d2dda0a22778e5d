// node-postgres (`pg`, the pinned devDependency) through airlock proxy, differentially
// (test/clients/harness.ts, issue 12).
import { CLIENTS_DIR, ROOT } from './harness.ts';
import { clientSuite } from './suite.ts';

clientSuite({
  client: 'node-postgres',
  version: '8.23.1',
  // pg has no pipelining and no COPY of its own (that is pg-copy-streams); the rest is covered.
  scenarios: [
    'startup',
    'types_text',
    'types_binary',
    'prepared',
    'transactions',
    'errors_notices',
    'listen_notify',
    'backend_key',
    'cancel_timeout',
    'large_cursor',
    'pool_reconnect',
    'masking',
    'masked_errors',
  ],
  program: () => ({ cmd: 'sh', args: [`${ROOT}scripts/node24.sh`, `${CLIENTS_DIR}node/pg-scenarios.ts`] }),
});
