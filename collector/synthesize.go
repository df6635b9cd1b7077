package collector

import (
	"hash/fnv"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// synthScopeBytes marks the spans the collector made up from logs and
// beacons (an InstrumentationScope message).
var synthScopeBytes, _ = proto.Marshal(&commonpb.InstrumentationScope{Name: "github.com/hopscope/hopscope/collector", Version: "synthesized"})

// synthesize returns the held spans plus spans for the measured intervals
// nobody exported, chained outermost first; an entry sidecar span without
// a known parent is re-parented under the innermost synthesized hop so the
// whole path is one tree in Jaeger.
//
// A request that came through an ALB whose log has not arrived yet (ALB
// writes its logs every 5 minutes) has its loadbalancer span's id
// reserved: the ids are derived from trace id and hop (synthID), so the
// ingress span (or the entry sidecar span) is parented to it now, and the
// loadbalancer span exported when the ALB line arrives fills that place.
func (e *emitter) synthesize(st *traceState, b correlate.Breakdown, g *correlate.Group, held []otlpwire.Held) []otlpwire.Held {
	tid := b.TraceID[:]
	var entry *correlate.SidecarSpan
	for i := range g.Sidecars {
		s := &g.Sidecars[i]
		if entry == nil || s.Duration > entry.Duration {
			entry = s
		}
	}
	// Anchor the waterfall on the sidecar's clock when there is one: the
	// real spans (sidecar, app, backends) carry it. Else on the ingress's,
	// so that a loadbalancer span exported later encloses the ingress span
	// exported now.
	anchor := b.Start
	anchored := false
	for _, iv := range b.Spans {
		if iv.Name == correlate.HopSidecar && entry != nil {
			anchor, anchored = entry.Start.Add(-msToDuration(iv.StartOffsetMS)), true
		}
	}
	for _, iv := range b.Spans {
		if iv.Name == correlate.HopIngress && g.Ingress != nil && !anchored {
			anchor = g.Ingress.Start.Add(-msToDuration(iv.StartOffsetMS))
		}
	}
	lbService := contract.HopLoadBalancer
	if g.LB != nil {
		lbService = g.LB.Kind
	}
	resources := map[string][]byte{}
	resFor := func(service string) []byte {
		if r, ok := resources[service]; ok {
			return r
		}
		r, _ := proto.Marshal(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV(contract.AttrServiceName, service), strKV(contract.AttrSynthetic, "true")}})
		resources[service] = r
		return r
	}
	hold := func(service string, sp *tracepb.Span) otlpwire.Held {
		raw, _ := proto.Marshal(sp)
		return otlpwire.Held{Resource: resFor(service), Scope: synthScopeBytes, Span: raw}
	}
	serviceOf := map[string]string{
		"client": "browser", correlate.HopDNS: "browser", correlate.HopConnect: "browser", correlate.HopTLS: "browser", "request": "browser", correlate.HopDownload: "browser",
		correlate.HopLoadBalancer: lbService, correlate.HopIngress: "ingress-nginx", correlate.HopService: "ingress-nginx",
	}
	parentOf := map[string][]string{
		correlate.HopDNS: {"client"}, correlate.HopConnect: {"client"}, correlate.HopTLS: {"client"}, "request": {"client"}, correlate.HopDownload: {"client"},
		correlate.HopLoadBalancer: {"request", "client"},
		correlate.HopIngress:      {correlate.HopLoadBalancer, "request", "client"},
		correlate.HopService:      {correlate.HopIngress, correlate.HopLoadBalancer, "request", "client"},
	}
	present := map[string]bool{}
	for _, iv := range b.Spans {
		present[iv.Name] = true
	}
	if e.expectALB(g, entry) {
		present[correlate.HopLoadBalancer] = true // reserved for the ALB line to come
	}
	innermost := ""
	for _, name := range []string{correlate.HopService, correlate.HopIngress, correlate.HopLoadBalancer, "request", "client"} {
		if present[name] {
			innermost = name
			break
		}
	}
	out := held
	for _, iv := range b.Spans {
		svc, ok := serviceOf[iv.Name]
		if !ok || st.synth&synthBits[iv.Name] != 0 {
			continue
		}
		st.synth |= synthBits[iv.Name]
		sp := &tracepb.Span{
			TraceId:           tid,
			SpanId:            synthID(b.TraceID, iv.Name),
			Name:              iv.Name,
			Kind:              tracepb.Span_SPAN_KIND_INTERNAL,
			StartTimeUnixNano: uint64(anchor.Add(msToDuration(iv.StartOffsetMS)).UnixNano()),
			EndTimeUnixNano:   uint64(anchor.Add(msToDuration(iv.StartOffsetMS + iv.MS)).UnixNano()),
			Attributes: []*commonpb.KeyValue{strKV(contract.AttrHop, iv.Name), strKV(contract.AttrSource, iv.Source),
				{Key: contract.AttrDurationMS, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: iv.MS}}}},
		}
		if iv.Name == "client" {
			sp.Kind = tracepb.Span_SPAN_KIND_CLIENT
		}
		for _, p := range parentOf[iv.Name] {
			if present[p] {
				sp.ParentSpanId = synthID(b.TraceID, p)
				break
			}
		}
		out = append(out, hold(svc, sp))
	}
	// Hang the entry sidecar span under the innermost synthesized hop when
	// its own parent is unknown (the ingress and the ALB export no spans).
	if entry != nil && innermost != "" {
		for i, h := range out {
			v, err := otlpwire.ParseSpan(h.Span)
			if err != nil || correlate.SpanIDOf(v.SpanID) != entry.SpanID {
				continue
			}
			if len(v.ParentSpanID) == 8 && st.knows([8]byte(v.ParentSpanID)) {
				continue
			}
			var sp tracepb.Span
			if proto.Unmarshal(h.Span, &sp) != nil {
				continue
			}
			if len(sp.ParentSpanId) > 0 {
				sp.Links = append(sp.Links, &tracepb.Span_Link{TraceId: tid, SpanId: sp.ParentSpanId})
			}
			sp.ParentSpanId = synthID(b.TraceID, innermost)
			if raw, err := proto.Marshal(&sp); err == nil {
				out[i].Span = raw
			}
		}
	}
	// The app's time as the sidecar measured it, when the app exported no
	// server span of its own under the sidecar.
	if entry != nil && st.synth&synthBits[correlate.HopApp] == 0 {
		hasChild := false
		for _, h := range held {
			if v, err := otlpwire.ParseSpan(h.Span); err == nil && correlate.SpanIDOf(v.ParentSpanID) == entry.SpanID && v.Kind == kindServer {
				hasChild = true
			}
		}
		for _, iv := range b.Spans {
			if iv.Name != correlate.HopApp || hasChild {
				continue
			}
			st.synth |= synthBits[correlate.HopApp]
			sid := entry.SpanID.Bytes()
			out = append(out, hold(entry.Service, &tracepb.Span{
				TraceId: tid, SpanId: synthID(b.TraceID, correlate.HopApp), ParentSpanId: sid, Name: contract.HopApp,
				Kind:              tracepb.Span_SPAN_KIND_INTERNAL,
				StartTimeUnixNano: uint64(anchor.Add(msToDuration(iv.StartOffsetMS)).UnixNano()),
				EndTimeUnixNano:   uint64(anchor.Add(msToDuration(iv.StartOffsetMS + iv.MS)).UnixNano()),
				Attributes:        []*commonpb.KeyValue{strKV(contract.AttrHop, contract.HopApp), strKV(contract.AttrSource, correlate.SourceSidecar)},
			}))
		}
	}
	return out
}

// expectALB reports whether the trace came through an ALB whose log line
// has not joined it yet but can: ALB logs are an input, and the ingress
// line or the entry sidecar span carries the X-Amzn-Trace-Id Root the ALB
// made, whose trace id is this trace's (the ALB line joins by it).
func (e *emitter) expectALB(g *correlate.Group, entry *correlate.SidecarSpan) bool {
	if g.LB != nil || !(e.albInput || e.albSeen.Load()) {
		return false
	}
	if g.Ingress != nil && g.Ingress.XRayRoot != "" {
		id, ok := correlate.TraceIDFromXRayRoot(g.Ingress.XRayRoot)
		return ok && id == g.TraceID
	}
	if entry == nil || entry.XRayRoot == "" {
		return false
	}
	id, ok := correlate.TraceIDFromXRayRoot(entry.XRayRoot)
	return ok && id == g.TraceID
}

func msToDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func strKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// synthID derives a synthesized span's id from the trace id and hop, so a
// late record's span finds its parent among those exported earlier.
func synthID(traceID correlate.TraceID, name string) []byte {
	var buf [32]byte
	h := fnv.New64a()
	h.Write(traceID.AppendHex(buf[:0])) // the hex form: ids as before the id was binary
	h.Write([]byte{'/'})
	h.Write([]byte(name))
	id := h.Sum(nil)
	if id[0] == 0 {
		id[0] = 1
	}
	return id
}
