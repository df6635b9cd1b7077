package redisproxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// rig is a Recorder whose spans and metrics the tests read.
type rig struct {
	b       *backend.Backend
	spans   *tracetest.SpanRecorder
	reg     *prometheus.Registry
	tracker *backend.Tracker
}

// newRig makes a span for every command (backend.Options.SpanEveryCall),
// so that the tests see each command matched with its reply;
// newBatchRig one per pipeline, as the sidecar does.
func newRig(t *testing.T, target string) *rig { return makeRig(t, target, true) }

func newBatchRig(t *testing.T, target string) *rig { return makeRig(t, target, false) }

func makeRig(t *testing.T, target string, everyCall bool) *rig {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	reg := prometheus.NewRegistry()
	tracker := backend.NewTracker()
	rec, err := backend.NewRecorder(backend.Options{Tracer: tp.Tracer("test"), Tracker: tracker, Registerer: reg, SpanEveryCall: everyCall})
	if err != nil {
		t.Fatal(err)
	}
	cfg := backend.Config{Name: "cache", Kind: backend.KindRedis, Listen: "127.0.0.1:0", Target: target}
	return &rig{b: rec.Backend(cfg), spans: spans, reg: reg, tracker: tracker}
}

// call is one ended span as the tests compare it.
type call struct {
	Op  string
	Err string
}

func (c call) String() string {
	if c.Err == "" {
		return c.Op
	}
	return c.Op + "!" + c.Err
}

// calls returns the ended spans in the order they ended.
func (r *rig) calls() []call {
	var out []call
	for _, s := range r.spans.Ended() {
		var c call
		for _, a := range s.Attributes() {
			switch a.Key {
			case "db.operation.name":
				c.Op = a.Value.AsString()
			case "error.type":
				c.Err = a.Value.AsString()
			}
		}
		out = append(out, c)
	}
	return out
}

// callsOf returns the calls of the operations named.
func (r *rig) callsOf(ops ...string) []call {
	var out []call
	for _, c := range r.calls() {
		for _, op := range ops {
			if c.Op == op {
				out = append(out, c)
			}
		}
	}
	return out
}

// durationOf returns the durations of the spans of op.
func (r *rig) durationOf(op string) []time.Duration {
	var out []time.Duration
	for _, s := range r.spans.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == "db.operation.name" && a.Value.AsString() == op {
				out = append(out, s.EndTime().Sub(s.StartTime()))
			}
		}
	}
	return out
}

// batchSizes returns db.operation.batch.size of each ended span, 1 for a
// span of one call.
func (r *rig) batchSizes() []int64 {
	var out []int64
	for _, s := range r.spans.Ended() {
		n := int64(1)
		for _, a := range s.Attributes() {
			if a.Key == "db.operation.batch.size" {
				n = a.Value.AsInt64()
			}
		}
		out = append(out, n)
	}
	return out
}

// timed returns hopscope_backend_duration_seconds' count of op{outcome}.
func (r *rig) timed(op, outcome string) uint64 {
	ms := backendtest.Series(r.reg, "hopscope_backend_duration_seconds", map[string]string{"operation": op, "outcome": outcome})
	if len(ms) == 0 {
		return 0
	}
	return ms[0].GetHistogram().GetSampleCount()
}

// everything returns every span's name and attributes as text, to search
// for what must never be there.
func (r *rig) everything() string {
	var b strings.Builder
	for _, s := range r.spans.Ended() {
		fmt.Fprintf(&b, "%s %s", s.Name(), s.Status().Description)
		for _, a := range s.Attributes() {
			fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
		}
		b.WriteByte('\n')
	}
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				fmt.Fprintf(&b, "%s{%s=%s}\n", mf.GetName(), l.GetName(), l.GetValue())
			}
		}
	}
	return b.String()
}

// decodeErrors returns hopscope_backend_decode_errors_total.
func (r *rig) decodeErrors() float64 { return r.value("hopscope_backend_decode_errors_total", nil) }

// gauge returns hopscope_backend_connections{state}.
func (r *rig) gauge(state string) float64 {
	return r.value("hopscope_backend_connections", map[string]string{"state": state})
}

// value is the first series of name{labels}, -1 when absent.
func (r *rig) value(name string, labels map[string]string) float64 {
	if ms := backendtest.Series(r.reg, name, labels); len(ms) > 0 {
		return backendtest.Value(ms[0])
	}
	return -1
}

// observations returns the histogram's sample count per
// "operation/outcome".
func (r *rig) observations() map[string]uint64 {
	out := map[string]uint64{}
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "hopscope_backend_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var op, outcome, kind string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "operation":
					op = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				case "kind":
					kind = l.GetValue()
				}
			}
			if kind != backend.KindRedis {
				continue
			}
			out[op+"/"+outcome] += m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// waitFor waits until op has n observations with outcome ("ok" or
// "error"): the app may see a reply before the proxy ends its call.
func (r *rig) waitFor(t *testing.T, op, outcome string, n uint64) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%d %s/%s", n, op, outcome), 5*time.Second, func() bool { return r.observations()[op+"/"+outcome] >= n })
}
