// `airlock proxy --operator ADDR --binding NS/NAME …`: the proxy in sidecar mode (proxy/sidecar.ts), with
// the arguments operator/webhook/inject.ts gives the injected container.
import { parseArgs } from 'node:util';
import { loadAnalyzer } from '../proxy/enforce/analyzer.ts';
import { runSidecarProxy } from '../proxy/sidecar.ts';
import type { SidecarOptions } from '../proxy/sidecar.ts';
import { LIMIT_FLAGS, LIMIT_HELP, parseLimitFlags } from '../proxy/run.ts';

export const SIDECAR_HELP = `usage: airlock proxy --operator HOST:PORT --binding NS/NAME --token-file FILE [options]

Sidecar mode, as the Airlock webhook injects it: policy, endpoint and credentials come from the operator.

  --operator HOST:PORT      the operator's PolicyDistribution gRPC service; TLS verified with the CA in env
                            AIRLOCK_OPERATOR_CA (plaintext when it is unset: local runs and tests only)
  --binding NS/NAME         the DatabaseBinding this sidecar serves
  --token-file FILE         projected ServiceAccount token, audience "airlock" (re-read at every connect);
                            its ServiceAccount is the identity every session acts as
  --listen HOST:PORT        where the application connects (default 127.0.0.1:6432). Not listening until
                            the first policy arrives: connections are refused until then (pools retry)
  --health-listen HOST:PORT /readyz (200 once a policy is held) and /healthz
  --metrics                 also serve Prometheus metrics at GET /metrics on the --health-listen address
                            (statements by decision, analysis and upstream time, connections, policy
                            generation, audit spool); off by default: prom-client costs idle memory
  --spool-dir DIR, --audit-spool DIR
                            spool directory for audit spans
  --audit-endpoint URL      OTLP endpoint, overriding the binding's spec.audit.otlpEndpoint
  --max-statement-bytes N   refuse Query/Parse text larger than N bytes with 54000 (default 1048576)
${LIMIT_HELP}
Exits 0 when the operator says so (binding deleted, or the pod's application containers have finished).
`;

export async function sidecarCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: {
      operator: { type: 'string' },
      binding: { type: 'string' },
      'token-file': { type: 'string' },
      listen: { type: 'string' },
      'health-listen': { type: 'string' },
      'spool-dir': { type: 'string' },
      'audit-spool': { type: 'string' },
      'audit-endpoint': { type: 'string' },
      'max-statement-bytes': { type: 'string' },
      metrics: { type: 'boolean' },
      help: { type: 'boolean' },
      ...LIMIT_FLAGS,
    },
  });
  if (values.help === true) {
    process.stdout.write(SIDECAR_HELP);
    return 0;
  }
  const missing = [
    values.operator === undefined ? '--operator HOST:PORT' : null,
    values.binding === undefined ? '--binding NS/NAME' : null,
    values['token-file'] === undefined ? '--token-file FILE' : null,
  ].filter((x) => x !== null);
  if (missing.length > 0) {
    process.stderr.write(`airlock proxy: missing ${missing.join(', ')}\n\n${SIDECAR_HELP}`);
    return 2;
  }
  if (values.metrics === true && values['health-listen'] === undefined) {
    process.stderr.write(
      'airlock proxy: --metrics serves /metrics on the health listener: give --health-listen HOST:PORT too\n',
    );
    return 2;
  }
  let maxStatementBytes: number | undefined;
  if (values['max-statement-bytes'] !== undefined) {
    maxStatementBytes = Number(values['max-statement-bytes']);
    if (!Number.isInteger(maxStatementBytes) || maxStatementBytes < 1) {
      process.stderr.write('airlock proxy: --max-statement-bytes must be a positive integer\n');
      return 2;
    }
  }
  const spool = values['spool-dir'] ?? values['audit-spool'];
  const ca = process.env['AIRLOCK_OPERATOR_CA'];
  let limits;
  try {
    limits = parseLimitFlags(values);
  } catch (e) {
    process.stderr.write(`airlock proxy: ${(e as Error).message}\n`);
    return 2;
  }
  const opts: SidecarOptions = {
    ...limits,
    operator: values.operator!,
    binding: values.binding!,
    tokenFile: values['token-file']!,
    ...(values.listen === undefined ? {} : { listen: values.listen }),
    ...(values['health-listen'] === undefined ? {} : { healthListen: values['health-listen'] }),
    ...(values.metrics === true ? { metrics: true } : {}),
    ...(spool === undefined ? {} : { auditSpool: spool }),
    ...(values['audit-endpoint'] === undefined ? {} : { auditEndpoint: values['audit-endpoint'] }),
    ...(maxStatementBytes === undefined ? {} : { maxStatementBytes }),
    ...(ca === undefined || ca === '' ? {} : { operatorCaPem: ca }),
  };
  const log = (m: string): void => {
    process.stderr.write(`${m}\n`);
  };
  if (opts.operatorCaPem === undefined)
    log('airlock: AIRLOCK_OPERATOR_CA is not set: talking to the operator WITHOUT TLS (tests and local runs only)');
  let running;
  try {
    running = await runSidecarProxy(opts, await loadAnalyzer(), log);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  if (running.health !== null)
    log(
      `airlock: health on ${running.health.host}:${running.health.port}${opts.metrics === true ? ' (/readyz, /healthz, /metrics)' : ''}`,
    );
  const signalled = new Promise<number>((resolve) => {
    const stop = (): void => {
      void running.stop().then(
        () => resolve(0),
        () => resolve(0),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return Promise.race([
    signalled,
    running.done.then((d) => {
      log(`airlock: exiting: ${d.reason}`);
      return d.code;
    }),
  ]);
}
