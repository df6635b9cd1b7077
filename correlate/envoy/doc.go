// Package envoy parses Envoy access-log lines into [correlate.IngressLog]
// records, so that an Envoy-based gateway (Envoy Gateway, Istio's
// ingress gateway, Contour, plain Envoy) plays the ingress hop as an
// ingress-nginx log line does. Two formats are read.
//
// [ParseText] reads Envoy's default format string
// (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage#default-format-string):
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//	%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//	%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//	"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//
// (one line). Fields are numbered 1 to 13 in that order in errors, the
// request line counting as one. Envoy does not escape quotes inside a
// quoted field; a quoted field ends at a '"' followed by a space or the
// end of the line.
//
// [ParseJSON] reads one JSON object written by a json_format (format
// dictionary). Its keys are the user's choice; the ones read are those of
// Envoy Gateway's default JSON format and of Istio's (both spellings
// where they differ): start_time, method, x-envoy-origin-path or path,
// response_code, response_flags, bytes_received, bytes_sent, duration,
// x-envoy-upstream-service-time or upstream_service_time, x-request-id or
// request_id, :authority or authority, upstream_host, upstream_cluster,
// and for the trace id traceparent, trace_id (%TRACE_ID%), x-b3-traceid
// or x_b3_traceid, and upstream_request_attempt_count
// (%UPSTREAM_REQUEST_ATTEMPT_COUNT%) for retries. Values may be strings
// or numbers (typed_json_format writes numbers); null, "" and "-" are
// absent. Only duration is required. Unknown keys are ignored.
//
// The mapping onto IngressLog, for both formats:
//
//   - RequestTime is %DURATION% (milliseconds, Resolution 1 ms); Start is
//     %START_TIME% (the request's first byte), in UTC.
//   - Tries: when the upstream service time is logged, the last try is
//     {upstream_host, response code, upstream service time}: Envoy sets
//     x-envoy-upstream-service-time from the upstream request whose
//     response it forwarded. With an attempt count of n > 1 the n−1 earlier
//     tries come first, with no address, status or time (Envoy logs none
//     of them), so the breakdown lists the retries while their time stays
//     in the ingress hop. Without an upstream service time there are no
//     tries: the ingress hop then holds the service hop's time too, as it
//     does for an ingress-nginx line without $upstream_response_time.
//     An upstream host's "tcp://" prefix (older Envoy) is removed.
//   - Status is %RESPONSE_CODE% (0 when Envoy sent no response); Method,
//     Path (without query string), Host (:authority), Upstream
//     (upstream_cluster, JSON only).
//   - Keys.RequestID is x-request-id; Keys.TraceID is the trace id of a
//     valid traceparent, else a valid %TRACE_ID%, else a valid
//     x-b3-traceid (64-bit ids widened). A malformed header is ignored.
//   - Bytes received and sent are checked (a number or absent) but not
//     kept: no hop needs them.
//
// Errors start with "envoy log: " or "envoy JSON log: " and name the
// field. The package is pure: no I/O, no state, no clock.
package envoy
