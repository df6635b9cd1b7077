package httpegress

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

func TestParseTraceparent(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	cases := []struct {
		in      string
		ok      bool
		sampled bool
	}{
		{"00-" + tid + "-" + sid + "-01", true, true},
		{"00-" + tid + "-" + sid + "-00", true, false},
		{"00-" + tid + "-" + sid + "-03", true, true}, // unknown flags ignored
		{"01-" + tid + "-" + sid + "-01-future", true, true},
		{"00-" + tid + "-" + sid + "-01-extra", false, false}, // version 00 has no more fields
		{"ff-" + tid + "-" + sid + "-01", false, false},
		{"00-" + "00000000000000000000000000000000" + "-" + sid + "-01", false, false},
		{"00-" + tid + "-0000000000000000-01", false, false},
		{"00-" + "4BF92F3577B34DA6A3CE929D0E0E4736" + "-" + sid + "-01", false, false}, // upper case
		{"00_" + tid + "-" + sid + "-01", false, false},
		{"00-" + tid + "-" + sid + "-0", false, false},
		{"", false, false},
		{"00-" + tid + "-" + sid + "-0g", false, false},
	}
	for _, c := range cases {
		sc, ok := parseTraceparent(c.in)
		if ok != c.ok || (ok && sc.IsSampled() != c.sampled) {
			t.Errorf("parse(%q) = %v ok=%v, want ok=%v sampled=%v", c.in, sc, ok, c.ok, c.sampled)
		}
		if ok && c.in[:2] == "00" && formatTraceparent(sc) != c.in[:53]+map[bool]string{true: "01", false: "00"}[c.sampled] {
			t.Errorf("format(parse(%q)) = %q", c.in, formatTraceparent(sc))
		}
	}
}

func TestOutgoingContext(t *testing.T) {
	e := newEnv(t)
	b := e.rec.Backend(backendCfg("x"))
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}})
	leave := e.tracker.Enter(parent)
	sc := outgoingContext(b.Begin(time.Now(), trace.SpanContext{}))
	leave()
	if sc.TraceID() != parent.TraceID() || sc.SpanID() == parent.SpanID() || !sc.SpanID().IsValid() || sc.IsSampled() {
		t.Errorf("inferred: %v from parent %v; want its trace and flags, a new span", sc, parent)
	}
	a, b2 := outgoingContext(b.Begin(time.Now(), trace.SpanContext{})), outgoingContext(b.Begin(time.Now(), trace.SpanContext{}))
	if !a.IsValid() || a.TraceID() == b2.TraceID() || !a.IsSampled() {
		t.Errorf("ambiguous: %v and %v, want two new sampled traces", a, b2)
	}
}

func TestRedactedURL(t *testing.T) {
	cases := map[string]string{
		"http://h:1/p":                          "http://h:1/p",
		"http://h":                              "http://h/",
		"http://user:pw@h/p?a=1&b=&c":           "http://h/p?a=REDACTED&b=REDACTED&c",
		"https://h/a%20b?token=s3cr3t#frag":     "https://h/a%20b?token=REDACTED",
		"http://h/p?" + string(make([]byte, 0)): "http://h/p",
	}
	for in, want := range cases {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		u.User = nil
		if got := redactedURL(u); got != want {
			t.Errorf("redactedURL(%q) = %q, want %q", in, got, want)
		}
	}
	long := &url.URL{Scheme: "http", Host: "h", Path: "/", RawQuery: string(make([]byte, 5000))}
	if got := redactedURL(long); len(got) > maxURLLen {
		t.Errorf("len %d", len(got))
	}
}

func TestRemoveHopByHop(t *testing.T) {
	h := http.Header{
		"Connection":          {"close, X-Private", "Upgrade"},
		"Upgrade":             {"websocket"},
		"X-Private":           {"1"},
		"Keep-Alive":          {"timeout=5"},
		"Te":                  {"gzip, trailers"},
		"Proxy-Authorization": {"Basic x"},
		"Transfer-Encoding":   {"chunked"},
		"X-Kept":              {"yes"},
	}
	if up := removeHopByHop(h); up != "websocket" {
		t.Errorf("upgrade %q", up)
	}
	want := http.Header{"Te": {"trailers"}, "X-Kept": {"yes"}}
	if len(h) != len(want) || h.Get("Te") != "trailers" || h.Get("X-Kept") != "yes" {
		t.Errorf("left %v, want %v", h, want)
	}
	if up := removeHopByHop(http.Header{"Upgrade": {"h2c"}}); up != "" {
		t.Errorf("an Upgrade the Connection header does not name: %q", up)
	}
}

func TestOpName(t *testing.T) {
	for in, want := range map[string]string{"GET": "HTTP GET", "PATCH": "HTTP PATCH", "get": "HTTP OTHER", "PURGE": "HTTP OTHER", "": "HTTP OTHER"} {
		if got := opName(in); got != want {
			t.Errorf("opName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(10, 2)
	now := time.Unix(1000, 0)
	want := []bool{true, true, false}
	for i, w := range want {
		if got := l.allow(now); got != w {
			t.Fatalf("call %d: %v", i, got)
		}
	}
	if l.allow(now.Add(50 * time.Millisecond)) {
		t.Error("half a token let a call through")
	}
	if !l.allow(now.Add(150 * time.Millisecond)) {
		t.Error("a refilled token was refused")
	}
	if !l.allow(now.Add(time.Hour)) || !l.allow(now.Add(time.Hour)) || l.allow(now.Add(time.Hour)) {
		t.Error("the bucket holds more than its burst")
	}
}

func TestBreakerUnit(t *testing.T) {
	var states []int
	br := newBreaker(2, time.Second, func(s int) { states = append(states, s) })
	now := time.Unix(1000, 0)
	step := func(v verdict) {
		ok, trial := br.allow(now)
		if !ok {
			t.Fatalf("refused at %v", now)
		}
		br.report(now, trial, v)
	}
	step(verdictFailure)
	step(verdictSuccess) // resets the count
	step(verdictFailure)
	step(verdictFailure) // opens
	if ok, _ := br.allow(now.Add(999 * time.Millisecond)); ok {
		t.Fatal("open circuit allowed a call")
	}
	now = now.Add(time.Second)
	ok, trial := br.allow(now)
	if !ok || !trial {
		t.Fatal("no trial after OpenFor")
	}
	if ok, _ := br.allow(now); ok {
		t.Fatal("a second call during the trial")
	}
	br.report(now, true, verdictNone) // the trial's client went away: no verdict
	if ok, trial := br.allow(now); !ok || !trial {
		t.Fatal("no new trial after a trial without verdict")
	}
	br.report(now, true, verdictSuccess)
	want := []int{breakerClosed, breakerOpen, breakerHalfOpen, breakerClosed}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
}

func TestRetryBudgetWindow(t *testing.T) {
	rb := &retryBudget{ratio: 0.5}
	now := time.Unix(1000, 0)
	for range 10 {
		rb.request(now)
	}
	n := 0
	for rb.tryRetry(now) {
		n++
	}
	if n != 5+budgetMinRetries {
		t.Errorf("%d retries for 10 requests at 0.5, want %d", n, 5+budgetMinRetries)
	}
	// The window slides: ten seconds later the old requests and retries
	// are forgotten.
	later := now.Add(budgetWindow * time.Second)
	n = 0
	for rb.tryRetry(later) {
		n++
	}
	if n != budgetMinRetries {
		t.Errorf("%d retries in an empty window, want %d", n, budgetMinRetries)
	}
}
