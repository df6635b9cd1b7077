package httpegress

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Error types (Op.Error) of calls the proxy answered itself or that failed
// before a response; HTTP responses of 400 and above carry their status.
const (
	errConnect     = "connect"      // the target could not be reached (502)
	errTransport   = "transport"    // the exchange with the target failed (502)
	errTLS         = "tls"          // the TLS handshake with the target failed (502)
	errTimeout     = "timeout"      // no response headers within Timeout (504)
	errCircuitOpen = "circuit_open" // refused by the open circuit (503)
	errRateLimited = "rate_limited" // refused by the rate limit (429)
	errCanceled    = "canceled"     // the app went away first
	errBadRequest  = "bad_request"  // not a request the proxy can forward (400)
	errBody        = "body"         // the response body broke off midway
	errLoop        = "loop"         // a forward request to the proxy itself (508)
)

// replies are the proxy's own answers, JSON bodies naming the backend,
// built once per proxy.
type replies struct {
	badGateway, timeout, circuitOpen, rateLimited, badRequest, notProxy, loop, method []byte
	retryAfterOpen                                                                    []string
}

func newReplies(name string, p *Proxy) replies {
	body := func(msg string) []byte {
		b, _ := json.Marshal(struct {
			Error   string `json:"error"`
			Backend string `json:"backend"`
		}{msg, name})
		return append(b, '\n')
	}
	r := replies{
		badGateway:  body("bad gateway: the target could not be reached or broke the exchange"),
		timeout:     body("gateway timeout: no response headers from the target within " + p.timeout.String()),
		circuitOpen: body("circuit open: the target failed repeatedly, calls are refused for a while"),
		rateLimited: body("rate limited: too many requests to the target"),
		badRequest:  body("bad request: the proxy cannot forward this request"),
		notProxy:    body("bad request: a proxy request needs an absolute http:// URL or CONNECT host:port"),
		loop:        body("loop detected: the request is addressed to the proxy itself"),
		method:      body("method not allowed: CONNECT goes to the egress proxy, not to a backend listener"),
	}
	if p.breaker != nil {
		r.retryAfterOpen = []string{strconv.Itoa(int((p.breaker.openFor + time.Second - 1) / time.Second))}
	}
	return r
}

var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
	retryAfterOne   = []string{"1"}
)

// reply writes one of the proxy's own answers.
func reply(w http.ResponseWriter, status int, body []byte, retryAfter []string) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if retryAfter != nil {
		h["Retry-After"] = retryAfter
	}
	w.WriteHeader(status)
	w.Write(body)
}

// statusText are the error types of HTTP statuses 400–599.
var statusText = func() (s [200]string) {
	for i := range s {
		s[i] = strconv.Itoa(400 + i)
	}
	return s
}()

// statusError is the Op.Error of a response: its status from 400 on (the
// OpenTelemetry rule for client spans), else "".
func statusError(code int) string {
	if code >= 400 && code < 600 {
		return statusText[code-400]
	}
	if code >= 600 {
		return "other"
	}
	return ""
}
