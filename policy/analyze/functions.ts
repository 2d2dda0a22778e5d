// Functions the analyzer must look inside, and built-ins known not to read tables.
// Only unqualified or pg_catalog-qualified calls match these tables: pg_catalog is searched before
// any schema on search_path unless it is listed explicitly (PostgreSQL docs, "The Schema Search
// Path"), and the enforcement layer controls SET search_path.

/** Sequence functions take the sequence as a regclass: a relation name in a string (a regclass in disguise). */
export const SEQUENCE_FUNCTIONS: ReadonlyMap<string, 'UPDATE' | 'SELECT'> = new Map([
  ['nextval', 'UPDATE'], ['setval', 'UPDATE'], ['currval', 'SELECT'],
]);

/** Read a whole table named by their first (regclass) argument: table_to_xml(tbl regclass, …). */
export const TABLE_READERS: ReadonlySet<string> = new Set([
  'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema',
]);

/** Run the SQL text in the given argument position (src/backend/utils/adt/xml.c query_to_xml; tsvector_op.c ts_stat, ts_rewrite). */
export const QUERY_RUNNERS: ReadonlyMap<string, { readonly arg: number; readonly arity: number | null }> = new Map([
  ['query_to_xml', { arg: 0, arity: null }],
  ['query_to_xmlschema', { arg: 0, arity: null }],
  ['query_to_xml_and_xmlschema', { arg: 0, arity: null }],
  ['ts_stat', { arg: 0, arity: null }],
  ['ts_rewrite', { arg: 1, arity: 2 }], // only the two-argument form takes a query
]);

/** Read every table of a schema or database: no single relation to check. */
export const BULK_READERS: ReadonlySet<string> = new Set([
  'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema',
  'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema',
]);

/** Setting functions: their name argument is a name, so the literal decides the verdict. */
export const SETTING_FUNCTIONS: ReadonlySet<string> = new Set(['set_config', 'current_setting']);

/**
 * Settings PostgreSQL shows only to superusers and members of pg_read_all_settings (GUC_SUPERUSER_ONLY;
 * PostgreSQL 15–18). The binding's role may be a superuser, so `SHOW` and `current_setting()` of these
 * are refused: primary_conninfo can hold a password, the rest map the server's files. Found by the
 * privilege oracle (test/oracle), which lists them from the server it runs against.
 */
export const SUPERUSER_ONLY_SETTINGS: ReadonlySet<string> = new Set([
  'config_file', 'data_directory', 'dynamic_library_path', 'extension_destdir', 'external_pid_file', 'hba_file',
  'ident_file', 'jit_provider', 'krb_server_keyfile', 'log_directory', 'log_filename', 'primary_conninfo',
  'session_preload_libraries', 'shared_preload_libraries', 'ssl_ciphers', 'ssl_dh_params_file', 'ssl_ecdh_curve',
  'ssl_max_protocol_version', 'ssl_min_protocol_version', 'ssl_passphrase_command', 'unix_socket_directories',
  'local_preload_libraries', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file', 'ssl_crl_file', 'ssl_crl_dir',
  'archive_command', 'archive_library', 'restore_command', 'archive_cleanup_command', 'recovery_end_command',
  'primary_slot_name', 'promote_trigger_file', 'stats_temp_directory', 'oauth_validator_libraries',
]);

/** Why reading setting `name` is refused, or null. */
export function hiddenSetting(name: string): string | null {
  const n = name.toLowerCase();
  if (n === 'all') return 'SHOW ALL is not allowed through Airlock: the binding may be a superuser, and it would list settings PostgreSQL shows only to superusers';
  return SUPERUSER_ONLY_SETTINGS.has(n)
    ? `reading setting ${n} is not allowed through Airlock: PostgreSQL shows it only to superusers and pg_read_all_settings, and the binding may be a superuser`
    : null;
}

/**
 * Built-ins that compute only from their arguments (no table reads, no name arguments that change
 * what the analyzer reports). Their result is `derived` from their arguments; any other function's
 * result is `opaque`, and a string literal passed to any other function makes the statement
 * uncacheable by shape (it may be a regclass/regproc name). Missing a name here costs precision,
 * never safety.
 */
export const PURE_BUILTINS: ReadonlySet<string> = new Set([
  // aggregates and window functions
  'count', 'sum', 'avg', 'min', 'max', 'array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'json_object_agg',
  'jsonb_object_agg', 'bool_and', 'bool_or', 'every', 'bit_and', 'bit_or', 'bit_xor', 'stddev', 'stddev_pop',
  'stddev_samp', 'variance', 'var_pop', 'var_samp', 'corr', 'covar_pop', 'covar_samp', 'regr_slope',
  'regr_intercept', 'percentile_cont', 'percentile_disc', 'mode', 'rank', 'dense_rank', 'row_number', 'ntile',
  'lag', 'lead', 'first_value', 'last_value', 'nth_value', 'cume_dist', 'percent_rank', 'any_value', 'xmlagg',
  // strings
  'lower', 'upper', 'initcap', 'length', 'char_length', 'character_length', 'octet_length', 'bit_length',
  'substr', 'substring', 'btrim', 'ltrim', 'rtrim', 'trim', 'lpad', 'rpad', 'replace', 'concat', 'concat_ws',
  'left', 'right', 'reverse', 'repeat', 'split_part', 'strpos', 'position', 'starts_with', 'overlay',
  'regexp_replace', 'regexp_match', 'regexp_matches', 'regexp_split_to_array', 'regexp_split_to_table',
  'regexp_like', 'regexp_count', 'regexp_substr', 'regexp_instr', 'translate', 'md5', 'sha224', 'sha256',
  'sha384', 'sha512', 'encode', 'decode', 'to_hex', 'ascii', 'chr', 'format', 'quote_ident', 'quote_literal',
  'quote_nullable', 'string_to_array', 'array_to_string', 'normalize', 'unistr', 'casefold', 'convert_from',
  'convert_to', 'bit_count', 'get_bit', 'get_byte', 'set_bit', 'set_byte',
  // arrays and sets
  'array_length', 'array_upper', 'array_lower', 'array_ndims', 'array_dims', 'cardinality', 'array_append',
  'array_prepend', 'array_cat', 'array_remove', 'array_replace', 'array_position', 'array_positions',
  'array_fill', 'array_reverse', 'array_sort', 'trim_array', 'unnest', 'generate_series', 'generate_subscripts',
  // numbers
  'abs', 'ceil', 'ceiling', 'floor', 'round', 'trunc', 'sign', 'sqrt', 'cbrt', 'power', 'pow', 'exp', 'ln',
  'log', 'log10', 'mod', 'div', 'greatest', 'least', 'pi', 'degrees', 'radians', 'sin', 'cos', 'tan', 'asin',
  'acos', 'atan', 'atan2', 'width_bucket', 'scale', 'gcd', 'lcm', 'factorial', 'random', 'random_normal',
  'num_nulls', 'num_nonnulls',
  // date and time
  'now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'timeofday', 'date_trunc',
  'date_part', 'extract', 'date_bin', 'age', 'make_date', 'make_time', 'make_timestamp', 'make_timestamptz',
  'make_interval', 'to_char', 'to_date', 'to_number', 'to_timestamp', 'justify_days', 'justify_hours',
  'justify_interval', 'isfinite', 'timezone', 'overlaps', 'date_add', 'date_subtract',
  // json
  'to_json', 'to_jsonb', 'row_to_json', 'array_to_json', 'json_build_object', 'jsonb_build_object',
  'json_build_array', 'jsonb_build_array', 'json_object', 'jsonb_object', 'json_array_length',
  'jsonb_array_length', 'json_extract_path', 'jsonb_extract_path', 'json_extract_path_text',
  'jsonb_extract_path_text', 'json_typeof', 'jsonb_typeof', 'jsonb_set', 'jsonb_set_lax', 'jsonb_insert',
  'jsonb_pretty', 'jsonb_strip_nulls', 'json_strip_nulls', 'json_each', 'jsonb_each', 'json_each_text',
  'jsonb_each_text', 'json_array_elements', 'jsonb_array_elements', 'json_array_elements_text',
  'jsonb_array_elements_text', 'json_object_keys', 'jsonb_object_keys', 'jsonb_path_query', 'jsonb_path_exists',
  'jsonb_path_match', 'jsonb_path_query_array', 'jsonb_path_query_first',
  // text search (the regconfig argument is a name but changes no reported access)
  'to_tsvector', 'to_tsquery', 'plainto_tsquery', 'phraseto_tsquery', 'websearch_to_tsquery', 'ts_rank',
  'ts_rank_cd', 'ts_headline', 'setweight', 'strip', 'tsvector_to_array', 'array_to_tsvector',
  // misc
  'coalesce', 'nullif', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'current_database', 'current_schema',
  'current_schemas', 'pg_typeof', 'version', 'xmlcomment', 'xmlconcat', 'xmlelement', 'xmlforest', 'xmltext',
  'bool', 'int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'text', 'date', 'system_user',
]);
