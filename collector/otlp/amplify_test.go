package otlp

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// amplifying is an OTLP/JSON body of n bytes made of empty elements, each
// of which costs a decoder an object: `{"resourceSpans":[{},{},…]}` and
// the same one level down (issue 19, item 2: 16 MiB of it took the
// collector's RSS from 112 MB to 1.14 GB).
func amplifying(n int, prefix, suffix string) []byte {
	var b bytes.Buffer
	b.WriteString(prefix)
	for b.Len() < n-len(suffix)-3 {
		b.WriteString("{},")
	}
	b.WriteString("{}")
	b.WriteString(suffix)
	return b.Bytes()
}

// allocated is the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestJSONAmplificationRefused: a 16 MiB OTLP/JSON body of empty elements
// is refused with 413 before it is decoded, counted as too_many_elements,
// having allocated no more than a few times its size; a JSON export of
// ordinary spans still goes through.
func TestJSONAmplificationRefused(t *testing.T) {
	var reasons []string
	var c captured
	r, err := newReceiver(Config{MaxRequestBytes: 16 << 20, MaxJSONElements: DefaultMaxJSONElements, OnReject: func(reason string) { reasons = append(reasons, reason) }}, c.consume)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, prefix, suffix string }{
		{"resourceSpans", `{"resourceSpans":[`, `]}`},
		{"spans", `{"resourceSpans":[{"scopeSpans":[{"spans":[`, `]}]}]}`},
		{"attributes", `{"resourceSpans":[{"resource":{"attributes":[`, `]}}]}`},
		{"arrays", `{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"arrayValue":{"values":[`, `]}}}]}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reasons = nil
			body := amplifying(16<<20-1024, tc.prefix, tc.suffix)
			w := httptest.NewRecorder()
			alloc := allocated(func() {
				req := httptest.NewRequest("POST", "/v1/traces", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				r.serveHTTP(w, req)
			})
			t.Logf("%d bytes: %d %s; %d MB allocated", len(body), w.Code, strings.TrimSpace(w.Body.String()), alloc>>20)
			if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "elements") {
				t.Errorf("status %d %s, want 413 naming the element limit", w.Code, w.Body.String())
			}
			if len(reasons) != 1 || reasons[0] != "too_many_elements" {
				t.Errorf("rejections %v, want [too_many_elements]", reasons)
			}
			// The body is read once, into a buffer of its
			// Content-Length; nothing proportional to the element count
			// is allocated beyond it.
			if alloc > 3*uint64(len(body))/2 {
				t.Errorf("%d MB allocated for a %d MB body", alloc>>20, len(body)>>20)
			}
		})
	}
	if len(c.get()) != 0 {
		t.Fatal("a refused request reached the consumer")
	}
}

// BenchmarkJSONDecode measures the OTLP/JSON path per request: an export
// of 512 ordinary spans, and 1 MiB of empty resourceSpans (refused once
// the element limit is passed).
func BenchmarkJSONDecode(b *testing.B) {
	var spans strings.Builder
	spans.WriteString(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},"scopeSpans":[{"scope":{"name":"s"},"spans":[`)
	for i := 0; i < 512; i++ {
		if i > 0 {
			spans.WriteByte(',')
		}
		spans.WriteString(`{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","parentSpanId":"00f067aa0ba902b8","name":"GET /api/orders/{id}","kind":2,` +
			`"startTimeUnixNano":"1764151200000000000","endTimeUnixNano":"1764151200005000000","attributes":[` +
			`{"key":"http.request.method","value":{"stringValue":"GET"}},{"key":"http.route","value":{"stringValue":"/api/orders/{id}"}},` +
			`{"key":"http.response.status_code","value":{"intValue":"200"}},{"key":"hopscope.app_duration_ms","value":{"doubleValue":3.5}}],"status":{"code":1}}`)
	}
	spans.WriteString(`]}]}]}`)
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"spans512", []byte(spans.String())},
		{"empty1MiB", amplifying(1<<20, `{"resourceSpans":[`, `]}`)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, _ := newReceiver(Config{MaxRequestBytes: 16 << 20, MaxJSONElements: DefaultMaxJSONElements}, func(_ context.Context, _ []byte) error { return nil })
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/traces", bytes.NewReader(bc.body))
				req.Header.Set("Content-Type", "application/json")
				r.serveHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

func TestReadAll(t *testing.T) {
	// Buffers come from bufPools' classes: 4 KiB at least, else at most
	// 1/8 over the size asked for.
	for _, tc := range []struct{ size, hint, maxCap int }{
		{0, 0, 4 << 10},
		{10, 10, 4 << 10},
		{3 << 20, 3 << 20, 3<<20 + 3<<20/8}, // announced and sent: one buffer of the size's class
		{10, 16 << 20, 1<<20 + 1<<20/8},     // announced, not sent: 1 MiB
		{3 << 20, 512, 4 << 20},             // not announced: doublings
		{2 << 20, 1 << 20, 3 << 20},         // more than announced: doublings
	} {
		data := bytes.Repeat([]byte("x"), tc.size)
		got, err := readAll(iotest.HalfReader(bytes.NewReader(data)), tc.hint)
		if err != nil || !bytes.Equal(got, data) || cap(got) > tc.maxCap {
			t.Errorf("readAll(%d bytes, hint %d): %d bytes, cap %d, %v; want cap ≤ %d", tc.size, tc.hint, len(got), cap(got), err, tc.maxCap)
		}
	}
}
