// Package alb parses AWS Application Load Balancer access-log entries into
// [correlate.LoadBalancerLog] records.
//
// The format is described at
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html:
// one request per line, fields separated by spaces, some of them enclosed in
// double quotes (a quoted field may contain spaces; a backslash inside quotes
// escapes the next character). Any field may be quoted or not: the list
// fields ("target:port_list", "target_status_code_list") were written
// without quotes in older logs and with quotes today. The 29 documented
// fields are required, in order:
//
//	 1 type                      16 ssl_protocol
//	 2 time                      17 target_group_arn
//	 3 elb                       18 "trace_id"
//	 4 client:port               19 "domain_name"
//	 5 target:port               20 "chosen_cert_arn"
//	 6 request_processing_time   21 matched_rule_priority
//	 7 target_processing_time    22 request_creation_time
//	 8 response_processing_time  23 "actions_executed"
//	 9 elb_status_code           24 "redirect_url"
//	10 target_status_code        25 "error_reason"
//	11 received_bytes            26 "target:port_list"
//	12 sent_bytes                27 "target_status_code_list"
//	13 "request"                 28 "classification"
//	14 "user_agent"              29 "classification_reason"
//	15 ssl_cipher
//
// AWS adds new fields at the end (conn_trace_id, transformed_host, …) and
// tells parsers to ignore fields they do not expect: everything after field
// 29 is ignored, unread.
//
// The mapping onto LoadBalancerLog:
//
//   - Kind is "alb".
//   - Start is request_creation_time, in UTC.
//   - Total is request_processing_time + target_processing_time +
//     response_processing_time and Target is target_processing_time. The
//     decimal seconds are converted exactly (no floating point).
//   - Dispatched is false when any of the three timings is -1 (or "-"):
//     the load balancer could not send the request to a target, or the
//     target did not answer before the idle timeout. Total and Target are
//     then 0: the log holds no trustworthy duration for such a request.
//   - Resolution is the precision the timings are written with: 1 ms for
//     "0.001", 1 µs for "0.000123"; the coarsest of the three when they
//     differ, since it bounds the precision of their sum. When no timing is
//     written (all -1) it is 1 ms, the precision AWS documents.
//   - Method and Path come from "request" ("GET https://host:443/p?q
//     HTTP/1.1"): Path is the URL's path without query string, as the
//     client sent it (not percent-decoded). A request line that is not
//     METHOD SP TARGET [SP VERSION] (the load balancer logs "- - - " and
//     "- http://host:80- -" for requests it could not parse) leaves what
//     cannot be found empty; it is not an error.
//   - Status is elb_status_code, TargetStatus is target_status_code and
//     TargetAddr is target:port ("" for a Lambda target or when no target
//     was chosen).
//   - Keys.XRayRoot is the Root of "trace_id" (the X-Amzn-Trace-Id header
//     as the load balancer forwarded it, for example
//     "Self=1-…;Root=1-58337262-36d228ad5d99923122bbe354") and Keys.TraceID
//     is that Root's two hex parts concatenated, in lower case. A trace_id
//     without a well-formed Root (clients can send anything) leaves both
//     empty; it is not an error. ALB logs carry no X-Request-ID.
//
// A "-" in a mapped field means the value is missing and maps to the zero
// value. Every error names the field ("ALB log: field 6
// request_processing_time: …"); callers add the line number.
//
// The package is pure: it performs no I/O, keeps no state and never reads
// the clock. The strings of a returned record share memory with the line.
package alb
