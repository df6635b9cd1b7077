package h1

import (
	"errors"
	"net"
)

// errStale marks a failure on a reused connection before any response
// byte arrived: the app had closed it while idle (after alive looked, or
// where alive cannot look), so a request that can be replayed is retried
// once on a fresh connection.
var errStale = errors.New("stale keep-alive connection")

// staleError is errStale with the underlying error. unsent: not even the
// request head could be written and no body byte was read, so any request
// may be retried (http.Transport's nothingWrittenError).
type staleError struct {
	err    error
	unsent bool
}

func (e staleError) Error() string        { return e.err.Error() }
func (e staleError) Unwrap() error        { return e.err }
func (e staleError) Is(target error) bool { return target == errStale }

// errResponseHeaderTimeout is a net.Error with Timeout() true, like
// http.Transport's, so the sidecar's error handler answers 504.
var errResponseHeaderTimeout error = timeoutError{"timeout awaiting response headers from the app"}

type timeoutError struct{ msg string }

func (e timeoutError) Error() string   { return e.msg }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// isConnReset reports a read failing as on a connection the peer reset,
// not a deadline (--upstream-timeout, cancellation) and not a local close.
func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read" && !op.Timeout() && !errors.Is(err, net.ErrClosed)
}

// BodyReadError is a failure to read the request body from the client, as
// opposed to a failure to write it to the app.
// RoundTrip returns it (wrapped) when that is why no answer came; the
// sidecar tells a malformed body (400) from a client gone (499) by Err.
type BodyReadError struct{ Err error }

func (e BodyReadError) Error() string { return "reading it from the client: " + e.Err.Error() }
func (e BodyReadError) Unwrap() error { return e.Err }
