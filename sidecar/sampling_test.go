package sidecar

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/correlate/probsample"
)

// TestResolveSampler: the sampler and its probability come from the
// flags, else OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, else
// parentbased_always_on; a bad value is an error naming its flag or
// variable.
func TestResolveSampler(t *testing.T) {
	for _, tc := range []struct {
		name           string
		flag, flagArg  string
		env            map[string]string
		want           string
		wantArg        float64
		wantFrom       string
		wantErr        string // a substring; "" = no error
		wantErrNaming  string // the flag or variable the error names
		wantRatio      bool
		wantParentBase bool
	}{
		{name: "default", want: SamplerParentBasedAlwaysOn, wantArg: 1, wantParentBase: true},
		{name: "env ratio", env: map[string]string{envTracesSampler: "parentbased_traceidratio", envTracesSamplerArg: "0.25"},
			want: SamplerParentBasedTraceIDRatio, wantArg: 0.25, wantFrom: envTracesSampler, wantRatio: true, wantParentBase: true},
		{name: "env ratio without arg is 1", env: map[string]string{envTracesSampler: "traceidratio"},
			want: SamplerTraceIDRatio, wantArg: 1, wantFrom: envTracesSampler, wantRatio: true},
		{name: "env value trimmed and case-folded", env: map[string]string{envTracesSampler: " TraceIDRatio ", envTracesSamplerArg: " 0.5 "},
			want: SamplerTraceIDRatio, wantArg: 0.5, wantFrom: envTracesSampler, wantRatio: true},
		{name: "always_off", env: map[string]string{envTracesSampler: "always_off"}, want: SamplerAlwaysOff, wantArg: 1, wantFrom: envTracesSampler},
		{name: "arg ignored by a sampler without one", env: map[string]string{envTracesSampler: "parentbased_always_off", envTracesSamplerArg: "0.1"},
			want: SamplerParentBasedAlwaysOff, wantArg: 1, wantFrom: envTracesSampler, wantParentBase: true},
		{name: "flag wins over env", flag: "traceidratio", flagArg: "0.125",
			env:  map[string]string{envTracesSampler: "always_off", envTracesSamplerArg: "0.9"},
			want: SamplerTraceIDRatio, wantArg: 0.125, wantFrom: "--traces-sampler", wantRatio: true},
		{name: "flag sampler, env arg", flag: "parentbased_traceidratio", env: map[string]string{envTracesSamplerArg: "0"},
			want: SamplerParentBasedTraceIDRatio, wantArg: 0, wantFrom: "--traces-sampler", wantRatio: true, wantParentBase: true},
		{name: "unknown env sampler", env: map[string]string{envTracesSampler: "jaeger_remote"},
			wantErr: "unknown sampler \"jaeger_remote\"", wantErrNaming: envTracesSampler},
		{name: "unknown flag sampler", flag: "ratio", env: map[string]string{envTracesSampler: "always_on"},
			wantErr: "unknown sampler \"ratio\"", wantErrNaming: "--traces-sampler"},
		{name: "env arg not a number", env: map[string]string{envTracesSampler: "traceidratio", envTracesSamplerArg: "quarter"},
			wantErr: "not a number", wantErrNaming: envTracesSamplerArg},
		{name: "env arg above 1", env: map[string]string{envTracesSampler: "traceidratio", envTracesSamplerArg: "1.5"},
			wantErr: "out of range", wantErrNaming: envTracesSamplerArg},
		{name: "flag arg negative", flag: "traceidratio", flagArg: "-0.1", wantErr: "out of range", wantErrNaming: "--traces-sampler-arg"},
		{name: "flag arg NaN", flag: "traceidratio", flagArg: "NaN", wantErr: "out of range", wantErrNaming: "--traces-sampler-arg"},
		{name: "bad arg checked for any sampler", env: map[string]string{envTracesSamplerArg: "1/4"},
			wantErr: "not a number", wantErrNaming: envTracesSamplerArg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			s, err := resolveSampler(tc.flag, tc.flagArg, env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), tc.wantErrNaming+":") {
					t.Fatalf("error %v, want one starting %q containing %q", err, tc.wantErrNaming+":", tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.name != tc.want || s.arg != tc.wantArg || s.from != tc.wantFrom || s.ratio != tc.wantRatio || s.parent != tc.wantParentBase {
				t.Errorf("got %+v, want %s arg %v from %q ratio %v parent %v", s, tc.want, tc.wantArg, tc.wantFrom, tc.wantRatio, tc.wantParentBase)
			}
		})
	}
}

// TestValidateSamplerFlags: Validate names the flag of a bad sampler or
// probability.
func TestValidateSamplerFlags(t *testing.T) {
	for _, tc := range []struct {
		sampler, arg string
		want         string // "" = valid
	}{
		{"", "", ""},
		{"parentbased_traceidratio", "0.25", ""},
		{"ALWAYS_ON", "", ""},
		{"sometimes", "", "--traces-sampler: unknown sampler"},
		{"traceidratio", "2", "--traces-sampler-arg: \"2\" is out of range"},
		{"traceidratio", "x", "--traces-sampler-arg: \"x\" is not a number"},
	} {
		c := DefaultConfig()
		c.TracesSampler, c.TracesSamplerArg = tc.sampler, tc.arg
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q %q: Validate = %v, want %q", tc.sampler, tc.arg, err, tc.want)
		}
	}
}

// TestThreshold: the th value of the probability sampling specification:
// (1-p)·2^56 in at most 14 hex digits, trailing zeros removed, "0" for
// p = 1; its adjusted count 2^56/(2^56-T) is 1/p.
func TestThreshold(t *testing.T) {
	for _, tc := range []struct {
		p    float64
		want string
	}{
		{1, "0"},
		{0.5, "8"},
		{0.25, "c"},
		{0.125, "e"},
		{1.0 / 16, "f"},
		{1.0 / 256, "ff"},
		{0.75, "4"},
		{0.001, "ffbe76c8b43958"},
		{1e-30, "ffffffffffffff"}, // the smallest positive probability: one trace in 2^56
	} {
		th := probsample.Encode(probsample.ThresholdOf(tc.p))
		if th != tc.want {
			t.Errorf("p %v: th %q, want %q", tc.p, th, tc.want)
		}
		if len(th) > 14 {
			t.Errorf("p %v: th %q longer than 14 digits", tc.p, th)
		}
	}
}

// traceIDWithRandomness is a trace id whose low 56 bits are r.
func traceIDWithRandomness(r uint64) trace.TraceID {
	var id trace.TraceID
	copy(id[:], []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0x5e})
	for i := 15; i >= 9; i-- {
		id[i] = byte(r)
		r >>= 8
	}
	return id
}

// TestRatioSamplerDecision: the ratio sampler samples exactly the traces
// whose randomness (the trace id's low 56 bits, or the ot entry's rv) is
// at least the threshold, writes ot=th:… on those, keeps the other
// tracestate entries, and ParentBased honours a parent's sampled flag.
func TestRatioSamplerDecision(t *testing.T) {
	parent := func(flags trace.TraceFlags, ts string) context.Context {
		state, err := trace.ParseTraceState(ts)
		if err != nil {
			t.Fatal(err)
		}
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceIDWithRandomness(1), SpanID: trace.SpanID{1},
			TraceFlags: flags, TraceState: state, Remote: true})
		return trace.ContextWithRemoteSpanContext(context.Background(), sc)
	}
	ratio := newRatioSampler(0.25)
	for _, tc := range []struct {
		name      string
		sampler   sdktrace.Sampler
		ctx       context.Context
		r         uint64 // the trace id's randomness
		sampled   bool
		wantState string
	}{
		{"root below threshold", ratio, context.Background(), 0xbfffffffffffff, false, ""},
		{"root at threshold", ratio, context.Background(), 0xc0000000000000, true, "ot=th:c"},
		{"root top", ratio, context.Background(), 0xffffffffffffff, true, "ot=th:c"},
		{"root bottom", ratio, context.Background(), 0, false, ""},
		{"th replaced, other entries kept", ratio, parent(0, "ot=th:8;rv:ffffffffffffff;x:1,vendor=v"), 0, true, "ot=th:c;rv:ffffffffffffff;x:1,vendor=v"},
		{"rv decides over the trace id", ratio, parent(0, "ot=rv:00000000000001"), 0xffffffffffffff, false, "ot=rv:00000000000001"},
		{"parent-based: sampled parent", sdktrace.ParentBased(ratio), parent(trace.FlagsSampled, "vendor=v"), 0, true, "vendor=v"},
		{"parent-based: unsampled parent", sdktrace.ParentBased(ratio), parent(0, ""), 0xffffffffffffff, false, ""},
		{"parent-based: root", sdktrace.ParentBased(ratio), context.Background(), 0xffffffffffffff, true, "ot=th:c"},
		{"p = 1", newRatioSampler(1), context.Background(), 0, true, "ot=th:0"},
		{"p = 0", newRatioSampler(0), context.Background(), 0xffffffffffffff, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: tc.ctx, TraceID: traceIDWithRandomness(tc.r), Name: "GET"})
			if got := res.Decision == sdktrace.RecordAndSample; got != tc.sampled {
				t.Errorf("sampled %v, want %v", got, tc.sampled)
			}
			if got := res.Tracestate.String(); got != tc.wantState {
				t.Errorf("tracestate %q, want %q", got, tc.wantState)
			}
		})
	}
}

// TestRatioSamplerRate: over many random trace ids the share sampled is p.
func TestRatioSamplerRate(t *testing.T) {
	for _, p := range []float64{0.25, 0.01} {
		s := newRatioSampler(p)
		const n = 200000
		got := 0
		for i := range n {
			var id trace.TraceID
			// A simple mix of i: splitmix64, spread over the low bytes.
			x := uint64(i) + 0x9e3779b97f4a7c15
			x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
			x = (x ^ (x >> 27)) * 0x94d049bb133111eb
			x ^= x >> 31
			for j := 8; j < 16; j++ {
				id[j] = byte(x >> (8 * (j - 8)))
			}
			if s.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: id}).Decision == sdktrace.RecordAndSample {
				got++
			}
		}
		// 5 standard deviations of a binomial.
		mean := p * n
		if sd := sqrt(mean * (1 - p)); float64(got) < mean-5*sd || float64(got) > mean+5*sd {
			t.Errorf("p %v: %d of %d sampled, want about %v", p, got, n, mean)
		}
	}
}

func sqrt(x float64) float64 {
	z := x
	for range 50 {
		z = (z + x/z) / 2
	}
	return z
}

// TestSamplingProxy: with parentbased_traceidratio at 0.25, the sidecar
// exports spans only of the traces it samples, yet counts every request
// in its metrics and logs every one; the app gets the decision in every
// header format (sampled flag 0 for the others), and the sampled ones'
// tracestate carries ot=th:c. A trace context coming in decides instead
// (parent-based), in W3C and B3 alike, even at probability 0.
func TestSamplingProxy(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{} // by X-Request-ID
	app, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("X-Request-ID")] = r.Header.Clone()
		mu.Unlock()
	}))
	type req struct {
		id      string            // X-Request-ID: the trace id with --trace-id-from-request-id
		headers map[string]string // trace context sent
		sampled bool
		th      bool // the app's tracestate is ot=th:c
	}
	id := func(r uint64) string { t := traceIDWithRandomness(r); return hex.EncodeToString(t[:]) }
	for _, tc := range []struct {
		name string
		arg  string
		reqs []req
	}{
		{"ratio 0.25, the sidecar starts the trace", "0.25", []req{
			{id: id(0xc0000000000000), sampled: true, th: true},
			{id: id(0xbfffffffffffff)},
			{id: id(0xffffffffffffff), sampled: true, th: true},
			{id: id(0x00000000000001)},
			{id: id(0x40000000000000)},
			{id: id(0x80000000000000)},
			{id: id(0xdeadbeefcafe00), sampled: true, th: true},
			{id: id(0x12345678901234)},
		}},
		{"ratio 0, incoming decisions honoured", "0", []req{
			{id: "r1", headers: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, sampled: true},
			{id: "r2", headers: map[string]string{"traceparent": "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}},
			{id: "r3", headers: map[string]string{"b3": "2af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1"}, sampled: true},
			{id: "r4", headers: map[string]string{"b3": "3af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0"}},
			{id: "r5", headers: map[string]string{"X-B3-TraceId": "4af7651916cd43dd8448eb211c80319c", "X-B3-SpanId": "b7ad6b7169203331", "X-B3-Sampled": "0"}},
			{id: "r6", headers: map[string]string{"X-B3-TraceId": "5af7651916cd43dd8448eb211c80319c", "X-B3-SpanId": "b7ad6b7169203331", "X-B3-Sampled": "1"}, sampled: true},
			{id: "r7"}, // no context: the ratio, 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newOTLPSink(t)
			h := startSidecar(t, app, func(c *Config) {
				c.OTLPEndpoint = sink.url
				c.TraceIDFromRequestID = true
				c.TracesSampler, c.TracesSamplerArg = SamplerParentBasedTraceIDRatio, tc.arg
			})
			wantSpans := map[string]bool{}
			for _, rq := range tc.reqs {
				r, _ := http.NewRequest(http.MethodGet, h.url+"/orders/7", nil)
				r.Header.Set("X-Request-ID", rq.id)
				for k, v := range rq.headers {
					r.Header.Set(k, v)
				}
				res, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				mu.Lock()
				got := seen[rq.id]
				mu.Unlock()
				if got == nil {
					t.Fatalf("%s: the app saw no request", rq.id)
				}
				flag, b3flag, xray := "-00", "-0", "Sampled=0"
				if rq.sampled {
					flag, b3flag, xray = "-01", "-1", "Sampled=1"
				}
				tp := got.Get("Traceparent")
				if !strings.HasSuffix(tp, flag) {
					t.Errorf("%s: traceparent %q, want flags %s", rq.id, tp, flag)
				}
				if rq.sampled {
					wantSpans[tp[3:35]] = true
				}
				if b3 := got.Get("B3"); !strings.HasSuffix(b3, b3flag) || !strings.HasPrefix(b3, tp[3:35]) {
					t.Errorf("%s: b3 %q, want the trace %s with %s", rq.id, b3, tp[3:35], b3flag)
				}
				if u := got.Get("Uber-Trace-Id"); !strings.HasSuffix(u, ":"+b3flag[1:]) {
					t.Errorf("%s: uber-trace-id %q, want flags %s", rq.id, u, b3flag[1:])
				}
				if x := got.Get("X-Amzn-Trace-Id"); !strings.Contains(x, xray) {
					t.Errorf("%s: X-Amzn-Trace-Id %q, want %s", rq.id, x, xray)
				}
				if ts := got.Get("Tracestate"); (ts == "ot=th:c") != rq.th {
					t.Errorf("%s: tracestate %q, want ot=th:c: %v", rq.id, ts, rq.th)
				}
				if st := res.Header.Get("Server-Timing"); !strings.Contains(st, flag+`"`) {
					t.Errorf("%s: Server-Timing %q, want flags %s", rq.id, st, flag)
				}
			}
			h.shutdown() // flushes the spans and the access log
			gotSpans := map[string]string{}
			for _, sp := range sink.Spans() {
				gotSpans[hex.EncodeToString(sp.TraceId)] = sp.TraceState
			}
			if len(gotSpans) != len(wantSpans) {
				t.Errorf("spans of %d traces exported, want %d (%v)", len(gotSpans), len(wantSpans), gotSpans)
			}
			for tid := range wantSpans {
				ts, ok := gotSpans[tid]
				if !ok {
					t.Errorf("no span of sampled trace %s", tid)
				}
				if tc.arg == "0.25" && ts != "ot=th:c" {
					t.Errorf("trace %s: span trace_state %q, want ot=th:c", tid, ts)
				}
			}
			if got := sumCounter(t, h, "hopscope_requests_total"); got != float64(len(tc.reqs)) {
				t.Errorf("hopscope_requests_total %v, want %d: metrics count every request", got, len(tc.reqs))
			}
			if got := len(h.logs.Lines()); got != len(tc.reqs) {
				t.Errorf("%d access log lines, want %d: one per request, sampled or not", got, len(tc.reqs))
			}
		})
	}
}

// sumCounter adds up every series of the counter name.
func sumCounter(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.Metric {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestEgressCarriesTheSamplersTracestate: a call the app makes through
// the egress proxy on behalf of a request whose trace the ratio sampler
// started carries the sampler's ot=th on, as the app's own request does
// (the inbound tracestate, when there was one, wins as before).
func TestEgressCarriesTheSamplersTracestate(t *testing.T) {
	for _, tc := range []struct {
		name, arg, inbound, want string
	}{
		{"p=1", "1", "", "ot=th:0"},
		{"p=0.5, inbound trace", "0.5", "vendor=x", "vendor=x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotTS := make(chan string, 1)
			api, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotTS <- r.Header.Get("tracestate")
			}))
			proxyAddr := make(chan string, 1)
			app, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				pu, _ := url.Parse("http://" + <-proxyAddr)
				client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
				res, err := client.Get(api + "/quote")
				if err != nil {
					http.Error(w, err.Error(), 502)
					return
				}
				res.Body.Close()
				client.CloseIdleConnections()
			}))
			h := startSidecar(t, app, func(c *Config) {
				c.EgressListen = "127.0.0.1:0"
				c.TracesSampler, c.TracesSamplerArg = SamplerParentBasedTraceIDRatio, tc.arg
			})
			proxyAddr <- h.sc.BackendAddrs()[EgressBackend].String()
			req, _ := http.NewRequest(http.MethodGet, h.url+"/checkout", nil)
			if tc.inbound != "" {
				req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
				req.Header.Set("tracestate", tc.inbound)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if got := <-gotTS; got != tc.want {
				t.Errorf("the API got tracestate %q, want %q", got, tc.want)
			}
		})
	}
}
