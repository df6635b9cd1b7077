package relay

import (
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/tracectx"
)

// RouteID is the trace id a record is routed by, as the owner's store
// will file it: the trace id the record names, else its X-Ray Root's,
// else its X-Request-ID when that is 32 lower-case hex digits (not all
// zero), the form ingress-nginx's $request_id has and the one the sidecar
// makes a new trace's id from (--trace-id-from-request-id). False: the
// record cannot be routed (only a request id of another form, or no key).
func RouteID(rec correlate.Record) (correlate.TraceID, bool) {
	var k correlate.Keys
	switch r := rec.(type) {
	case *correlate.IngressLog:
		k = r.Keys
	case *correlate.LoadBalancerLog:
		k = r.Keys
	case *correlate.BrowserTiming:
		k = r.Keys
	default:
		return correlate.TraceID{}, false
	}
	if k.TraceID != "" {
		if id, err := correlate.ParseTraceID(k.TraceID); err == nil {
			return id, true
		}
	}
	if k.XRayRoot != "" {
		if id, ok := correlate.TraceIDFromXRayRoot(k.XRayRoot); ok {
			return id, true
		}
	}
	var id correlate.TraceID
	if len(k.RequestID) == 32 && tracectx.DecodeLowerHex(id[:], k.RequestID) && !id.IsZero() {
		return id, true
	}
	return correlate.TraceID{}, false
}
