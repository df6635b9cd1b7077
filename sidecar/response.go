package sidecar

import (
	"net/http"
	"time"
)

// modifyResponse stamps Server-Timing on the app's response.
func (p *proxy) modifyResponse(res *http.Response) error {
	st := stateFrom(res.Request.Context())
	if st == nil {
		return nil
	}
	st.upstreamSC = res.StatusCode
	st.res = res
	p.stampResponse(st, res.Header, time.Now())
	return nil
}

func (p *proxy) stampResponse(st *reqState, h http.Header, now time.Time) {
	h.Add(headerServerTiming, st.serverTiming(now))
	if p.tao != "" {
		h.Set(headerTimingAllow, p.tao)
	}
	if p.draining.Load() || st.closeConn {
		h.Set("Connection", "close") // move keep-alive clients to other pods; end a suspicious connection
	}
}

// serverTiming renders `traceparent;desc="00-…-…-01", app;dur=…, sidecar;dur=…`
// as known when the response headers leave: app = the app's time to
// response headers, sidecar = the rest so far.
func (st *reqState) serverTiming(now time.Time) string {
	b := st.serverTimer[:0]
	b = append(b, `traceparent;desc="00-`...)
	tid, sid := st.sc.TraceID(), st.sc.SpanID()
	b = appendHex(b, tid[:])
	b = append(b, '-')
	b = appendHex(b, sid[:])
	if st.sc.IsSampled() {
		b = append(b, `-01"`...)
	} else {
		b = append(b, `-00"`...)
	}
	var app time.Duration
	if !st.appStart.IsZero() && !st.appHeaders.IsZero() {
		app = st.appHeaders.Sub(st.appStart)
		b = append(b, ", app;dur="...)
		b = appendMS(b, app)
	}
	b = append(b, ", sidecar;dur="...)
	b = appendMS(b, now.Sub(st.start)-app)
	return string(b)
}

const hexDigits = "0123456789abcdef"

func appendHex(b, src []byte) []byte {
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendMS writes d in milliseconds with three decimals.
func appendMS(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	us := d.Microseconds()
	b = appendUint(b, uint64(us/1000))
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// respWriter records the status and bytes written to the client.
type respWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		// Never invent a Content-Type the app did not send: a nil value
		// stops net/http from sniffing one.
		if h := w.Header(); h["Content-Type"] == nil {
			h["Content-Type"] = nil
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Flush forwards at once (SSE, streaming); Unwrap lets
// http.ResponseController reach Hijack and deadlines.
func (w *respWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
