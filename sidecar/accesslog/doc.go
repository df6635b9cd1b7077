// Package accesslog writes one access-log record per proxied request: as a
// JSON line on stdout (through zap, buffered) and/or as a Fluent forward
// event shipped to Fluent Bit.
//
// Shipping never blocks a request and fails open: when Fluent Bit is slow or
// down, records queue up to a bound in records (Config.FluentBufferLimit)
// and in bytes (Config.FluentBufferBytes) and the rest are dropped and
// counted through Config.OnDrop. Records are encoded as they are logged
// and sent in chunks, PackedForward requests with the "chunk" option: a
// record counts as delivered only once Fluent Bit acknowledged its chunk,
// and a chunk that is not acknowledged (a peer that never reads, one that
// dies mid-stream) is sent again on a new connection, at most 3 times,
// then dropped and counted. So every record is either acknowledged or
// counted; a chunk Fluent Bit took but whose ack was lost can arrive twice
// (at-least-once, as with Fluent Bit's own require_ack_response). The
// stdout log is buffered and flushed in the background; only a stdout that
// stops accepting writes can hold Log.
//
// The keys of a record, identical in the JSON line and in the msgpack
// record (the README and the collector read them; internal/contract
// spells them):
//
//	time         string  RFC 3339 with nanoseconds, UTC ("2024-05-06T07:08:09.123456789Z")
//	service      string  the service the sidecar fronts
//	trace_id     string  W3C trace id, 32 hex digits
//	span_id      string  the sidecar's span id, 16 hex digits
//	request_id   string  X-Request-ID
//	method       string  HTTP method
//	path         string  URL path
//	query        string  redacted query string; omitted when empty
//	route        string  route template, e.g. "/orders/{id}"
//	proto        string  "HTTP/1.1", "HTTP/2.0", ...
//	status       int     HTTP status code
//	bytes_in     int     request body bytes read
//	bytes_out    int     response body bytes written
//	duration_ms  float   inbound duration seen by the sidecar, milliseconds with microsecond precision
//	app_ms       float   time the app took, milliseconds
//	overhead_ms  float   sidecar overhead (duration_ms - app_ms), milliseconds
//	queue_ms     float   time queued before the sidecar (X-Request-Start); omitted when unknown
//	client_addr  string  peer address
//	user_agent   string  User-Agent
//
// In the JSON line a whole number of milliseconds prints without a
// fraction ("duration_ms":5); in msgpack every *_ms value is a float64.
//
// No header other than those above is ever logged.
package accesslog
