package httpegress

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// hopHeaders are the hop-by-hop headers (RFC 9110 §7.6.1 and the usual
// non-standard ones): they concern one connection and are not forwarded.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopByHop deletes the hop-by-hop headers of h, and those the
// Connection header names. It keeps "Te: trailers" (gRPC needs it) and
// returns the protocol an Upgrade asked for, "" when none.
func removeHopByHop(h http.Header) (upgrade string) {
	conn := h["Connection"]
	if hasToken(conn, "upgrade") {
		upgrade = h.Get("Upgrade")
	}
	for _, v := range conn {
		for v != "" {
			var f string
			f, v, _ = strings.Cut(v, ",")
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	trailers := hasToken(h["Te"], "trailers")
	for _, k := range hopHeaders {
		delete(h, k)
	}
	if trailers {
		h["Te"] = teTrailers
	}
	return upgrade
}

var (
	teTrailers        = []string{"trailers"}
	connectionUpgrade = []string{"Upgrade"}
	noValue           []string // a header present with no value: net/http then sends none of its own
)

// hasToken reports whether a comma-separated header has token
// (case-insensitive).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var f string
			f, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(f), token) {
				return true
			}
		}
	}
	return false
}

// methodNames bounds the operation label and span name: the standard
// methods, else "HTTP OTHER".
var methodNames = map[string]string{
	http.MethodGet:     "HTTP GET",
	http.MethodHead:    "HTTP HEAD",
	http.MethodPost:    "HTTP POST",
	http.MethodPut:     "HTTP PUT",
	http.MethodPatch:   "HTTP PATCH",
	http.MethodDelete:  "HTTP DELETE",
	http.MethodConnect: "HTTP CONNECT",
	http.MethodOptions: "HTTP OPTIONS",
	http.MethodTrace:   "HTTP TRACE",
}

// opName is the bounded operation name of method.
func opName(method string) string {
	if n, ok := methodNames[method]; ok {
		return n
	}
	return "HTTP OTHER"
}

// idempotent methods may be retried (RFC 9110 §9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// maxURLLen bounds url.full.
const maxURLLen = 2048

// redactedURL is u for the url.full attribute: scheme, host and path; no
// user info; each query value replaced by REDACTED (the keys stay).
func redactedURL(u *url.URL) string {
	var b strings.Builder
	path := u.EscapedPath()
	b.Grow(len(u.Scheme) + 3 + len(u.Host) + len(path) + len(u.RawQuery) + 16)
	b.WriteString(u.Scheme)
	b.WriteString("://")
	b.WriteString(u.Host)
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	if q := u.RawQuery; q != "" {
		b.WriteByte('?')
		for first := true; q != ""; first = false {
			var kv string
			kv, q, _ = strings.Cut(q, "&")
			if !first {
				b.WriteByte('&')
			}
			k, _, hasValue := strings.Cut(kv, "=")
			b.WriteString(k)
			if hasValue {
				b.WriteString("=REDACTED")
			}
			if b.Len() > maxURLLen {
				break
			}
		}
	}
	s := b.String()
	if len(s) > maxURLLen {
		s = s[:maxURLLen]
	}
	return s
}
