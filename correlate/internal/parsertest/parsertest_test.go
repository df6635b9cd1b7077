package parsertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// fakeTB records failures; Fatal* stop the check with a panic that
// failures recovers.
type fakeTB struct {
	testing.TB
	msgs []string
}

type fatal struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	panic(fatal{})
}
func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

// failures runs check against a fakeTB and returns its failure messages.
func failures(check func(t testing.TB)) (msgs []string) {
	f := &fakeTB{}
	defer func() {
		if r := recover(); r != nil && r != (fatal{}) {
			panic(r)
		}
		msgs = f.msgs
	}()
	check(f)
	return f.msgs
}

const (
	traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	root    = "1-5759e988-bd862e3fe1be46a994272793"
)

func TestChecksPassAndFail(t *testing.T) {
	good := correlate.LoadBalancerLog{
		Keys:  correlate.Keys{TraceID: traceID, XRayRoot: root},
		Total: time.Second, Target: time.Millisecond, Status: 200, TargetStatus: 502,
		Method: "GET", Path: "/a",
	}
	tests := []struct {
		name   string
		change func(*correlate.LoadBalancerLog)
		fails  bool
	}{
		{"good", func(*correlate.LoadBalancerLog) {}, false},
		{"asterisk path", func(r *correlate.LoadBalancerLog) { r.Path = "*" }, false},
		{"empty", func(r *correlate.LoadBalancerLog) { *r = correlate.LoadBalancerLog{} }, false},
		{"negative Total", func(r *correlate.LoadBalancerLog) { r.Total = -1 }, true},
		{"negative Target", func(r *correlate.LoadBalancerLog) { r.Target = -1 }, true},
		{"status 1000", func(r *correlate.LoadBalancerLog) { r.Status = 1000 }, true},
		{"negative target status", func(r *correlate.LoadBalancerLog) { r.TargetStatus = -1 }, true},
		{"upper-case TraceID", func(r *correlate.LoadBalancerLog) { r.TraceID = strings.ToUpper(traceID) }, true},
		{"short TraceID", func(r *correlate.LoadBalancerLog) { r.TraceID = traceID[1:] }, true},
		{"all-zero TraceID", func(r *correlate.LoadBalancerLog) { r.TraceID = strings.Repeat("0", 32) }, true},
		{"bad Root", func(r *correlate.LoadBalancerLog) { r.XRayRoot = "1-5759e988" }, true},
		{"bad method", func(r *correlate.LoadBalancerLog) { r.Method = "G T" }, true},
		{"relative path", func(r *correlate.LoadBalancerLog) { r.Path = "a" }, true},
		{"query in path", func(r *correlate.LoadBalancerLog) { r.Path = "/a?b" }, true},
		{"fragment in path", func(r *correlate.LoadBalancerLog) { r.Path = "/a#b" }, true},
	}
	for _, tt := range tests {
		r := good
		tt.change(&r)
		msgs := failures(func(t testing.TB) { CheckLoadBalancerLog(t, Call("Parse", "x"), r) })
		if (len(msgs) > 0) != tt.fails {
			t.Errorf("%s: failures %q, want failing %v", tt.name, msgs, tt.fails)
		}
	}
	// Without fromTarget a query is allowed, a relative path is not.
	if msgs := failures(func(t testing.TB) { CheckRequest(t, "f", "GET", "/a?b", false) }); len(msgs) != 0 {
		t.Errorf("CheckRequest(/a?b, false): %q", msgs)
	}
	if msgs := failures(func(t testing.TB) { CheckRequest(t, "f", "GET", "a", false) }); len(msgs) != 1 {
		t.Errorf("CheckRequest(a, false): %q", msgs)
	}
}

func TestCheckError(t *testing.T) {
	err := errors.New("ALB log: field 1 type: missing")
	if msgs := failures(func(t testing.TB) { CheckError(t, "f", correlate.LoadBalancerLog{}, err, "ALB log: field ") }); len(msgs) != 0 {
		t.Errorf("zero record, right prefix: %q", msgs)
	}
	if msgs := failures(func(t testing.TB) {
		CheckError(t, "f", correlate.LoadBalancerLog{Status: 200}, err, "ALB log: field ")
	}); len(msgs) != 1 {
		t.Errorf("record with the error: %q", msgs)
	}
	if msgs := failures(func(t testing.TB) { CheckError(t, "f", correlate.IngressLog{}, err, "HAProxy log: ") }); len(msgs) != 1 {
		t.Errorf("wrong prefix: %q", msgs)
	}
	withTries := correlate.IngressLog{Tries: []correlate.UpstreamTry{}}
	if msgs := failures(func(t testing.TB) { CheckError(t, "f", withTries, err, "ALB") }); len(msgs) != 1 {
		t.Errorf("empty non-nil Tries with the error: %q", msgs)
	}
}

func TestCheckResult(t *testing.T) {
	want := correlate.IngressLog{Status: 200, Tries: []correlate.UpstreamTry{{Addr: "a"}}}
	same := correlate.IngressLog{Status: 200, Tries: []correlate.UpstreamTry{{Addr: "a"}}}
	other := correlate.IngressLog{Status: 200, Tries: []correlate.UpstreamTry{{Addr: "b"}}}
	lbWant := correlate.LoadBalancerLog{Start: time.Unix(1, 0).UTC()}
	// The same instant in another zone is == unequal: the comparison of a
	// comparable record is ==, not reflect.DeepEqual.
	lbOther := correlate.LoadBalancerLog{Start: time.Unix(1, 0).In(time.FixedZone("UTC", 0))}
	errX := errors.New("field 5: bad")
	tests := []struct {
		name  string
		check func(t testing.TB)
		fails bool
	}{
		{"equal", func(t testing.TB) { CheckResult(t, "f", same, nil, want, "") }, false},
		{"different", func(t testing.TB) { CheckResult(t, "f", other, nil, want, "") }, true},
		{"unexpected error", func(t testing.TB) { CheckResult(t, "f", correlate.IngressLog{}, errX, want, "") }, true},
		{"expected error", func(t testing.TB) { CheckResult(t, "f", correlate.IngressLog{}, errX, want, "field 5") }, false},
		{"other error", func(t testing.TB) { CheckResult(t, "f", correlate.IngressLog{}, errX, want, "field 6") }, true},
		{"no error", func(t testing.TB) { CheckResult(t, "f", same, nil, want, "field 5") }, true},
		{"record with the error", func(t testing.TB) { CheckResult(t, "f", same, errX, want, "field 5") }, true},
		{"comparable, equal", func(t testing.TB) { CheckResult(t, "f", lbWant, nil, lbWant, "") }, false},
		{"comparable, == unequal", func(t testing.TB) { CheckResult(t, "f", lbOther, nil, lbWant, "") }, true},
	}
	for _, tt := range tests {
		if msgs := failures(tt.check); (len(msgs) > 0) != tt.fails {
			t.Errorf("%s: failures %q, want failing %v", tt.name, msgs, tt.fails)
		}
	}
}

func TestCorpusAndSamples(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll(filepath.Join("testdata", "fuzz", "FuzzParse"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join("testdata", "a.log"), "one\ntwo \"q\"\n")
	write(filepath.Join("testdata", "fuzz", "FuzzParse", "1"), "go test fuzz v1\nstring(\"one\")\n")
	if msgs := failures(func(t testing.TB) { CheckCorpusHasSamples(t, "FuzzParse") }); len(msgs) != 1 || !strings.Contains(msgs[0], "a.log:2") {
		t.Errorf("line 2 missing from the corpus: %q", msgs)
	}
	write(filepath.Join("testdata", "fuzz", "FuzzParse", "2"), "go test fuzz v1\nstring(\"two \\\"q\\\"\")\n")
	if msgs := failures(func(t testing.TB) { CheckCorpusHasSamples(t, "FuzzParse") }); len(msgs) != 0 {
		t.Errorf("complete corpus: %q", msgs)
	}
	write(filepath.Join("testdata", "fuzz", "FuzzParse", "3"), "go test fuzz v1\nint(1)\n")
	if msgs := failures(func(t testing.TB) { CheckCorpusHasSamples(t, "FuzzParse") }); len(msgs) != 1 {
		t.Errorf("entry of another type: %q", msgs)
	}

	parse := func(s string) (int, error) {
		if s == "bad" {
			return 0, errors.New("bad")
		}
		return len(s), nil
	}
	path := filepath.Join("testdata", "a.log")
	if msgs := failures(func(t testing.TB) { CheckSamples(t, path, parse, []int{3, 7}) }); len(msgs) != 0 {
		t.Errorf("CheckSamples: %q", msgs)
	}
	if msgs := failures(func(t testing.TB) { CheckSamples(t, path, parse, []int{3, 8}) }); len(msgs) != 1 {
		t.Errorf("CheckSamples, line 2 wrong: %q", msgs)
	}
	if msgs := failures(func(t testing.TB) { CheckSamples(t, path, parse, []int{3}) }); len(msgs) != 1 {
		t.Errorf("CheckSamples, line count wrong: %q", msgs)
	}
	write(path, "bad\n")
	if msgs := failures(func(t testing.TB) { CheckSamples(t, path, parse, []int{3}) }); len(msgs) != 1 {
		t.Errorf("CheckSamples, parse error: %q", msgs)
	}
}

func TestEdit(t *testing.T) {
	if got := Edit("a b a", "a", "c"); got != "c b a" {
		t.Errorf("Edit = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Edit of a missing part did not panic")
		}
	}()
	Edit("a b", "x", "y")
}
