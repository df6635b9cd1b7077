package alb

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// FuzzParse checks that Parse never panics, returns the zero record with
// every error, and that what it returns keeps the record's invariants. The
// committed corpus in testdata/fuzz/FuzzParse holds every line of
// testdata/*.log (TestCorpusHasSamples checks that).
func FuzzParse(f *testing.F) {
	f.Add(base)
	f.Add("")
	f.Add(`"`)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := Parse(line)
		if err != nil {
			if r != (correlate.LoadBalancerLog{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", line, r, err)
			}
			if !strings.HasPrefix(err.Error(), "ALB log: field ") {
				t.Fatalf("Parse(%q) error %q does not name a field", line, err)
			}
			return
		}
		if r.Kind != "alb" {
			t.Fatalf("Kind = %q", r.Kind)
		}
		if r.Total < 0 || r.Target < 0 || r.Target > r.Total {
			t.Fatalf("Parse(%q): Total %v, Target %v", line, r.Total, r.Target)
		}
		if !r.Dispatched && (r.Total != 0 || r.Target != 0) {
			t.Fatalf("Parse(%q): not dispatched but Total %v, Target %v", line, r.Total, r.Target)
		}
		if r.Resolution <= 0 || r.Resolution > time.Second {
			t.Fatalf("Parse(%q): Resolution %v", line, r.Resolution)
		}
		if r.Status < 0 || r.Status > 999 || r.TargetStatus < 0 || r.TargetStatus > 999 {
			t.Fatalf("Parse(%q): Status %d, TargetStatus %d", line, r.Status, r.TargetStatus)
		}
		if (r.TraceID == "") != (r.XRayRoot == "") {
			t.Fatalf("Parse(%q): TraceID %q with XRayRoot %q", line, r.TraceID, r.XRayRoot)
		}
		if r.TraceID != "" {
			want := strings.ToLower(r.XRayRoot[2:10] + r.XRayRoot[11:])
			if r.TraceID != want || strings.Trim(r.TraceID, "0123456789abcdef") != "" {
				t.Fatalf("Parse(%q): TraceID %q, Root %q", line, r.TraceID, r.XRayRoot)
			}
		}
		if r.Path != "" && r.Path != "*" && (r.Path[0] != '/' || strings.ContainsAny(r.Path, "?#")) {
			t.Fatalf("Parse(%q): Path %q", line, r.Path)
		}
		if r.Method != "" && !isToken(r.Method) {
			t.Fatalf("Parse(%q): Method %q", line, r.Method)
		}
		if r.RequestID != "" {
			t.Fatalf("Parse(%q): RequestID %q", line, r.RequestID)
		}
	})
}

// TestCorpusHasSamples checks that the committed seed corpus holds every
// sample line of testdata/*.log, so that the fuzzer starts from all of them.
func TestCorpusHasSamples(t *testing.T) {
	corpus := readCorpus(t, filepath.Join("testdata", "fuzz", "FuzzParse"))
	files, err := filepath.Glob(filepath.Join("testdata", "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.log: %v", err)
	}
	for _, file := range files {
		for i, line := range readLines(t, file) {
			if !slices.Contains(corpus, line) {
				t.Errorf("%s:%d is not in the seed corpus", file, i+1)
			}
		}
	}
}

// readCorpus returns the string values of a fuzz corpus directory in the
// "go test fuzz v1" format with one string argument.
func readCorpus(t *testing.T, dir string) []string {
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
