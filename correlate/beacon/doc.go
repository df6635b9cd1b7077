// Package beacon defines and parses the RUM beacon: the JSON document that
// the collector's rum.js sends with the page's Navigation Timing and the
// Resource Timing of its fetch/XHR calls, and turns each entry into a
// [correlate.BrowserTiming]. rum.js writes version 2 ([ParseBatch]);
// version 1, one navigation ([Parse]), is still read.
//
// # Wire format, version 1
//
// The body of the POST is one JSON object (sent as text/plain so that a
// cross-origin beacon needs no CORS preflight):
//
//	{
//	  "v": 1,
//	  "page": "https://shop.example/orders/42",
//	  "time_origin": 1795660210334.4,
//	  "nav": {
//	    "fetchStart": 3.199999999953434,
//	    "domainLookupStart": 4.5, "domainLookupEnd": 21.300000000046566,
//	    "connectStart": 21.300000000046566, "secureConnectionStart": 38.09999999997672,
//	    "connectEnd": 61.40000000002328,
//	    "requestStart": 61.59999999997672, "responseStart": 148.90000000002328,
//	    "responseEnd": 153.5,
//	    "type": "navigate", "transferSize": 7634
//	  },
//	  "server_timing": [
//	    {"name": "traceparent", "duration": 0,
//	     "description": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
//	    {"name": "app", "duration": 12.345, "description": ""}
//	  ],
//	  "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
//	}
//
// Members:
//
//   - v (number, required): the format version, 1. A change of meaning
//     bumps it; members added later keep it.
//   - page (string, required): the page's absolute http(s) URL. The
//     record keeps scheme, host and path only: query, fragment and user
//     information are stripped, since they may carry personal data.
//   - time_origin (number, required): performance.timeOrigin, milliseconds
//     since the Unix epoch on the browser's wall clock, with a fraction.
//   - nav (object, required): the PerformanceNavigationTiming of the page,
//     in milliseconds relative to time_origin, with the W3C attribute
//     names: fetchStart, domainLookupStart, domainLookupEnd, connectStart,
//     secureConnectionStart, connectEnd, requestStart, responseStart and
//     responseEnd (all required), type (string) and transferSize (number),
//     both optional. Other members are ignored, so the object
//     PerformanceNavigationTiming.toJSON() returns is accepted as it is.
//   - server_timing (array, optional): the entry's serverTiming, each
//     element {"name", "duration", "description"} as
//     PerformanceServerTiming.toJSON() writes it.
//   - traceparent (string, optional): a W3C traceparent the script found
//     elsewhere than in Server-Timing (a <meta name="traceparent"> tag).
//
// Unknown members are ignored everywhere. Member names are matched as
// encoding/json matches them.
//
// # Wire format, version 2
//
// Version 1's members, with v 2, where nav is optional, plus
//
//   - resources (array, optional): fetch/XHR calls, each an object with
//     name (the called absolute http(s) URL; query and fragment are
//     stripped), initiatorType ("fetch" or "xmlhttprequest"), the nine
//     timing members of nav with the same rules, transferSize (optional;
//     0, from the cache or hidden without Timing-Allow-Origin, is refused)
//     and server_timing (the call's own; its traceparent is the call's
//     trace id, there is no fallback). At most [Limits].MaxResources.
//   - dropped (number, optional): calls the page did not send, over its
//     cap; an integer ≥ 0, at most [Limits].MaxDropped.
//
// A beacon must carry nav or at least one resource; server_timing and
// traceparent without nav are refused (they belong to the navigation).
// [ParseBatch] refuses the beacon as a whole for faults of v, page,
// time_origin, resources (not an array, too many) and dropped, and only
// the entry for a fault inside nav or one resource: it lists those in
// [Batch].Rejected, each an [*Error] whose Field starts with "nav" or
// "resources[i]", and returns the other entries' records.
//
// # Validation
//
// [Parse] is strict about values; its errors are [*Error]s that name the
// member at fault, for example
//
//	beacon: nav.responseEnd: before responseStart (48.2 < 49.4)
//
// Every nav value must be a finite number, ≥ 0 and below the limit on
// durations (10 minutes by default). The values must not decrease in
// the order
//
//	fetchStart ≤ domainLookupStart ≤ domainLookupEnd ≤ connectStart
//	  ≤ secureConnectionStart ≤ connectEnd ≤ requestStart ≤ responseStart ≤ responseEnd
//
// Steps that did not happen are reported by browsers in one of two ways,
// and both are accepted: equal to the step before (a document from a
// reused connection has domainLookup* and connect* equal to fetchStart, as
// Chromium reports it), or 0 (secureConnectionStart on plain http, and
// domainLookup*/connect* in some browsers). A 0 in domainLookupStart,
// domainLookupEnd, connectStart, secureConnectionStart or connectEnd is
// therefore read as "did not happen" and skipped by the order check, but
// domainLookupStart/End and connectStart/End must be 0 in pairs. When
// fetchStart itself is 0 (coarse timers), a 0 is simply a time. responseEnd
// must be > 0: a beacon is sent after the load event.
//
// A document that came from the browser's cache (transferSize present and
// 0) is refused: its timings are not a network fetch, and its
// Server-Timing traceparent belongs to the earlier response that filled
// the cache, so joining it would corrupt that trace's breakdown.
//
// time_origin must lie between [Limits].EarliestTimeOrigin and
// LatestTimeOrigin (2010 to 2100 by default; the package never reads the
// clock, so a tighter window is the caller's to set).
//
// # Trace id
//
// The trace id comes from the server_timing entry named traceparent (the
// hopscope sidecar adds `Server-Timing: traceparent;desc="00-…"` to every
// response); several such entries must agree. Only when there is none is
// the top-level traceparent used. Either must be a valid W3C traceparent
// (lowercase hex, trace and parent ids not all zero). A beacon with no
// trace id is refused with [ErrNoTraceparent]: without one it cannot be
// joined to anything. Note that browsers expose serverTiming only in
// secure contexts (https, or http on localhost).
//
// Other server_timing entries are not used; they are checked only for
// shape (name a non-empty string, duration a number, description a
// string) and size, so that a CDN's odd metric cannot cost the page its
// beacon.
//
// # Mapping
//
// Every nav value is first rounded to the microsecond; the durations of
// the [correlate.BrowserTiming] are differences of these rounded values,
// so they add up exactly (RequestStart + ServerTime = ResponseStart,
// ResponseStart + Download = Total, ConnectStart + Connect = TLSStart). A
// step that did not happen has duration 0 and starts where the step before
// it ended.
//
// Connect is connectStart to secureConnectionStart and TLS
// secureConnectionStart to connectEnd when secureConnectionStart is > 0
// (a new TLS connection); otherwise Connect is connectStart to connectEnd
// and TLS is 0. Initiator is "navigation" for nav, the initiatorType for a
// resource, whose URL is its name.
//
// The package is pure: it performs no I/O, keeps no state and never reads
// the clock.
package beacon
