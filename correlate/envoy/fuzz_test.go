package envoy

import (
	"encoding/json"
	"testing"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/parsertest"
)

// FuzzParseText checks that ParseText never panics, returns the zero
// record with an error that starts with "envoy log: field " (or names
// trailing text), and that a record keeps its invariants. The committed
// corpus holds every line of testdata/envoy-docs.log.
func FuzzParseText(f *testing.F) {
	f.Add(textBase)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseText(line)
		call := parsertest.Call("ParseText", line)
		if err != nil {
			parsertest.CheckError(t, call, r, err, "envoy log: ")
			return
		}
		parsertest.CheckIngressLog(t, call, r, Resolution)
		if r.TraceID != "" || r.Upstream != "" {
			t.Fatalf("%s = %+v: the default format has no trace id or cluster", call, r)
		}
		checkTries(t, call, r)
	})
}

// FuzzParseJSON checks that ParseJSON never panics, accepts only valid
// JSON objects, returns the zero record with an error, and that a record
// keeps its invariants. The committed corpus holds every line of
// testdata/envoy-json.log.
func FuzzParseJSON(f *testing.F) {
	f.Add(`{"duration":3}`)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseJSON(line)
		call := parsertest.Call("ParseJSON", line)
		if err != nil {
			parsertest.CheckError(t, call, r, err, "envoy JSON log: ")
			return
		}
		if !json.Valid([]byte(line)) {
			t.Fatalf("%s accepted invalid JSON", call)
		}
		parsertest.CheckIngressLog(t, call, r, Resolution)
		checkTries(t, call, r)
	})
}

// checkTries: only the last try has an address, status or time; the
// earlier ones are retries Envoy counted but did not describe.
func checkTries(t *testing.T, call string, r correlate.IngressLog) {
	t.Helper()
	for i, try := range r.Tries {
		if i < len(r.Tries)-1 && try != (correlate.UpstreamTry{}) {
			t.Fatalf("%s: earlier try %d %+v", call, i, try)
		}
	}
	if n := len(r.Tries); n > 0 && r.Tries[n-1].Status != r.Status {
		t.Fatalf("%s: last try's status %d, response code %d", call, r.Tries[n-1].Status, r.Status)
	}
	if len(r.Tries) > maxAttempts {
		t.Fatalf("%s: %d tries", call, len(r.Tries))
	}
}

// TestCorpusHasSamples checks that the committed seed corpora hold every
// sample line, so that the fuzzers start from all of them.
func TestCorpusHasSamples(t *testing.T) {
	parsertest.CheckCorpusHasFile(t, "FuzzParseText", "envoy-docs.log")
	parsertest.CheckCorpusHasFile(t, "FuzzParseJSON", "envoy-json.log")
}
