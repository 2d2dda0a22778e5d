// pgJDBC (Java; Spark, Flink, Airflow's JVM side, every JVM service) through airlock proxy, differentially
// (test/clients/harness.ts, issue 12). Fetched from Maven Central and compiled by scripts/install-clients.sh.
import { clientSuite } from './suite.ts';

clientSuite({
  client: 'pgjdbc',
  version: '42.7.14',
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
    'large_cursor',
    'pool_reconnect',
    'masking',
    'masked_copy_query',
    'masked_errors',
  ],
  // UTC so timestamps print the same whatever the machine's zone (both runs use the same JVM settings anyway).
  program: (paths) => ({
    cmd: 'java',
    args: ['-Duser.timezone=UTC', '-Xshare:auto', '-XX:TieredStopAtLevel=1', '-cp', paths.jdbc!, 'Scenarios'],
  }),
});
