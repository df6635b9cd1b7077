package collector

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/logformat"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/beacon"
	"github.com/hopscope/hopscope/internal/otlpwire"
	"github.com/hopscope/hopscope/internal/testkit"
)

// replay feeds one recorded scenario through the collector's own parsers
// and mapping into a store, in the order given, and returns the trace's
// breakdown.
func replay(t *testing.T, dir string, order []string) (correlate.Breakdown, *correlate.Store[traceState]) {
	t.Helper()
	store, err := correlate.NewStore(correlate.DefaultStoreConfig(), correlate.Hooks[traceState]{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 10, 0, 1, 0, time.UTC)
	p := logformat.Parser{HAProxyLoc: time.UTC}
	var traceID correlate.TraceID
	add := func(rec correlate.Record) {
		r, err := store.Add(now, rec)
		if err != nil {
			t.Fatal(err)
		}
		if !r.TraceID.IsZero() {
			traceID = r.TraceID
		}
	}
	for _, name := range order {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		switch name {
		case "beacon.json":
			bt, err := beacon.Parse(data, beacon.DefaultLimits())
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			add(&bt)
		case "alb.log", "ingress.log":
			format := FormatALB
			if name == "ingress.log" {
				format = FormatIngressNginxJSON
			}
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			for sc.Scan() {
				rec, err := p.Parse(format, sc.Text())
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				add(rec)
			}
		case "spans.json":
			var req coltracepb.ExportTraceServiceRequest
			if err := otlp.UnmarshalJSON(data, &req); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			body, _ := proto.Marshal(&req)
			err := otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
				// As consumeOTLP files them: under the span's binary trace id.
				if rec := spanRecord(newInterner(maxInterned), nil, res, sp); rec != nil {
					traceID = correlate.TraceID(sp.TraceID)
					store.AddTrace(now, traceID, []correlate.Record{rec}, nil)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	store.Due(now, true) // the exporter's moment: later records are late
	b, ok := store.View(traceID)
	if !ok {
		t.Fatalf("%s: no trace", dir)
	}
	return b, store
}

var allInputs = []string{"spans.json", "ingress.log", "alb.log", "beacon.json"}

// TestRecordedGolden: golden breakdowns from recorded inputs, one per
// scenario the issue names.
func TestRecordedGolden(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "recorded", "*"))
	var n int
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, _ := replay(t, dir, allInputs)
			var sum float64
			for _, h := range b.Hops {
				sum += h.MS
			}
			if math.Abs(sum-b.TotalMS) > 0.1 {
				t.Fatalf("hops sum %.3f != total %.3f", sum, b.TotalMS)
			}
			got, _ := json.MarshalIndent(b, "", "  ")
			golden := filepath.Join(dir, "breakdown.golden.json")
			testkit.Golden(t, golden, append(got, '\n'))
		})
	}
	if n < 7 {
		t.Fatalf("only %d recorded scenarios", n)
	}
}

// TestRecordedExpectations pins the numbers the scenarios were recorded
// with, so a golden file refreshed with -update cannot hide a regression.
func TestRecordedExpectations(t *testing.T) {
	dir := filepath.Join("testdata", "recorded")
	full, _ := replay(t, filepath.Join(dir, "full_path"), allInputs)
	// The beacon's connect (20 ms) was 6 ms of TCP and a 14 ms TLS handshake.
	want := map[string]float64{"dns": 12, "connect": 6, "tls": 14, "edge_network": 30, "loadbalancer": 20, "ingress": 5, "service": 5,
		"sidecar": 10, "app": 23, "redis": 2, "postgres": 25, "http_egress": 30, "download": 10, "other": 3}
	if got := hops(full); !reflect.DeepEqual(got, want) {
		t.Fatalf("full path hops\n got %v\nwant %v", got, want)
	}
	if full.TotalMS != 195 || !full.Complete || full.TotalSource != "rum" {
		t.Fatalf("full path: total %v complete %v source %s missing %v", full.TotalMS, full.Complete, full.TotalSource, full.Missing)
	}
	for _, skew := range []string{"skew_plus_2s", "skew_minus_2s"} {
		b, _ := replay(t, filepath.Join(dir, skew), allInputs)
		if !reflect.DeepEqual(hops(b), want) {
			t.Errorf("%s: ±2 s clock skew changed exclusive times: %v", skew, hops(b))
		}
	}
	noALB, _ := replay(t, filepath.Join(dir, "no_alb"), allInputs)
	if h := hops(noALB); h["edge_network"] != 50 || !reflect.DeepEqual(noALB.Missing, []string{"loadbalancer"}) {
		t.Errorf("no ALB: edge %v missing %v", h["edge_network"], noALB.Missing)
	}
	noRUM, _ := replay(t, filepath.Join(dir, "no_rum"), allInputs)
	if noRUM.TotalSource != "alb" || noRUM.TotalMS != 120 {
		t.Errorf("no RUM: total %v from %s", noRUM.TotalMS, noRUM.TotalSource)
	}
	retries, _ := replay(t, filepath.Join(dir, "ingress_retries"), allInputs)
	if h := hops(retries); h["ingress_retries"] != 3 || len(retries.Tries) != 2 || retries.Tries[0].Status != 502 {
		t.Errorf("retries: %v %+v", h, retries.Tries)
	}
	par, _ := replay(t, filepath.Join(dir, "parallel_backends"), allInputs)
	if h := hops(par); h["postgres"] != 22.5 || h["redis"] != 7.5 || h["app"] != 50 {
		t.Errorf("parallel backends: %v", h)
	}
}

// TestRecordedALBFiveMinutesLate: the ALB line arrives five minutes after
// the rest, once the breakdown was already read, and updates it.
func TestRecordedALBFiveMinutesLate(t *testing.T) {
	dir := filepath.Join("testdata", "recorded", "full_path")
	early, store := replay(t, dir, []string{"spans.json", "ingress.log", "beacon.json"})
	if hops(early)["loadbalancer"] != 0 || early.Complete {
		t.Fatalf("before the ALB log: %v", hops(early))
	}
	data, _ := os.ReadFile(filepath.Join(dir, "alb.log"))
	rec, err := logformat.Parser{}.Parse(FormatALB, strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.Add(time.Date(2026, 11, 26, 10, 5, 1, 0, time.UTC), rec)
	if err != nil || !r.Late {
		t.Fatalf("late add: %+v %v", r, err)
	}
	late, _ := store.View(r.TraceID)
	full, _ := replay(t, dir, allInputs)
	if !reflect.DeepEqual(hops(late), hops(full)) || !late.Complete {
		t.Fatalf("after the late ALB log: %v", hops(late))
	}
}

func hops(b correlate.Breakdown) map[string]float64 {
	m := map[string]float64{}
	for _, h := range b.Hops {
		m[h.Hop] = h.MS
	}
	return m
}
