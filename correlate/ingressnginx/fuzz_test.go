package ingressnginx

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hopscope/hopscope/correlate"
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
	if !reflect.DeepEqual(r, correlate.IngressLog{}) {
		t.Fatalf("%s(%q) returned %+v with error %v", fn, line, r, err)
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("%s(%q) error %q does not start with %q", fn, line, err, prefix)
	}
	if fn == "ParseJSON" && !strings.Contains(err.Error(), "field ") && !strings.Contains(err.Error(), "invalid JSON at byte ") {
		t.Fatalf("%s(%q) error %q names neither a field nor a position", fn, line, err)
	}
}

func checkRecord(t *testing.T, fn, line string, r correlate.IngressLog) {
	t.Helper()
	if r.RequestTime < 0 || r.Resolution != Resolution {
		t.Fatalf("%s(%q): RequestTime %v, Resolution %v", fn, line, r.RequestTime, r.Resolution)
	}
	if r.Status < 0 || r.Status > 999 {
		t.Fatalf("%s(%q): Status %d", fn, line, r.Status)
	}
	if !r.Start.IsZero() && r.Start.Location().String() != "UTC" {
		t.Fatalf("%s(%q): Start %v not in UTC", fn, line, r.Start)
	}
	for i, try := range r.Tries {
		if try.Status < 0 || try.Status > 999 || try.Connect < 0 || try.Header < 0 || try.Response < 0 {
			t.Fatalf("%s(%q): try %d %+v", fn, line, i, try)
		}
	}
	if r.Tries != nil && len(r.Tries) == 0 {
		t.Fatalf("%s(%q): empty, non-nil Tries", fn, line)
	}
	if r.TraceID != "" && (len(r.TraceID) != 32 || strings.Trim(r.TraceID, "0123456789abcdef") != "" || strings.Trim(r.TraceID, "0") == "") {
		t.Fatalf("%s(%q): TraceID %q", fn, line, r.TraceID)
	}
	if r.XRayRoot != "" {
		if _, ok := rootTraceID(r.XRayRoot); !ok {
			t.Fatalf("%s(%q): XRayRoot %q", fn, line, r.XRayRoot)
		}
	}
	if r.Path != "" && r.Path != "*" && r.Path[0] != '/' {
		t.Fatalf("%s(%q): Path %q", fn, line, r.Path)
	}
	if r.Method != "" && !isToken(r.Method) {
		t.Fatalf("%s(%q): Method %q", fn, line, r.Method)
	}
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
			lines := readLines(b, filepath.Join("testdata", bc.file))
			n := 0
			for _, l := range lines {
				n += len(l)
			}
			b.SetBytes(int64(n / len(lines)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := bc.parse(lines[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(lines) {
					i = 0
				}
			}
		})
	}
}
