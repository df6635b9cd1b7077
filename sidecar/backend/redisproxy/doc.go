// Package redisproxy is the sidecar's Redis protocol proxy (backend kind
// redis). The app is pointed at the sidecar's listener instead of Redis;
// each app connection gets its own connection to the target, every byte is
// relayed unchanged both ways, and each command is timed as it passes.
//
// The proxy follows RESP2 and RESP3: multibulk and inline commands, every
// reply type (attributes, maps, sets, pushes, big numbers, verbatim
// strings, streamed strings and aggregates), HELLO switching the reply
// protocol, pipelining (replies are matched to commands in order),
// MULTI/EXEC (each queued command ends at its QUEUED, EXEC at its array),
// pub/sub (confirmations end (P|S)(UN)SUBSCRIBE, messages are no calls;
// RESP2 subscriber mode is followed through the confirmations' counts) and
// blocking commands (their duration is the wait). A command's call begins
// when its first byte arrives and ends when the last byte of its reply has;
// its operation is the command name (a bounded set, "OTHER" otherwise),
// never an argument: AUTH and HELLO … AUTH are timed, their passwords never
// stored. The commands a client sets its connection up with (HELLO, AUTH,
// SELECT, CLIENT, as long as no other command came first on the
// connection) are each a call of their own marked
// hopscope.db.connection_setup=true.
//
// Telemetry never changes the traffic: every byte read is written
// unchanged. The server's bytes are written to the app as soon as they
// are read, before they are decoded, and a reply's call is finished once
// the reply is on its way. The app's bytes are decoded one read at a time
// before that read is written, so each command's call begins (attributed
// to the inbound requests then in flight) before the server can answer
// it; a command longer than a read streams on read by read. Every call
// begun is finished: one left without a reply ends with error type
// "closed" (the connection ended) or "undecoded" (decoding had stopped).
// After MONITOR, SYNC
// or PSYNC the connection is relayed untimed; after CLIENT REPLY OFF|SKIP
// (replies would no longer match), a protocol violation or a reply that
// answers no command, decoding stops for good, the connection is counted
// as a decode failure and relayed on unchanged.
package redisproxy
