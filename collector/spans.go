package collector

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/hopscope/hopscope/correlate"
)

// Span attributes the sidecar writes (README, "Spans").
const (
	attrComponent   = "hopscope.component"
	attrRequestID   = "hopscope.request_id"
	attrXRayRoot    = "hopscope.xray_root"
	attrAppDuration = "hopscope.app_duration_ms"
	attrAppStart    = "hopscope.app_start_ms"
)

// attrs indexes a span's or resource's attributes by key.
type attrs []*commonpb.KeyValue

func (a attrs) get(key string) *commonpb.AnyValue {
	for _, kv := range a {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

func (a attrs) str(keys ...string) string {
	for _, k := range keys {
		if v := a.get(k); v != nil {
			switch x := v.Value.(type) {
			case *commonpb.AnyValue_StringValue:
				return x.StringValue
			case *commonpb.AnyValue_IntValue:
				return strconv.FormatInt(x.IntValue, 10)
			}
		}
	}
	return ""
}

func (a attrs) num(key string) (float64, bool) {
	v := a.get(key)
	if v == nil {
		return 0, false
	}
	switch x := v.Value.(type) {
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue, true
	case *commonpb.AnyValue_IntValue:
		return float64(x.IntValue), true
	case *commonpb.AnyValue_StringValue:
		f, err := strconv.ParseFloat(x.StringValue, 64)
		return f, err == nil
	}
	return 0, false
}

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// spanRecord maps one OTLP span to the correlate record it stands for: the
// hopscope sidecar's server span, or an app's client span to a backend.
// Other spans (the app's own server and internal spans) give no record;
// they are only forwarded to the trace backend.
func spanRecord(res attrs, sp *tracepb.Span) correlate.Record {
	if len(sp.TraceId) != 16 || sp.EndTimeUnixNano < sp.StartTimeUnixNano {
		return nil
	}
	a := attrs(sp.Attributes)
	keys := correlate.Keys{TraceID: hex.EncodeToString(sp.TraceId), RequestID: a.str(attrRequestID), XRayRoot: a.str(attrXRayRoot)}
	start := time.Unix(0, int64(sp.StartTimeUnixNano))
	dur := time.Duration(sp.EndTimeUnixNano - sp.StartTimeUnixNano)
	spanID, parent := hex.EncodeToString(sp.SpanId), hex.EncodeToString(sp.ParentSpanId)

	if sp.Kind == tracepb.Span_SPAN_KIND_SERVER && (a.str(attrComponent) == "sidecar" || res.str(attrComponent) == "sidecar") {
		app, _ := a.num(attrAppDuration)
		appStart, _ := a.num(attrAppStart)
		status, _ := strconv.Atoi(a.str("http.response.status_code"))
		return &correlate.SidecarSpan{Keys: keys, SpanID: spanID, ParentSpanID: parent,
			Service: res.str("service.name"), Method: a.str("http.request.method", "http.method"),
			Route: a.str("http.route"), Status: status, Start: start, Duration: dur,
			App: msDuration(app), AppStart: msDuration(appStart)}
	}
	if sp.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		return nil
	}
	kind, op, target := backendOf(a, sp.Name)
	if kind == "" {
		return nil
	}
	return &correlate.BackendCall{Keys: correlate.Keys{TraceID: keys.TraceID}, SpanID: spanID, ParentSpanID: parent,
		Kind: kind, Target: target, Operation: op, Start: start, Duration: dur,
		Error:       sp.Status != nil && sp.Status.Code == tracepb.Status_STATUS_CODE_ERROR,
		Attribution: correlate.AttributionExact}
}

// backendOf classifies a client span by the OpenTelemetry semantic
// conventions (old and new attribute names).
func backendOf(a attrs, name string) (kind, op, target string) {
	target = a.str("server.address", "net.peer.name", "network.peer.address")
	if port := a.str("server.port", "net.peer.port"); port != "" && target != "" {
		target += ":" + port
	}
	if sys := a.str("db.system.name", "db.system"); sys != "" {
		switch sys {
		case "postgresql":
			kind = "postgres"
		default:
			kind = sys
		}
		op = a.str("db.operation.name", "db.operation")
		if op == "" {
			stmt := a.str("db.query.text", "db.statement")
			if f := strings.Fields(stmt); len(f) > 0 {
				op = strings.ToUpper(f[0])
			}
		}
		if op == "" {
			op = name
		}
		return kind, op, target
	}
	if m := a.str("http.request.method", "http.method"); m != "" {
		if target == "" {
			target = a.str("url.full", "http.url")
		}
		return "http_egress", m, target
	}
	if rpc := a.str("rpc.system"); rpc != "" {
		return rpc, a.str("rpc.method"), target
	}
	return "", "", ""
}
