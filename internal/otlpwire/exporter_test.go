package otlpwire

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// sink is a loopback OTLP/HTTP receiver (httptest listens on 127.0.0.1:0).
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	requests []sinkRequest
	attempts atomic.Int32
}

type sinkRequest struct {
	header http.Header
	body   []byte // decompressed
}

// newSink answers each request with reply(attempt number from 1), after
// recording it.
func newSink(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *sink {
	t.Helper()
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.attempts.Add(1))
		body, err := io.ReadAll(r.Body)
		if err == nil && r.Header.Get("Content-Encoding") == "gzip" {
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
				body, err = io.ReadAll(zr)
			}
		}
		if err != nil {
			t.Errorf("sink: reading body: %v", err)
		}
		s.mu.Lock()
		s.requests = append(s.requests, sinkRequest{r.Header.Clone(), body})
		s.mu.Unlock()
		if reply != nil {
			reply(n, w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) endpoint() string { return s.URL + "/v1/traces" }

func (s *sink) got() []sinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkRequest(nil), s.requests...)
}

func newExporter(t *testing.T, cfg HTTPConfig) *Exporter {
	t.Helper()
	e, err := NewHTTPExporter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

func TestExporterSendsRequest(t *testing.T) {
	spans := findCase(t, "two resources, two scopes each, interleaved")
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "identity", true: "gzip"}[gz], func(t *testing.T) {
			s := newSink(t, nil)
			e := newExporter(t, HTTPConfig{
				Endpoint: s.endpoint(),
				Headers:  map[string]string{"Authorization": "Bearer t0k3n", "Content-Type": "text/plain"},
				Gzip:     gz,
			})
			if err := e.ExportSpans(context.Background(), spans); err != nil {
				t.Fatal(err)
			}
			reqs := s.got()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			h := reqs[0].header
			for k, want := range map[string]string{
				"Content-Type":  "application/x-protobuf",
				"Authorization": "Bearer t0k3n",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if got, want := h.Get("Content-Encoding"), map[bool]string{true: "gzip"}[gz]; got != want {
				t.Errorf("Content-Encoding %q, want %q", got, want)
			}
			if !strings.Contains(h.Get("User-Agent"), "otlpwire") {
				t.Errorf("User-Agent %q", h.Get("User-Agent"))
			}
			if !bytes.Equal(reqs[0].body, AppendExportRequest(nil, spans)) {
				t.Error("body is not AppendExportRequest's encoding")
			}
			checkAgainstStock(t, reqs[0].body, spans)
		})
	}
}

// TestExporterMatchesOTLPTraceHTTP runs the stock otlptracehttp exporter and
// ours against loopback receivers and compares what arrived.
func TestExporterMatchesOTLPTraceHTTP(t *testing.T) {
	var spans []sdktrace.ReadOnlySpan
	for _, tc := range batchCases() {
		spans = append(spans, tc.spans(t)...)
	}
	ctx := context.Background()

	stockSink := newSink(t, nil)
	stock, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(stockSink.endpoint()),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	if err := stock.ExportSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	_ = stock.Shutdown(ctx)

	ourSink := newSink(t, nil)
	if err := newExporter(t, HTTPConfig{Endpoint: ourSink.endpoint(), Gzip: true}).ExportSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}

	want, got := decode(t, stockSink.got()[0].body), decode(t, ourSink.got()[0].body)
	clearLinkTraceState(t, got, spans)
	sortResourceSpans(want)
	sortResourceSpans(got)
	if !proto.Equal(got, want) {
		t.Fatalf("otlpwire and otlptracehttp bodies differ:\n%s", diff(got, want))
	}
	if g, w := stockSink.got()[0].header.Get("Content-Type"), ourSink.got()[0].header.Get("Content-Type"); g != w {
		t.Errorf("Content-Type: stock %q, ours %q", g, w)
	}
}

func TestExporterResponses(t *testing.T) {
	longBody := strings.Repeat("e", 150) + strings.Repeat("f", 350)
	tests := []struct {
		name    string
		timeout time.Duration
		reply   func(n int, w http.ResponseWriter, r *http.Request)

		wantErr      bool
		wantStatus   int    // of the *StatusError
		wantInErr    string // substring of the error
		wantAttempts int32
		maxElapsed   time.Duration
		minElapsed   time.Duration
	}{
		{
			name:         "200",
			reply:        func(int, http.ResponseWriter, *http.Request) {},
			wantAttempts: 1,
		},
		{
			name: "200 with partial success is success",
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/x-protobuf")
				// ExportTraceServiceResponse{partial_success{rejected_spans: 3}}
				_, _ = w.Write([]byte{0x0a, 0x02, 0x08, 0x03})
			},
			wantAttempts: 1,
		},
		{
			name:         "202 without body",
			reply:        func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) },
			wantAttempts: 1,
		},
		{
			name: "400 surfaced with the start of the body, not retried",
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) {
				http.Error(w, longBody, http.StatusBadRequest)
			},
			wantErr:      true,
			wantStatus:   400,
			wantInErr:    "400 Bad Request: " + longBody[:200],
			wantAttempts: 1,
		},
		{
			name: "500 not retried",
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
			},
			wantErr:      true,
			wantStatus:   500,
			wantInErr:    "500 Internal Server Error: (empty body)",
			wantAttempts: 1,
		},
		{
			name: "503 then 200 is retried",
			reply: func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					http.Error(w, "warming up", http.StatusServiceUnavailable)
				}
			},
			wantAttempts: 2,
			maxElapsed:   time.Second,
		},
		{
			name: "429, 502, 504 then 200",
			reply: func(n int, w http.ResponseWriter, _ *http.Request) {
				switch n {
				case 1:
					w.WriteHeader(http.StatusTooManyRequests)
				case 2:
					w.WriteHeader(http.StatusBadGateway)
				case 3:
					w.WriteHeader(http.StatusGatewayTimeout)
				}
			},
			wantAttempts: 4,
			maxElapsed:   2 * time.Second,
		},
		{
			name: "Retry-After is waited for",
			reply: func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
				}
			},
			wantAttempts: 2,
			minElapsed:   time.Second,
			maxElapsed:   3 * time.Second,
		},
		{
			name:    "Retry-After past the deadline gives up at once",
			timeout: 2 * time.Second,
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "30")
				http.Error(w, "slow down", http.StatusServiceUnavailable)
			},
			wantErr:      true,
			wantStatus:   503,
			wantInErr:    "slow down (retry in 30s would pass the export deadline)",
			wantAttempts: 1,
			maxElapsed:   time.Second,
		},
		{
			name:    "retryable until the deadline",
			timeout: 700 * time.Millisecond,
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
			},
			wantErr:    true,
			wantStatus: 502,
			wantInErr:  "502 Bad Gateway",
			minElapsed: 200 * time.Millisecond,
			maxElapsed: 1500 * time.Millisecond,
		},
	}
	spans := findCase(t, "status")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, tc.reply)
			e := newExporter(t, HTTPConfig{Endpoint: s.endpoint(), Timeout: tc.timeout})
			start := time.Now()
			err := e.ExportSpans(context.Background(), spans)
			elapsed := time.Since(start)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != tc.wantStatus {
					t.Errorf("err = %v (%T), want a *StatusError with status %d", err, err, tc.wantStatus)
				}
				if se != nil && len(se.Body) > errBodyMax {
					t.Errorf("error quotes %d bytes of body, want at most %d", len(se.Body), errBodyMax)
				}
				if !strings.Contains(err.Error(), tc.wantInErr) {
					t.Errorf("err = %q, want it to contain %q", err, tc.wantInErr)
				}
			}
			if tc.wantAttempts != 0 {
				if got := s.attempts.Load(); got != tc.wantAttempts {
					t.Errorf("%d attempts, want %d", got, tc.wantAttempts)
				}
			} else if got := s.attempts.Load(); got < 2 {
				t.Errorf("%d attempts, want retries", got)
			}
			if tc.maxElapsed != 0 && elapsed > tc.maxElapsed {
				t.Errorf("took %v, want at most %v", elapsed, tc.maxElapsed)
			}
			if elapsed < tc.minElapsed {
				t.Errorf("took %v, want at least %v", elapsed, tc.minElapsed)
			}
			// Every attempt carried the whole request.
			for i, r := range s.got() {
				if !bytes.Equal(r.body, AppendExportRequest(nil, spans)) {
					t.Errorf("attempt %d: body differs from the encoding", i+1)
				}
			}
		})
	}
}

func TestExporterTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hang := func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	spans := findCase(t, "status")
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
	}{
		{"config timeout", 150 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
		{"earlier ctx deadline", time.Minute, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 150*time.Millisecond)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, hang)
			e := newExporter(t, HTTPConfig{Endpoint: s.endpoint(), Timeout: tc.timeout})
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err := e.ExportSpans(ctx, spans)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
			if el := time.Since(start); el < 150*time.Millisecond || el > time.Second {
				t.Errorf("gave up after %v, want about 150ms", el)
			}
		})
	}
}

func TestExporterShutdown(t *testing.T) {
	spans := findCase(t, "status")
	ctx := context.Background()

	t.Run("later exports fail fast", func(t *testing.T) {
		s := newSink(t, nil)
		e := newExporter(t, HTTPConfig{Endpoint: s.endpoint()})
		if err := e.ExportSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
		if err := e.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.ExportSpans(ctx, spans); !errors.Is(err, ErrShutdown) {
			t.Errorf("export after Shutdown: %v, want ErrShutdown", err)
		}
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
		if n := s.attempts.Load(); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})

	t.Run("ends a backoff wait", func(t *testing.T) {
		s := newSink(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		e := newExporter(t, HTTPConfig{Endpoint: s.endpoint(), Timeout: time.Minute})
		done := make(chan error, 1)
		go func() { done <- e.ExportSpans(ctx, spans) }()
		testkit.Eventually(t, "the first attempt", 5*time.Second, func() bool { return s.attempts.Load() > 0 })
		time.Sleep(50 * time.Millisecond) // into the 5 s backoff wait, which shows nothing to wait on
		if err := e.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrShutdown) {
				t.Errorf("err = %v, want ErrShutdown", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("export still waiting after Shutdown")
		}
	})

	t.Run("done ctx", func(t *testing.T) {
		e := newExporter(t, HTTPConfig{Endpoint: "http://127.0.0.1:1/v1/traces"})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := e.Shutdown(cctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown(cancelled ctx) = %v", err)
		}
		if err := e.ExportSpans(ctx, spans); !errors.Is(err, ErrShutdown) {
			t.Errorf("export after Shutdown: %v, want ErrShutdown", err)
		}
	})
}

func TestExporterEmptyBatch(t *testing.T) {
	s := newSink(t, nil)
	e := newExporter(t, HTTPConfig{Endpoint: s.endpoint()})
	for _, spans := range [][]sdktrace.ReadOnlySpan{nil, {nil, nil}} {
		if err := e.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.attempts.Load(); n != 0 {
		t.Errorf("%d requests for empty batches", n)
	}
}

func TestExporterTransportError(t *testing.T) {
	s := newSink(t, nil)
	endpoint := s.endpoint()
	s.Close() // nothing listens any more
	e := newExporter(t, HTTPConfig{Endpoint: endpoint})
	err := e.ExportSpans(context.Background(), findCase(t, "status"))
	if err == nil || !strings.Contains(err.Error(), "otlpwire") {
		t.Errorf("err = %v, want an otlpwire transport error", err)
	}
}

func TestNewHTTPExporterRejects(t *testing.T) {
	for _, ep := range []string{"", "collector:4318", "grpc://collector:4317", "http://", "http://[::1"} {
		if _, err := NewHTTPExporter(HTTPConfig{Endpoint: ep}); err == nil {
			t.Errorf("endpoint %q accepted", ep)
		}
	}
}

// TestExporterUnderBatcher runs the exporter the way the sidecar will: under
// the SDK's batch span processor, concurrently (run with -race).
func TestExporterUnderBatcher(t *testing.T) {
	s := newSink(t, nil)
	e, err := NewHTTPExporter(HTTPConfig{Endpoint: s.endpoint(), Gzip: true})
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(resB),
		sdktrace.WithBatcher(e, sdktrace.WithMaxExportBatchSize(64), sdktrace.WithBatchTimeout(10*time.Millisecond)))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				_, sp := tp.Tracer("batcher").Start(context.Background(), "req",
					trace.WithAttributes(attribute.Int("g", g), attribute.Int("i", i)))
				sp.End()
			}
		})
	}
	wg.Wait()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range s.got() {
		total += countSpans(decode(t, r.body))
	}
	if total != 800 {
		t.Errorf("collector got %d spans, want 800", total)
	}
	if err := e.ExportSpans(context.Background(), findCase(t, "status")); !errors.Is(err, ErrShutdown) {
		t.Errorf("export after provider shutdown: %v, want ErrShutdown", err)
	}
}

// TestConcurrentExports shares one exporter between goroutines with early
// error answers, so request bodies can be closed after Do returns.
func TestConcurrentExports(t *testing.T) {
	s := newSink(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n%3 == 0 {
			http.Error(w, "nope", http.StatusBadRequest)
		}
	})
	e := newExporter(t, HTTPConfig{Endpoint: s.endpoint(), Gzip: true})
	spans := findCase(t, "every attribute type")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				_ = e.ExportSpans(context.Background(), spans)
			}
		})
	}
	wg.Wait()
	want := AppendExportRequest(nil, spans)
	for i, r := range s.got() {
		if !bytes.Equal(r.body, want) {
			t.Fatalf("request %d: body corrupted", i)
		}
	}
}
