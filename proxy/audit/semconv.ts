// Every attribute name the audit spans carry, in one place, as
// open-telemetry/opentelemetry-js-contrib/packages/instrumentation-pg/src/semconv.ts keeps them.
// db.*, server.*, client.*, error.type and service.* are the stable OpenTelemetry semantic conventions
// (database spans, semconv 1.33+: `db.system.name`, `db.query.text`, `db.response.status_code`);
// airlock.* are ours and named exactly as design.md "Audit spans" lists them.

export const ATTR_DB_SYSTEM_NAME = 'db.system.name';
export const DB_SYSTEM_NAME_VALUE_POSTGRESQL = 'postgresql';
export const ATTR_DB_NAMESPACE = 'db.namespace';
export const ATTR_DB_OPERATION_NAME = 'db.operation.name';
export const ATTR_DB_COLLECTION_NAME = 'db.collection.name';
export const ATTR_DB_QUERY_TEXT = 'db.query.text';
/** The SQLSTATE of a failed statement; absent on success (semconv: "db.response.status_code"). */
export const ATTR_DB_RESPONSE_STATUS_CODE = 'db.response.status_code';
/** semconv: set to the SQLSTATE when the operation failed. */
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_CLIENT_ADDRESS = 'client.address';

export const ATTR_SERVICE_NAME = 'service.name';
export const ATTR_SERVICE_INSTANCE_ID = 'service.instance.id';

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

/** The instrumentation scope every audit span is exported under. */
export const SCOPE_NAME = 'airlock.dev/audit';
