// Server functions that reach outside the SQL privilege model: they touch the server's files,
// run programs, open network connections, administer the server, or run SQL handed to them as a
// string (which our analysis cannot see into). A call to one is denied unless an allow rule's
// `functions` lists it by its exact qualified name (e.g. "pg_catalog.pg_read_file"); a glob such
// as `*` or `pg_catalog.*` never counts. Names are matched without regard to schema, so a
// same-named function in any schema (or an unqualified call we cannot resolve) is treated alike.
// `*` in an entry matches any run of characters, as in policy globs (glob.ts).
import { partMatches } from './glob.ts';
import type { PartMatcher } from './glob.ts';

export interface DangerousGroup {
  readonly what: string;
  readonly names: readonly string[];
}

export const DANGEROUS_FUNCTIONS: readonly DangerousGroup[] = [
  // Read or list files on the database server (superuser or pg_read_server_files).
  {
    what: 'a server filesystem function',
    names: ['pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'pg_ls_*dir'],
  },
  // adminpack: write, rename and delete server files.
  {
    what: 'a server filesystem function (adminpack)',
    names: [
      'pg_file_write',
      'pg_file_rename',
      'pg_file_unlink',
      'pg_file_sync',
      'pg_file_read',
      'pg_file_length',
      'pg_logdir_ls',
    ],
  },
  // Large objects: lo_import/lo_export move server files; the rest read and write data no table
  // rule describes.
  { what: 'a large-object function', names: ['lo_*', 'loread', 'lowrite'] },
  // dblink opens connections to other servers and runs SQL there.
  { what: 'a network function (dblink)', names: ['dblink*'] },
  // A DO block runs an anonymous procedural-language body the analysis does not see into; the
  // analyzer reports it as a call of the pseudo-function pg_catalog.do (policy/analyze/README.md).
  { what: 'an anonymous code block (DO)', names: ['do'] },
  // Signal, stop or reconfigure the server and other sessions.
  {
    what: 'a server administration function',
    names: [
      'pg_terminate_backend',
      'pg_cancel_backend',
      'pg_signal_backend',
      'pg_reload_conf',
      'pg_rotate_logfile',
      'pg_promote',
      'pg_switch_wal',
      'pg_create_restore_point',
      'pg_backup_start',
      'pg_backup_stop',
      'pg_start_backup',
      'pg_stop_backup',
      'pg_wal_replay_*',
      'pg_import_system_collations',
      'pg_log_backend_memory_contexts',
      'pg_stat_reset*',
    ],
  },
  // Server internals PostgreSQL shows only to superusers (EXECUTE revoked from PUBLIC): the
  // authentication and configuration files, the log file's path, shared and backend memory, build
  // flags. Found by the privilege oracle (test/oracle), which lists pg_catalog functions PUBLIC may
  // not execute on the server it runs against.
  {
    what: 'a server internals function',
    names: [
      'pg_hba_file_rules',
      'pg_ident_file_mappings',
      'pg_show_all_file_settings',
      'pg_current_logfile',
      'pg_config',
      'pg_get_backend_memory_contexts',
      'pg_get_shmem_allocations',
      'pg_show_replication_origin_status',
      // pg_settings' function: to a superuser it lists the settings PostgreSQL hides from others.
      'pg_show_all_settings',
      // Executable by PUBLIC but checked at run time (superuser, pg_read_all_stats, binary-upgrade mode).
      'pg_nextoid',
      'pg_tablespace_size',
      'binary_upgrade_*',
      // pg_stat_activity's functions: a superuser sees every session's statement text, literals included.
      'pg_stat_get_activity',
      'pg_stat_get_backend_activity',
    ],
  },
  // Replication: slots and origins hold WAL and stream every table's changes.
  {
    what: 'a replication function',
    names: ['pg_*replication_slot*', 'pg_logical_slot_*', 'pg_replication_origin_*', 'pg_logical_emit_message'],
  },
  // Run SQL given as a string, or read whole tables/schemas named by a value: our analysis cannot
  // see which relations they touch.
  {
    what: 'a function that runs SQL given as a string',
    names: [
      'query_to_xml*',
      'cursor_to_xml*',
      'table_to_xml*',
      'schema_to_xml*',
      'database_to_xml*',
      'ts_stat',
      'ts_rewrite',
    ],
  },
  // Hold a backend (and any locks it has) for as long as asked.
  { what: 'a sleep function', names: ['pg_sleep*'] },
];

const exact = new Map<string, string>();
const wild: { m: PartMatcher; what: string }[] = [];
for (const g of DANGEROUS_FUNCTIONS) {
  for (const n of g.names) {
    const pieces = n.split('*');
    if (pieces.length === 1) exact.set(n, g.what);
    else wild.push({ m: { pieces, wild: true }, what: g.what });
  }
}

/** What kind of dangerous function `name` (folded, unqualified) is, or null when it is not one. */
export function dangerousFunction(name: string): string | null {
  const e = exact.get(name);
  if (e !== undefined) return e;
  for (const w of wild) if (partMatches(w.m, name)) return w.what;
  return null;
}

// pg_catalog relations that SELECT may not read without a rule naming them exactly: they expose
// other columns' values (pg_stats' most_common_vals bypasses masking), other sessions' statement
// text with literals, or credentials. Every other pg_catalog / information_schema relation is
// readable without a rule, because drivers and psql read the catalog on connect.
export const SENSITIVE_CATALOG_RELATIONS: ReadonlySet<string> = new Set([
  'pg_statistic',
  'pg_statistic_ext_data',
  'pg_stats',
  'pg_stats_ext',
  'pg_stats_ext_exprs',
  'pg_stat_activity',
  'pg_authid',
  'pg_shadow',
  'pg_user_mapping',
  'pg_user_mappings',
  'pg_largeobject',
  'pg_hba_file_rules',
  'pg_ident_file_mappings',
  'pg_file_settings',
  'pg_replication_slots',
  'pg_stat_replication',
  'pg_subscription',
  // No SELECT for PUBLIC (the privilege oracle, test/oracle, lists these from the server's catalog).
  'pg_config',
  'pg_backend_memory_contexts',
  'pg_shmem_allocations',
  'pg_replication_origin_status',
  // Readable by PUBLIC, but a superuser sees the settings others do not (primary_conninfo, file paths).
  'pg_settings',
]);

// information_schema relations treated the same way: PostgreSQL grants PUBLIC no SELECT on the internal
// `_pg_*` views (user mapping options hold foreign servers' passwords), nor on `sql_parts` and
// `transforms`; `user_mappings` and `user_mapping_options` show every mapping's options to a superuser,
// and the binding's role may be one.
export const SENSITIVE_INFORMATION_SCHEMA_RELATIONS: ReadonlySet<string> = new Set([
  '_pg_user_mappings',
  '_pg_foreign_servers',
  '_pg_foreign_data_wrappers',
  '_pg_foreign_tables',
  '_pg_foreign_table_columns',
  'user_mappings',
  'user_mapping_options',
  'sql_parts',
  'transforms',
]);

// Settings only a superuser may change (pg_settings.context = 'superuser'; PostgreSQL 15–18). Through a
// superuser binding, `SET session_replication_role = replica` would switch off triggers and foreign-key
// checks, `SET log_statement = none` the server's statement log, and so on; PostgreSQL refuses them to
// any other role (42501). SET, SET LOCAL, RESET and set_config() of these are denied. Found by the
// privilege oracle (test/oracle), which lists them from the server it runs against.
export const SUPERUSER_SETTINGS: ReadonlySet<string> = new Set([
  'allow_in_place_tablespaces',
  'allow_system_table_mods',
  'backtrace_functions',
  'commit_delay',
  'compute_query_id',
  'deadlock_timeout',
  'debug_discard_caches',
  'dynamic_library_path',
  'extension_destdir',
  'ignore_checksum_failure',
  'jit_dump_bitcode',
  'lc_messages',
  'lo_compat_privileges',
  'log_duration',
  'log_error_verbosity',
  'log_executor_stats',
  'log_lock_waits',
  'log_min_duration_sample',
  'log_min_duration_statement',
  'log_min_error_statement',
  'log_min_messages',
  'log_parameter_max_length',
  'log_parser_stats',
  'log_planner_stats',
  'log_replication_commands',
  'log_statement',
  'log_statement_sample_rate',
  'log_statement_stats',
  'log_temp_files',
  'log_transaction_sample_rate',
  'max_stack_depth',
  'session_preload_libraries',
  'session_replication_role',
  'temp_file_limit',
  'track_activities',
  'track_counts',
  'track_functions',
  'track_io_timing',
  'track_wal_io_timing',
  'update_process_title',
  'wal_compression',
  'wal_consistency_checking',
  'wal_init_zero',
  'wal_recycle',
  'zero_damaged_pages',
  // PostgreSQL 16–18 additions of the same context.
  'debug_io_direct',
  'log_lock_failures',
  'track_cost_delay_timing',
  'log_connections',
  'log_disconnections',
  'icu_validation_level',
  'max_notify_queue_pages',
]);
