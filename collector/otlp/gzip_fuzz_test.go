package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/internal/otlpwire"
)

// fuzzMaxBytes is the receiver's MaxRequestBytes in FuzzHTTPGzip, the
// least Validate allows: fuzzed bodies reach it.
const fuzzMaxBytes = 1024

// httpOutcome is what one OTLP/HTTP request came to.
type httpOutcome struct {
	status   int
	reasons  []string // OnReject calls
	consumed []byte   // what the consumer got; nil when not called
	called   bool
}

// gzipReceiver is a receiver whose consumer validates as the collector's
// does (otlpwire.Walk) and keeps what it was given.
type gzipReceiver struct {
	r   *Receiver
	out *httpOutcome
}

func newGzipReceiver(tb testing.TB) *gzipReceiver {
	g := &gzipReceiver{}
	consume := func(_ context.Context, body []byte) error {
		g.out.called, g.out.consumed = true, append([]byte{}, body...)
		return otlpwire.Walk(body, func(*otlpwire.Resource, *otlpwire.Scope, *otlpwire.Span) error { return nil })
	}
	r, err := newReceiver(Config{MaxRequestBytes: fuzzMaxBytes, MaxJSONElements: DefaultMaxJSONElements,
		OnReject: func(reason string) { g.out.reasons = append(g.out.reasons, reason) }}, consume)
	if err != nil {
		tb.Fatal(err)
	}
	g.r = r
	return g
}

// post sends body to serveHTTP and checks what every answer must be: a
// refusal is a JSON error counted once, a success is counted never, and
// the consumer never gets more than MaxRequestBytes.
func (g *gzipReceiver) post(t *testing.T, body []byte, isJSON bool, encoding string) httpOutcome {
	t.Helper()
	g.out = &httpOutcome{}
	req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(body))
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-protobuf")
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	w := httptest.NewRecorder()
	g.r.serveHTTP(w, req)
	out := *g.out
	out.status = w.Code
	if len(out.consumed) > fuzzMaxBytes {
		t.Fatalf("consumer got %d bytes, more than MaxRequestBytes %d", len(out.consumed), fuzzMaxBytes)
	}
	if out.status == http.StatusOK {
		if len(out.reasons) != 0 {
			t.Fatalf("accepted, yet counted as refused: %v", out.reasons)
		}
		return out
	}
	if len(out.reasons) != 1 {
		t.Fatalf("refused with %d, counted %d times: %v", out.status, len(out.reasons), out.reasons)
	}
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != out.status || e.Message == "" {
		t.Fatalf("refusal %d with body %q: %v", out.status, w.Body.Bytes(), err)
	}
	return out
}

func sameOutcome(a, b httpOutcome) bool {
	return a.status == b.status && a.called == b.called && bytes.Equal(a.consumed, b.consumed) &&
		len(a.reasons) == len(b.reasons) && (len(a.reasons) == 0 || a.reasons[0] == b.reasons[0])
}

// gzipMembers compresses data as one gzip member, or as two concatenated
// members split at cut (as pigz or a streaming sender writes them).
func gzipMembers(t testing.TB, data []byte, cut int) []byte {
	var b bytes.Buffer
	parts := [][]byte{data}
	if cut > 0 && cut < len(data) {
		parts = [][]byte{data[:cut], data[cut:]}
	}
	for _, p := range parts {
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// FuzzHTTPGzip: for any payload, OTLP/HTTP with Content-Encoding: gzip
// (one member or two) answers, counts and hands the consumer exactly what
// the payload sent plain does, unless the compressed body alone is over
// MaxRequestBytes (then 413 too_large). The payload sent itself as a gzip
// body is what a reference gunzip (compress/gzip, io.ReadAll) makes of
// it: more than MaxRequestBytes once decompressed is 413 too_large, a
// broken stream 400 malformed, anything else answered as its
// decompressed bytes sent plain. The consumer never gets more than
// MaxRequestBytes; a refusal is a JSON error counted once. Seeds: f.Add
// below and testdata/fuzz/FuzzHTTPGzip.
func FuzzHTTPGzip(f *testing.F) {
	span := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: bytes.Repeat([]byte{0x4b}, 16), SpanId: bytes.Repeat([]byte{0xf9}, 8),
			Name: "GET /orders/{id}", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: 1764142209123400000, EndTimeUnixNano: 1764142209207912000,
		}}}},
	}}}
	pb, err := proto.Marshal(span)
	if err != nil {
		f.Fatal(err)
	}
	js := []byte(`{"resourceSpans":[{"resource":{},"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736",` +
		`"spanId":"00f067aa0ba902b7","name":"GET /orders/{id}","kind":2,"startTimeUnixNano":"1764142209123400000",` +
		`"endTimeUnixNano":"1764142209207912000"}]}]}]}`)
	f.Add(pb, false, uint16(0))
	f.Add(pb, false, uint16(20))
	f.Add(js, true, uint16(0))
	f.Add(js, true, uint16(100))
	f.Add(gzipMembers(f, pb, 0), false, uint16(0))
	f.Add(gzipMembers(f, js, 30), true, uint16(0))
	f.Add(gzipMembers(f, make([]byte, 64<<10), 0), false, uint16(0)) // a small bomb
	f.Add([]byte{}, false, uint16(0))
	f.Add(make([]byte, fuzzMaxBytes+1), false, uint16(0))

	g := newGzipReceiver(f)
	f.Fuzz(func(t *testing.T, payload []byte, isJSON bool, cut uint16) {
		plain := g.post(t, payload, isJSON, "")
		if len(payload) > fuzzMaxBytes && (plain.status != http.StatusRequestEntityTooLarge || plain.reasons[0] != "too_large") {
			t.Fatalf("%d bytes plain: %d %v, want 413 too_large", len(payload), plain.status, plain.reasons)
		}

		// The payload gzipped decodes as the payload.
		gz := gzipMembers(t, payload, int(cut))
		zipped := g.post(t, gz, isJSON, "gzip")
		switch {
		case len(gz) > fuzzMaxBytes:
			if zipped.status != http.StatusRequestEntityTooLarge || zipped.reasons[0] != "too_large" {
				t.Fatalf("%d bytes gzipped to %d: %d %v, want 413 too_large", len(payload), len(gz), zipped.status, zipped.reasons)
			}
		case !sameOutcome(plain, zipped):
			t.Fatalf("%d bytes gzipped (cut %d): %+v; plain: %+v", len(payload), cut, zipped, plain)
		}

		// The payload as a gzip body: as the reference gunzips it.
		raw := g.post(t, payload, isJSON, "gzip")
		if len(payload) > fuzzMaxBytes {
			if raw.status != http.StatusRequestEntityTooLarge && raw.status != http.StatusBadRequest {
				t.Fatalf("%d-byte gzip body: %d %v, want 413 or 400", len(payload), raw.status, raw.reasons)
			}
			return
		}
		dec, err := refGunzip(payload, fuzzMaxBytes+1)
		switch {
		case len(dec) > fuzzMaxBytes:
			if raw.status != http.StatusRequestEntityTooLarge || raw.reasons[0] != "too_large" {
				t.Fatalf("gzip body of %d bytes decompressing past %d: %d %v, want 413 too_large", len(payload), fuzzMaxBytes, raw.status, raw.reasons)
			}
		case err != nil:
			if raw.status != http.StatusBadRequest || raw.reasons[0] != "malformed" || raw.called {
				t.Fatalf("broken gzip body (%v): %d %v, consumer called %v; want 400 malformed", err, raw.status, raw.reasons, raw.called)
			}
		default:
			if want := g.post(t, dec, isJSON, ""); !sameOutcome(raw, want) {
				t.Fatalf("gzip body: %+v; its %d decompressed bytes plain: %+v", raw, len(dec), want)
			}
		}
	})
}

// refGunzip decompresses data, concatenated members included, reading at
// most limit bytes of output.
func refGunzip(data []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, limit))
}
