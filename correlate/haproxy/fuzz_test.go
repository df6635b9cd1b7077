package haproxy

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
// every error, that a record keeps its invariants, and that neither a
// syslog header nor the time zone changes anything but what they should.
// The committed corpus in testdata/fuzz/FuzzParse holds every line of
// testdata/*.log (TestCorpusHasSamples checks that).
func FuzzParse(f *testing.F) {
	f.Add(base)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := Parse(line, nil)
		if err != nil {
			if r != (correlate.LoadBalancerLog{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", line, r, err)
			}
			if !strings.HasPrefix(err.Error(), "HAProxy log: field ") {
				t.Fatalf("Parse(%q) error %q does not name a field", line, err)
			}
			return
		}
		if r.Kind != "haproxy" || r.Resolution != time.Millisecond {
			t.Fatalf("Parse(%q): Kind %q, Resolution %v", line, r.Kind, r.Resolution)
		}
		if r.Total < 0 || r.Target < 0 {
			t.Fatalf("Parse(%q): Total %v, Target %v", line, r.Total, r.Target)
		}
		if r.Status < 0 || r.Status > 999 || r.TargetStatus != 0 {
			t.Fatalf("Parse(%q): Status %d, TargetStatus %d", line, r.Status, r.TargetStatus)
		}
		if r.Start.Location() != time.UTC {
			t.Fatalf("Parse(%q): Start %v not in UTC", line, r.Start)
		}
		if r.TraceID != "" && (len(r.TraceID) != 32 || strings.Trim(r.TraceID, "0123456789abcdef") != "") {
			t.Fatalf("Parse(%q): TraceID %q", line, r.TraceID)
		}
		if r.XRayRoot != "" {
			if _, ok := rootTraceID(r.XRayRoot); !ok {
				t.Fatalf("Parse(%q): XRayRoot %q", line, r.XRayRoot)
			}
		}
		if r.Path != "" && r.Path != "*" && (r.Path[0] != '/' || strings.ContainsAny(r.Path, "?")) {
			t.Fatalf("Parse(%q): Path %q", line, r.Path)
		}
		if r.Method != "" && !isToken(r.Method) {
			t.Fatalf("Parse(%q): Method %q", line, r.Method)
		}

		// A syslog header in front changes nothing.
		r2, err := Parse("<134>Nov 26 03:30:49 lb-1 haproxy[7528]: "+line, nil)
		if err != nil || r2 != r {
			t.Fatalf("with a syslog header: %+v, %v; without: %+v", r2, err, r)
		}
		// Another zone moves Start by its offset.
		r3, err := Parse(line, time.FixedZone("", 3600))
		if err != nil {
			t.Fatalf("in UTC+1: %v", err)
		}
		if !r3.Start.Equal(r.Start.Add(-time.Hour)) {
			t.Fatalf("in UTC+1 Start %v, in UTC %v", r3.Start, r.Start)
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
