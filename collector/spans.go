package collector

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/otlpwire"
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

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// OTLP span kinds and status codes (opentelemetry.proto.trace.v1).
const (
	kindServer      = 2
	kindClient      = 3
	statusCodeError = 2
)

// spanFields are the attributes spanRecord reads, gathered in one pass.
type spanFields struct {
	component, requestID, xrayRoot, method, route           string
	status                                                  int
	appMS, appStartMS                                       float64
	serverAddr, serverPort, dbSystem, dbOp, dbStmt, urlFull string
	rpcSystem, rpcMethod                                    string
	attribution, reason                                     string
}

func gather(sp *otlpwire.Span) spanFields {
	var f spanFields
	sp.EachAttr(func(k []byte, v otlpwire.Value) {
		switch string(k) {
		case contract.AttrComponent:
			f.component = v.String()
		case contract.AttrRequestID:
			f.requestID = v.String()
		case contract.AttrXRayRoot:
			f.xrayRoot = v.String()
		case contract.AttrHTTPRequestMethod, contract.AttrHTTPMethodOld:
			f.method = v.String()
		case contract.AttrHTTPRoute:
			f.route = v.String()
		case contract.AttrHTTPResponseStatusCode, contract.AttrHTTPStatusCodeOld:
			f.status = statusOf(v)
		case contract.AttrAppDurationMS:
			f.appMS, _ = v.Float()
		case contract.AttrAppStartMS:
			f.appStartMS, _ = v.Float()
		case contract.AttrServerAddress, contract.AttrNetPeerNameOld:
			f.serverAddr = v.String()
		case contract.AttrNetworkPeerAddress:
			if f.serverAddr == "" {
				f.serverAddr = v.String()
			}
		case contract.AttrServerPort, contract.AttrNetPeerPortOld:
			f.serverPort = v.String()
		case contract.AttrDBSystemName, contract.AttrDBSystemOld:
			f.dbSystem = v.String()
		case contract.AttrDBOperationName, contract.AttrDBOperationOld:
			f.dbOp = v.String()
		case contract.AttrDBQueryText, contract.AttrDBStatementOld:
			f.dbStmt = v.String()
		case contract.AttrURLFull, contract.AttrHTTPURLOld:
			f.urlFull = v.String()
		case contract.AttrRPCSystem:
			f.rpcSystem = v.String()
		case contract.AttrRPCMethod:
			f.rpcMethod = v.String()
		case contract.AttrAttribution:
			f.attribution = v.String()
		case contract.AttrAttributionReason:
			f.reason = v.String()
		}
	})
	return f
}

// statusOf reads an HTTP status code written as an int (as the sidecar
// and the SDKs do) or as text, without making text of an int and parsing
// it back (which allocated an error for every span without one); 0 when
// neither.
func statusOf(v otlpwire.Value) int {
	switch v.Type {
	case otlpwire.TypeInt:
		if v.Int > 0 && v.Int < 1000 {
			return int(v.Int)
		}
	case otlpwire.TypeString:
		// Atoi of anything but digits allocates its error: an empty or
		// non-numeric status (a span without one) is 0 without asking it.
		if numeric(v.Str) {
			if n, err := strconv.Atoi(string(v.Str)); err == nil {
				return n
			}
		}
	}
	return 0
}

// numeric reports whether b is what strconv.Atoi can read: an optional
// sign and at least one decimal digit.
func numeric(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// spanRecord maps one OTLP span to the correlate record it stands for
// (without its trace id, which stays binary: consumeOTLP files the record
// under it with Store.AddTrace): the
// hopscope sidecar's server span (attributes: internal/contract), or an app's client span to a backend.
// Other spans (the app's own server and internal spans) give no record;
// they are only forwarded to the trace backend. The kind is checked before
// any attribute, and the attributes are read in one pass.
func spanRecord(res *otlpwire.Resource, sp *otlpwire.Span) correlate.Record {
	if len(sp.TraceID) != 16 || sp.End < sp.Start || (sp.Kind != kindServer && sp.Kind != kindClient) {
		return nil
	}
	f := gather(sp)
	start := time.Unix(0, int64(sp.Start))
	dur := time.Duration(sp.End - sp.Start)
	if sp.Kind == kindServer {
		if f.component != contract.ComponentSidecar && str(res, contract.AttrComponent) != contract.ComponentSidecar {
			return nil
		}
		return &correlate.SidecarSpan{
			Keys:   correlate.Keys{RequestID: f.requestID, XRayRoot: f.xrayRoot},
			SpanID: hex.EncodeToString(sp.SpanID), ParentSpanID: hex.EncodeToString(sp.ParentSpanID),
			Service: str(res, contract.AttrServiceName), Namespace: str(res, contract.AttrK8sNamespaceName), Method: f.method,
			Route: f.route, Status: f.status, Start: start, Duration: dur,
			App: msDuration(f.appMS), AppStart: msDuration(f.appStartMS)}
	}
	kind, op, target := backendOf(f, sp.Name)
	if kind == "" {
		return nil
	}
	return &correlate.BackendCall{
		SpanID: hex.EncodeToString(sp.SpanID), ParentSpanID: hex.EncodeToString(sp.ParentSpanID),
		Kind: kind, Target: target, Operation: op, Start: start, Duration: dur,
		Error: sp.StatusCode == statusCodeError, Attribution: attributionOf(f.attribution), Reason: reasonOf(f.attribution, f.reason)}
}

// reasonOf reads hopscope.attribution.reason of an inferred call: one of
// the known reasons, else "" (the set stays bounded).
func reasonOf(attribution, v string) correlate.AttributionReason {
	if correlate.Attribution(attribution) != correlate.AttributionInferred {
		return ""
	}
	switch r := correlate.AttributionReason(v); r {
	case correlate.ReasonSole, correlate.ReasonValue, correlate.ReasonRoute, correlate.ReasonOrder:
		return r
	}
	return ""
}

// attributionOf reads a sidecar backend proxy's hopscope.attribution; an
// app's own client span runs inside the request's context: exact.
func attributionOf(v string) correlate.Attribution {
	switch a := correlate.Attribution(v); a {
	case correlate.AttributionInferred, correlate.AttributionAmbiguous:
		return a
	}
	return correlate.AttributionExact
}

// backendOf classifies a client span by the OpenTelemetry semantic
// conventions (old and new attribute names).
func backendOf(f spanFields, name []byte) (kind, op, target string) {
	target = f.serverAddr
	if f.serverPort != "" && target != "" {
		target += ":" + f.serverPort
	}
	if f.dbSystem != "" {
		kind = f.dbSystem
		if kind == contract.DBSystemPostgreSQL {
			kind = contract.HopPostgres
		}
		op = f.dbOp
		if op == "" {
			if w := strings.Fields(f.dbStmt); len(w) > 0 {
				op = strings.ToUpper(w[0])
			}
		}
		if op == "" {
			op = string(name)
		}
		return kind, op, target
	}
	if f.method != "" {
		if target == "" {
			target = f.urlFull
		}
		return contract.HopHTTPEgress, f.method, target
	}
	if f.rpcSystem != "" {
		return f.rpcSystem, f.rpcMethod, target
	}
	return "", "", ""
}
