// Startup and login, the pure parts: the client's startup parameters, checked before anything is sent upstream,
// and the FATAL a failed upstream connection becomes. In the startup phase the client is not authenticated yet,
// so the error says what is wrong and the connection closes (session.ts runs the sockets and the login).
import { PgError } from '../wire/auth.ts';
import type { PgErrorFields } from '../wire/messages.ts';
import type { UpstreamTarget } from './shared.ts';

/** Startup parameters passed on to the upstream login; everything else the client sent is dropped. */
const PASS_PARAMS: ReadonlySet<string> = new Set([
  'application_name',
  'DateStyle',
  'TimeZone',
  'IntervalStyle',
  'extra_float_digits',
]);

/** The parameters for the upstream login, or the FATAL the client gets instead. */
export function startupParams(
  params: ReadonlyMap<string, string>,
  target: UpstreamTarget,
): Record<string, string> | PgErrorFields {
  if (params.has('replication')) {
    return { severity: 'FATAL', code: '08P01', message: 'replication connections are not allowed through Airlock' };
  }
  if (params.has('options')) {
    return {
      severity: 'FATAL',
      code: '42501',
      message:
        'the startup parameter "options" is not allowed through Airlock: -c options could set role or search_path and bypass policy',
      hint: 'Remove options= / PGOPTIONS and set session parameters with SQL instead.',
    };
  }
  const db = params.get('database') ?? '';
  if (db !== '' && db !== target.database && db !== target.binding) {
    return {
      severity: 'FATAL',
      code: '3D000',
      message: `database "${db}" is not served here: this Airlock proxy serves "${target.binding}" (database "${target.database}")`,
    };
  }
  const out: Record<string, string> = {};
  for (const [k, v] of params) if (PASS_PARAMS.has(k)) out[k] = v;
  if (out.application_name === undefined && params.has('fallback_application_name'))
    out.application_name = params.get('fallback_application_name')!;
  // The proxy pins client_encoding to UTF8 (its parser reads statements as UTF-8). A client asking for
  // another encoding gets UTF8 and is told so by ParameterStatus, as libpq expects.
  out.client_encoding = 'UTF8';
  return out;
}

/**
 * Why the upstream connection could not be opened, for the client (a FATAL) and the event log: the connect
 * deadline (`timedOutMs`, when it fired) whatever failed underneath, the server's own refusal, or the error.
 */
export function upstreamFailure(
  err: Error,
  t: UpstreamTarget,
  timedOutMs: number | null,
): { event: string; log: string; fields: PgErrorFields } {
  if (timedOutMs !== null) {
    return {
      event: 'upstream_timeout',
      log: `airlock: upstream ${t.host}:${t.port} did not answer within ${timedOutMs} ms (connect + login)`,
      fields: {
        severity: 'FATAL',
        code: '08006',
        message: `Airlock could not open the upstream connection for "${t.binding}": ${t.host}:${t.port} did not complete connect and login within ${timedOutMs} ms`,
        hint: "The database server is unreachable or not answering; the proxy's limit is --upstream-connect-timeout.",
      },
    };
  }
  if (err instanceof PgError) {
    // The server refused the login with its own SQLSTATE (53300 too many connections, 57P03 starting up or
    // shutting down, 28P01, 3D000, …): pass code and message through, so drivers' and pools' retry logic
    // sees what PostgreSQL said rather than a generic 08006 (issue 15).
    const f: PgErrorFields = { severity: 'FATAL', code: err.code, message: err.fields.get('M') ?? err.message };
    f.detail =
      err.detail ?? `Airlock's login to the upstream server ${t.host}:${t.port} for "${t.binding}" was refused.`;
    if (err.hint !== undefined) f.hint = err.hint;
    return {
      event: 'upstream_login_refused',
      log: `airlock: upstream ${t.host}:${t.port} refused the login: ${err.code} ${err.fields.get('M') ?? ''}`,
      fields: f,
    };
  }
  return {
    event: 'upstream_failed',
    log: `airlock: upstream ${t.host}:${t.port} failed: ${err.message}`,
    fields: {
      severity: 'FATAL',
      code: '08006',
      message: `Airlock could not open the upstream connection for "${t.binding}": ${err.message}`,
    },
  };
}
