package collector

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// Span attributes the sidecar writes (README, "Spans").
const (
	attrComponent   = "hopscope.component"
	attrRequestID   = "hopscope.request_id"
	attrXRayRoot    = "hopscope.xray_root"
	attrAppDuration = "hopscope.app_duration_ms"
	attrAppStart    = "hopscope.app_start_ms"
)

// view reads attributes of a span or resource view by key.
type view interface {
	Attr(key string) (otlpwire.Value, bool)
}

// str returns the first of keys present, as text.
func str(v view, keys ...string) string {
	for _, k := range keys {
		if x, ok := v.Attr(k); ok {
			return x.String()
		}
	}
	return ""
}

func num(v view, key string) (float64, bool) {
	x, ok := v.Attr(key)
	if !ok {
		return 0, false
	}
	if f, ok := x.Float(); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(x.String(), 64)
	return f, err == nil
}

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// OTLP span kinds and status codes (opentelemetry.proto.trace.v1).
const (
	kindServer      = 2
	kindClient      = 3
	statusCodeError = 2
)

// spanRecord maps one OTLP span to the correlate record it stands for: the
// hopscope sidecar's server span, or an app's client span to a backend.
// Other spans (the app's own server and internal spans) give no record;
// they are only forwarded to the trace backend. The kind is checked before
// any attribute, so spans of no interest cost next to nothing.
func spanRecord(res *otlpwire.Resource, sp *otlpwire.Span) correlate.Record {
	if len(sp.TraceID) != 16 || sp.End < sp.Start || (sp.Kind != kindServer && sp.Kind != kindClient) {
		return nil
	}
	start := time.Unix(0, int64(sp.Start))
	dur := time.Duration(sp.End - sp.Start)
	if sp.Kind == kindServer {
		if str(sp, attrComponent) != "sidecar" && str(res, attrComponent) != "sidecar" {
			return nil
		}
		app, _ := num(sp, attrAppDuration)
		appStart, _ := num(sp, attrAppStart)
		status, _ := strconv.Atoi(str(sp, "http.response.status_code"))
		return &correlate.SidecarSpan{
			Keys:   correlate.Keys{TraceID: hex.EncodeToString(sp.TraceID), RequestID: str(sp, attrRequestID), XRayRoot: str(sp, attrXRayRoot)},
			SpanID: hex.EncodeToString(sp.SpanID), ParentSpanID: hex.EncodeToString(sp.ParentSpanID),
			Service: str(res, "service.name"), Method: str(sp, "http.request.method", "http.method"),
			Route: str(sp, "http.route"), Status: status, Start: start, Duration: dur,
			App: msDuration(app), AppStart: msDuration(appStart)}
	}
	kind, op, target := backendOf(sp)
	if kind == "" {
		return nil
	}
	return &correlate.BackendCall{Keys: correlate.Keys{TraceID: hex.EncodeToString(sp.TraceID)},
		SpanID: hex.EncodeToString(sp.SpanID), ParentSpanID: hex.EncodeToString(sp.ParentSpanID),
		Kind: kind, Target: target, Operation: op, Start: start, Duration: dur,
		Error: sp.StatusCode == statusCodeError, Attribution: correlate.AttributionExact}
}

// backendOf classifies a client span by the OpenTelemetry semantic
// conventions (old and new attribute names).
func backendOf(sp *otlpwire.Span) (kind, op, target string) {
	target = str(sp, "server.address", "net.peer.name", "network.peer.address")
	if port := str(sp, "server.port", "net.peer.port"); port != "" && target != "" {
		target += ":" + port
	}
	if sys := str(sp, "db.system.name", "db.system"); sys != "" {
		switch sys {
		case "postgresql":
			kind = "postgres"
		default:
			kind = sys
		}
		op = str(sp, "db.operation.name", "db.operation")
		if op == "" {
			stmt := str(sp, "db.query.text", "db.statement")
			if f := strings.Fields(stmt); len(f) > 0 {
				op = strings.ToUpper(f[0])
			}
		}
		if op == "" {
			op = string(sp.Name)
		}
		return kind, op, target
	}
	if m := str(sp, "http.request.method", "http.method"); m != "" {
		if target == "" {
			target = str(sp, "url.full", "http.url")
		}
		return "http_egress", m, target
	}
	if rpc := str(sp, "rpc.system"); rpc != "" {
		return rpc, str(sp, "rpc.method"), target
	}
	return "", "", ""
}
