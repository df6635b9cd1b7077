// Package h1 is the sidecar's HTTP/1.1 client to the app: the
// ReverseProxy's transport for plain requests (upgrades, h2c and gRPC go
// through net/http's http.Transport). It does what http.Transport does for
// such a request, on the caller's goroutine and without its per-connection
// read and write loops:
//
//   - a pool of kept-alive connections, warmest (last returned) first; one
//     idle for aliveCheckAfter or longer is checked with a non-blocking
//     peek (peek_unix.go) before it is reused;
//   - a reused connection that fails before any response byte (the app
//     closed it while idle) is retried once on a fresh one when the
//     request can be replayed: not even its head could be written, or it
//     has no body and an idempotent method or an Idempotency-Key;
//   - a body of up to 16 KiB is written in line before the response is
//     read; a larger one, or one of unknown length (sent chunked), on a
//     goroutine of its own while the response is read, so an app that
//     answers early (413, 401) has its answer relayed whether it then
//     closes the connection or stops reading;
//   - Expect: 100-continue holds the body until the app's 100 Continue,
//     for at most a second; a final answer instead means no body;
//   - Config.HeaderTimeout bounds the wait for the response head
//     (a net.Error whose Timeout() is true);
//   - a failure to read the request body from the client is a
//     BodyReadError, told apart from a failure to write it to the app.
//
// Where it differs from http.Transport by design (no Accept-Encoding or
// User-Agent of its own, no upgrades), differential_test.go asserts it.
package h1
