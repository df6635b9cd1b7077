package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/hopscope/hopscope/sidecar/internal/h1"
)

// StatusClientClosed is recorded, as nginx does, for a request whose client
// went away before the response was complete.
const StatusClientClosed = 499

// StatusSidecarShutdown is recorded for a request the sidecar itself cut
// because --drain-timeout ended before it finished; the client gets it as
// a response when no response header had left yet. Its error kind
// (error.type, the JSON body's "error") is ErrorSidecarShutdown.
const StatusSidecarShutdown = http.StatusServiceUnavailable

// ErrorSidecarShutdown is the error kind of a request cut at the end of
// the drain.
const ErrorSidecarShutdown = "sidecar_shutdown"

// errSidecarShutdown is the cause the sidecar cancels every request
// context with when the drain times out.
var errSidecarShutdown = errors.New("the sidecar is shutting down and --drain-timeout has passed")

// cutByShutdown reports whether ctx was cancelled by the end of the drain
// rather than by the client.
func cutByShutdown(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), errSidecarShutdown)
}

// errorBody is the short JSON body of a response the sidecar makes itself.
type errorBody struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
	TraceID string `json:"trace_id,omitempty"`
}

// errorHandler turns a failed round trip into 502 (app unreachable), 504
// (app too slow), 503 sidecar_shutdown (cut at the end of the drain) or,
// when the client went away, a recorded 499.
func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st := stateFrom(r.Context())
	if st != nil && st.reqBody.timedOut.Load() {
		// The client stopped sending its body: the read that waited past
		// --request-body-timeout failed and the request to the app was
		// cancelled with the connection's context. The client hears why;
		// the connection's framing is lost.
		w.Header().Set("Connection", "close")
		p.writeError(w, st, errorBody{Status: http.StatusRequestTimeout, Error: ErrorRequestBodyTimeout,
			Message: fmt.Sprintf("no byte of the request body arrived for %s (--request-body-timeout)", p.bodyTimeout)})
		return
	}
	if cutByShutdown(r.Context()) {
		p.writeError(w, st, errorBody{Status: StatusSidecarShutdown, Error: ErrorSidecarShutdown,
			Message: "the sidecar is shutting down: the request did not finish within --drain-timeout"})
		return
	}
	var bre h1.BodyReadError
	if errors.As(err, &bre) && malformedBody(r, bre.Err) {
		// The client is there and sent a body that cannot be read: its
		// mistake, which it is told; the connection's framing is lost.
		w.Header().Set("Connection", "close")
		p.writeError(w, st, errorBody{Status: http.StatusBadRequest, Error: ErrorBadRequestBody,
			Message: fmt.Sprintf("the request body could not be read: %v", bre.Err)})
		return
	}
	if (r.Context().Err() != nil && errors.Is(err, context.Canceled)) || errors.As(err, &bre) {
		// The client went away, before the answer or in the middle of
		// sending its body: not the app's fault. Nobody is listening, and
		// no answer is made up for a half-closed connection either: the
		// response is aborted (finish records the 499).
		if st != nil {
			st.clientGone = true
			st.errKind = "client_closed"
		}
		panic(http.ErrAbortHandler)
	}
	body := errorBody{Status: http.StatusBadGateway, Error: "app_unreachable",
		Message: fmt.Sprintf("the sidecar could not reach the app at %s: %v", p.target.Host, rootCause(err))}
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &op) && op.Op == "dial":
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		body.Status, body.Error = http.StatusGatewayTimeout, "app_timeout"
		body.Message = fmt.Sprintf("the app at %s did not answer within %s (--upstream-timeout)", p.target.Host, p.upTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		body.Error = "app_closed_connection"
		body.Message = fmt.Sprintf("the app at %s closed the connection without a response", p.target.Host)
	}
	p.writeError(w, st, body)
}

// ErrorBadRequestBody is the error of a 400 for a request body that could
// not be read (a malformed chunked encoding).
const ErrorBadRequestBody = "bad_request_body"

// ErrorRequestBodyTimeout is the error of a 408 for a request whose body
// stopped arriving for --request-body-timeout.
const ErrorRequestBodyTimeout = "request_body_timeout"

// ErrorBadRequestHeader is the error of a 400 for a request head the
// sidecar refuses to forward (a Transfer-Encoding folded over lines).
const ErrorBadRequestHeader = "bad_request_header"

// malformedBody reports whether a failure to read the request body is the
// body's own fault — an HTTP/1.1 chunked encoding net/http could not parse
// (a bad chunk size, no CRLF after a chunk, a bad trailer) — rather than the
// client going away: a body that ends early, a reset or closed connection.
func malformedBody(r *http.Request, err error) bool {
	if r.ProtoMajor != 1 || !slices.Contains(r.TransferEncoding, "chunked") {
		return false
	}
	var ne net.Error
	return !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) &&
		!errors.Is(err, context.Canceled) && !errors.As(err, &ne)
}

// writeError answers with the sidecar's own JSON error body.
func (p *proxy) writeError(w http.ResponseWriter, st *reqState, body errorBody) {
	if st != nil {
		st.errKind = body.Error
		body.TraceID = st.traceID
		p.stampResponse(st, w.Header(), time.Now())
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(body.Status)
	_, _ = w.Write(append(b, '\n'))
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		var op *net.OpError
		if errors.As(err, &op) {
			return op
		}
		err = u
	}
}
