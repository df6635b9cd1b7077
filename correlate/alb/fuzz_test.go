package alb

import (
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate/internal/parsertest"
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
		call := parsertest.Call("Parse", line)
		if err != nil {
			parsertest.CheckError(t, call, r, err, "ALB log: field ")
			return
		}
		parsertest.CheckLoadBalancerLog(t, call, r)
		if r.Kind != "alb" {
			t.Fatalf("Kind = %q", r.Kind)
		}
		if r.Target > r.Total {
			t.Fatalf("%s: Total %v, Target %v", call, r.Total, r.Target)
		}
		if !r.Dispatched && (r.Total != 0 || r.Target != 0) {
			t.Fatalf("%s: not dispatched but Total %v, Target %v", call, r.Total, r.Target)
		}
		if r.Resolution <= 0 || r.Resolution > time.Second {
			t.Fatalf("%s: Resolution %v", call, r.Resolution)
		}
		// The trace id is the Root's, and only the Root's.
		if (r.TraceID == "") != (r.XRayRoot == "") {
			t.Fatalf("%s: TraceID %q with XRayRoot %q", call, r.TraceID, r.XRayRoot)
		}
		if r.TraceID != "" {
			if want := strings.ToLower(r.XRayRoot[2:10] + r.XRayRoot[11:]); r.TraceID != want {
				t.Fatalf("%s: TraceID %q, Root %q", call, r.TraceID, r.XRayRoot)
			}
		}
		if r.RequestID != "" {
			t.Fatalf("%s: RequestID %q", call, r.RequestID)
		}
	})
}

// TestCorpusHasSamples checks that the committed seed corpus holds every
// sample line of testdata/*.log, so that the fuzzer starts from all of them.
func TestCorpusHasSamples(t *testing.T) {
	parsertest.CheckCorpusHasSamples(t, "FuzzParse")
}
