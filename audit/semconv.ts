// Every attribute name the audit spans carry, in one place, as
// open-telemetry/opentelemetry-js-contrib/packages/instrumentation-pg/src/semconv.ts keeps them.
// db.*, server.*, client.*, error.type and service.* are the stable OpenTelemetry semantic conventions
// (database spans, semconv 1.33+: `db.system.name`, `db.query.text`, `db.response.status_code`);
// airlock.* are ours and named exactly as design.md "Audit spans" lists them.

// The stable names come from the OpenTelemetry package itself, so a typo cannot ship.
export {
  ATTR_CLIENT_ADDRESS,
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  /** The SQLSTATE of a failed statement; absent on success. */
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
  /** Set to the SQLSTATE when the operation failed. */
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_SERVICE_NAME,
} from '@opentelemetry/semantic-conventions';

export const ATTR_AIRLOCK_SUBJECT = 'airlock.subject';
export const ATTR_AIRLOCK_POLICY = 'airlock.policy';
export const ATTR_AIRLOCK_RULE = 'airlock.rule';
/** allow | deny | approve | warn */
export const ATTR_AIRLOCK_DECISION = 'airlock.decision';
/** string array of "schema.table.column" */
export const ATTR_AIRLOCK_MASKED_COLUMNS = 'airlock.masked_columns';
export const ATTR_AIRLOCK_ROWS = 'airlock.rows';
export const ATTR_AIRLOCK_ACCESS_REQUEST = 'airlock.access_request';
export const ATTR_AIRLOCK_REASON = 'airlock.reason';
export const ATTR_AIRLOCK_ROLLED_BACK = 'airlock.rolled_back';
/** Set (true) only when db.query.text was cut to the exporter's byte limit. */
export const ATTR_AIRLOCK_QUERY_TEXT_TRUNCATED = 'airlock.query_text_truncated';
// Session span only.
export const ATTR_AIRLOCK_BINDING = 'airlock.binding';
export const ATTR_AIRLOCK_SESSION_ID = 'airlock.session.id';
export const ATTR_AIRLOCK_STATEMENTS = 'airlock.statements';
