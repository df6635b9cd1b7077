package otlpwire

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

var (
	resA = resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "checkout"),
		attribute.String("k8s.pod.name", "checkout-7d9f"),
		attribute.Int64("process.pid", 4242),
	)
	// resA2 equals resA but is another pointer: it must share resA's
	// ResourceSpans.
	resA2 = resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.Int64("process.pid", 4242),
		attribute.String("k8s.pod.name", "checkout-7d9f"),
		attribute.String("service.name", "checkout"),
	)
	resB = resource.NewSchemaless(
		attribute.String("service.name", "hopscope-sidecar"),
		attribute.Bool("hopscope.sidecar", true),
	)
)

func traceID(b byte) trace.TraceID {
	var id trace.TraceID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func spanID(b byte) trace.SpanID {
	var id trace.SpanID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func mustTraceState(s string) trace.TraceState {
	ts, err := trace.ParseTraceState(s)
	if err != nil {
		panic(err)
	}
	return ts
}

// allTypes is one attribute of every attribute.Type the SDK records, with
// edge values.
func allTypes() []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.Bool("bool.true", true),
		attribute.Bool("bool.false", false),
		attribute.Int64("int.zero", 0),
		attribute.Int64("int.neg", -1),
		attribute.Int64("int.max", math.MaxInt64),
		attribute.Int64("int.min", math.MinInt64),
		attribute.Int("int.small", 300),
		attribute.Float64("float.zero", 0),
		attribute.Float64("float.neg", -1.5),
		attribute.Float64("float.inf", math.Inf(1)),
		attribute.Float64("float.nan", math.NaN()),
		attribute.String("string.empty", ""),
		attribute.String("string.utf8", "héllo, 世界"),
		attribute.String("string.long", strings.Repeat("x", 300)),
		attribute.BoolSlice("boolslice", []bool{true, false, true}),
		attribute.BoolSlice("boolslice.empty", nil),
		attribute.Int64Slice("int64slice", []int64{0, -1, math.MaxInt64, 1 << 40}),
		attribute.Float64Slice("float64slice", []float64{0, 2.5, -1e300, math.NaN()}),
		attribute.StringSlice("stringslice", []string{"a", "", strings.Repeat("y", 200)}),
		attribute.StringSlice("stringslice.empty", []string{}),
		attribute.StringSlice("stringslice.long", strings.Split(strings.Repeat("abcdefgh,", 40), ",")),
		attribute.ByteSlice("bytes", []byte{0, 1, 2, 0xff}),
		attribute.ByteSlice("bytes.empty", nil),
		attribute.Slice("slice",
			attribute.StringValue("s"), attribute.IntValue(7), attribute.BoolValue(false),
			attribute.Float64Value(0.25), attribute.StringSliceValue([]string{"n1", "n2"}),
			attribute.SliceValue(attribute.IntValue(1), attribute.SliceValue()),
			attribute.MapValue(attribute.String("in", "map")),
			attribute.ByteSliceValue([]byte("raw")),
		),
		attribute.Map("map",
			attribute.String("a", "1"), attribute.Int("b", 2),
			attribute.Map("nested", attribute.Bool("deep", true)),
			attribute.Slice("list", attribute.StringValue(strings.Repeat("z", 150))),
		),
		attribute.Map("map.empty"),
	}
}

type batchCase struct {
	name  string
	spans func(t *testing.T) []sdktrace.ReadOnlySpan
}

func batchCases() []batchCase {
	ctx := context.Background()
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    traceID(0x10),
		SpanID:     spanID(0x20),
		TraceFlags: trace.FlagsSampled,
		TraceState: mustTraceState("vendor=abc,rojo=00f067aa0ba902b7"),
		Remote:     true,
	})
	linkedRemote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    traceID(0x30),
		SpanID:     spanID(0x40),
		TraceFlags: trace.FlagsSampled,
		TraceState: mustTraceState("congo=t61rcWkgMzE"),
		Remote:     true,
	})
	linkedLocalUnsampled := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID(0x50),
		SpanID:  spanID(0x60),
	})
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

	return []batchCase{
		{"every attribute type", func(*testing.T) []sdktrace.ReadOnlySpan {
			return record(func(tp trace.TracerProvider) {
				_, s := tp.Tracer("attrs").Start(ctx, "attrs", trace.WithAttributes(allTypes()...))
				s.End()
			}, sdktrace.WithResource(resA))
		}},
		{"events with attributes", func(*testing.T) []sdktrace.ReadOnlySpan {
			return record(func(tp trace.TracerProvider) {
				_, s := tp.Tracer("events").Start(ctx, "events", trace.WithTimestamp(t0))
				s.AddEvent("first", trace.WithTimestamp(t0.Add(time.Millisecond)),
					trace.WithAttributes(attribute.String("phase", "dns"), attribute.Int("n", 1)))
				s.AddEvent("bare", trace.WithTimestamp(t0.Add(2*time.Millisecond)))
				s.AddEvent("all types", trace.WithAttributes(allTypes()...))
				s.RecordError(fmt.Errorf("upstream reset"))
				s.End(trace.WithTimestamp(t0.Add(time.Second)))
			}, sdktrace.WithResource(resA))
		}},
		{"links", func(*testing.T) []sdktrace.ReadOnlySpan {
			return record(func(tp trace.TracerProvider) {
				_, s := tp.Tracer("links").Start(ctx, "links", trace.WithLinks(
					trace.Link{SpanContext: linkedRemote, Attributes: []attribute.KeyValue{attribute.String("link.kind", "follows")}},
					trace.Link{SpanContext: linkedLocalUnsampled},
				))
				s.AddLink(trace.Link{SpanContext: remote, Attributes: allTypes()})
				s.End()
			}, sdktrace.WithResource(resA))
		}},
		{"remote parent with tracestate", func(*testing.T) []sdktrace.ReadOnlySpan {
			return record(func(tp trace.TracerProvider) {
				pctx := trace.ContextWithRemoteSpanContext(ctx, remote)
				_, s := tp.Tracer("proxy").Start(pctx, "GET /checkout", trace.WithSpanKind(trace.SpanKindServer))
				s.End()
			}, sdktrace.WithResource(resB))
		}},
		{"local parent", func(*testing.T) []sdktrace.ReadOnlySpan {
			return record(func(tp trace.TracerProvider) {
				pctx, parent := tp.Tracer("proxy").Start(ctx, "parent")
				_, child := tp.Tracer("proxy").Start(pctx, "child", trace.WithSpanKind(trace.SpanKindClient))
				child.End()
				parent.End()
			}, sdktrace.WithResource(resB))
		}},
		{"status", func(*testing.T) []sdktrace.ReadOnlySpan {
			return record(func(tp trace.TracerProvider) {
				tr := tp.Tracer("status")
				_, s := tr.Start(ctx, "error")
				s.SetStatus(codes.Error, "upstream returned 502: connection reset by peer")
				s.End()
				_, s = tr.Start(ctx, "error without message")
				s.SetStatus(codes.Error, "")
				s.End()
				_, s = tr.Start(ctx, "ok")
				s.SetStatus(codes.Ok, "ignored by the SDK")
				s.End()
				_, s = tr.Start(ctx, "unset")
				s.End()
			}, sdktrace.WithResource(resA))
		}},
		{"all span kinds", func(*testing.T) []sdktrace.ReadOnlySpan {
			return record(func(tp trace.TracerProvider) {
				for _, k := range []trace.SpanKind{
					trace.SpanKindUnspecified, trace.SpanKindInternal, trace.SpanKindServer,
					trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindConsumer,
				} {
					_, s := tp.Tracer("kinds").Start(ctx, k.String(), trace.WithSpanKind(k))
					s.End()
				}
			}, sdktrace.WithResource(resA))
		}},
		{"two resources, two scopes each, interleaved", func(*testing.T) []sdktrace.ReadOnlySpan {
			sr := tracetest.NewSpanRecorder()
			tpA := sdktrace.NewTracerProvider(sdktrace.WithResource(resA), sdktrace.WithSpanProcessor(sr))
			tpA2 := sdktrace.NewTracerProvider(sdktrace.WithResource(resA2), sdktrace.WithSpanProcessor(sr))
			tpB := sdktrace.NewTracerProvider(sdktrace.WithResource(resB), sdktrace.WithSpanProcessor(sr))
			tracers := []trace.Tracer{
				tpA.Tracer("github.com/hopscope/hopscope/sidecar", trace.WithInstrumentationVersion("v1.2.3"),
					trace.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
					trace.WithInstrumentationAttributes(attribute.String("scope.attr", "x"), attribute.Int("n", 1))),
				tpB.Tracer("github.com/hopscope/hopscope/sidecar"),
				tpA.Tracer("net/http"),
				tpA2.Tracer("net/http"), // same resource (equal, not identical) and scope
				tpB.Tracer("net/http", trace.WithInstrumentationVersion("v0.1")),
				tpA2.Tracer("github.com/hopscope/hopscope/sidecar", trace.WithInstrumentationVersion("v1.2.3"),
					trace.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
					trace.WithInstrumentationAttributes(attribute.Int("n", 1), attribute.String("scope.attr", "x"))),
			}
			for i := range 24 {
				_, s := tracers[i%len(tracers)].Start(ctx, fmt.Sprintf("span-%d", i),
					trace.WithAttributes(attribute.Int("i", i)))
				s.End()
			}
			return sr.Ended()
		}},
		{"dropped counts", func(*testing.T) []sdktrace.ReadOnlySpan {
			return record(func(tp trace.TracerProvider) {
				_, s := tp.Tracer("limits").Start(ctx, "limited", trace.WithAttributes(allTypes()...))
				for i := range 5 {
					s.AddEvent(fmt.Sprintf("e%d", i), trace.WithAttributes(allTypes()...))
				}
				s.AddLink(trace.Link{SpanContext: linkedRemote, Attributes: allTypes()})
				s.AddLink(trace.Link{SpanContext: linkedLocalUnsampled})
				s.AddLink(trace.Link{SpanContext: remote})
				s.End()
			}, sdktrace.WithResource(resA), sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
				AttributeValueLengthLimit:   8,
				AttributeCountLimit:         3,
				EventCountLimit:             2,
				LinkCountLimit:              1,
				AttributePerEventCountLimit: 2,
				AttributePerLinkCountLimit:  4,
			}))
		}},
		{"big span and big batch", func(*testing.T) []sdktrace.ReadOnlySpan {
			// A >16 KiB span (3-byte length) and a >2 MiB ScopeSpans
			// (4-byte length) exercise the length fix-up paths.
			return record(func(tp trace.TracerProvider) {
				tr := tp.Tracer("big")
				attrs := make([]attribute.KeyValue, 0, 400)
				for i := range 400 {
					attrs = append(attrs, attribute.String(fmt.Sprintf("k%03d", i), strings.Repeat("v", 40)))
				}
				_, s := tr.Start(ctx, "big", trace.WithAttributes(attrs...))
				s.End()
				for i := range 1500 {
					_, s := tr.Start(ctx, "many", trace.WithAttributes(attrs[:20]...),
						trace.WithAttributes(attribute.Int("i", i)))
					s.End()
				}
			}, sdktrace.WithResource(resB))
		}},
		{"nil spans skipped", func(*testing.T) []sdktrace.ReadOnlySpan {
			spans := record(func(tp trace.TracerProvider) {
				_, s := tp.Tracer("nil").Start(ctx, "between nils")
				s.End()
			}, sdktrace.WithResource(resA))
			return []sdktrace.ReadOnlySpan{nil, spans[0], nil}
		}},
		{"empty batch", func(*testing.T) []sdktrace.ReadOnlySpan { return nil }},
		{"stub edge cases", func(*testing.T) []sdktrace.ReadOnlySpan {
			// What the SDK never produces but a ReadOnlySpan may carry.
			return tracetest.SpanStubs{
				{
					// Zero scope, nil resource, zero times, invalid ids,
					// unknown kind and status code, negative and huge counts.
					Name:              "",
					SpanKind:          trace.SpanKind(42),
					Status:            sdktrace.Status{Code: codes.Code(9), Description: "odd"},
					DroppedAttributes: -3,
					DroppedEvents:     math.MaxUint32 + 10,
					DroppedLinks:      7,
					Attributes: []attribute.KeyValue{
						{Key: "empty.value"},
						{Key: "", Value: attribute.StringValue("empty key")},
						{Key: "", Value: attribute.Value{}},
					},
					Events: []sdktrace.Event{{DroppedAttributeCount: 2}},
					Links:  []sdktrace.Link{{DroppedAttributeCount: -1}},
				},
				{
					// Before the epoch: the transform clamps to 0.
					Name:        "pre-epoch",
					SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID(1), SpanID: spanID(2), TraceFlags: 0xff}),
					StartTime:   time.Unix(-5, 0),
					EndTime:     time.Unix(0, 1),
					Resource:    resource.Empty(),
					InstrumentationScope: instrumentation.Scope{
						Attributes: attribute.NewSet(attribute.String("only", "attrs")),
					},
				},
				{
					Name:                 "empty-attrs scope",
					InstrumentationScope: instrumentation.Scope{Attributes: attribute.NewSet()},
					Resource:             resource.NewSchemaless(),
				},
			}.Snapshots()
		}},
	}
}

func findCase(t *testing.T, name string) []sdktrace.ReadOnlySpan {
	t.Helper()
	for _, tc := range batchCases() {
		if tc.name == name {
			return tc.spans(t)
		}
	}
	t.Fatalf("no batch case %q", name)
	return nil
}

// TestAppendExportRequestMatchesStockTransform is the oracle test: for each
// batch, our bytes decode to what the stock otlptrace exporter sends.
func TestAppendExportRequestMatchesStockTransform(t *testing.T) {
	for _, tc := range batchCases() {
		t.Run(tc.name, func(t *testing.T) {
			spans := tc.spans(t)
			b := AppendExportRequest(nil, spans)
			checkAgainstStock(t, b, spans)
		})
	}
}

func checkAgainstStock(t *testing.T, b []byte, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	got := decode(t, b)

	// The encoding is canonical: what Go's own marshaller produces from the
	// decoded message, byte for byte (fields in number order, minimal
	// varints, proto3 zero values omitted).
	re, err := proto.MarshalOptions{Deterministic: true}.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(re, b) {
		t.Errorf("encoding is not canonical: re-marshalled %d bytes differ from our %d", len(re), len(b))
	}

	want := stockRequest(t, spans)
	clearLinkTraceState(t, got, spans)
	sortResourceSpans(got)
	sortResourceSpans(want)
	if !proto.Equal(got, want) {
		t.Fatalf("decoded request differs from the stock transform's:\n%s", diff(got, want))
	}
	n := 0
	for _, s := range spans {
		if s != nil {
			n++
		}
	}
	if c := countSpans(got); c != n {
		t.Errorf("%d spans encoded, want %d", c, n)
	}
}

func TestGroupingOrder(t *testing.T) {
	spans := findCase(t, "two resources, two scopes each, interleaved")
	got := decode(t, AppendExportRequest(nil, spans))
	// resA and resA2 merge; resB apart; resA appears first.
	if len(got.ResourceSpans) != 2 {
		t.Fatalf("%d ResourceSpans, want 2", len(got.ResourceSpans))
	}
	type scopeKey struct{ name, version string }
	var order [][]scopeKey
	for _, rs := range got.ResourceSpans {
		var ks []scopeKey
		for _, ss := range rs.ScopeSpans {
			ks = append(ks, scopeKey{ss.GetScope().GetName(), ss.GetScope().GetVersion()})
			// Spans keep batch order within a scope.
			prev := -1
			for _, sp := range ss.Spans {
				var i int
				if _, err := fmt.Sscanf(sp.Name, "span-%d", &i); err != nil || i <= prev {
					t.Errorf("span %q after span-%d", sp.Name, prev)
				}
				prev = i
			}
		}
		order = append(order, ks)
	}
	want := [][]scopeKey{
		{{"github.com/hopscope/hopscope/sidecar", "v1.2.3"}, {"net/http", ""}},
		{{"github.com/hopscope/hopscope/sidecar", ""}, {"net/http", "v0.1"}},
	}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("scope order %v, want %v", order, want)
	}
	if got.ResourceSpans[0].SchemaUrl != resA.SchemaURL() {
		t.Errorf("first ResourceSpans is not resA's")
	}
}

// TestManyResources crosses the map threshold of the grouper.
func TestManyResources(t *testing.T) {
	var spans []sdktrace.ReadOnlySpan
	var tps []*sdktrace.TracerProvider
	sr := tracetest.NewSpanRecorder()
	for i := range 3 * mapThreshold {
		res := resource.NewSchemaless(attribute.Int("pod", i%(2*mapThreshold+1)))
		tps = append(tps, sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(sr)))
	}
	for i := range 300 {
		tp := tps[(i*7)%len(tps)]
		_, s := tp.Tracer(fmt.Sprintf("scope-%d", i%3)).Start(context.Background(), fmt.Sprint(i))
		s.End()
	}
	spans = sr.Ended()
	b := AppendExportRequest(nil, spans)
	checkAgainstStock(t, b, spans)
	if got := len(decode(t, b).ResourceSpans); got != 2*mapThreshold+1 {
		t.Errorf("%d ResourceSpans, want %d", got, 2*mapThreshold+1)
	}
	// Again through the pooled grouper, which now has its map.
	checkAgainstStock(t, AppendExportRequest(nil, spans[:40]), spans[:40])
}

// TestSchemaURLSplitsResources documents a deliberate difference: resources
// with equal attributes but different schema URLs are not merged (the stock
// transform merges them and keeps the first schema URL).
func TestSchemaURLSplitsResources(t *testing.T) {
	attrs := []attribute.KeyValue{attribute.String("service.name", "x")}
	r1 := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.20.0", attrs...)
	r2 := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attrs...)
	spans := tracetest.SpanStubs{{Name: "a", Resource: r1}, {Name: "b", Resource: r2}}.Snapshots()
	got := decode(t, AppendExportRequest(nil, spans))
	if len(got.ResourceSpans) != 2 {
		t.Fatalf("%d ResourceSpans, want 2", len(got.ResourceSpans))
	}
	for i, want := range []string{r1.SchemaURL(), r2.SchemaURL()} {
		if got.ResourceSpans[i].SchemaUrl != want {
			t.Errorf("ResourceSpans[%d].schema_url = %q, want %q", i, got.ResourceSpans[i].SchemaUrl, want)
		}
	}
}

func TestFlags(t *testing.T) {
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID(1), SpanID: spanID(2), TraceFlags: trace.FlagsSampled, Remote: true,
	})
	local := remote.WithRemote(false)
	tests := []struct {
		name            string
		parent          trace.SpanContext
		flags           trace.TraceFlags
		want, wantLinks uint32
	}{
		{"root, sampled", trace.SpanContext{}, trace.FlagsSampled, 0x101, 0x301},
		{"remote parent", remote, trace.FlagsSampled, 0x301, 0x301},
		{"local parent", local, trace.FlagsSampled, 0x101, 0x301},
		{"unsampled, all W3C bits", local, 0xfe, 0x1fe, 0x301},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spans := tracetest.SpanStubs{{
				SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID(1), SpanID: spanID(9), TraceFlags: tc.flags}),
				Parent:      tc.parent,
				Links:       []sdktrace.Link{{SpanContext: remote}},
			}}.Snapshots()
			got := decode(t, AppendExportRequest(nil, spans)).ResourceSpans[0].ScopeSpans[0].Spans[0]
			if got.Flags != tc.want {
				t.Errorf("span flags %#x, want %#x", got.Flags, tc.want)
			}
			if got.Links[0].Flags != tc.wantLinks {
				t.Errorf("link flags %#x, want %#x", got.Links[0].Flags, tc.wantLinks)
			}
			checkAgainstStock(t, AppendExportRequest(nil, spans), spans)
		})
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	spans := findCase(t, "every attribute type")
	prefix := []byte("prefix")
	b := AppendExportRequest(append([]byte{}, prefix...), spans)
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("prefix clobbered")
	}
	if want := AppendExportRequest(nil, spans); !bytes.Equal(b[len(prefix):], want) {
		t.Errorf("bytes after prefix differ from a fresh encoding")
	}
}

var raceEnabled bool // set by race_test.go

// TestAllocs pins the steady-state promise: with a reused buffer, a batch of
// spans with scalar attributes, events, links and trace state encodes
// without allocating.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	spans := benchSpans(64)
	buf := AppendExportRequest(nil, spans)
	allocs := testing.AllocsPerRun(50, func() {
		buf = AppendExportRequest(buf[:0], spans)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per AppendExportRequest, want 0", allocs)
	}
}

func TestConcurrentAppend(t *testing.T) {
	spans := findCase(t, "two resources, two scopes each, interleaved")
	want := AppendExportRequest(nil, spans)
	done := make(chan []byte)
	for range 8 {
		go func() {
			var b []byte
			for range 50 {
				b = AppendExportRequest(b[:0], spans)
			}
			done <- b
		}()
	}
	for range 8 {
		if b := <-done; !bytes.Equal(b, want) {
			t.Error("concurrent encodings differ")
		}
	}
}
