// pgx v5 (Go; the driver most platform tooling uses) through airlock proxy, differentially
// (test/clients/harness.ts, issue 12). Built by scripts/install-clients.sh from the Go module proxy.
import { clientSuite } from './suite.ts';

clientSuite({
  client: 'pgx',
  version: 'v5.13.0',
  scenarios: [
    'startup',
    'types_text',
    'types_binary',
    'prepared',
    'pipeline',
    'transactions',
    'errors_notices',
    'listen_notify',
    'backend_key',
    'cancel_timeout',
    'copy',
    'copy_in',
    'large_cursor',
    'pool_reconnect',
    'masking',
    'masked_copy_query',
    'masked_errors',
  ],
  program: (paths) => ({ cmd: paths.pgx!, args: [] }),
});
