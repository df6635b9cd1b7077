// Package ingressnginx parses ingress-nginx access-log lines into
// [correlate.IngressLog] records, in two formats.
//
// [ParseText] reads ingress-nginx's default log-format-upstream:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status
//	$body_bytes_sent "$http_referer" "$http_user_agent" $request_length
//	$request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name]
//	$upstream_addr $upstream_response_length $upstream_response_time
//	$upstream_status $req_id
//
// (one line; some ingress-nginx documentation shows "$request_method $uri
// $server_protocol" in place of "$request", which reads the same). nginx's
// default escaping is assumed: '"', '\' and bytes outside printable ASCII
// are written as \xHH, so a quoted field never holds a quote. Fields are
// numbered 1 to 18 in that order in errors.
//
// [ParseJSON] reads one JSON object whose keys are nginx variable names, the
// format docs/ingress-nginx.md recommends (log-format-escape-json). Values
// may be JSON strings or numbers, null is the same as absent, and keys it
// does not know are ignored. The keys read are msec, time_iso8601,
// time_local, request_time, status, request_method, request_uri, uri, host,
// proxy_upstream_name, upstream_addr, upstream_status,
// upstream_connect_time, upstream_header_time, upstream_response_time,
// req_id, request_id, http_x_request_id, http_traceparent and
// http_x_amzn_trace_id. Only request_time is required.
//
// The mapping onto IngressLog, for both formats:
//
//   - RequestTime is $request_time; Resolution is 1 ms, nginx's precision.
//   - Start is the end of the request minus RequestTime, in UTC. The end is
//     msec when logged (millisecond precision), else time_iso8601, else
//     time_local (both to the second). Without any of them Start is zero.
//   - Tries are the upstream attempts, from the parallel lists
//     $upstream_addr, $upstream_status, $upstream_connect_time,
//     $upstream_header_time and $upstream_response_time. nginx separates
//     the attempts of one upstream block with ", " (retries, as with
//     proxy_next_upstream) and the blocks of internal redirects with " : "
//     (error_page, X-Accel-Redirect); both are flattened, in order, so the
//     last try is the one whose response was used. A "-" entry (an attempt
//     that did not get that far, say a refused connection has no header
//     time) is 0. A list that is absent, empty or a single "-" gives 0 to
//     every try; a list with another number of entries than $upstream_addr
//     is an error. No $upstream_addr means no tries.
//   - Method and Path come from $request_method and $request_uri (or $uri)
//     in JSON, from "$request" in text; Path is without query string and not
//     percent-decoded. A request line that is not METHOD SP TARGET SP
//     VERSION (nginx logs what a client sent, "GARBAGE" included) leaves
//     them empty; it is not an error.
//   - Host is $host (JSON only), Status is $status and Upstream is
//     $proxy_upstream_name.
//   - Keys.RequestID is $req_id, else $http_x_request_id, else $request_id:
//     the order in which ingress-nginx itself chooses the X-Request-ID it
//     sends upstream ($req_id is the incoming X-Request-ID or, without one,
//     nginx's $request_id). In text, $req_id is the only key.
//   - Keys.TraceID is the trace id of $http_traceparent when it is a valid
//     W3C traceparent (version 00: exactly 00-<32 hex>-<16 hex>-<2 hex>,
//     lower-case hex, ids not all zeros; later versions may append fields);
//     else the trace id of $http_x_amzn_trace_id's Root (its two hex parts
//     concatenated, lower case). Keys.XRayRoot is that Root. A malformed
//     header is ignored, not an error: clients send anything.
//
// A "-" value means missing, as nginx writes it in text for an unset
// variable (in JSON nginx writes an empty string). Every error names the
// field ("ingress-nginx log: field 11 request_time: …", "ingress-nginx JSON
// log: field \"upstream_status\": …"); callers add the line number.
//
// The package is pure: it performs no I/O, keeps no state and never reads
// the clock. The strings of a returned record share memory with the line,
// except values that had to be unescaped.
package ingressnginx
