package ingressnginx

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/parsertest"
)

// FuzzParse runs both parsers on every input: neither may panic, each
// returns the zero record with an error that names the field, and a record
// keeps its invariants. ParseJSON must accept only valid JSON and read
// strings as encoding/json does. The committed corpus in
// testdata/fuzz/FuzzParse holds every line of testdata/*.log
// (TestCorpusHasSamples checks that).
func FuzzParse(f *testing.F) {
	f.Add(textBase)
	f.Add(jsonBase)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseText(line)
		if err != nil {
			checkErr(t, "ParseText", line, r, err, "ingress-nginx log: field ")
		} else {
			checkRecord(t, "ParseText", line, r)
			if r.Host != "" || r.TraceID != "" || r.XRayRoot != "" {
				t.Fatalf("ParseText(%q) = %+v: the text format has no host or trace headers", line, r)
			}
		}

		r, err = ParseJSON(line)
		if err != nil {
			checkErr(t, "ParseJSON", line, r, err, "ingress-nginx JSON log: ")
			return
		}
		checkRecord(t, "ParseJSON", line, r)
		if !json.Valid([]byte(line)) {
			t.Fatalf("ParseJSON accepted %q, which is not valid JSON", line)
		}
		if !utf8.ValidString(line) {
			return // encoding/json replaces invalid UTF-8, ParseJSON keeps it
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("ParseJSON accepted %q, encoding/json: %v", line, err)
		}
		for key, got := range map[string]string{"host": r.Host, "proxy_upstream_name": r.Upstream} {
			raw, ok := m[key]
			want := ""
			if ok && string(raw) != "null" {
				var s string
				if json.Unmarshal(raw, &s) == nil {
					want = s
				} else {
					want = string(raw) // a number
				}
			}
			if want == "-" {
				want = ""
			}
			if got != want {
				t.Fatalf("ParseJSON(%q): %s = %q, encoding/json reads %q", line, key, got, want)
			}
		}
	})
}

func checkErr(t *testing.T, fn, line string, r correlate.IngressLog, err error, prefix string) {
	t.Helper()
	call := parsertest.Call(fn, line)
	parsertest.CheckError(t, call, r, err, prefix)
	if fn == "ParseJSON" && !strings.Contains(err.Error(), "field ") && !strings.Contains(err.Error(), "invalid JSON at byte ") {
		t.Fatalf("%s error %q names neither a field nor a position", call, err)
	}
}

func checkRecord(t *testing.T, fn, line string, r correlate.IngressLog) {
	t.Helper()
	call := parsertest.Call(fn, line)
	if r.RequestTime < 0 || r.Resolution != Resolution {
		t.Fatalf("%s: RequestTime %v, Resolution %v", call, r.RequestTime, r.Resolution)
	}
	if r.Status < 0 || r.Status > 999 {
		t.Fatalf("%s: Status %d", call, r.Status)
	}
	if !r.Start.IsZero() && r.Start.Location().String() != "UTC" {
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
	parsertest.CheckKeys(t, call, r.Keys)
	// ParseJSON takes $uri as nginx wrote it: decoded, so it may hold "?".
	parsertest.CheckRequest(t, call, r.Method, r.Path, false)
}

// TestCorpusHasSamples checks that the committed seed corpus holds every
// sample line of testdata/*.log, so that the fuzzer starts from all of them.
func TestCorpusHasSamples(t *testing.T) {
	parsertest.CheckCorpusHasSamples(t, "FuzzParse")
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name  string
		file  string
		parse func(string) (correlate.IngressLog, error)
	}{
		{"text", "nginx-text.log", ParseText},
		{"json", "nginx-json.log", ParseJSON},
	} {
		b.Run(bc.name, func(b *testing.B) {
			parsertest.BenchLines(b, filepath.Join("testdata", bc.file), bc.parse)
		})
	}
}
