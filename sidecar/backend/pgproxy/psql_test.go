package pgproxy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const psqlScript = `CREATE TEMP TABLE t (id int, note text);
INSERT INTO t VALUES (1, 'one'), (2, 'two');
SELECT * FROM t ORDER BY id;
UPDATE t SET note = 'uno' WHERE id = 1;
SELECT 1/0;
BEGIN;
DELETE FROM t WHERE id = 2;
COMMIT;
SELECT count(*), string_agg(note, ',') FROM t;
COPY t TO STDOUT;
`

// TestPsql runs Debian's psql directly and through the proxy (with its
// default sslmode=prefer: the proxy answers the SSLRequest N): the same
// output, and each statement one call.
func TestPsql(t *testing.T) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql is not installed (apt-get install postgresql-client-15)")
	}
	dbURL := postgresURL(t)
	f := newFixture(t, targetOf(t, dbURL), "")
	script := filepath.Join(t.TempDir(), "script.sql")
	if err := os.WriteFile(script, []byte(psqlScript), 0o644); err != nil {
		t.Fatal(err)
	}
	_, directPort, _ := net.SplitHostPort(targetOf(t, dbURL))
	run := func(port string, args ...string) string {
		cmd := exec.Command(psql, append([]string{"-X", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres"}, args...)...)
		cmd.Env = append(os.Environ(), "PGSSLMODE=prefer", "PGCONNECT_TIMEOUT=10")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql %v on port %s: %v\n%s", args, port, err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		calls []call
	}{
		{"select 1", []string{"-c", "select 1"}, []call{{"SELECT", "select ?", ""}}},
		{"script", []string{"-f", script}, []call{
			{"CREATE", "CREATE TEMP TABLE t (id int, note text);", ""},
			{"INSERT", "INSERT INTO t VALUES (?, ?), (?, ?);", ""},
			{"SELECT", "SELECT * FROM t ORDER BY id;", ""},
			{"UPDATE", "UPDATE t SET note = ? WHERE id = ?;", ""},
			{"SELECT", "SELECT ?/?;", "22012"},
			{"BEGIN", "BEGIN;", ""},
			{"DELETE", "DELETE FROM t WHERE id = ?;", ""},
			{"COMMIT", "COMMIT;", ""},
			{"SELECT", "SELECT count(*), string_agg(note, ?) FROM t;", ""},
			{"COPY", "COPY t TO STDOUT;", ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(queries(f.spans.Ended()))
			direct := run(directPort, tc.args...)
			proxied := run(f.port(), tc.args...)
			if direct != proxied {
				t.Fatalf("through the proxy:\n%s\ndirect:\n%s", proxied, direct)
			}
			spans := f.waitSpans(before + len(tc.calls))
			if got := calls(spans[before:]); fmt.Sprint(got) != fmt.Sprint(tc.calls) {
				t.Errorf("calls:\n%s\nwant %v", describe(spans[before:]), tc.calls)
			}
		})
	}
	if got := f.histogram("SELECT", "error"); got != 1 {
		t.Errorf("SELECT errors observed: %d, want 1", got)
	}
	f.waitGauge("decoded", 0)
}
