// pgJDBC scenarios of the differential client harness (test/clients/harness.ts, issue 12).
// The target comes from the PG* variables; one JSON transcript goes to stdout. Compiled by
// scripts/install-clients.sh against the pinned driver from Maven Central (test/clients/jdbc/pom.xml).
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.sql.*;
import java.util.*;
import java.util.concurrent.*;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;
import org.postgresql.util.PGobject;
import org.postgresql.util.PSQLException;
import org.postgresql.util.PSQLWarning;
import org.postgresql.util.ServerErrorMessage;

public class Scenarios {
  interface Body { Object run() throws Exception; }

  static String env(String k) { return System.getenv(k); }

  static Connection connect(String extra) throws SQLException {
    String url = "jdbc:postgresql://" + env("PGHOST") + ":" + env("PGPORT") + "/" + env("PGDATABASE") + "?sslmode=disable" + extra;
    Properties p = new Properties();
    p.setProperty("user", env("PGUSER"));
    p.setProperty("password", env("PGPASSWORD"));
    return DriverManager.getConnection(url, p);
  }

  // --- canonical JSON ---------------------------------------------------------------------------
  static Object canon(Object v) throws SQLException {
    if (v == null || v instanceof Boolean || v instanceof String) return v;
    if (v instanceof Integer || v instanceof Short) return ((Number) v).longValue();
    if (v instanceof Long) { long l = (Long) v; return Math.abs(l) < (1L << 53) ? (Object) l : "int:" + l; }
    if (v instanceof Float || v instanceof Double) return "float:" + v;
    if (v instanceof BigDecimal) return "numeric:" + ((BigDecimal) v).toPlainString();
    if (v instanceof byte[]) return "hex:" + hex((byte[]) v);
    if (v instanceof Timestamp) return "timestamp:" + v;
    if (v instanceof java.sql.Date || v instanceof Time) return "date:" + v;
    if (v instanceof PGobject) return ((PGobject) v).getType() + ":" + ((PGobject) v).getValue();
    if (v instanceof java.sql.Array) return canon(((java.sql.Array) v).getArray());
    if (v instanceof Object[]) { List<Object> o = new ArrayList<>(); for (Object x : (Object[]) v) o.add(canon(x)); return o; }
    if (v instanceof UUID) return "uuid:" + v;
    return v.getClass().getSimpleName() + ":" + v;
  }

  static String hex(byte[] b) {
    StringBuilder s = new StringBuilder();
    for (byte x : b) s.append(String.format("%02x", x));
    return s.toString();
  }

  static void json(StringBuilder out, Object v) {
    if (v == null) out.append("null");
    else if (v instanceof Boolean || v instanceof Long) out.append(v);
    else if (v instanceof Number) out.append(v);
    else if (v instanceof Map) {
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        if (!first) out.append(',');
        first = false;
        json(out, String.valueOf(e.getKey()));
        out.append(':');
        json(out, e.getValue());
      }
      out.append('}');
    } else if (v instanceof List) {
      out.append('[');
      boolean first = true;
      for (Object x : (List<?>) v) { if (!first) out.append(','); first = false; json(out, x); }
      out.append(']');
    } else {
      String s = v.toString();
      out.append('"');
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        if (c == '"' || c == '\\') out.append('\\').append(c);
        else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
        else out.append(c);
      }
      out.append('"');
    }
  }

  static Map<String, Object> map() { return new TreeMap<>(); }

  static Map<String, Object> err(Throwable t) {
    Map<String, Object> o = map();
    o.put("error", t.getClass().getSimpleName());
    if (t instanceof PSQLException && ((PSQLException) t).getServerErrorMessage() != null) {
      o.putAll(diag(((PSQLException) t).getServerErrorMessage()));
    } else {
      o.put("message", String.valueOf(t.getMessage()).split("\n")[0]);
      if (t instanceof SQLException) o.put("sqlstate", ((SQLException) t).getSQLState());
    }
    return o;
  }

  static Map<String, Object> diag(ServerErrorMessage m) {
    Map<String, Object> o = map();
    put(o, "severity", m.getSeverity()); put(o, "sqlstate", m.getSQLState()); put(o, "message", m.getMessage());
    put(o, "detail", m.getDetail()); put(o, "hint", m.getHint()); put(o, "where", m.getWhere());
    put(o, "schema", m.getSchema()); put(o, "table", m.getTable()); put(o, "column", m.getColumn());
    put(o, "constraint", m.getConstraint()); put(o, "datatype", m.getDatatype()); put(o, "internal_query", m.getInternalQuery());
    if (m.getPosition() != 0) o.put("position", (long) m.getPosition());
    return o;
  }

  static void put(Map<String, Object> o, String k, Object v) { if (v != null) o.put(k, v); }

  static List<Object> rows(ResultSet rs) throws SQLException {
    List<Object> out = new ArrayList<>();
    int n = rs.getMetaData().getColumnCount();
    while (rs.next()) {
      List<Object> row = new ArrayList<>();
      for (int i = 1; i <= n; i++) row.add(canon(rs.getObject(i)));
      out.add(row);
    }
    return out;
  }

  static Object query(Connection c, String sql, Object... params) {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
      if (!ps.execute()) return "update:" + ps.getUpdateCount();
      try (ResultSet rs = ps.getResultSet()) { return rows(rs); }
    } catch (SQLException e) {
      return err(e);
    }
  }

  static Object exec(Connection c, String sql) {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
      return "ok";
    } catch (SQLException e) {
      return err(e);
    }
  }

  static List<Object> warnings(SQLWarning w) {
    List<Object> out = new ArrayList<>();
    for (; w != null; w = w.getNextWarning()) {
      if (w instanceof PSQLWarning && ((PSQLWarning) w).getServerErrorMessage() != null) out.add(diag(((PSQLWarning) w).getServerErrorMessage()));
      else out.add(String.valueOf(w.getMessage()));
    }
    return out;
  }

  static final String TYPED = "SELECT * FROM public.typed ORDER BY id";
  static final String LITERALS = "SELECT 1.50::numeric AS n, '2024-02-29 12:34:56.789+02'::timestamptz AS ts, '[1, {\"a\": null}, \"é\"]'::jsonb AS jb, "
      + "'{\"k\": 1}'::json AS j, ARRAY[[1,2],[3,4]] AS m, ARRAY['x', NULL, 'a,b']::text[] AS ta, '\\xdeadbeef'::bytea AS b, "
      + "'ok'::public.mood AS mood, ROW('a b', 1)::public.pair AS pair, 12.5::float4 AS f4, NULL::int AS nul";
  static final String MASK_ROWS = "SELECT id, name, email FROM public.customers ORDER BY id";
  static final String[] ERROR_STATEMENTS = {
    "SELECT 1 / 0", "SELECT nope FROM public.items", "INSERT INTO public.items (label, qty) VALUES ('bolt', 1)",
    "INSERT INTO public.items (label, qty) VALUES ('neg', -1)", "SELECT public.fail_with('P0001')", "SELECT public.fail_with('22023')",
    "SELECT 'abc'::int", "SELECT * FROM public.missing_table", "SELECT public.noisy(21)", "DROP TABLE IF EXISTS public.not_there",
  };

  static Object startup() throws Exception {
    try (Connection c = connect("")) {
      Map<String, Object> o = map();
      DatabaseMetaData md = c.getMetaData();
      o.put("product", md.getDatabaseProductVersion());
      o.put("parameters", new TreeMap<>(((PGConnection) c).getParameterStatuses()));
      o.put("session", query(c, "SELECT current_user = session_user, current_setting('search_path')"));
      return o;
    }
  }

  static Object types(String extra) throws Exception {
    try (Connection c = connect(extra)) {
      Map<String, Object> o = map();
      o.put("typed", query(c, TYPED));
      o.put("literals", query(c, LITERALS));
      o.put("params", query(c, "SELECT ?::numeric + 1, ?::int8, ?::bytea, ?::timestamptz, ?::text",
          new BigDecimal("1.25"), 9007199254740993L, new byte[] {0, 1, (byte) 255}, Timestamp.valueOf("2020-01-01 00:00:00"), "quote ' and \\"));
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(TYPED)) {
        List<Object> strings = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) { List<Object> row = new ArrayList<>(); for (int i = 1; i <= n; i++) row.add(rs.getObject(i) instanceof byte[] b ? "hex:" + hex(b) : rs.getString(i)); strings.add(row); }
        o.put("as_strings", strings);
      }
      return o;
    }
  }

  static Object prepared() throws Exception {
    Map<String, Object> o = map();
    try (Connection c = connect("&prepareThreshold=1")) {
      List<Object> rep = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT id, label, qty FROM public.items WHERE id = ?")) {
        for (int id : new int[] {1, 2, 1, 3, 2}) { ps.setInt(1, id); try (ResultSet rs = ps.executeQuery()) { rep.add(rows(rs)); } }
      }
      o.put("repeated", rep);
      o.put("server_statements", query(c, "SELECT statement FROM pg_prepared_statements ORDER BY statement"));
      String q = "SELECT * FROM public.copied WHERE id = ?";
      try (PreparedStatement ps = c.prepareStatement(q)) {
        ps.setInt(1, 1);
        List<Object> before = new ArrayList<>();
        for (int i = 0; i < 2; i++) try (ResultSet rs = ps.executeQuery()) { before.add((long) rs.getMetaData().getColumnCount()); }
        o.put("before_alter", before);
        exec(c, "ALTER TABLE public.copied ADD COLUMN extra int");
        try (ResultSet rs = ps.executeQuery()) { o.put("after_alter", (long) rs.getMetaData().getColumnCount()); } catch (SQLException e) { o.put("after_alter", err(e)); }
        try (ResultSet rs = ps.executeQuery()) { o.put("after_alter_again", (long) rs.getMetaData().getColumnCount()); } catch (SQLException e) { o.put("after_alter_again", err(e)); }
        exec(c, "ALTER TABLE public.copied DROP COLUMN extra");
      }
    }
    try (Connection c = connect("&preferQueryMode=extendedCacheEverything")) {
      o.put("cache_everything", List.of(query(c, "SELECT count(*) FROM public.items WHERE qty >= 5"), query(c, "SELECT count(*) FROM public.items WHERE qty >= 5")));
    }
    return o;
  }

  static Object pipeline() throws Exception {
    Map<String, Object> o = map();
    try (Connection c = connect("")) {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO public.items (label, qty) VALUES (?, ?)")) {
        for (int i = 0; i < 20; i++) { ps.setString(1, "m" + i); ps.setInt(2, i); ps.addBatch(); }
        o.put("batch", Arrays.toString(ps.executeBatch()));
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO public.items (label, qty) VALUES (?, 10 / ?)")) {
        ps.setString(1, "x1"); ps.setInt(2, 1); ps.addBatch();
        ps.setString(1, "x2"); ps.setInt(2, 0); ps.addBatch();
        ps.setString(1, "x3"); ps.setInt(2, 2); ps.addBatch();
        ps.executeBatch();
        o.put("failed_batch", "no error");
      } catch (BatchUpdateException e) {
        Map<String, Object> f = map();
        f.put("counts", Arrays.toString(e.getUpdateCounts()));
        f.put("cause", err(e.getNextException() != null ? e.getNextException() : e));
        o.put("failed_batch", f);
      }
    }
    try (Connection c = connect("&reWriteBatchedInserts=true")) {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO public.items (label, qty) VALUES (?, ?)")) {
        for (int i = 0; i < 5; i++) { ps.setString(1, "r" + i); ps.setInt(2, i); ps.addBatch(); }
        o.put("rewritten", Arrays.toString(ps.executeBatch()));
      }
      o.put("after", query(c, "SELECT label, qty FROM public.items WHERE label ~ '^[mxr]' ORDER BY id"));
    }
    return o;
  }

  static Object transactions() throws Exception {
    Map<String, Object> o = map();
    try (Connection c = connect("")) {
      c.setAutoCommit(false);
      exec(c, "INSERT INTO public.items (label, qty) VALUES ('t1', 1)");
      Savepoint sp = c.setSavepoint("s1");
      exec(c, "INSERT INTO public.items (label, qty) VALUES ('t2', 2)");
      o.put("nested", exec(c, "SELECT 1 / 0"));
      o.put("after_error", exec(c, "SELECT 1"));
      c.rollback(sp);
      exec(c, "INSERT INTO public.items (label, qty) VALUES ('t3', 3)");
      c.releaseSavepoint(sp);
      c.commit();
      c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
      c.setReadOnly(true);
      o.put("isolation", query(c, "SHOW transaction_isolation"));
      o.put("read_only", exec(c, "INSERT INTO public.items (label, qty) VALUES ('t7', 7)"));
      c.rollback();
      c.setReadOnly(false);
      c.setAutoCommit(true);
      o.put("rows", query(c, "SELECT label FROM public.items WHERE label LIKE 't%' ORDER BY id"));
    }
    // autosave=always: pgJDBC's own savepoint around every statement, so an error does not fail the transaction
    try (Connection c = connect("&autosave=always")) {
      c.setAutoCommit(false);
      o.put("autosave_error", exec(c, "SELECT 1 / 0"));
      o.put("autosave_after", query(c, "SELECT 1"));
      c.rollback();
    }
    return o;
  }

  static List<Object> logged(Connection c, String[] statements, boolean echo) throws SQLException {
    List<Object> out = new ArrayList<>();
    for (String s : statements) {
      Map<String, Object> e = map();
      if (echo) e.put("sql", s);
      try (Statement st = c.createStatement()) {
        try {
          boolean rs = st.execute(s);
          e.put("result", rs ? rows(st.getResultSet()) : "update:" + st.getUpdateCount());
        } catch (SQLException ex) {
          e.put("result", err(ex));
        }
        e.put("notices", warnings(st.getWarnings()));
      }
      out.add(e);
    }
    return out;
  }

  static Object errorsNotices() throws Exception {
    try (Connection c = connect("")) {
      List<Object> out = logged(c, ERROR_STATEMENTS, true);
      try {
        new CopyManager((org.postgresql.core.BaseConnection) c).copyIn("COPY public.copied (id, label) FROM STDIN",
            new ByteArrayInputStream("7\tok\nnot-a-number\tbad\n".getBytes(StandardCharsets.UTF_8)));
        out.add("no error");
      } catch (SQLException e) {
        out.add(err(e));
      }
      out.add(query(c, "SELECT count(*) FROM public.copied"));
      return out;
    }
  }

  static Object listenNotify() throws Exception {
    try (Connection a = connect(""); Connection b = connect("")) {
      long aPid = (Long) ((List<?>) ((List<?>) query(a, "SELECT pg_backend_pid()::int8")).get(0)).get(0);
      long bPid = (Long) ((List<?>) ((List<?>) query(b, "SELECT pg_backend_pid()::int8")).get(0)).get(0);
      exec(a, "LISTEN chan_a");
      exec(a, "LISTEN \"Chan B\"");
      exec(b, "NOTIFY chan_a, 'from b'");
      query(b, "SELECT pg_notify('Chan B', 'via pg_notify')");
      exec(a, "NOTIFY chan_a, 'from myself'");
      exec(b, "NOTIFY chan_nobody, 'unheard'");
      exec(b, "NOTIFY chan_a");
      List<Object> got = new ArrayList<>();
      long until = System.currentTimeMillis() + 2000;
      while (got.size() < 4 && System.currentTimeMillis() < until) {
        PGNotification[] ns = ((PGConnection) a).getNotifications(200);
        if (ns == null) continue;
        for (PGNotification n : ns) {
          Map<String, Object> m = map();
          m.put("channel", n.getName()); m.put("payload", n.getParameter());
          m.put("from_a", n.getPID() == aPid); m.put("from_b", n.getPID() == bPid);
          got.add(m);
        }
      }
      return got;
    }
  }

  static Object backendKey() throws Exception {
    try (Connection c = connect("")) {
      long pid = (Long) ((List<?>) ((List<?>) query(c, "SELECT pg_backend_pid()::int8")).get(0)).get(0);
      exec(c, "LISTEN self");
      exec(c, "NOTIFY self");
      PGNotification[] ns = ((PGConnection) c).getNotifications(2000);
      Map<String, Object> o = map();
      int key = ((PGConnection) c).getBackendPID();
      o.put("key_pid_is_backend_pid", key == pid);
      o.put("notify_pid_is_key_pid", ns != null && ns.length > 0 && ns[0].getPID() == key);
      return o;
    }
  }

  static Object cancelTimeout() throws Exception {
    Map<String, Object> o = map();
    try (Connection c = connect("")) {
      try (Statement st = c.createStatement()) {
        ScheduledExecutorService ex = Executors.newSingleThreadScheduledExecutor();
        ex.schedule(() -> { try { st.cancel(); } catch (SQLException e) { /* recorded by the statement */ } }, 1000, TimeUnit.MILLISECONDS);
        long t0 = System.currentTimeMillis();
        try { st.execute("SELECT pg_sleep(10)"); o.put("cancelled", "no error"); } catch (SQLException e) { o.put("cancelled", err(e)); }
        o.put("cancel_fast", System.currentTimeMillis() - t0 < 5000);
        ex.shutdown();
      }
      try (Statement st = c.createStatement()) {
        st.setQueryTimeout(1); // pgJDBC enforces it with a CancelRequest
        try { st.execute("SELECT pg_sleep(10)"); o.put("query_timeout", "no error"); } catch (SQLException e) { o.put("query_timeout", err(e)); }
      }
      exec(c, "SET statement_timeout = '200ms'");
      o.put("timeout", exec(c, "SELECT pg_sleep(3)"));
      exec(c, "RESET statement_timeout");
      o.put("reset", query(c, "SHOW statement_timeout"));
    }
    return o;
  }

  static String copyOut(Connection c, String sql) throws Exception {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    new CopyManager((org.postgresql.core.BaseConnection) c).copyOut(sql, buf);
    return buf.toString(StandardCharsets.UTF_8);
  }

  static Object copy() throws Exception {
    Map<String, Object> o = map();
    try (Connection c = connect("")) {
      CopyManager cm = new CopyManager((org.postgresql.core.BaseConnection) c);
      o.put("text_in", cm.copyIn("COPY public.copied (id, label, qty, note) FROM STDIN",
          new ByteArrayInputStream("1\ta\t1\t\\N\n2\ttab\\there\\nnewline \\\\ back\t2\tx\n".getBytes(StandardCharsets.UTF_8))));
      o.put("csv_in", cm.copyIn("COPY public.copied FROM STDIN (FORMAT csv)",
          new ByteArrayInputStream("3,\"quoted, comma\",3,\n4,plain,4,\"a \"\"q\"\"\"\n".getBytes(StandardCharsets.UTF_8))));
      ByteArrayOutputStream bin = new ByteArrayOutputStream();
      cm.copyOut("COPY (SELECT id + 10, label, qty, note FROM public.copied ORDER BY id) TO STDOUT (FORMAT binary)", bin);
      o.put("binary_in", cm.copyIn("COPY public.copied FROM STDIN (FORMAT binary)", new ByteArrayInputStream(bin.toByteArray())));
      o.put("loaded", query(c, "SELECT * FROM public.copied ORDER BY id"));
      o.put("text", copyOut(c, "COPY public.items TO STDOUT"));
      o.put("csv", copyOut(c, "COPY (SELECT id, label, note FROM public.items ORDER BY id) TO STDOUT (FORMAT csv, HEADER)"));
      ByteArrayOutputStream items = new ByteArrayOutputStream();
      cm.copyOut("COPY public.items TO STDOUT (FORMAT binary)", items);
      o.put("binary", hex(items.toByteArray()));
    }
    return o;
  }

  static Object largeCursor() throws Exception {
    Map<String, Object> o = map();
    try (Connection c = connect("")) {
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT id, v, half FROM public.big ORDER BY id")) {
        long n = 0, sum = 0;
        while (rs.next()) { n++; sum += rs.getInt(1); }
        o.put("all", List.of(n, sum));
      }
      // setFetchSize outside autocommit: a portal read 1000 rows per Execute (PortalSuspended in between)
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("SELECT id, v FROM public.big WHERE id % 7 = ? ORDER BY id")) {
        ps.setFetchSize(1000);
        ps.setInt(1, 0);
        try (ResultSet rs = ps.executeQuery()) {
          long n = 0; String last = null;
          while (rs.next()) { n++; last = rs.getString(2); }
          o.put("fetch_size", List.of(n, last));
        }
      }
      o.put("declare", exec(c, "DECLARE cur SCROLL CURSOR FOR SELECT id FROM public.big ORDER BY id"));
      o.put("fetch", query(c, "FETCH 3 FROM cur"));
      exec(c, "MOVE FORWARD 1000 IN cur");
      o.put("after_move", query(c, "FETCH 2 FROM cur"));
      o.put("backward", query(c, "FETCH BACKWARD 1 FROM cur"));
      c.commit();
    }
    return o;
  }

  static Object poolReconnect() throws Exception {
    // pgJDBC has no pool of its own; what pools (HikariCP and others) do is isValid() and reconnect.
    Map<String, Object> o = map();
    Connection c = connect("");
    o.put("valid_at_start", c.isValid(2));
    long first = (Long) ((List<?>) ((List<?>) query(c, "SELECT pg_backend_pid()::int8")).get(0)).get(0);
    exec(c, "SET idle_session_timeout = '300ms'");
    Thread.sleep(1000);
    o.put("valid_after_server_closed", c.isValid(2));
    o.put("query_on_dead", query(c, "SELECT 1"));
    c.close();
    try (Connection d = connect("")) {
      long second = (Long) ((List<?>) ((List<?>) query(d, "SELECT pg_backend_pid()::int8")).get(0)).get(0);
      o.put("new_backend", first != second);
      o.put("query_after_reconnect", query(d, "SELECT count(*) FROM public.items"));
      o.put("valid", d.isValid(2));
    }
    return o;
  }

  static Object masking() throws Exception {
    Map<String, Object> o = map();
    try (Connection c = connect("&preferQueryMode=simple")) {
      o.put("text", query(c, MASK_ROWS));
    }
    try (Connection c = connect("&prepareThreshold=-1")) {  // server-prepared from the first run, binary results
      o.put("binary", query(c, MASK_ROWS));
      List<Object> prep = new ArrayList<>();
      for (int id : new int[] {1, 2, 1}) prep.add(query(c, "SELECT email FROM public.customers WHERE id = ?", id));
      o.put("prepared", prep);
      o.put("star", query(c, "SELECT * FROM public.customers ORDER BY id"));
      o.put("expression", query(c, "SELECT email || '' AS e FROM public.customers ORDER BY id"));
      o.put("where_on_masked", query(c, "SELECT id FROM public.customers WHERE email LIKE ? ORDER BY id", "%example.org"));
      o.put("copy_text", copyOut(c, "COPY public.customers TO STDOUT"));
      o.put("copy_csv", copyOut(c, "COPY public.customers (id, email) TO STDOUT (FORMAT csv)"));
      o.put("usable", query(c, "SELECT count(*) FROM public.customers"));
    }
    return o;
  }

  static Object maskedCopyQuery() throws Exception {
    Map<String, Object> o = map();
    for (String[] q : new String[][] {{"columns", "SELECT id, email FROM public.customers ORDER BY id"}, {"star", "SELECT * FROM public.customers ORDER BY id"}}) {
      try (Connection c = connect("")) {
        try { o.put(q[0], Map.of("ok", copyOut(c, "COPY (" + q[1] + ") TO STDOUT"))); } catch (SQLException e) { o.put(q[0], err(e)); }
        o.put(q[0] + "_usable", query(c, "SELECT count(*) FROM public.customers"));
      }
    }
    return o;
  }

  static Object maskedErrors() throws Exception {
    try (Connection c = connect("")) {
      return logged(c, new String[] {"INSERT INTO public.customers VALUES (9, 'Dup', 'ava.costa@example.org')",
          "SELECT email::int FROM public.customers WHERE id = 1", "SELECT nope FROM public.customers",
          "SELECT count(*) FROM public.customers WHERE public.noisy(id) > 2"}, false);
    }
  }

  public static void main(String[] args) throws Exception {
    Map<String, Body> scenarios = new LinkedHashMap<>();
    scenarios.put("startup", Scenarios::startup);
    scenarios.put("types_text", () -> types("&preferQueryMode=simple"));
    scenarios.put("types_binary", () -> types("&prepareThreshold=-1&binaryTransfer=true"));
    scenarios.put("prepared", Scenarios::prepared);
    scenarios.put("pipeline", Scenarios::pipeline);
    scenarios.put("transactions", Scenarios::transactions);
    scenarios.put("errors_notices", Scenarios::errorsNotices);
    scenarios.put("listen_notify", Scenarios::listenNotify);
    scenarios.put("backend_key", Scenarios::backendKey);
    scenarios.put("cancel_timeout", Scenarios::cancelTimeout);
    scenarios.put("copy", Scenarios::copy);
    scenarios.put("large_cursor", Scenarios::largeCursor);
    scenarios.put("pool_reconnect", Scenarios::poolReconnect);
    scenarios.put("masking", Scenarios::masking);
    scenarios.put("masked_copy_query", Scenarios::maskedCopyQuery);
    scenarios.put("masked_errors", Scenarios::maskedErrors);
    Map<String, Object> out = map();
    ExecutorService pool = Executors.newCachedThreadPool(r -> { Thread t = new Thread(r); t.setDaemon(true); return t; });
    String only = System.getenv("CLIENT_SCENARIOS");  // by hand: a comma-separated subset
    for (Map.Entry<String, Body> e : scenarios.entrySet()) {
      if (only != null && !only.isEmpty() && !Arrays.asList(only.split(",")).contains(e.getKey())) continue;
      Future<Object> f = pool.submit(() -> e.getValue().run());
      try {
        out.put(e.getKey(), f.get(20, TimeUnit.SECONDS));
      } catch (TimeoutException t) {
        out.put(e.getKey(), Map.of("crash", "hung for 20 s"));
      } catch (ExecutionException x) {
        x.getCause().printStackTrace();
        out.put(e.getKey(), Map.of("crash", x.getCause().toString()));
      }
    }
    Map<String, Object> doc = map();
    doc.put("client", "pgjdbc");
    doc.put("version", org.postgresql.util.DriverInfo.DRIVER_VERSION);
    doc.put("scenarios", out);
    StringBuilder sb = new StringBuilder();
    json(sb, doc);
    System.out.println(sb);
    System.out.flush();
    System.exit(0);
  }
}
