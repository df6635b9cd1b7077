package pgproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// rowsOf runs a query and renders its rows.
func rowsOf(ctx context.Context, c *pgx.Conn, sql string, args ...any) (string, error) {
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return "", err
		}
		fmt.Fprintln(&b, v...)
	}
	return b.String(), rows.Err()
}

// errorString renders an error as the app sees it: a PostgreSQL error by
// its SQLSTATE and message.
func errorString(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return "pg error " + pgErr.Code + ": " + pgErr.Message
	}
	return err.Error()
}

// pgxStep is one thing an app does; its result must be the same directly
// and through the proxy, and it must be seen as the calls listed.
type pgxStep struct {
	name  string
	run   func(ctx context.Context, c *pgx.Conn) (string, error)
	calls []call
}

var pgxSteps = []pgxStep{
	{
		name: "create temp table (simple protocol, no arguments)",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			tag, err := c.Exec(ctx, "CREATE TEMP TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric)")
			return tag.String(), err
		},
		calls: []call{{"CREATE", "CREATE TEMP TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric)", ""}},
	},
	{
		name: "simple protocol query with arguments",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			return rowsOf(ctx, c, "SELECT $1::int + 40 AS answer, $2::text AS secret", pgx.QueryExecModeSimpleProtocol, 2, "s3cret-value")
		},
		// pgx interpolates the arguments: "SELECT 2 ::int + 40 …".
		calls: []call{{"SELECT", "SELECT ? ::int + ? AS answer, ? ::text AS secret", ""}},
	},
	{
		name: "extended protocol, statement prepared then executed",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			if _, err := c.Exec(ctx, "INSERT INTO items VALUES (1, 'apple', 1.5), (2, 'pear', 2.25)"); err != nil {
				return "", err
			}
			return rowsOf(ctx, c, "SELECT name, price FROM items WHERE id = $1", 2)
		},
		calls: []call{
			{"INSERT", "INSERT INTO items VALUES (?, ?, ?), (?, ?, ?)", ""},
			{"SELECT", "SELECT name, price FROM items WHERE id = $1", ""}, // Parse, Describe, Sync
			{"SELECT", "SELECT name, price FROM items WHERE id = $1", ""}, // Bind, Describe, Execute, Sync
		},
	},
	{
		name: "prepared statement reused: Bind of a statement named earlier",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			return rowsOf(ctx, c, "SELECT name, price FROM items WHERE id = $1", 1)
		},
		calls: []call{{"SELECT", "SELECT name, price FROM items WHERE id = $1", ""}},
	},
	{
		name: "exec mode: unnamed statement, one round trip",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			return rowsOf(ctx, c, "SELECT count(*) FROM items WHERE price > $1", pgx.QueryExecModeExec, 1)
		},
		calls: []call{{"SELECT", "SELECT count(*) FROM items WHERE price > $1", ""}},
	},
	{
		name: "batch of several statements",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			b := &pgx.Batch{}
			b.Queue("INSERT INTO items VALUES ($1, $2, $3)", 3, "plum", 0.5)
			b.Queue("UPDATE items SET price = price * 2 WHERE id = $1", 3)
			b.Queue("SELECT id, name, price FROM items ORDER BY id")
			br := c.SendBatch(ctx, b)
			var out strings.Builder
			for range 2 {
				tag, err := br.Exec()
				if err != nil {
					return "", err
				}
				fmt.Fprintln(&out, tag)
			}
			rows, err := br.Query()
			if err != nil {
				return "", err
			}
			for rows.Next() {
				v, _ := rows.Values()
				fmt.Fprintln(&out, v...)
			}
			rows.Close()
			return out.String(), br.Close()
		},
		calls: []call{
			// The three new statements prepared in one Sync, then executed
			// in one Sync: each call named by its first statement.
			{"INSERT", "INSERT INTO items VALUES ($1, $2, $3)", ""},
			{"INSERT", "INSERT INTO items VALUES ($1, $2, $3)", ""},
		},
	},
	{
		name: "transaction",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			tx, err := c.Begin(ctx)
			if err != nil {
				return "", err
			}
			tag, err := tx.Exec(ctx, "INSERT INTO items (id, name) VALUES (4, 'fig')")
			if err != nil {
				return "", err
			}
			return tag.String(), tx.Commit(ctx)
		},
		calls: []call{
			{"BEGIN", "begin", ""},
			{"INSERT", "INSERT INTO items (id, name) VALUES (?, ?)", ""},
			{"COMMIT", "commit", ""},
		},
	},
	{
		name: "COPY FROM",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			var rows [][]any
			for i := 100; i < 2100; i++ {
				rows = append(rows, []any{i, fmt.Sprintf("item-%d", i)})
			}
			n, err := c.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "name"}, pgx.CopyFromRows(rows))
			return fmt.Sprint(n), err
		},
		calls: []call{
			// pgx learns the column types (prepare, then the copy).
			{"SELECT", `select "id", "name" from "items"`, ""},
			{"COPY", `copy "items" ( "id", "name" ) from stdin binary;`, ""},
		},
	},
	{
		name: "COPY TO",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			var out bytes.Buffer
			tag, err := c.PgConn().CopyTo(ctx, &out, "COPY (SELECT id, name FROM items WHERE id < 200 ORDER BY id) TO STDOUT")
			return tag.String() + "\n" + out.String(), err
		},
		calls: []call{{"COPY", "COPY (SELECT id, name FROM items WHERE id < ? ORDER BY id) TO STDOUT", ""}},
	},
	{
		name: "error: division by zero",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			_, err := c.Exec(ctx, "SELECT 1/0")
			return errorString(err), nil
		},
		calls: []call{{"SELECT", "SELECT ?/?", "22012"}},
	},
	{
		name: "error in the extended protocol: unique violation",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			_, err := c.Exec(ctx, "INSERT INTO items (id, name) VALUES ($1, $2)", 1, "dup")
			return errorString(err), nil
		},
		calls: []call{
			{"INSERT", "INSERT INTO items (id, name) VALUES ($1, $2)", ""},
			{"INSERT", "INSERT INTO items (id, name) VALUES ($1, $2)", "23505"},
		},
	},
	{
		name: "pipeline: several Syncs in flight",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			p := c.PgConn().StartPipeline(ctx)
			p.SendQueryParams("SELECT count(*) FROM items", nil, nil, nil, nil)
			p.SendPipelineSync()
			p.SendQueryParams("UPDATE items SET name = upper(name) WHERE id = $1", [][]byte{[]byte("1")}, nil, nil, nil)
			p.SendPipelineSync()
			p.SendQueryParams("SELECT 1/(id - id) FROM items", nil, nil, nil, nil)
			p.SendPipelineSync()
			p.SendQueryParams("DELETE FROM items WHERE id = $1", [][]byte{[]byte("2")}, nil, nil, nil)
			p.SendPipelineSync()
			if err := p.Flush(); err != nil {
				return "", err
			}
			var out strings.Builder
			for {
				res, err := p.GetResults()
				if err != nil {
					fmt.Fprintln(&out, errorString(err))
					continue
				}
				if res == nil {
					break
				}
				switch r := res.(type) {
				case *pgconn.ResultReader:
					rr := r.Read()
					fmt.Fprintln(&out, rr.CommandTag, rr.Rows, errString(rr.Err))
				case *pgconn.PipelineSync:
					fmt.Fprintln(&out, "sync")
				}
			}
			return out.String(), p.Close()
		},
		calls: []call{
			{"SELECT", "SELECT count(*) FROM items", ""},
			{"UPDATE", "UPDATE items SET name = upper(name) WHERE id = $1", ""},
			{"SELECT", "SELECT ?/(id - id) FROM items", "22012"},
			{"DELETE", "DELETE FROM items WHERE id = $1", ""},
		},
	},
	{
		name: "multi-statement simple query: one call named by its first",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			res, err := c.PgConn().Exec(ctx, "UPDATE items SET price = 9 WHERE id = 3; SELECT name FROM items WHERE id = 3").ReadAll()
			var out strings.Builder
			for _, r := range res {
				fmt.Fprintln(&out, r.CommandTag, r.Rows)
			}
			return out.String(), err
		},
		calls: []call{{"UPDATE", "UPDATE items SET price = ? WHERE id = ?; SELECT name FROM items WHERE id = ?", ""}},
	},
	{
		name: "WITH … SELECT named SELECT",
		run: func(ctx context.Context, c *pgx.Conn) (string, error) {
			return rowsOf(ctx, c, "WITH cheap AS (SELECT * FROM items WHERE price < 5) SELECT count(*) FROM cheap", pgx.QueryExecModeSimpleProtocol)
		},
		calls: []call{
			// pgx first deallocates the statement the unique violation
			// invalidated: a batch of a Close and a Sync.
			{"OTHER", "", ""},
			{"SELECT", "WITH cheap AS (SELECT * FROM items WHERE price < ?) SELECT count(*) FROM cheap", ""},
		},
	},
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return errorString(err)
}

// TestPgx runs what an app does with pgx directly and through the proxy:
// the same results, and each call seen with its operation, normalised
// text and error.
func TestPgx(t *testing.T) {
	dbURL := postgresURL(t)
	f := newFixture(t, targetOf(t, dbURL), "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	direct, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	proxied, err := pgx.Connect(ctx, f.via(dbURL, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer proxied.Close(ctx)
	f.waitGauge("decoded", 1)

	seen := 0
	for _, step := range pgxSteps {
		t.Run(step.name, func(t *testing.T) {
			want, wantErr := step.run(ctx, direct)
			got, gotErr := step.run(ctx, proxied)
			if got != want || errString(gotErr) != errString(wantErr) {
				t.Fatalf("through the proxy: %q, %v\ndirect: %q, %v", got, gotErr, want, wantErr)
			}
			spans := f.waitSpans(seen + len(step.calls))
			if len(spans) == seen+len(step.calls) {
				spans = queries(f.settle())
			}
			gotCalls := calls(spans[seen:])
			seen = len(spans)
			if fmt.Sprint(gotCalls) != fmt.Sprint(step.calls) {
				t.Errorf("calls:\n%s\nwant:\n%v", describe(spans[len(spans)-len(gotCalls):]), step.calls)
			}
			for _, s := range spans[len(spans)-len(gotCalls):] {
				if got := attr(s, "hopscope.attribution"); got != "ambiguous" {
					t.Errorf("%s: attribution %q, want ambiguous (no request in flight)", s.Name(), got)
				}
				if strings.Contains(attr(s, "db.query.text"), "s3cret") || strings.Contains(attr(s, "db.query.text"), "apple") {
					t.Errorf("a literal value reached the span: %q", attr(s, "db.query.text"))
				}
			}
		})
	}

	// Every call was observed once in the histogram, by operation and
	// outcome, as the spans say.
	spans := f.settle()
	want := map[[2]string]uint64{}
	for _, s := range spans {
		outcome := "ok"
		if attr(s, "error.type") != "" {
			outcome = "error"
			if attr(s, AttrSeverity) != "ERROR" {
				t.Errorf("span %s with error %s: severity %q, want ERROR", s.Name(), attr(s, "error.type"), attr(s, AttrSeverity))
			}
		}
		want[[2]string{attr(s, "db.operation.name"), outcome}]++
	}
	for k, n := range want {
		if got := f.histogram(k[0], k[1]); got != n {
			t.Errorf("hopscope_backend_duration_seconds{operation=%s,outcome=%s} count %d, want %d", k[0], k[1], got, n)
		}
	}
	if f.histogram("SELECT", "error") == 0 || f.histogram("INSERT", "ok") == 0 {
		t.Errorf("operations observed: %v", f.operations())
	}
	if f.decodeErrors() != 0 {
		t.Errorf("decode errors: %v", f.decodeErrors())
	}
}

// TestCancel: a context cancelled during SELECT pg_sleep(10) makes pgx
// send a CancelRequest on a new connection; the server cancels the query
// at once, which proves the request got through, and the session goes on.
func TestCancel(t *testing.T) {
	dbURL := postgresURL(t)
	f := newFixture(t, targetOf(t, dbURL), "")
	cfg, err := pgx.ParseConfig(f.via(dbURL, ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		// Cancel at once; close the connection only if that fails.
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 8 * time.Second}
	}
	ctx := context.Background()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)

	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Exec(qctx, "SELECT pg_sleep(10)")
	took := time.Since(start)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("pg_sleep(10) with a cancelled context: %v, want SQLSTATE 57014 (query_canceled)", err)
	}
	if took > 3*time.Second {
		t.Fatalf("the cancelled query returned after %s", took)
	}
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after the cancel the session should go on: %v", err)
	}
	spans := f.waitSpans(2)
	if got := calls(spans[:1]); got[0] != (call{"SELECT", "SELECT pg_sleep(?)", "57014"}) {
		t.Errorf("cancelled call: %v", got[0])
	}
}

// TestServerEndsSession: a call whose session the server ends (FATAL,
// no ReadyForQuery) is recorded with the FATAL's SQLSTATE when the
// connection closes; the proxy closes the app's side as the server did.
func TestServerEndsSession(t *testing.T) {
	dbURL := postgresURL(t)
	f := newFixture(t, targetOf(t, dbURL), "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, f.via(dbURL, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
		t.Fatalf("terminating its own backend: %v, want 57P01 admin_shutdown", err)
	}
	f.waitGauge("decoded", 0)
	s := f.waitSpans(1)[0]
	if got := calls([]sdktrace.ReadOnlySpan{s})[0]; got != (call{"SELECT", "SELECT pg_terminate_backend(pg_backend_pid())", "57P01"}) {
		t.Errorf("call %v", got)
	}
	if got := attr(s, "hopscope.db.postgresql.error.severity"); got != "FATAL" {
		t.Errorf("severity %q, want FATAL", got)
	}
	if f.histogram("SELECT", "error") != 1 {
		t.Errorf("SELECT errors observed: %d", f.histogram("SELECT", "error"))
	}
}
