// Package pgproxy is the sidecar's PostgreSQL proxy (protocol 3.0): the
// app connects to a local listener instead of its database, and every
// byte is relayed unchanged to the target while each call is timed.
//
// A call is a simple Query up to its ReadyForQuery, or an
// extended-protocol batch (Parse, Bind, Describe, Execute, Close, Flush)
// from its first message up to the ReadyForQuery that answers its Sync;
// pipelined batches are matched to their replies in order. Each call is
// named by the kind of its first statement (SELECT, INSERT, … OTHER),
// carries the statement normalised (literals replaced by ?, never a
// parameter value) and, from an ErrorResponse, its SQLSTATE. A
// sqlcommenter traceparent in the statement ties the call exactly to its
// request. A call still in flight when the connection ends (a FATAL, a
// server gone) is recorded as an error. Calls are recorded (span and
// histogram, with their own start and end) in short bursts off the relay
// goroutines.
//
// The startup is a call of its own, operation connect: from the
// client's StartupMessage to the server's first ReadyForQuery (the
// authentication exchange and the ParameterStatus reports included), with
// hopscope.db.auth_method saying what the server asked for (none,
// cleartext, md5, scram-sha-256, sasl, gss, other: the Authentication
// message's type, never a credential); an ErrorResponse that refuses it
// (28P01 for a wrong password) is its error, recorded when the server
// closes. It is attributed like any call: a connection a pool opens ahead
// of the requests is ambiguous. Behind a pooler (PgBouncer) the connect is
// the pooler's own answer, not the database's. The authentication
// messages themselves pass through unchanged. SSLRequest and GSSENCRequest are answered N by the proxy, so the app
// goes on in plain text on loopback, unless the backend's tls mode is
// passthrough: then the server answers and an encrypted session is
// relayed opaque. In mode originate the proxy itself sends the server an
// SSLRequest once the app's startup packet has come, and relays over TLS
// (tls.go); in mode terminate it also answers the app's SSLRequest S (or
// its direct TLS) with the configured certificate and decodes what comes
// through it. Then the connect call starts at that SSLRequest, so it
// includes the TLS handshake, and carries tls.protocol.version; a server
// that refuses TLS or fails the handshake is told the app as FATAL 08001.
// A CancelRequest is relayed as it came (over TLS in those modes).
//
// The decoder frames messages as the bytes stream past, keeping a small
// header and the start of the few bodies it reads: a 100 MB COPY is not
// buffered. Whatever it cannot follow (a bad length, an unknown message)
// stops the decoding, never the relay.
package pgproxy
