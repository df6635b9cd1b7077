package beacon

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hopscope/hopscope/correlate"
)

// FuzzParse checks that Parse never panics, refuses with a zero value and
// an *Error, and that what it accepts is valid JSON whose timing holds
// together. Its seeds are the files of testdata/fuzz/FuzzParse and these.
func FuzzParse(f *testing.F) {
	f.Add([]byte(rumJSBeacon))
	f.Add(readFixture(f, "chromium-156-loopback.json"))
	f.Add(readFixture(f, "chromium-https-tojson.json"))
	f.Fuzz(func(t *testing.T, body []byte) {
		bt, err := Parse(body, Limits{})
		if err != nil {
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("error %T %v is not a *beacon.Error", err, err)
			}
			if bt != (correlate.BrowserTiming{}) {
				t.Fatalf("Parse returned %+v with error %v", bt, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("Parse accepted invalid JSON %q", body)
		}
		checkInvariants(t, body, bt)
		again, err := Parse(body, DefaultLimits())
		if err != nil || again != bt {
			t.Fatalf("second Parse = %+v, %v; first %+v", again, err, bt)
		}
	})
}
