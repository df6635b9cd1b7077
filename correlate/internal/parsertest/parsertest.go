// Package parsertest is the test support that the access-log parsers'
// tests (correlate/alb, correlate/haproxy, correlate/ingressnginx) share:
// reading sample files and fuzz corpora, checking a parser's result
// against a table or a sample file, the invariants every record keeps
// (for the fuzz targets), and a benchmark over a sample file.
//
// Only _test.go files import it. Each parser keeps its own tables, sample
// files, FuzzParse target and seed corpus; what is here is the checking
// logic that was the same in each.
package parsertest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// Edit returns base with the first occurrence of old replaced by new. It
// panics when old is not in base, so that a table case that no longer
// changes anything fails loudly.
func Edit(base, old, new string) string {
	if !strings.Contains(base, old) {
		panic(fmt.Sprintf("edit: %q not in the base line", old))
	}
	return strings.Replace(base, old, new, 1)
}

// ReadLines returns the lines of the file at path, without newlines.
func ReadLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// ReadCorpus returns the string values of a fuzz corpus directory in the
// "go test fuzz v1" format with one string argument.
func ReadCorpus(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		header, value, ok := strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
		if !ok || header != "go test fuzz v1" || !strings.HasPrefix(value, "string(") || !strings.HasSuffix(value, ")") {
			t.Fatalf("%s: not a one-string corpus entry", e.Name())
		}
		s, err := strconv.Unquote(value[len("string(") : len(value)-1])
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out = append(out, s)
	}
	return out
}

// CheckCorpusHasSamples checks that the committed seed corpus of the fuzz
// target (testdata/fuzz/<target>) holds every sample line of
// testdata/*.log, so that the fuzzer starts from all of them.
func CheckCorpusHasSamples(t testing.TB, target string) {
	t.Helper()
	corpus := ReadCorpus(t, filepath.Join("testdata", "fuzz", target))
	files, err := filepath.Glob(filepath.Join("testdata", "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.log: %v", err)
	}
	for _, file := range files {
		for i, line := range ReadLines(t, file) {
			if !slices.Contains(corpus, line) {
				t.Errorf("%s:%d is not in the seed corpus", file, i+1)
			}
		}
	}
}

// equal compares records with == when their type allows it (a
// LoadBalancerLog), and with reflect.DeepEqual otherwise (an IngressLog
// holds a slice).
func equal[R any](a, b R) bool {
	if reflect.TypeFor[R]().Comparable() {
		return any(a) == any(b)
	}
	return reflect.DeepEqual(a, b)
}

// CheckResult checks what the parser fn returned for one table case. With
// wantErr set, err must contain it and the record must be the zero value;
// otherwise err must be nil and the record want.
func CheckResult[R any](t testing.TB, fn string, got R, err error, want R, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil {
			t.Fatalf("%s = %+v, want error containing %q", fn, got, wantErr)
		}
		if !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%s error = %q, want it to contain %q", fn, err, wantErr)
		}
		var zero R
		if !equal(got, zero) {
			t.Fatalf("%s returned %+v with its error", fn, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	if !equal(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
}

// CheckSamples parses every line of the sample file at path and checks
// that the file has len(want) lines and that line i parses to want[i].
func CheckSamples[R any](t testing.TB, path string, parse func(string) (R, error), want []R) {
	t.Helper()
	lines := ReadLines(t, path)
	if len(lines) != len(want) {
		t.Fatalf("%s: %d lines, want %d", path, len(lines), len(want))
	}
	for i, line := range lines {
		got, err := parse(line)
		if err != nil {
			t.Errorf("%s:%d: %v", path, i+1, err)
			continue
		}
		if !equal(got, want[i]) {
			t.Errorf("%s:%d:\n got %+v\nwant %+v", path, i+1, got, want[i])
		}
	}
}

// BenchLines benchmarks parse over the lines of the sample file at path,
// round robin; bytes per operation are the file's mean line length.
func BenchLines[R any](b *testing.B, path string, parse func(string) (R, error)) {
	lines := ReadLines(b, path)
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := parse(lines[i]); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(lines) {
			i = 0
		}
	}
}

// Call names the call of parser fn on line in failure messages.
func Call(fn, line string) string {
	return fmt.Sprintf("%s(%q)", fn, line)
}

// CheckError checks what a parser returned with an error: the zero
// record, and an error whose message starts with prefix (the format's
// name and, for most errors, "field ").
func CheckError[R any](t testing.TB, call string, r R, err error, prefix string) {
	t.Helper()
	var zero R
	if !equal(r, zero) {
		t.Fatalf("%s returned %+v with error %v", call, r, err)
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("%s error %q does not start with %q", call, err, prefix)
	}
}

// CheckKeys checks the join keys every parser sets: a TraceID is 32 lower
// case hex digits, not all zeros, and an XRayRoot is a well-formed Root.
func CheckKeys(t testing.TB, call string, k correlate.Keys) {
	t.Helper()
	if k.TraceID != "" && (len(k.TraceID) != 32 || strings.Trim(k.TraceID, "0123456789abcdef") != "" || strings.Trim(k.TraceID, "0") == "") {
		t.Fatalf("%s: TraceID %q", call, k.TraceID)
	}
	if k.XRayRoot != "" {
		if _, ok := logparse.RootTraceID(k.XRayRoot); !ok {
			t.Fatalf("%s: XRayRoot %q", call, k.XRayRoot)
		}
	}
}

// CheckRequest checks a record's method and path: a Method is an HTTP
// token, a Path is "*" or starts with '/'. fromTarget says that the path
// was cut from a request target (logparse.PathOf), so that it holds no
// query or fragment either.
func CheckRequest(t testing.TB, call, method, path string, fromTarget bool) {
	t.Helper()
	if method != "" && !logparse.IsToken(method) {
		t.Fatalf("%s: Method %q", call, method)
	}
	if path != "" && path != "*" && (path[0] != '/' || fromTarget && strings.ContainsAny(path, "?#")) {
		t.Fatalf("%s: Path %q", call, path)
	}
}

// CheckLoadBalancerLog checks the invariants that every load-balancer
// parser's records keep: durations not negative, status codes of at most
// three digits, well-formed keys, and a method and path from the request
// line (CheckRequest with fromTarget).
func CheckLoadBalancerLog(t testing.TB, call string, r correlate.LoadBalancerLog) {
	t.Helper()
	if r.Total < 0 || r.Target < 0 {
		t.Fatalf("%s: Total %v, Target %v", call, r.Total, r.Target)
	}
	if r.Status < 0 || r.Status > 999 || r.TargetStatus < 0 || r.TargetStatus > 999 {
		t.Fatalf("%s: Status %d, TargetStatus %d", call, r.Status, r.TargetStatus)
	}
	CheckKeys(t, call, r.Keys)
	CheckRequest(t, call, r.Method, r.Path, true)
}

// CheckCorpusHasFile checks that the committed seed corpus of the fuzz
// target (testdata/fuzz/<target>) holds every line of the sample file
// testdata/<file>: for packages whose targets read different files.
func CheckCorpusHasFile(t testing.TB, target, file string) {
	t.Helper()
	corpus := ReadCorpus(t, filepath.Join("testdata", "fuzz", target))
	path := filepath.Join("testdata", file)
	for i, line := range ReadLines(t, path) {
		if !slices.Contains(corpus, line) {
			t.Errorf("%s:%d is not in the seed corpus of %s", path, i+1, target)
		}
	}
}

// CheckIngressLog checks the invariants that every ingress parser's
// records keep: durations not negative, the parser's resolution, status
// codes of at most three digits, Start in UTC, Tries nil or not empty,
// well-formed keys, and a method and path (CheckRequest, the path cut
// from a request target).
func CheckIngressLog(t testing.TB, call string, r correlate.IngressLog, resolution time.Duration) {
	t.Helper()
	if r.RequestTime < 0 || r.Resolution != resolution {
		t.Fatalf("%s: RequestTime %v, Resolution %v", call, r.RequestTime, r.Resolution)
	}
	if r.Status < 0 || r.Status > 999 {
		t.Fatalf("%s: Status %d", call, r.Status)
	}
	if !r.Start.IsZero() && r.Start.Location() != time.UTC {
		t.Fatalf("%s: Start %v not in UTC", call, r.Start)
	}
	for i, try := range r.Tries {
		if try.Status < 0 || try.Status > 999 || try.Connect < 0 || try.Header < 0 || try.Response < 0 {
			t.Fatalf("%s: try %d %+v", call, i, try)
		}
	}
	if r.Tries != nil && len(r.Tries) == 0 {
		t.Fatalf("%s: empty, non-nil Tries", call)
	}
	CheckKeys(t, call, r.Keys)
	CheckRequest(t, call, r.Method, r.Path, true)
}
