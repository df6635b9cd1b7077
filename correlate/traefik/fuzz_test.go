package traefik

import (
	"encoding/json"
	"testing"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/parsertest"
)

// FuzzParseJSON checks that ParseJSON never panics, accepts only valid
// JSON, returns the zero record with an error, and that a record keeps its
// invariants (only the answering try described). The committed corpus
// holds every line of testdata/traefik-json.log.
func FuzzParseJSON(f *testing.F) {
	f.Add(`{"Duration":3}`)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseJSON(line)
		call := parsertest.Call("ParseJSON", line)
		if err != nil {
			parsertest.CheckError(t, call, r, err, "traefik JSON log: ")
			return
		}
		if !json.Valid([]byte(line)) {
			t.Fatalf("%s accepted invalid JSON", call)
		}
		parsertest.CheckIngressLog(t, call, r, Resolution)
		if len(r.Tries) > maxRetries+1 {
			t.Fatalf("%s: %d tries", call, len(r.Tries))
		}
		for i, try := range r.Tries {
			if i < len(r.Tries)-1 && try != (correlate.UpstreamTry{}) {
				t.Fatalf("%s: earlier try %d %+v", call, i, try)
			}
		}
	})
}

// TestCorpusHasSamples checks that the committed seed corpus holds every
// sample line, so that the fuzzer starts from all of them.
func TestCorpusHasSamples(t *testing.T) {
	parsertest.CheckCorpusHasFile(t, "FuzzParseJSON", "traefik-json.log")
}
