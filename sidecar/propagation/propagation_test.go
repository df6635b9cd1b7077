package propagation

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/correlate/xray"
)

// Inbound ids, distinct per format so that priority is visible.
const (
	tpTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	tpSpan  = "00f067aa0ba902b7"
	tpValue = "00-" + tpTrace + "-" + tpSpan + "-01"

	b3Trace   = "80f198ee56343ba864fe8b2a57d3eff7"
	b3Span    = "e457b5a2e4d86bd1"
	b3Parent  = "05e3ac9a4f6e3b90"
	b3Trace64 = "a3ce929d0e0e4736"

	uberTrace   = "5af7183fb1d4cf5f3b6a8e2c11d09e47"
	uberSpan    = "6b221d5bc9e6496c"
	uberTrace64 = "5af7183fb1d4cf5f"

	xrTrace  = "5759e988bd862e3fe1be46a994272793"
	xrParent = "53995c3f42cd8ad8"
	xrFull   = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

	albTrace    = "67891233abcdef012345678912345678"
	albRoot     = "Root=1-67891233-abcdef012345678912345678"
	albSelfRoot = "Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678"

	pad64 = "0000000000000000"
)

var allFormats = []string{"tracecontext", "baggage", "b3", "b3multi", "jaeger", "xray"}

// hdr builds a header from key, value pairs, canonicalising keys as net/http
// does.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func mustNew(t testing.TB, names []string) *Propagation {
	t.Helper()
	p, err := New(names)
	if err != nil {
		t.Fatalf("New(%q) error = %v", names, err)
	}
	return p
}

func TestNew(t *testing.T) {
	tests := []struct {
		name       string
		names      []string
		wantErr    string
		wantFields []string
	}{
		{
			name:       "default",
			names:      DefaultNames(),
			wantFields: []string{"traceparent", "tracestate", "b3", "uber-trace-id", "x-amzn-trace-id", "baggage"},
		},
		{
			name:       "all, any order",
			names:      []string{"xray", "jaeger", "b3multi", "b3", "baggage", "tracecontext"},
			wantFields: []string{"traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags", "uber-trace-id", "x-amzn-trace-id", "baggage"},
		},
		{name: "tracecontext", names: []string{"tracecontext"}, wantFields: []string{"traceparent", "tracestate"}},
		{name: "baggage", names: []string{"baggage"}, wantFields: []string{"baggage"}},
		{name: "b3 single", names: []string{"b3"}, wantFields: []string{"b3"}},
		{name: "b3 multi", names: []string{"b3multi"}, wantFields: []string{"x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"}},
		{name: "jaeger", names: []string{"jaeger"}, wantFields: []string{"uber-trace-id"}},
		{name: "xray", names: []string{"xray"}, wantFields: []string{"x-amzn-trace-id"}},
		{name: "spaces trimmed", names: []string{" tracecontext", "xray "}, wantFields: []string{"traceparent", "tracestate", "x-amzn-trace-id"}},
		{name: "empty list", names: nil, wantFields: nil},
		{name: "unknown", names: []string{"tracecontext", "foo"}, wantErr: `unknown propagator "foo" (known: tracecontext, baggage, b3, b3multi, jaeger, xray)`},
		{name: "case-sensitive", names: []string{"B3"}, wantErr: `unknown propagator "B3"`},
		{name: "otel aws name is not ours", names: []string{"aws"}, wantErr: `unknown propagator "aws"`},
		{name: "empty name", names: []string{"tracecontext", ""}, wantErr: `unknown propagator ""`},
		{name: "duplicate", names: []string{"b3", "jaeger", "b3"}, wantErr: `duplicate propagator "b3"`},
		{name: "duplicate after trimming", names: []string{"xray", " xray"}, wantErr: `duplicate propagator "xray"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.names)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%q) error = %v, want it to contain %q", tt.names, err, tt.wantErr)
				}
				if p != nil {
					t.Errorf("New(%q) returned a Propagation with an error", tt.names)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q) error = %v", tt.names, err)
			}
			got := p.Fields()
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("Fields() = %q, want %q", got, tt.wantFields)
			}
			if len(got) > 0 {
				got[0] = "mutated"
				if p.Fields()[0] == "mutated" {
					t.Error("Fields() returned the internal slice")
				}
			}
		})
	}
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name        string
		names       []string // nil: DefaultNames
		in          http.Header
		want        Source
		wantTrace   string // remote parent's, or the root-only trace id
		wantSpan    string
		wantSampled bool
		wantState   string
	}{
		// Each format in.
		{name: "traceparent", in: hdr("traceparent", tpValue), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan, wantSampled: true},
		{name: "traceparent not sampled", in: hdr("traceparent", "00-"+tpTrace+"-"+tpSpan+"-00"), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan},
		{name: "traceparent and tracestate", in: hdr("traceparent", tpValue, "tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan, wantSampled: true, wantState: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
		{name: "traceparent future version with extra field", in: hdr("traceparent", "01-"+tpTrace+"-"+tpSpan+"-01-extra"), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan, wantSampled: true},
		{name: "b3 single sampled", in: hdr("b3", b3Trace+"-"+b3Span+"-1"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "b3 single with parent", in: hdr("b3", b3Trace+"-"+b3Span+"-1-"+b3Parent), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "b3 single 64-bit trace id", in: hdr("b3", b3Trace64+"-"+b3Span+"-1"), want: SourceB3, wantTrace: pad64 + b3Trace64, wantSpan: b3Span, wantSampled: true},
		{name: "b3 single not sampled", in: hdr("b3", b3Trace+"-"+b3Span+"-0"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span},
		{name: "b3 single debug", in: hdr("b3", b3Trace+"-"+b3Span+"-d"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "b3 single deferred: the sidecar samples", in: hdr("b3", b3Trace+"-"+b3Span), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "X-B3 multi deferred: the sidecar samples", in: hdr("X-B3-TraceId", b3Trace, "X-B3-SpanId", b3Span), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "X-B3 multi", in: hdr("X-B3-TraceId", b3Trace, "X-B3-SpanId", b3Span, "X-B3-ParentSpanId", b3Parent, "X-B3-Sampled", "1"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "X-B3 multi 64-bit trace id", in: hdr("X-B3-TraceId", b3Trace64, "X-B3-SpanId", b3Span, "X-B3-Sampled", "0"), want: SourceB3, wantTrace: pad64 + b3Trace64, wantSpan: b3Span},
		{name: "X-B3 multi debug flag", in: hdr("X-B3-TraceId", b3Trace, "X-B3-SpanId", b3Span, "X-B3-Flags", "1"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "X-B3 multi read when only b3 single configured", names: []string{"b3"}, in: hdr("X-B3-TraceId", b3Trace, "X-B3-SpanId", b3Span, "X-B3-Sampled", "1"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "b3 single read when only b3multi configured", names: []string{"b3multi"}, in: hdr("b3", b3Trace+"-"+b3Span+"-1"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "uber-trace-id", in: hdr("uber-trace-id", uberTrace+":"+uberSpan+":0:1"), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan, wantSampled: true},
		{name: "uber-trace-id url-encoded", in: hdr("uber-trace-id", uberTrace+"%3A"+uberSpan+"%3A0%3A1"), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan, wantSampled: true},
		{name: "uber-trace-id url-encoded lower case", in: hdr("uber-trace-id", uberTrace+"%3a"+uberSpan+"%3a0%3a1"), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan, wantSampled: true},
		{name: "uber-trace-id 64-bit trace id", in: hdr("uber-trace-id", uberTrace64+":"+uberSpan+":0:1"), want: SourceJaeger, wantTrace: pad64 + uberTrace64, wantSpan: uberSpan, wantSampled: true},
		{name: "uber-trace-id 64-bit url-encoded", in: hdr("uber-trace-id", uberTrace64+"%3A"+uberSpan+"%3A0%3A1"), want: SourceJaeger, wantTrace: pad64 + uberTrace64, wantSpan: uberSpan, wantSampled: true},
		{name: "uber-trace-id not sampled, with parent", in: hdr("uber-trace-id", uberTrace+":"+uberSpan+":"+b3Parent+":0"), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan},
		{name: "X-Ray full", in: hdr("X-Amzn-Trace-Id", xrFull), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent, wantSampled: true},
		{name: "X-Ray full not sampled", in: hdr("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent},
		{name: "X-Ray Sampled=? asks the receiver: the sidecar samples", in: hdr("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?"), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent, wantSampled: true},
		{name: "X-Ray without Sampled: the sidecar samples", in: hdr("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent, wantSampled: true},
		{name: "X-Ray upper-case hex", in: hdr("X-Amzn-Trace-Id", "Root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995C3F42CD8AD8;Sampled=1"), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent, wantSampled: true},
		{name: "X-Ray Root only (ALB)", in: hdr("X-Amzn-Trace-Id", albRoot), want: SourceXRayRootOnly, wantTrace: albTrace},
		{name: "X-Ray Self and Root (ALB)", in: hdr("X-Amzn-Trace-Id", albSelfRoot), want: SourceXRayRootOnly, wantTrace: albTrace},

		// Priority: traceparent > b3 > uber > X-Ray, whatever the config order.
		{name: "all present: traceparent wins", in: allInbound(), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan, wantSampled: true, wantState: "rojo=00f067aa0ba902b7"},
		{name: "all present, reversed config: traceparent wins", names: []string{"xray", "jaeger", "b3", "tracecontext"}, in: allInbound(), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan, wantSampled: true, wantState: "rojo=00f067aa0ba902b7"},
		{name: "b3 beats uber and X-Ray", in: without(allInbound(), "Traceparent"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "b3 single beats X-B3 multi", in: hdr("b3", b3Trace+"-"+b3Span+"-1", "X-B3-TraceId", uberTrace, "X-B3-SpanId", uberSpan), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "uber beats X-Ray", in: hdr("uber-trace-id", uberTrace+":"+uberSpan+":0:1", "X-Amzn-Trace-Id", xrFull), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan, wantSampled: true},
		{name: "X-Ray beats nothing", in: hdr("X-Amzn-Trace-Id", xrFull, "X-Request-Id", "abc"), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent, wantSampled: true},

		// Only configured formats are read.
		{name: "traceparent ignored when not configured", names: []string{"b3", "jaeger", "xray"}, in: allInbound(), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "b3 ignored when not configured", names: []string{"jaeger", "xray"}, in: allInbound(), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan, wantSampled: true},
		{name: "uber ignored when not configured", names: []string{"xray"}, in: allInbound(), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent, wantSampled: true},
		{name: "nothing configured reads nothing", names: []string{"baggage"}, in: allInbound(), want: SourceNone},
		{name: "no headers", in: hdr("X-Request-Id", "abc"), want: SourceNone},

		// Malformed input falls through to the next format.
		{name: "bad traceparent falls to b3", in: hdr("traceparent", "00-"+tpTrace+"-"+tpSpan, "b3", b3Trace+"-"+b3Span+"-1"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span, wantSampled: true},
		{name: "bad b3 falls to uber", in: hdr("b3", "garbage", "uber-trace-id", uberTrace+":"+uberSpan+":0:1"), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan, wantSampled: true},
		{name: "bad uber falls to X-Ray", in: hdr("uber-trace-id", uberTrace+":"+uberSpan+":0", "X-Amzn-Trace-Id", xrFull), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent, wantSampled: true},
		{name: "bad X-Ray Parent falls to nothing", in: hdr("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz"), want: SourceNone},
	}
	for _, m := range malformed {
		tests = append(tests, struct {
			name        string
			names       []string
			in          http.Header
			want        Source
			wantTrace   string
			wantSpan    string
			wantSampled bool
			wantState   string
		}{name: "malformed " + m.name, names: allFormats, in: hdr(m.key, m.value), want: SourceNone})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := tt.names
			if names == nil {
				names = DefaultNames()
			}
			p := mustNew(t, names)
			ctx, src := p.Extract(context.Background(), tt.in)
			if src != tt.want {
				t.Fatalf("Extract() source = %q, want %q", src, tt.want)
			}
			sc := trace.SpanContextFromContext(ctx)
			tid, hasTID := TraceIDFromContext(ctx)
			switch tt.want {
			case SourceNone:
				if sc.IsValid() || hasTID {
					t.Fatalf("SourceNone but ctx carries span context %v / trace id %v", sc, tid)
				}
				return
			case SourceXRayRootOnly:
				if sc.IsValid() {
					t.Fatalf("root-only X-Ray produced a parent span context %v", sc)
				}
				if !hasTID || tid.String() != tt.wantTrace {
					t.Fatalf("TraceIDFromContext() = %v, %v, want %s", tid, hasTID, tt.wantTrace)
				}
				return
			}
			if hasTID {
				t.Errorf("ctx carries a bare trace id %v besides a parent", tid)
			}
			if !sc.IsRemote() {
				t.Errorf("span context not remote")
			}
			if got := sc.TraceID().String(); got != tt.wantTrace {
				t.Errorf("trace id = %s, want %s", got, tt.wantTrace)
			}
			if got := sc.SpanID().String(); got != tt.wantSpan {
				t.Errorf("span id = %s, want %s", got, tt.wantSpan)
			}
			if sc.IsSampled() != tt.wantSampled {
				t.Errorf("sampled = %v, want %v", sc.IsSampled(), tt.wantSampled)
			}
			if got := sc.TraceState().String(); got != tt.wantState {
				t.Errorf("tracestate = %q, want %q", got, tt.wantState)
			}
		})
	}
}

// malformed values of every format; each alone must give SourceNone.
var malformed = []struct{ name, key, value string }{
	{"traceparent too short", "traceparent", "00-" + tpTrace + "-" + tpSpan},
	{"traceparent upper-case hex", "traceparent", "00-" + strings.ToUpper(tpTrace) + "-" + tpSpan + "-01"},
	{"traceparent zero trace id", "traceparent", "00-00000000000000000000000000000000-" + tpSpan + "-01"},
	{"traceparent zero span id", "traceparent", "00-" + tpTrace + "-0000000000000000-01"},
	{"traceparent version ff", "traceparent", "ff-" + tpTrace + "-" + tpSpan + "-01"},
	{"traceparent version 00 extra field", "traceparent", tpValue + "-extra"},
	{"traceparent garbage", "traceparent", "garbage"},
	{"b3 garbage", "b3", "garbage"},
	{"b3 sampling only", "b3", "1"},
	{"b3 trace id only", "b3", b3Trace},
	{"b3 bad sampling", "b3", b3Trace + "-" + b3Span + "-x"},
	{"b3 parent without sampling", "b3", b3Trace + "-" + b3Span + "-" + b3Parent},
	{"b3 non-hex trace id", "b3", "zzf198ee56343ba864fe8b2a57d3eff7-" + b3Span + "-1"},
	{"X-B3 trace id without span id", "X-B3-TraceId", b3Trace},
	{"X-B3 bad trace id", "X-B3-TraceId", "xyz"},
	{"uber three parts", "uber-trace-id", uberTrace + ":" + uberSpan + ":0"},
	{"uber non-hex", "uber-trace-id", "zz" + uberTrace[2:] + ":" + uberSpan + ":0:1"},
	{"uber zero trace id", "uber-trace-id", "0:" + uberSpan + ":0:1"},
	{"uber bad flags", "uber-trace-id", uberTrace + ":" + uberSpan + ":0:zz"},
	{"uber bad escape", "uber-trace-id", uberTrace + "%3" + uberSpan + "%3A0%3A1"},
	{"uber trace id too long", "uber-trace-id", uberTrace + "ab:" + uberSpan + ":0:1"},
	{"X-Ray no Root", "X-Amzn-Trace-Id", "Parent=53995c3f42cd8ad8;Sampled=1"},
	{"X-Ray short Root", "X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a99427279"},
	{"X-Ray W3C-style Root", "X-Amzn-Trace-Id", "Root=" + xrTrace},
	{"X-Ray bad Parent", "X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8adz"},
	{"X-Ray zero Root", "X-Amzn-Trace-Id", "Root=1-00000000-000000000000000000000000"},
	{"X-Ray garbage", "X-Amzn-Trace-Id", "garbage"},
}

// allInbound holds a valid header of every format, each with its own ids.
func allInbound() http.Header {
	return hdr(
		"traceparent", tpValue,
		"tracestate", "rojo=00f067aa0ba902b7",
		"b3", b3Trace+"-"+b3Span+"-1-"+b3Parent,
		"uber-trace-id", uberTrace+":"+uberSpan+":0:1",
		"X-Amzn-Trace-Id", xrFull,
	)
}

func without(h http.Header, keys ...string) http.Header {
	for _, k := range keys {
		h.Del(k)
	}
	return h
}

// newTracer returns an SDK tracer that uses IDGenerator and records spans.
func newTracer(t testing.TB) (trace.Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithIDGenerator(IDGenerator{}),
		sdktrace.WithSpanProcessor(rec),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp.Tracer("hopscope/sidecar/propagation_test"), rec
}

// written is what one outbound header says.
type written struct {
	trace, span string
	sampled     string // "1", "0" or "" (deferred)
}

// parseWritten parses every trace header in h back, independently of the
// propagators that wrote it.
func parseWritten(t *testing.T, h http.Header) map[string]written {
	t.Helper()
	out := map[string]written{}
	if v := h.Get("traceparent"); v != "" {
		var tid, sid string
		var flags int
		parts := strings.Split(v, "-")
		if len(parts) != 4 || parts[0] != "00" {
			t.Fatalf("traceparent %q malformed", v)
		}
		tid, sid = parts[1], parts[2]
		if _, err := fmt.Sscanf(parts[3], "%02x", &flags); err != nil {
			t.Fatalf("traceparent %q flags: %v", v, err)
		}
		out["traceparent"] = written{tid, sid, fmt.Sprint(flags & 1)}
	}
	if v := h.Get("b3"); v != "" {
		parts := strings.Split(v, "-")
		switch len(parts) {
		case 2:
			out["b3"] = written{parts[0], parts[1], ""}
		case 3:
			sampled := parts[2]
			if sampled == "d" { // debug implies sampled
				sampled = "1"
			}
			out["b3"] = written{parts[0], parts[1], sampled}
		default:
			t.Fatalf("b3 %q: want {trace}-{span}[-{sampled}]", v)
		}
	}
	if v := h.Get("X-B3-TraceId"); v != "" {
		out["X-B3"] = written{v, h.Get("X-B3-SpanId"), h.Get("X-B3-Sampled")}
	}
	if v := h.Get("uber-trace-id"); v != "" {
		parts := strings.Split(v, ":")
		if len(parts) != 4 || parts[2] != "0" {
			t.Fatalf("uber-trace-id %q: want {trace}:{span}:0:{flags}", v)
		}
		out["uber-trace-id"] = written{parts[0], parts[1], parts[3]}
	}
	if v := h.Get("X-Amzn-Trace-Id"); v != "" {
		xh, err := xray.Parse(v)
		if err != nil {
			t.Fatalf("X-Amzn-Trace-Id %q: %v", v, err)
		}
		out["X-Amzn-Trace-Id"] = written{xh.TraceIDHex(), xh.Parent, xh.Sampled}
	}
	return out
}

// TestRoundTrip extracts each inbound format, starts a real SDK server span
// from the result, injects it, and parses every written header back.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		in        http.Header
		want      Source
		wantTrace string // "" means a new random trace
		wantSpan  string // inbound parent of the sidecar span; "" for a root span
	}{
		{name: "traceparent", in: hdr("traceparent", tpValue), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan},
		{name: "traceparent+tracestate", in: hdr("traceparent", tpValue, "tracestate", "rojo=00f067aa0ba902b7"), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan},
		{name: "traceparent not sampled", in: hdr("traceparent", "00-"+tpTrace+"-"+tpSpan+"-00"), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan},
		{name: "b3 single with parent", in: hdr("b3", b3Trace+"-"+b3Span+"-1-"+b3Parent), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span},
		{name: "b3 single 64-bit", in: hdr("b3", b3Trace64+"-"+b3Span+"-1"), want: SourceB3, wantTrace: pad64 + b3Trace64, wantSpan: b3Span},
		{name: "b3 single deferred", in: hdr("b3", b3Trace+"-"+b3Span), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span},
		{name: "X-B3 multi", in: hdr("X-B3-TraceId", b3Trace, "X-B3-SpanId", b3Span, "X-B3-ParentSpanId", b3Parent, "X-B3-Sampled", "1"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span},
		{name: "X-B3 multi 64-bit", in: hdr("X-B3-TraceId", b3Trace64, "X-B3-SpanId", b3Span, "X-B3-Sampled", "1"), want: SourceB3, wantTrace: pad64 + b3Trace64, wantSpan: b3Span},
		{name: "X-B3 multi debug", in: hdr("X-B3-TraceId", b3Trace, "X-B3-SpanId", b3Span, "X-B3-Flags", "1"), want: SourceB3, wantTrace: b3Trace, wantSpan: b3Span},
		{name: "uber-trace-id", in: hdr("uber-trace-id", uberTrace+":"+uberSpan+":0:1"), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan},
		{name: "uber-trace-id %3A", in: hdr("uber-trace-id", uberTrace+"%3A"+uberSpan+"%3A0%3A1"), want: SourceJaeger, wantTrace: uberTrace, wantSpan: uberSpan},
		{name: "uber-trace-id 64-bit", in: hdr("uber-trace-id", uberTrace64+":"+uberSpan+":0:1"), want: SourceJaeger, wantTrace: pad64 + uberTrace64, wantSpan: uberSpan},
		{name: "X-Ray full", in: hdr("X-Amzn-Trace-Id", xrFull), want: SourceXRay, wantTrace: xrTrace, wantSpan: xrParent},
		{name: "X-Ray Root only", in: hdr("X-Amzn-Trace-Id", albRoot), want: SourceXRayRootOnly, wantTrace: albTrace},
		{name: "X-Ray Self;Root", in: hdr("X-Amzn-Trace-Id", albSelfRoot), want: SourceXRayRootOnly, wantTrace: albTrace},
		{name: "all formats: traceparent wins", in: allInbound(), want: SourceTraceContext, wantTrace: tpTrace, wantSpan: tpSpan},
		{name: "no headers", in: hdr("X-Request-Id", "r1"), want: SourceNone},
	}
	for _, m := range malformed {
		tests = append(tests, struct {
			name      string
			in        http.Header
			want      Source
			wantTrace string
			wantSpan  string
		}{name: "malformed " + m.name, in: hdr(m.key, m.value), want: SourceNone})
	}
	p := mustNew(t, allFormats)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tracer, rec := newTracer(t)
			ctx, src := p.Extract(context.Background(), tt.in)
			if src != tt.want {
				t.Fatalf("source = %q, want %q", src, tt.want)
			}
			ctx, span := tracer.Start(ctx, "inbound", trace.WithSpanKind(trace.SpanKindServer))
			span.End()
			sc := span.SpanContext()

			// The sidecar span: same trace, child of the inbound span.
			switch {
			case tt.wantTrace == "":
				// New trace: random, and not any inbound-looking id.
				if !sc.TraceID().IsValid() {
					t.Fatal("new trace id invalid")
				}
				for _, v := range tt.in {
					if strings.Contains(strings.ToLower(v[0]), sc.TraceID().String()[:8]) {
						t.Fatalf("new trace id %s looks taken from inbound %q", sc.TraceID(), v[0])
					}
				}
			case sc.TraceID().String() != tt.wantTrace:
				t.Fatalf("span trace id = %s, want inbound %s", sc.TraceID(), tt.wantTrace)
			}
			if ended := rec.Ended(); len(ended) == 1 {
				got := ended[0].Parent().SpanID()
				if tt.wantSpan == "" && got.IsValid() || tt.wantSpan != "" && got.String() != tt.wantSpan {
					t.Fatalf("span parent = %s, want %q", got, tt.wantSpan)
				}
			} else if sc.IsSampled() {
				t.Fatalf("sampled span not recorded")
			}

			out := tt.in.Clone()
			out.Set("X-Request-Id", "kept")
			p.Inject(ctx, out)

			got := parseWritten(t, out)
			for _, f := range []string{"traceparent", "b3", "X-B3", "uber-trace-id", "X-Amzn-Trace-Id"} {
				w, ok := got[f]
				if !ok {
					t.Errorf("%s not written", f)
					continue
				}
				if w.trace != sc.TraceID().String() {
					t.Errorf("%s trace id = %s, want %s", f, w.trace, sc.TraceID())
				}
				if w.span != sc.SpanID().String() {
					t.Errorf("%s parent span id = %s, want the sidecar span %s", f, w.span, sc.SpanID())
				}
				wantSampled := "0"
				if sc.IsSampled() {
					wantSampled = "1"
				}
				if w.sampled != wantSampled && !(w.sampled == "" && (f == "b3" || f == "X-B3")) {
					t.Errorf("%s sampled = %q, want %q", f, w.sampled, wantSampled)
				}
			}
			if v := out.Get("X-B3-ParentSpanId"); v != "" {
				t.Errorf("stale X-B3-ParentSpanId %q kept", v)
			}
			if got, want := out.Get("tracestate"), sc.TraceState().String(); got != want {
				t.Errorf("tracestate = %q, want %q (from the span context)", got, want)
			}
			if out.Get("X-Request-Id") != "kept" {
				t.Error("unrelated header lost")
			}
			for k, v := range out {
				if len(v) != 1 {
					t.Errorf("header %s has %d values %q, want 1", k, len(v), v)
				}
			}
		})
	}
}

// TestALBRootOnlyKeepsTraceID: the sidecar's root span takes the ALB's Root as
// its trace id, and every outbound format carries it.
func TestALBRootOnlyKeepsTraceID(t *testing.T) {
	for _, v := range []string{albRoot, albSelfRoot, " " + albRoot + " ;Foo=bar"} {
		t.Run(v, func(t *testing.T) {
			p := mustNew(t, DefaultNames())
			tracer, rec := newTracer(t)
			ctx, src := p.Extract(context.Background(), hdr("X-Amzn-Trace-Id", v))
			if src != SourceXRayRootOnly {
				t.Fatalf("source = %q, want %q", src, SourceXRayRootOnly)
			}
			ctx, span := tracer.Start(ctx, "inbound", trace.WithSpanKind(trace.SpanKindServer))
			_, child := tracer.Start(ctx, "child")
			child.End()
			span.End()
			sc := span.SpanContext()
			if got := sc.TraceID().String(); got != albTrace {
				t.Fatalf("root span trace id = %s, want ALB %s", got, albTrace)
			}
			if child.SpanContext().TraceID() != sc.TraceID() {
				t.Errorf("child trace id %s differs", child.SpanContext().TraceID())
			}
			var root sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == "inbound" {
					root = s
				}
			}
			if root.Parent().IsValid() {
				t.Errorf("root span has parent %v, want none", root.Parent())
			}
			if !sc.IsSampled() {
				t.Errorf("root span not sampled by the default sampler")
			}
			out := http.Header{}
			p.Inject(ctx, out)
			want := xray.Format(sc.TraceID(), sc.SpanID(), true)
			if got := out.Get("X-Amzn-Trace-Id"); got != want {
				t.Errorf("X-Amzn-Trace-Id = %q, want %q", got, want)
			}
			if !strings.HasPrefix(want, albRoot+";Parent=") {
				t.Errorf("X-Amzn-Trace-Id %q does not keep the ALB Root", want)
			}
			if got := out.Get("traceparent"); !strings.Contains(got, albTrace) {
				t.Errorf("traceparent %q does not carry the ALB trace id", got)
			}
		})
	}
}

func TestMalformedStartsNewRandomTrace(t *testing.T) {
	p := mustNew(t, allFormats)
	tracer, _ := newTracer(t)
	for _, m := range malformed {
		t.Run(m.name, func(t *testing.T) {
			seen := map[trace.TraceID]bool{}
			for range 3 {
				ctx, src := p.Extract(context.Background(), hdr(m.key, m.value))
				if src != SourceNone {
					t.Fatalf("source = %q, want none", src)
				}
				_, span := tracer.Start(ctx, "inbound")
				span.End()
				tid := span.SpanContext().TraceID()
				if !tid.IsValid() || seen[tid] {
					t.Fatalf("trace id %s invalid or repeated", tid)
				}
				seen[tid] = true
			}
		})
	}
}

func TestInjectOnlyConfiguredFormats(t *testing.T) {
	stale := func() http.Header {
		h := allInbound()
		h.Set("X-B3-TraceId", b3Trace)
		h.Set("X-B3-SpanId", b3Span)
		h.Set("X-B3-ParentSpanId", b3Parent)
		h.Set("X-B3-Sampled", "1")
		h.Set("X-B3-Flags", "1")
		h.Set("baggage", "k=v")
		h.Set("X-Request-Id", "r1")
		return h
	}
	tests := []struct {
		names       []string
		wantWritten []string // canonical keys holding the new span id
		wantDeleted []string
	}{
		{names: []string{"tracecontext"}, wantWritten: []string{"Traceparent"}, wantDeleted: []string{"Tracestate"}},
		{names: []string{"b3"}, wantWritten: []string{"B3"}, wantDeleted: []string{"X-B3-Traceid", "X-B3-Spanid", "X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Flags"}},
		{names: []string{"b3multi"}, wantWritten: []string{"X-B3-Spanid"}, wantDeleted: []string{"B3", "X-B3-Parentspanid", "X-B3-Flags"}},
		{names: []string{"b3", "b3multi"}, wantWritten: []string{"B3", "X-B3-Spanid"}, wantDeleted: []string{"X-B3-Parentspanid", "X-B3-Flags"}},
		{names: []string{"jaeger"}, wantWritten: []string{"Uber-Trace-Id"}},
		{names: []string{"xray"}, wantWritten: []string{"X-Amzn-Trace-Id"}},
		{names: []string{"baggage"}, wantDeleted: []string{"Baggage"}}, // no baggage in ctx
		{names: nil},
		{
			names:       DefaultNames(),
			wantWritten: []string{"Traceparent", "B3", "Uber-Trace-Id", "X-Amzn-Trace-Id"},
			wantDeleted: []string{"Tracestate", "X-B3-Traceid", "X-B3-Spanid", "X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Flags", "Baggage"},
		},
	}
	tracer, _ := newTracer(t)
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, ","), func(t *testing.T) {
			p := mustNew(t, tt.names)
			// A span of a new trace, with no baggage in ctx.
			ctx, span := tracer.Start(context.Background(), "inbound")
			defer span.End()
			sid := span.SpanContext().SpanID().String()

			in := stale()
			out := in.Clone()
			p.Inject(ctx, out)
			for _, k := range tt.wantWritten {
				if v := out.Get(k); !strings.Contains(v, sid) {
					t.Errorf("%s = %q, want the new span id %s", k, v, sid)
				}
			}
			for _, k := range tt.wantDeleted {
				if v, ok := out[k]; ok {
					t.Errorf("%s = %q, want deleted", k, v)
				}
			}
			for k, v := range in {
				if slices.Contains(tt.wantWritten, k) || slices.Contains(tt.wantDeleted, k) {
					continue
				}
				if k == "X-B3-Traceid" || k == "X-B3-Sampled" {
					if slices.Contains(tt.names, "b3multi") {
						continue // rewritten with the span's values
					}
				}
				if !slices.Equal(out[k], v) {
					t.Errorf("%s = %q, want untouched %q", k, out[k], v)
				}
			}
		})
	}
}

func TestInjectWithoutSpanRemovesStaleHeaders(t *testing.T) {
	p := mustNew(t, DefaultNames())
	h := allInbound()
	h.Set("X-Request-Id", "r1")
	p.Inject(context.Background(), h)
	if len(h) != 1 || h.Get("X-Request-Id") != "r1" {
		t.Errorf("headers after Inject without span = %v, want only X-Request-Id", h)
	}
}

func TestBaggagePassesThrough(t *testing.T) {
	const bag = "userId=alice,region=eu-west-1;p=1"
	tests := []struct {
		name       string
		names      []string
		in         string
		wantCtx    bool   // baggage extracted into ctx
		wantHeader string // Baggage after Inject, "" for absent
	}{
		{name: "configured", names: allFormats, in: bag, wantCtx: true, wantHeader: bag},
		{name: "configured, with multiple header lines", names: allFormats, in: "userId=alice\x00region=eu-west-1;p=1", wantCtx: true, wantHeader: bag},
		{name: "not configured", names: []string{"tracecontext", "b3", "jaeger", "xray"}, in: bag, wantHeader: bag},
		{name: "not configured, invalid value kept byte for byte", names: []string{"tracecontext"}, in: "not ; valid==", wantHeader: "not ; valid=="},
		{name: "configured, absent", names: allFormats},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.names)
			tracer, _ := newTracer(t)
			in := hdr("traceparent", tpValue)
			for _, v := range strings.Split(tt.in, "\x00") {
				if v != "" {
					in.Add("baggage", v)
				}
			}
			ctx, _ := p.Extract(context.Background(), in)
			if got := baggage.FromContext(ctx).Len() > 0; got != tt.wantCtx {
				t.Errorf("baggage in ctx = %v, want %v", got, tt.wantCtx)
			}
			ctx, span := tracer.Start(ctx, "inbound")
			defer span.End()
			out := in.Clone()
			p.Inject(ctx, out)
			got := strings.Join(out.Values("baggage"), ",")
			if tt.wantCtx {
				// Re-encoded by the baggage propagator: compare members.
				gb, err := baggage.Parse(got)
				if err != nil {
					t.Fatalf("outbound baggage %q: %v", got, err)
				}
				wb, _ := baggage.Parse(tt.wantHeader)
				if gb.Len() != wb.Len() {
					t.Fatalf("outbound baggage %q, want members of %q", got, tt.wantHeader)
				}
				for _, m := range wb.Members() {
					gm := gb.Member(m.Key())
					if gm.String() != m.String() {
						t.Errorf("member %s = %q, want %q", m.Key(), gm, m)
					}
				}
				return
			}
			if got != tt.wantHeader {
				t.Errorf("outbound baggage = %q, want %q", got, tt.wantHeader)
			}
		})
	}
}

func TestExtractHidesExistingSpan(t *testing.T) {
	p := mustNew(t, DefaultNames())
	tracer, _ := newTracer(t)
	ctx, span := tracer.Start(context.Background(), "existing")
	defer span.End()

	// A malformed header must not look like a successful extraction.
	got, src := p.Extract(ctx, hdr("traceparent", "garbage"))
	if src != SourceNone || got != ctx {
		t.Errorf("Extract(malformed) = %q and a new ctx, want none and ctx as given", src)
	}
	got, src = p.Extract(ctx, hdr("X-Amzn-Trace-Id", albRoot))
	if src != SourceXRayRootOnly {
		t.Fatalf("source = %q", src)
	}
	_, s2 := tracer.Start(got, "inbound")
	if s2.SpanContext().TraceID().String() != albTrace {
		t.Errorf("root-only extraction under an existing span: trace id %s, want %s", s2.SpanContext().TraceID(), albTrace)
	}
	got, src = p.Extract(ctx, hdr("traceparent", tpValue))
	if src != SourceTraceContext || trace.SpanContextFromContext(got).TraceID().String() != tpTrace {
		t.Errorf("Extract(traceparent) under an existing span = %q", src)
	}
}

func TestIDGenerator(t *testing.T) {
	tid, _ := trace.TraceIDFromHex(albTrace)
	tests := []struct {
		name string
		ctx  context.Context
		want string // "" means random
	}{
		{name: "no trace id in ctx", ctx: context.Background()},
		{name: "trace id in ctx", ctx: ContextWithTraceID(context.Background(), tid), want: albTrace},
		{name: "zero trace id ignored", ctx: ContextWithTraceID(context.Background(), trace.TraceID{})},
	}
	g := IDGenerator{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t1, s1 := g.NewIDs(tt.ctx)
			t2, s2 := g.NewIDs(tt.ctx)
			if !t1.IsValid() || !s1.IsValid() || !s2.IsValid() || s1 == s2 {
				t.Fatalf("NewIDs = %s/%s, %s/%s", t1, s1, t2, s2)
			}
			if tt.want != "" {
				if t1.String() != tt.want || t2.String() != tt.want {
					t.Errorf("NewIDs trace ids %s %s, want %s", t1, t2, tt.want)
				}
			} else if t1 == t2 {
				t.Errorf("random trace ids repeat: %s", t1)
			}
			if a, b := g.NewSpanID(tt.ctx, t1), g.NewSpanID(tt.ctx, t1); !a.IsValid() || a == b {
				t.Errorf("NewSpanID = %s, %s", a, b)
			}
		})
	}
}

func TestCanonicalKey(t *testing.T) {
	p := mustNew(t, allFormats)
	for _, f := range append(p.Fields(), "x-b3-parentspanid", "Other-Header", "x-request-id") {
		if got, want := canonicalKey(f), textproto.CanonicalMIMEHeaderKey(f); got != want {
			t.Errorf("canonicalKey(%q) = %q, want %q", f, got, want)
		}
	}
}

func TestInjectCarrier(t *testing.T) {
	tests := []struct {
		name string
		cap  int
		sets []string
	}{
		{name: "within the shared buffer", cap: 3, sets: []string{"traceparent", "b3", "uber-trace-id"}},
		{name: "more than expected falls back to own slices", cap: 1, sets: []string{"traceparent", "b3", "uber-trace-id"}},
		{name: "no buffer", cap: 0, sets: []string{"baggage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			c := &injectCarrier{h: h, buf: make([]string, 0, tt.cap)}
			for _, k := range tt.sets {
				c.Set(k, "v-"+k)
			}
			for _, k := range tt.sets {
				if got := c.Get(k); got != "v-"+k {
					t.Errorf("Get(%q) = %q", k, got)
				}
				if v := h[textproto.CanonicalMIMEHeaderKey(k)]; len(v) != 1 || cap(v) != 1 {
					t.Errorf("%s = %q (cap %d), want one value with cap 1", k, v, cap(v))
				}
			}
			// Appending to one header must not overwrite another.
			h.Add(tt.sets[0], "extra")
			for _, k := range tt.sets[1:] {
				if got := h.Get(k); got != "v-"+k {
					t.Errorf("after Add, %s = %q", k, got)
				}
			}
			if len(c.Keys()) != len(h) {
				t.Errorf("Keys() = %q", c.Keys())
			}
		})
	}
}
