package pgproxy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStatementKind(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"SELECT 1", KindSelect},
		{"  \n\tselect * from t", KindSelect},
		{"/* app=shop */ -- a note\n SELECT 1", KindSelect},
		{"(SELECT 1) UNION (SELECT 2)", KindSelect},
		{"insert into t values (1)", KindInsert},
		{"Update t set a = 1", KindUpdate},
		{"DELETE FROM t", KindDelete},
		{"begin", KindBegin},
		{"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", KindBegin},
		{"commit", KindCommit},
		{"END", KindCommit},
		{"rollback", KindRollback},
		{"ABORT", KindRollback},
		{"COPY t FROM STDIN", KindCopy},
		{"create table t (a int)", KindCreate},
		{"ALTER TABLE t ADD b int", KindAlter},
		{"drop table t", KindDrop},
		{"SET search_path = a", KindSet},
		{"show server_version", KindShow},
		{"WITH a AS (SELECT 1) SELECT * FROM a", KindSelect},
		{"with recursive r(n) as (select 1 union all select n+1 from r where n < 5) select n from r", KindSelect},
		{"WITH a AS (DELETE FROM t RETURNING *) INSERT INTO u SELECT * FROM a", KindInsert},
		{"WITH a AS MATERIALIZED (SELECT ')' FROM t), b AS (SELECT $$ ) $$) UPDATE t SET x = 1", KindUpdate},
		{"WITH a AS (SELECT 1", KindWith}, // cut off before its main statement
		{"VACUUM t", KindOther},
		{"EXPLAIN SELECT 1", KindOther},
		{"", KindOther},
		{";", KindOther},
		{"'SELECT'", KindOther},
		{"SELECTED", KindOther},
		{"SELECT 1; DELETE FROM t", KindSelect},
	} {
		if got := StatementKind([]byte(tc.sql)); got != tc.want {
			t.Errorf("StatementKind(%q) = %s, want %s", tc.sql, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"SELECT 1", "SELECT ?"},
		{"SELECT * FROM t WHERE id = 42 AND name = 'bob'", "SELECT * FROM t WHERE id = ? AND name = ?"},
		{"select  a,\n\tb   from t", "select a, b from t"},
		{"  SELECT 1  ", "SELECT ?"},
		{"SELECT 'it''s', E'a\\'b', 'x'", "SELECT ?, ?, ?"},
		{"SELECT e'\\\\', 1", "SELECT ?, ?"},
		{"SELECT $$a 'quoted' $1 $$, $tag$x$tag$, 3", "SELECT ?, ?, ?"},
		{"SELECT $1, $23 FROM t", "SELECT $1, $23 FROM t"},
		{"SELECT 3.14, .5, 1e10, 2.5E-3, 0xFF, 1_000", "SELECT ?, ?, ?, ?, ?, ?"},
		{"SELECT -7", "SELECT -?"},
		{"SELECT col1, t2.c3 FROM t2", "SELECT col1, t2.c3 FROM t2"},
		{`SELECT "Weird ""Name""", "x1" FROM "T"`, `SELECT "Weird ""Name""", "x1" FROM "T"`},
		{"SELECT B'1010', X'FF', N'n', U&'d\\0061'", "SELECT ?, ?, ?, ?"},
		{"SELECT 1 -- trailing secret 123\nFROM t", "SELECT ? FROM t"},
		{"SELECT /* nested /* c */ 'x' */ 1", "SELECT ?"},
		{"SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/", "SELECT ?"},
		{"SELECT 'unterminated", "SELECT ?"},
		{"SELECT $x$ unterminated", "SELECT ?"},
		{"SELECT a::int[], b->>'k' FROM t", "SELECT a::int[], b->>? FROM t"},
		{"INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES (?, ?), (?, ?)"},
		{"SELECT 'é', café FROM t", "SELECT ?, café FROM t"},
		{"", ""},
		{"   ", ""},
	} {
		if got := string(Normalize(nil, []byte(tc.sql))); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}

func TestNormalizeCap(t *testing.T) {
	long := "SELECT " + strings.Repeat("colonne_é, ", 500) + "x FROM t"
	got := Normalize(nil, []byte(long))
	if len(got) > MaxText || len(got) < MaxText-4 {
		t.Errorf("normalised %d bytes, want at most %d and nearly that", len(got), MaxText)
	}
	if !utf8.Valid(got) {
		t.Errorf("cut inside a character: %q", got[len(got)-8:])
	}
	// Appends to what dst holds.
	if got := string(Normalize([]byte("prefix:"), []byte("SELECT 1"))); got != "prefix:SELECT ?" {
		t.Errorf("Normalize appended %q", got)
	}
}

func TestCommentTraceContext(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		sql     string
		valid   bool
		sampled bool
	}{
		{"SELECT 1 /*traceparent='00-" + tid + "-" + sid + "-01'*/", true, true},
		{"SELECT 1 /*traceparent='00-" + tid + "-" + sid + "-00'*/", true, false},
		{"/*action='list',traceparent='00-" + tid + "-" + sid + "-01',tracestate='a%3Db'*/ SELECT 1", true, true},
		{"SELECT 1 /*traceparent='00%2D" + tid + "%2D" + sid + "%2D01'*/", true, true},
		{"SELECT 1 /*x*/ /* traceparent='00-" + tid + "-" + sid + "-01' */", true, true},
		{"SELECT 'traceparent=''00-" + tid + "-" + sid + "-01'''", false, false},
		{"SELECT 1 /* done */ traceparent='00-" + tid + "-" + sid + "-01'", false, false},
		{"SELECT 1 /*traceparent='00-" + strings.Repeat("0", 32) + "-" + sid + "-01'*/", false, false},
		{"SELECT 1 /*traceparent='00-" + tid + "-" + strings.Repeat("0", 16) + "-01'*/", false, false},
		{"SELECT 1 /*traceparent='ff-" + tid + "-" + sid + "-01'*/", false, false},
		{"SELECT 1 /*traceparent='00-" + tid + "-" + sid + "-01-extra'*/", false, false},
		{"SELECT 1 /*traceparent='01-" + tid + "-" + sid + "-01-extra'*/", true, true}, // a later version may add fields
		{"SELECT 1 /*traceparent='00-" + tid[:31] + "g-" + sid + "-01'*/", false, false},
		{"SELECT 1 /*traceparent='00-" + tid + "-" + sid + "-01*/", false, false},
		{"SELECT 1 /*traceparent='%2'*/", false, false},
		{"SELECT 1 /*traceparent='bad' traceparent='00-" + tid + "-" + sid + "-01'*/", true, true},
		{"SELECT 1", false, false},
	} {
		sc := CommentTraceContext([]byte(tc.sql))
		if sc.IsValid() != tc.valid {
			t.Errorf("%q: valid %v, want %v", tc.sql, sc.IsValid(), tc.valid)
			continue
		}
		if !tc.valid {
			continue
		}
		if sc.TraceID().String() != tid || sc.SpanID().String() != sid || !sc.IsRemote() || sc.IsSampled() != tc.sampled {
			t.Errorf("%q: %s/%s remote %v sampled %v", tc.sql, sc.TraceID(), sc.SpanID(), sc.IsRemote(), sc.IsSampled())
		}
	}
}

// TestNormalizeHidesSecrets: the values of SET statements (unquoted ones
// too) and the strings of a session with standard_conforming_strings off
// never reach the normalised text (issue 19, item 12).
func TestNormalizeHidesSecrets(t *testing.T) {
	for _, tc := range []struct {
		sql, want   string
		nonStandard bool
	}{
		{sql: "SET myapp.api_key TO secret", want: "SET myapp.api_key TO ?"},
		{sql: "set myapp.api_key = s3cr3t_v4lue", want: "set myapp.api_key = ?"},
		{sql: "SET LOCAL app.token TO abc.def", want: "SET LOCAL app.token TO ?.?"},
		{sql: "SET SESSION app.token=secret;SELECT a FROM t", want: "SET SESSION app.token=?;SELECT a FROM t"},
		{sql: "SELECT a FROM t; set app.key to secret", want: "SELECT a FROM t; set app.key to ?"},
		{sql: "ALTER ROLE app SET app.api_key TO secret", want: "ALTER ROLE app SET app.api_key TO ?"},
		{sql: "ALTER SYSTEM SET app.key = secret", want: "ALTER SYSTEM SET app.key = ?"},
		{sql: "SET search_path TO app, public", want: "SET search_path TO ?, ?"},
		{sql: "SET TIME ZONE 'UTC'", want: "SET TIME ZONE ?"},
		// Column references, not values: kept.
		{sql: "UPDATE t SET a = b WHERE c = 1", want: "UPDATE t SET a = b WHERE c = ?"},
		{sql: "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = excluded.a", want: "INSERT INTO t VALUES (?) ON CONFLICT (id) DO UPDATE SET a = excluded.a"},
		{sql: "ALTER TABLE t ALTER COLUMN c SET NOT NULL", want: "ALTER TABLE t ALTER COLUMN c SET NOT NULL"},
		// standard_conforming_strings off: a backslash escapes the quote.
		{sql: `SELECT * FROM u WHERE p = 'it\'s the secret' AND q = 1`, want: "SELECT * FROM u WHERE p = ? AND q = ?", nonStandard: true},
		{sql: `SELECT 'a\\', secret_col FROM t`, want: "SELECT ?, secret_col FROM t", nonStandard: true},
		{sql: `SELECT 'it''s', E'x\'y'`, want: "SELECT ?, ?", nonStandard: true},
	} {
		got := string(NormalizeSession(nil, []byte(tc.sql), !tc.nonStandard))
		if got != tc.want {
			t.Errorf("Normalize(%q, nonstandard %v) = %q, want %q", tc.sql, tc.nonStandard, got, tc.want)
		}
	}
}
