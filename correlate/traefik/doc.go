// Package traefik parses Traefik's JSON access-log lines
// (accessLog.format=json) into [correlate.IngressLog] records, so that
// Traefik plays the ingress hop as an ingress-nginx log line does.
//
// The fields are those of Traefik's documentation,
// https://doc.traefik.io/traefik/reference/install-configuration/observability/logs-and-accesslogs/#json-format-fields,
// with headers under "request_<Header>" as Traefik writes them when
// accessLog.fields.headers keeps them (Go's canonical header names:
// request_Traceparent, request_X-Request-Id, request_X-B3-Traceid,
// request_X-Amzn-Trace-Id). Keys read: StartUTC (else StartLocal),
// Duration, OriginDuration, DownstreamStatus, OriginStatus, RetryAttempts,
// ServiceAddr (else ServiceURL), ServiceName, RequestMethod, RequestPath,
// RequestHost, DownstreamContentSize and the headers above. Durations are
// integers of nanoseconds (strings of digits are accepted too); only
// Duration is required. Unknown keys are ignored; null is absent.
//
// The mapping onto IngressLog:
//
//   - RequestTime is Duration, Start is StartUTC (RFC 3339) in UTC;
//     Resolution is 1 µs (Traefik measures in nanoseconds on its own
//     monotonic clock; 1 µs leaves room for the other sources' rounding).
//   - Tries: with OriginDuration logged, the last try is {ServiceAddr,
//     OriginStatus, OriginDuration} and RetryAttempts earlier tries come
//     first without address, status or time (Traefik logs none of them),
//     so the breakdown lists the retries while their time stays in the
//     ingress hop. Without OriginDuration (Traefik answered itself: a
//     redirect, an auth failure) there are no tries.
//   - Status is DownstreamStatus; Method, Path (without query string),
//     Host (RequestHost) and Upstream (ServiceName).
//   - Keys.RequestID is request_X-Request-Id; Keys.TraceID the trace id of
//     a valid request_Traceparent, else of request_X-B3-Traceid, else of
//     the Root of request_X-Amzn-Trace-Id (Keys.XRayRoot). A malformed
//     header is ignored.
//   - DownstreamContentSize is checked (a number or absent) but not kept.
//
// Errors start with "traefik JSON log: " and name the field. The package
// is pure: no I/O, no state, no clock.
package traefik
