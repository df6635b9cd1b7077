package pgproxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestQuerySummary: db.query.summary is "{operation} {target}" with the
// first table of a plain statement, else the operation alone.
func TestQuerySummary(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"SELECT id FROM orders WHERE id = $1", "SELECT orders"},
		{"select * from public.orders o join items i on i.order_id = o.id", "SELECT public.orders"},
		{`SELECT * FROM "Order Lines" WHERE id = ?`, `SELECT "Order Lines"`},
		{"SELECT extract(year FROM created) FROM orders", "SELECT orders"},
		{"SELECT * FROM (SELECT id FROM orders) s", "SELECT"},
		{"SELECT * FROM unnest($1::int[])", "SELECT"},
		{"SELECT 1", "SELECT"},
		{"SELECT 'FROM users' AS x", "SELECT"},
		{"SELECT /* FROM x */ 1 FROM /* c */ orders", "SELECT orders"},
		{"INSERT INTO orders (id, total) VALUES ($1, $2)", "INSERT orders"},
		{"INSERT INTO shop.orders SELECT * FROM staging", "INSERT shop.orders"},
		{"UPDATE orders SET total = ? WHERE id = ?", "UPDATE orders"},
		{"UPDATE ONLY orders SET total = ?", "UPDATE orders"},
		{"DELETE FROM orders WHERE id = $1", "DELETE orders"},
		{"DELETE FROM ONLY orders", "DELETE orders"},
		{"WITH recent AS (SELECT * FROM events) SELECT count(*) FROM recent", "SELECT recent"},
		{"WITH gone AS (DELETE FROM carts RETURNING id) INSERT INTO audit SELECT id FROM gone", "INSERT audit"},
		{"COPY orders (id, total) FROM STDIN", "COPY orders"},
		{"COPY (SELECT 1) TO STDOUT", "COPY"},
		{"BEGIN", "BEGIN"},
		{"CREATE TABLE orders (id int)", "CREATE"},
		{"SELECT * FROM " + strings.Repeat("x", 200), "SELECT"},
	} {
		got := QuerySummary(Normalize(nil, []byte(tc.sql)), StatementKind([]byte(tc.sql)))
		if got != tc.want {
			t.Errorf("QuerySummary(%q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}

// startupPacket is a protocol 3.0 startup packet's body.
func startupPacket(params ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, 3<<16)
	for _, p := range params {
		b = append(append(b, p...), 0)
	}
	return append(b, 0)
}

// TestStartupDatabase: db.namespace is the startup packet's database,
// else its user (PostgreSQL's default), else none.
func TestStartupDatabase(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"database", startupPacket("user", "app", "database", "shop"), "shop"},
		{"database first", startupPacket("database", "shop", "user", "app"), "shop"},
		{"user only", startupPacket("user", "app", "application_name", "psql"), "app"},
		{"empty database", startupPacket("user", "app", "database", ""), "app"},
		{"none", startupPacket("application_name", "psql"), ""},
		{"cut", startupPacket("user", "app", "database", "shop")[:18], ""},
		{"not protocol 3", append(binary.BigEndian.AppendUint32(nil, 2<<16), "user\x00app\x00\x00"...), ""},
		{"short", []byte{0, 3}, ""},
	} {
		if got := startupDatabase(tc.body); got != tc.want {
			t.Errorf("%s: startupDatabase = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzQueryTarget: whatever the statement, its target is a bounded part
// of it that holds no string literal, and the summary starts with the
// operation.
func FuzzQueryTarget(f *testing.F) {
	for _, s := range []string{"SELECT * FROM orders", `DELETE FROM ONLY "a"."b"`, "INSERT INTO x.", "UPDATE \"unclosed",
		"COPY t(a) FROM STDIN", "SELECT 1 FROM (", "WITH a AS (SELECT 1) SELECT * FROM a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		norm := Normalize(nil, []byte(sql))
		kind := StatementKind([]byte(sql))
		target := QueryTarget(norm, kind)
		if target != nil {
			if len(target) > maxTarget || !bytes.Contains(norm, target) {
				t.Fatalf("target %q of %q: not a bounded part of it", target, norm)
			}
			if bytes.ContainsAny(target, "' \t\n") && !bytes.HasPrefix(target, []byte{'"'}) {
				t.Fatalf("target %q of %q holds a literal or a blank", target, norm)
			}
		}
		if s := QuerySummary(norm, kind); !strings.HasPrefix(s, kind) {
			t.Fatalf("summary %q does not start with %s", s, kind)
		}
	})
}

// TestNamespaceAndSummary: through the proxy to the real PostgreSQL,
// every span (the connect span too) carries the connection's database as
// db.namespace, and each statement its db.query.summary.
func TestNamespaceAndSummary(t *testing.T) {
	dbURL := postgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	database := strings.TrimPrefix(u.Path, "/")
	if database == "" {
		database = u.User.Username()
	}
	f := newFixture(t, targetOf(t, dbURL), "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, f.via(dbURL, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	steps := []struct {
		sql     string
		args    []any
		summary string
	}{
		{"CREATE TEMP TABLE summary_orders (id int, total int)", nil, "CREATE"},
		{"INSERT INTO summary_orders (id, total) VALUES ($1, $2)", []any{1, 10}, "INSERT summary_orders"},
		{"SELECT total FROM summary_orders WHERE id = $1", []any{1}, "SELECT summary_orders"},
		{"UPDATE summary_orders SET total = 20 WHERE id = $1", []any{1}, "UPDATE summary_orders"},
		{"DELETE FROM summary_orders WHERE id = $1", []any{1}, "DELETE summary_orders"},
		{"SELECT 1", nil, "SELECT"},
	}
	for _, s := range steps {
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
	}
	spans := f.waitSpans(len(steps) + 4)
	var got []string
	for _, s := range spans {
		got = append(got, attr(s, "db.query.summary"))
	}
	var want []string
	for _, s := range steps {
		want = append(want, s.summary)
		if len(s.args) > 0 {
			// pgx prepares a statement with parameters (Parse, Describe,
			// Sync), then runs it: two calls, one statement.
			want = append(want, s.summary)
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("db.query.summary of the calls:\n %q\nwant\n %q", got, want)
	}
	all := f.settle()
	if len(connects(all)) != 1 {
		t.Fatalf("%d connect spans, want 1", len(connects(all)))
	}
	for _, s := range all {
		if ns := attr(s, "db.namespace"); ns != database {
			t.Errorf("%s (%s): db.namespace %q, want %q", s.Name(), attr(s, "db.operation.name"), ns, database)
		}
	}
}
