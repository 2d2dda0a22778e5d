// pgx v5 scenarios of the differential client harness (test/clients/harness.ts, issue 12).
// The target comes from the PG* variables (pgx reads them for an empty connection string); one JSON
// transcript goes to stdout.
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

type J = any
type M = map[string]any

func canon(v any) J {
	switch x := v.(type) {
	case nil:
		return nil
	case bool, string:
		return x
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		if x > 1<<53 || x < -(1<<53) {
			return fmt.Sprintf("int:%d", x)
		}
		return x
	case float32:
		return fmt.Sprintf("float:%v", x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("float:%v", x)
		}
		return fmt.Sprintf("float:%v", x)
	case []byte:
		return "hex:" + hex.EncodeToString(x)
	case time.Time:
		return "time:" + x.UTC().Format(time.RFC3339Nano)
	case pgtype.Numeric:
		b, _ := x.MarshalJSON()
		return "numeric:" + string(b)
	case pgtype.Interval:
		return fmt.Sprintf("interval:%dmon%dd%dus", x.Months, x.Days, x.Microseconds)
	case pgtype.Time:
		return fmt.Sprintf("time:%dus", x.Microseconds)
	case [16]byte:
		return "uuid:" + hex.EncodeToString(x[:])
	case netip.Prefix:
		return "inet:" + x.String()
	case *big.Int:
		return "int:" + x.String()
	case map[string]any:
		o := M{}
		for k, e := range x {
			o[k] = canon(e)
		}
		return o
	case []any:
		o := make([]J, len(x))
		for i, e := range x {
			o[i] = canon(e)
		}
		return o
	default:
		return fmt.Sprintf("%T:%v", v, v)
	}
}

func pgErr(err error) J {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		o := M{"error": "PgError", "severity": pe.Severity, "code": pe.Code, "message": pe.Message}
		for k, v := range map[string]string{"detail": pe.Detail, "hint": pe.Hint, "where": pe.Where, "schema": pe.SchemaName,
			"table": pe.TableName, "column": pe.ColumnName, "constraint": pe.ConstraintName, "datatype": pe.DataTypeName,
			"internal_query": pe.InternalQuery} {
			if v != "" {
				o[k] = v
			}
		}
		if pe.Position != 0 {
			o["position"] = pe.Position
		}
		return o
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return M{"error": "context", "message": err.Error()}
	}
	return M{"error": fmt.Sprintf("%T", err), "message": err.Error()}
}

func notice(n *pgconn.Notice) J {
	return pgErr((*pgconn.PgError)(n))
}

var ctx = context.Background()

func connect(mode pgx.QueryExecMode, onNotice func(*pgconn.Notice)) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = mode
	if onNotice != nil {
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { onNotice(n) }
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func mustConnect() *pgx.Conn {
	c, err := connect(pgx.QueryExecModeCacheStatement, nil)
	if err != nil {
		panic(err)
	}
	return c
}

// rows runs a query and returns every row as canonical values, or the error.
func rows(c *pgx.Conn, sql string, args ...any) J {
	rs, err := c.Query(ctx, sql, args...)
	if err != nil {
		return pgErr(err)
	}
	defer rs.Close()
	out := []J{}
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			return M{"scan_error": err.Error()}
		}
		out = append(out, canon(vals))
	}
	if err := rs.Err(); err != nil {
		return M{"rows": out, "err": pgErr(err)}
	}
	return out
}

func exec(c *pgx.Conn, sql string, args ...any) J {
	tag, err := c.Exec(ctx, sql, args...)
	if err != nil {
		return pgErr(err)
	}
	return tag.String()
}

const typedSQL = "SELECT * FROM public.typed ORDER BY id"
const literalsSQL = "SELECT 1.50::numeric AS n, '2024-02-29 12:34:56.789+02'::timestamptz AS ts, '[1, {\"a\": null}, \"é\"]'::jsonb AS jb, " +
	"'{\"k\": 1}'::json AS j, ARRAY[[1,2],[3,4]] AS m, ARRAY['x', NULL, 'a,b']::text[] AS ta, '\\xdeadbeef'::bytea AS b, " +
	"'ok'::public.mood AS mood, ROW('a b', 1)::public.pair AS pair, 'infinity'::timestamptz AS inf, 12.5::float4 AS f4, NULL::int AS nul"
const maskRowsSQL = "SELECT id, name, email FROM public.customers ORDER BY id"

func startup() J {
	c := mustConnect()
	defer c.Close(ctx)
	ps := M{}
	for _, n := range []string{"server_version", "server_encoding", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
		"integer_datetimes", "standard_conforming_strings", "application_name", "is_superuser"} {
		ps[n] = c.PgConn().ParameterStatus(n)
	}
	return M{"parameters": ps, "session": rows(c, "SELECT current_user = session_user, current_setting('search_path')")}
}

func typesText() J {
	c, err := connect(pgx.QueryExecModeSimpleProtocol, nil)
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	return M{"typed": rows(c, typedSQL), "literals": rows(c, literalsSQL),
		"params": rows(c, "SELECT $1::numeric + 1, $2::jsonb, $3::int[], $4::bytea, $5::text", "1.25", `{"x": [1, "y"]}`, []int32{1, 2}, []byte{0, 1, 255}, "quote ' and \\")}
}

func typesBinary() J {
	c := mustConnect()
	defer c.Close(ctx)
	out := M{}
	for _, name := range []string{"public.mood", "public.pair"} {
		t, err := c.LoadType(ctx, name)
		if err != nil {
			out["load_"+name] = pgErr(err)
			continue
		}
		c.TypeMap().RegisterType(t)
	}
	out["typed"] = rows(c, typedSQL)
	out["literals"] = rows(c, literalsSQL)
	out["params"] = rows(c, "SELECT $1::numeric * 2, $2::int8[], $3::bytea, $4::text, $5::timestamptz",
		"-3.5", []int64{1 << 40, -1}, []byte{0, 0, 0}, "bin ✓", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	return out
}

func prepared() J {
	c := mustConnect()
	defer c.Close(ctx)
	out := M{}
	rep := []J{}
	for _, id := range []int{1, 2, 1, 3, 2} {
		rep = append(rep, rows(c, "SELECT id, label, qty FROM public.items WHERE id = $1", id))
	}
	out["repeated"] = rep
	out["server_statements"] = rows(c, "SELECT statement, parameter_types::text FROM pg_prepared_statements ORDER BY statement")
	if _, err := c.Prepare(ctx, "byqty", "SELECT label FROM public.items WHERE qty > $1 ORDER BY id"); err != nil {
		out["prepare"] = pgErr(err)
	}
	out["explicit"] = []J{rows(c, "byqty", 5), rows(c, "byqty", 15)}
	if err := c.Deallocate(ctx, "byqty"); err != nil {
		out["deallocate"] = pgErr(err)
	}
	q := "SELECT * FROM public.copied WHERE id = $1"
	out["before_alter"] = []J{rows(c, q, 1), rows(c, q, 1)}
	exec(c, "ALTER TABLE public.copied ADD COLUMN extra int")
	out["after_alter"] = rows(c, q, 1)
	out["after_alter_again"] = rows(c, q, 1)
	exec(c, "ALTER TABLE public.copied DROP COLUMN extra")
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec} {
		m, err := connect(mode, nil)
		if err != nil {
			panic(err)
		}
		out[fmt.Sprintf("mode_%d", mode)] = []J{rows(m, "SELECT count(*) FROM public.items WHERE qty >= $1", 5), rows(m, "SELECT $1::text || 'x'", "a")}
		m.Close(ctx)
	}
	return out
}

func pipeline() J {
	c := mustConnect()
	defer c.Close(ctx)
	out := M{}
	b := &pgx.Batch{}
	for i := 0; i < 5; i++ {
		b.Queue("INSERT INTO public.items (label, qty) VALUES ($1, $2) RETURNING id", fmt.Sprintf("p%d", i), i)
	}
	b.Queue("SELECT count(*) FROM public.items")
	br := c.SendBatch(ctx, b)
	res := []J{}
	for i := 0; i < 6; i++ {
		var n int64
		err := br.QueryRow().Scan(&n)
		if err != nil {
			res = append(res, pgErr(err))
		} else {
			res = append(res, n)
		}
	}
	br.Close()
	out["batch"] = res
	b = &pgx.Batch{}
	b.Queue("INSERT INTO public.items (label, qty) VALUES ('q1', 1)")
	b.Queue("SELECT 1 / 0")
	b.Queue("INSERT INTO public.items (label, qty) VALUES ('q2', 2)")
	br = c.SendBatch(ctx, b)
	res = []J{}
	for i := 0; i < 3; i++ {
		_, err := br.Exec()
		if err != nil {
			res = append(res, pgErr(err))
		} else {
			res = append(res, "ok")
		}
	}
	out["batch_close"] = fmt.Sprint(br.Close() != nil)
	out["failed_batch"] = res
	// pgconn's own pipeline mode: Parse/Bind/Execute of several statements, then one Sync.
	p := c.PgConn().StartPipeline(ctx)
	p.SendQueryParams("SELECT $1::int * 2", [][]byte{[]byte("21")}, nil, nil, nil)
	p.SendQueryParams("SELECT label FROM public.items WHERE id = $1", [][]byte{[]byte("1")}, nil, nil, nil)
	if err := p.Sync(); err != nil {
		out["pipeline_sync"] = pgErr(err)
	}
	pres := []J{}
	for {
		r, err := p.GetResults()
		if err != nil {
			pres = append(pres, pgErr(err))
			break
		}
		if r == nil {
			break
		}
		switch rr := r.(type) {
		case *pgconn.ResultReader:
			got := rr.Read()
			vals := []J{}
			for _, row := range got.Rows {
				for _, v := range row {
					vals = append(vals, string(v))
				}
			}
			pres = append(pres, M{"rows": vals, "tag": got.CommandTag.String()})
		case *pgconn.PipelineSync:
			pres = append(pres, "sync")
		}
		if _, ok := r.(*pgconn.PipelineSync); ok {
			break
		}
	}
	if err := p.Close(); err != nil {
		out["pipeline_close"] = pgErr(err)
	}
	out["pgconn_pipeline"] = pres
	out["after"] = rows(c, "SELECT label, qty FROM public.items WHERE label ~ '^[pq]' ORDER BY id")
	return out
}

func transactions() J {
	c := mustConnect()
	defer c.Close(ctx)
	out := M{}
	tx, _ := c.Begin(ctx)
	tx.Exec(ctx, "INSERT INTO public.items (label, qty) VALUES ('t1', 1)")
	sp, _ := tx.Begin(ctx) // a savepoint
	sp.Exec(ctx, "INSERT INTO public.items (label, qty) VALUES ('t2', 2)")
	_, err := sp.Exec(ctx, "SELECT 1 / 0")
	out["nested"] = pgErr(err)
	out["nested_rollback"] = fmt.Sprint(sp.Rollback(ctx))
	tx.Exec(ctx, "INSERT INTO public.items (label, qty) VALUES ('t3', 3)")
	out["commit"] = fmt.Sprint(tx.Commit(ctx))
	tx, _ = c.Begin(ctx)
	_, err = tx.Exec(ctx, "SELECT 1 / 0")
	out["div0"] = pgErr(err)
	_, err = tx.Exec(ctx, "SELECT 1")
	out["after_error"] = pgErr(err)
	out["commit_failed"] = fmt.Sprint(tx.Commit(ctx))
	tx, err = c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadOnly})
	if err != nil {
		out["begin_tx"] = pgErr(err)
	} else {
		var iso string
		tx.QueryRow(ctx, "SHOW transaction_isolation").Scan(&iso)
		out["isolation"] = iso
		_, err = tx.Exec(ctx, "INSERT INTO public.items (label, qty) VALUES ('t7', 7)")
		out["read_only"] = pgErr(err)
		tx.Rollback(ctx)
	}
	out["rows"] = rows(c, "SELECT label FROM public.items WHERE label LIKE 't%' ORDER BY id")
	out["status"] = string(c.PgConn().TxStatus())
	return out
}

var errorStatements = []string{
	"SELECT 1 / 0",
	"SELECT nope FROM public.items",
	"INSERT INTO public.items (label, qty) VALUES ('bolt', 1)",
	"INSERT INTO public.items (label, qty) VALUES ('neg', -1)",
	"SELECT public.fail_with('P0001')",
	"SELECT public.fail_with('22023')",
	"SELECT 'abc'::int",
	"SELECT * FROM public.missing_table",
	"SELECT public.noisy(21)",
	"DROP TABLE IF EXISTS public.not_there",
}

func runLogged(statements []string, echo bool) []J {
	var notices []J
	c, err := connect(pgx.QueryExecModeCacheStatement, func(n *pgconn.Notice) { notices = append(notices, notice(n)) })
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	out := []J{}
	for _, s := range statements {
		notices = nil
		r := rows(c, s)
		e := M{"result": r, "notices": append([]J{}, notices...)}
		if echo {
			e["sql"] = s
		}
		out = append(out, e)
	}
	return out
}

func errorsNotices() J {
	return runLogged(errorStatements, true)
}

func listenNotify() J {
	a, b := mustConnect(), mustConnect()
	defer a.Close(ctx)
	defer b.Close(ctx)
	var aPid, bPid uint32
	a.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&aPid)
	b.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&bPid)
	exec(a, "LISTEN chan_a")
	exec(a, `LISTEN "Chan B"`)
	exec(b, "NOTIFY chan_a, 'from b'")
	rows(b, "SELECT pg_notify('Chan B', 'via pg_notify')")
	exec(a, "NOTIFY chan_a, 'from myself'")
	exec(b, "NOTIFY chan_nobody, 'unheard'")
	exec(b, "NOTIFY chan_a")
	got := []J{}
	for len(got) < 4 {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n, err := a.WaitForNotification(tctx)
		cancel()
		if err != nil {
			got = append(got, pgErr(err))
			break
		}
		got = append(got, M{"channel": n.Channel, "payload": n.Payload, "from_a": n.PID == aPid, "from_b": n.PID == bPid})
	}
	return M{"received": got}
}

func backendKey() J {
	c := mustConnect()
	defer c.Close(ctx)
	var pid uint32
	c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid)
	exec(c, "LISTEN self")
	exec(c, "NOTIFY self")
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := c.WaitForNotification(tctx)
	if err != nil {
		return pgErr(err)
	}
	return M{"key_pid_is_backend_pid": c.PgConn().PID() == pid, "notify_pid_is_key_pid": n.PID == c.PgConn().PID()}
}

func cancelTimeout() J {
	c := mustConnect()
	defer c.Close(ctx)
	out := M{}
	tctx, cancel := context.WithTimeout(ctx, time.Second) // a cancel before the Query reaches the server is ignored
	t0 := time.Now()
	_, err := c.Exec(tctx, "SELECT pg_sleep(10)") // pgx sends a CancelRequest when the context ends
	cancel()
	out["cancelled"] = pgErr(err)
	out["cancel_fast"] = time.Since(t0) < 5*time.Second
	// A cancelled context closes the connection in pgx v5; a new one must work.
	c2 := mustConnect()
	defer c2.Close(ctx)
	out["closed_after_cancel"] = c.IsClosed()
	exec(c2, "SET statement_timeout = '200ms'")
	out["timeout"] = exec(c2, "SELECT pg_sleep(3)")
	exec(c2, "RESET statement_timeout")
	out["reset"] = rows(c2, "SHOW statement_timeout")
	// pgconn's explicit cancel, the same CancelRequest without closing the connection
	done := make(chan J)
	go func() { done <- exec(c2, "SELECT pg_sleep(10)") }()
	time.Sleep(time.Second)
	out["cancel_request"] = fmt.Sprint(c2.PgConn().CancelRequest(ctx))
	out["cancelled_by_request"] = <-done
	out["usable"] = rows(c2, "SELECT 1")
	return out
}

// copyIn: pgx writes its CopyData right behind the COPY Query, without waiting for CopyInResponse
// (pgconn.CopyFrom). Each load on its own connection, under a 3 s deadline.
func copyIn() J {
	out := M{}
	load := func(name string, f func(c *pgx.Conn, cctx context.Context) (any, error)) {
		c := mustConnect()
		defer c.Close(ctx)
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		r, err := f(c, cctx)
		out[name] = M{"result": canon(r), "err": errStr(err)}
	}
	load("binary", func(c *pgx.Conn, cctx context.Context) (any, error) {
		return c.CopyFrom(cctx, pgx.Identifier{"public", "copied"}, []string{"id", "label", "qty", "note"},
			pgx.CopyFromRows([][]any{{int32(1), "binary ✓", int32(1), nil}, {int32(2), "tab\there", int32(2), "x"}}))
	})
	load("text", func(c *pgx.Conn, cctx context.Context) (any, error) {
		tag, err := c.PgConn().CopyFrom(cctx, strings.NewReader("3\ttext\\tin\t3\t\\N\n"), "COPY public.copied (id, label, qty, note) FROM STDIN")
		return tag.String(), err
	})
	load("csv", func(c *pgx.Conn, cctx context.Context) (any, error) {
		tag, err := c.PgConn().CopyFrom(cctx, strings.NewReader("4,\"quoted, comma\",4,\n"), "COPY public.copied FROM STDIN (FORMAT csv)")
		return tag.String(), err
	})
	load("bad_row", func(c *pgx.Conn, cctx context.Context) (any, error) {
		tag, err := c.PgConn().CopyFrom(cctx, strings.NewReader("7\tok\nnot-a-number\tbad\n"), "COPY public.copied (id, label) FROM STDIN")
		return tag.String(), err
	})
	c := mustConnect()
	defer c.Close(ctx)
	out["loaded"] = rows(c, "SELECT * FROM public.copied ORDER BY id")
	return out
}

func copyScenario() J {
	c := mustConnect()
	defer c.Close(ctx)
	out := M{}
	take := func(sql string) J {
		var buf bytes.Buffer
		_, err := c.PgConn().CopyTo(ctx, &buf, sql)
		if err != nil {
			return pgErr(err)
		}
		return buf.String()
	}
	out["text"] = take("COPY public.items TO STDOUT")
	out["csv"] = take("COPY (SELECT id, label, note FROM public.items ORDER BY id) TO STDOUT (FORMAT csv, HEADER)")
	bin := take("COPY public.items TO STDOUT (FORMAT binary)")
	if s, ok := bin.(string); ok {
		bin = hex.EncodeToString([]byte(s))
	}
	out["binary"] = bin
	return out
}

func errStr(err error) J {
	if err == nil {
		return nil
	}
	return pgErr(err)
}

func largeCursor() J {
	c := mustConnect()
	defer c.Close(ctx)
	out := M{}
	rs, err := c.Query(ctx, "SELECT id, v, half FROM public.big ORDER BY id")
	if err != nil {
		return pgErr(err)
	}
	var count, sum int64
	var last []any
	for rs.Next() {
		v, _ := rs.Values()
		count++
		sum += int64(v[0].(int32))
		last = v
	}
	rs.Close()
	out["all"] = M{"count": count, "sum": sum, "last": canon(last), "err": errStr(rs.Err())}
	tx, _ := c.Begin(ctx)
	tx.Exec(ctx, "DECLARE cur SCROLL CURSOR FOR SELECT id FROM public.big ORDER BY id")
	f := func(sql string) J {
		r, err := tx.Query(ctx, sql)
		if err != nil {
			return pgErr(err)
		}
		defer r.Close()
		o := []J{}
		for r.Next() {
			v, _ := r.Values()
			o = append(o, canon(v))
		}
		return o
	}
	out["fetch"] = f("FETCH 3 FROM cur")
	tx.Exec(ctx, "MOVE FORWARD 1000 IN cur")
	out["after_move"] = f("FETCH 2 FROM cur")
	out["backward"] = f("FETCH BACKWARD 1 FROM cur")
	tx.Exec(ctx, "CLOSE cur")
	tx.Commit(ctx)
	var streamed int64
	rs, _ = c.Query(ctx, "SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g")
	for rs.Next() {
		streamed++
	}
	rs.Close()
	out["stream"] = streamed
	return out
}

func poolReconnect() J {
	cfg, err := pgxpool.ParseConfig("")
	if err != nil {
		panic(err)
	}
	cfg.MaxConns = 2
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer p.Close()
	out := M{}
	var first, second uint32
	c, _ := p.Acquire(ctx)
	c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&first)
	c.Exec(ctx, "SET idle_session_timeout = '300ms'")
	c.Release()
	time.Sleep(1500 * time.Millisecond) // the server ends the idle session; pgxpool pings a conn idle > 1 s on Acquire
	var n int64
	err = p.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&second)
	out["first_query"] = errStr(err)
	err = p.QueryRow(ctx, "SELECT count(*) FROM public.items").Scan(&n)
	out["query_after_reconnect"] = n
	out["second_err"] = errStr(err)
	out["new_backend"] = first != second
	return out
}

func masking() J {
	c := mustConnect()
	defer c.Close(ctx)
	s, err := connect(pgx.QueryExecModeSimpleProtocol, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)
	out := M{"binary": rows(c, maskRowsSQL), "text": rows(s, maskRowsSQL)}
	prep := []J{}
	for _, id := range []int{1, 2, 1} {
		prep = append(prep, rows(c, "SELECT email FROM public.customers WHERE id = $1", id))
	}
	out["prepared"] = prep
	out["star"] = rows(c, "SELECT * FROM public.customers ORDER BY id")
	out["expression"] = rows(c, "SELECT email || '' AS e FROM public.customers ORDER BY id")
	out["where_on_masked"] = rows(c, "SELECT id FROM public.customers WHERE email LIKE $1 ORDER BY id", "%example.org")
	for name, sql := range map[string]string{"copy_text": "COPY public.customers TO STDOUT", "copy_csv": "COPY public.customers (id, email) TO STDOUT (FORMAT csv)"} {
		var buf bytes.Buffer
		if _, err := c.PgConn().CopyTo(ctx, &buf, sql); err != nil {
			out[name] = pgErr(err)
		} else {
			out[name] = buf.String()
		}
	}
	out["usable"] = rows(c, "SELECT count(*) FROM public.customers")
	return out
}

func maskedCopyQuery() J {
	out := M{}
	for name, sql := range map[string]string{"columns": "SELECT id, email FROM public.customers ORDER BY id", "star": "SELECT * FROM public.customers ORDER BY id"} {
		c := mustConnect()
		var buf bytes.Buffer
		if _, err := c.PgConn().CopyTo(ctx, &buf, "COPY ("+sql+") TO STDOUT"); err != nil {
			out[name] = pgErr(err)
		} else {
			out[name] = M{"ok": buf.String()}
		}
		out[name+"_usable"] = rows(c, "SELECT count(*) FROM public.customers")
		c.Close(ctx)
	}
	return out
}

func maskedErrors() J {
	return runLogged([]string{"INSERT INTO public.customers VALUES (9, 'Dup', 'ava.costa@example.org')",
		"SELECT email::int FROM public.customers WHERE id = 1", "SELECT nope FROM public.customers",
		"SELECT count(*) FROM public.customers WHERE public.noisy(id) > 2"}, false)
}

func main() {
	scenarios := []struct {
		name string
		fn   func() J
	}{
		{"startup", startup}, {"types_text", typesText}, {"types_binary", typesBinary}, {"prepared", prepared},
		{"pipeline", pipeline}, {"transactions", transactions}, {"errors_notices", errorsNotices},
		{"listen_notify", listenNotify}, {"backend_key", backendKey}, {"cancel_timeout", cancelTimeout},
		{"copy", copyScenario}, {"copy_in", copyIn}, {"large_cursor", largeCursor}, {"pool_reconnect", poolReconnect},
		{"masking", masking}, {"masked_copy_query", maskedCopyQuery}, {"masked_errors", maskedErrors},
	}
	out := M{}
	for _, s := range scenarios {
		out[s.name] = run(s.name, s.fn)
	}
	version := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/jackc/pgx/v5" {
				version = d.Version
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.Encode(M{"client": "pgx", "version": version, "scenarios": out})
	os.Exit(0)
}

// run one scenario with a deadline; a panic or a hang is recorded as a crash, the rest still runs.
func run(name string, fn func() J) (res J) {
	done := make(chan J, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintf(os.Stderr, "%s: panic: %v\n%s\n", name, r, debug.Stack())
				done <- M{"crash": fmt.Sprint(r)}
			}
		}()
		done <- fn()
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(20 * time.Second):
		return M{"crash": "hung for 20 s"}
	}
}
