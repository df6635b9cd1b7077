// Package haproxy parses HAProxy HTTP log lines ("option httplog") into
// [correlate.LoadBalancerLog] records.
//
// The format is the one HAProxy's configuration manual describes in section
// 8.2.3, "HTTP log format":
//
//	%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r
//
// for example
//
//	10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"
//
// with or without a syslog header in front ("<134>Feb  6 12:14:14 localhost
// haproxy[14389]: ", an RFC 5424 header, or only "haproxy[14389]: "):
// "log stdout format raw" writes none. Whatever comes before the client
// address is ignored; the line is anchored on the request date, the first
// "[dd/Mon/yyyy:hh:mm:ss(.mmm)]". Fields are numbered as in the manual's
// table, from 2 (client_ip:client_port) to 16 (http_request). Older
// versions' "Tq/Tw/Tc/Tr/Tt" timers sit at the same place and are read the
// same way; a '+' before Ta (or Tt) or before bytes_read ("option logasap")
// is accepted. Fields after the request line, as the HTTPS log format
// ("option httpslog") adds, are ignored. The CLF variant ("option httplog
// clf") and custom log-format strings are not read.
//
// The blocks of captured request headers ("{…|…}", %hr) and response
// headers (%hs) appear only when the frontend captures headers, and not on
// every line even then (HAProxy leaves them out for a request it could not
// parse). One block is taken as the request headers; a configuration that
// captures response headers only is not supported. Captured request header
// values are recognised by their shape, since the log does not name them:
//
//   - a value containing "Root=1-" is an X-Amzn-Trace-Id: its Root gives
//     Keys.XRayRoot and, without a traceparent, Keys.TraceID;
//   - a valid W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>) gives
//     Keys.TraceID;
//   - the first other non-empty value is Keys.RequestID.
//
// So capture X-Request-ID, traceparent and X-Amzn-Trace-Id only, or at
// least X-Request-ID before any other header (a Host capture placed first
// would be taken for the request id), and with lengths that keep the whole
// value ("len 55" for traceparent, "len 128" for X-Amzn-Trace-Id):
//
//	capture request header X-Request-ID len 64
//	capture request header traceparent len 55
//	capture request header X-Amzn-Trace-Id len 128
//
// HAProxy writes non-printable characters and '#', '"', '{', '|', '}' as
// "#XX"; captured values and the request line are decoded.
//
// The mapping onto LoadBalancerLog:
//
//   - Kind is "haproxy"; Resolution is 1 ms, HAProxy's timer unit.
//   - Start is the request date (%tr: when the first byte of the request
//     was received), which HAProxy writes in local time without a zone: it
//     is read in the location passed to Parse (UTC when nil) and returned in
//     UTC.
//   - Total is Ta (Tt in old logs): the request's whole time in HAProxy.
//     With "option logasap" ("+Ta") it is shorter than the truth.
//   - Target is Tr, the server's time to its response headers; 0 when Tr is
//     -1. Dispatched is true when Tc and Tr are both not -1 (a connection
//     was established and the server answered).
//   - Status is the status code (-1, logged when nothing was answered, is
//     0). HAProxy's log has no separate server status: TargetStatus is 0.
//   - TargetAddr is backend_name/server_name, or "" when no server was
//     involved (HAProxy's markers <NOSRV>, <STATS>, <CACHE>, …).
//   - Method and Path come from the request line ("GET /p?q HTTP/1.1");
//     Path is without query string and not percent-decoded. A request line
//     HAProxy could not parse ("<BADREQ>", "") leaves them empty.
//
// Every error names the field ("HAProxy log: field 6 TR/Tw/Tc/Tr/Ta: …");
// callers add the line number.
//
// The package is pure: it performs no I/O, keeps no state and never reads
// the clock. The strings of a returned record share memory with the line,
// except values that had to be decoded.
package haproxy
