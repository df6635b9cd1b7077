package sidecar

import (
	"net/http"
	"testing"
)

// TestTraceIDFromRequestID: with --trace-id-from-request-id, a request
// without trace context whose X-Request-ID is 32 lower-case hex digits
// (ingress-nginx's $request_id) gets that id as its trace id, as the app
// and the client (Server-Timing) see it; trace context, another form of
// request id, or the option off leave the trace id the sidecar's own.
func TestTraceIDFromRequestID(t *testing.T) {
	const reqID = "4bf92f3577b34da6a3ce929d0e0e4736"
	var sawTraceparent string
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sawTraceparent = r.Header.Get("Traceparent") }))
	on := startSidecar(t, up, func(c *Config) { c.TraceIDFromRequestID = true })
	off := startSidecar(t, up, nil)
	for _, tc := range []struct {
		name    string
		h       *harness
		headers map[string]string
		want    string // the trace id; "" = not the request id
	}{
		{"32-hex request id", on, map[string]string{"X-Request-ID": reqID}, reqID},
		{"traceparent wins", on, map[string]string{"X-Request-ID": reqID, "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, "0af7651916cd43dd8448eb211c80319c"},
		{"upper-case request id", on, map[string]string{"X-Request-ID": "4BF92F3577B34DA6A3CE929D0E0E4736"}, ""},
		{"another form", on, map[string]string{"X-Request-ID": "req-7"}, ""},
		{"all zero", on, map[string]string{"X-Request-ID": "00000000000000000000000000000000"}, ""},
		{"option off", off, map[string]string{"X-Request-ID": reqID}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tc.h.url+"/orders/7", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			m := serverTimingRE.FindStringSubmatch(res.Header.Get("Server-Timing"))
			if m == nil {
				t.Fatalf("Server-Timing = %q", res.Header.Get("Server-Timing"))
			}
			got := m[1]
			if tc.want != "" && got != tc.want || tc.want == "" && got == reqID {
				t.Errorf("trace id %s, want %q (\"\" = not the request id)", got, tc.want)
			}
			if len(sawTraceparent) < 36 || sawTraceparent[3:35] != got {
				t.Errorf("the app saw traceparent %q, the client trace id %s", sawTraceparent, got)
			}
		})
	}
}
