// Package forward implements the receiving side of the Fluent forward
// protocol (https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1),
// the protocol Fluent Bit and fluent-logger clients use to ship log events.
//
// Decoding is pure: [Decode] and [Limits.Decode] read exactly one request
// (one top-level msgpack array in Message, Forward, PackedForward or
// CompressedPackedForward mode, or a nil heartbeat) from a *msgp.Reader and
// return its events. Following the specification, the [time, record] pairs
// inside a request are called entries, and errors number them from 0.
// Every size is bounded by [Limits] so that hostile input cannot exhaust
// memory, and every error names the part of the request that was wrong, for
// example "forward: entry 2: record: expected map, got array".
//
// [Server] is a thin TCP layer over the decoder: one goroutine per
// connection reads requests in a loop, reads each event as a record by its
// shape ([Input]: a sidecar access log, ingress-nginx fields, a log line
// whose format is sniffed), hands it to a consumer.Consumer and answers
// {"ack": chunk} when the client asked for an acknowledgement. A
// malformed request closes that connection only.
//
// The EventTime extension (type 0) is read by hand: no msgp extension is
// registered, because github.com/fluent/fluent-logger-golang already
// registers type 0 and a second registration panics at init.
package forward
