package haproxy

import (
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate/internal/parsertest"
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
		call := parsertest.Call("Parse", line)
		if err != nil {
			parsertest.CheckError(t, call, r, err, "HAProxy log: field ")
			return
		}
		parsertest.CheckLoadBalancerLog(t, call, r)
		if r.Kind != "haproxy" || r.Resolution != time.Millisecond {
			t.Fatalf("%s: Kind %q, Resolution %v", call, r.Kind, r.Resolution)
		}
		if r.TargetStatus != 0 {
			t.Fatalf("%s: TargetStatus %d", call, r.TargetStatus)
		}
		if r.Start.Location() != time.UTC {
			t.Fatalf("%s: Start %v not in UTC", call, r.Start)
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
	parsertest.CheckCorpusHasSamples(t, "FuzzParse")
}
