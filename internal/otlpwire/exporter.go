package otlpwire

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hopscope/hopscope/internal/version"
)

// HTTPConfig configures NewHTTPExporter.
type HTTPConfig struct {
	// Endpoint is the full URL spans are POSTed to, path included
	// (http://collector:4318/v1/traces).
	Endpoint string
	// Timeout bounds one ExportSpans call, retries and backoff included.
	// Zero or negative means DefaultTimeout. A deadline on the context passed
	// to ExportSpans still applies when it is earlier.
	Timeout time.Duration
	// Headers are added to every request (authentication, tenant ids). They
	// may override User-Agent; Content-Type and Content-Encoding are always
	// set by the exporter.
	Headers map[string]string
	// Client sends the requests. Nil means a client of the exporter's own,
	// on a copy of http.DefaultTransport, whose idle connections Shutdown
	// closes. A Client's own Timeout, if any, applies per attempt.
	Client *http.Client
	// Gzip compresses request bodies (Content-Encoding: gzip, at
	// gzip.BestSpeed: the exporter runs next to a latency-sensitive proxy).
	Gzip bool
	// RootCAs verify an https endpoint's certificate instead of the
	// system's (OTEL_EXPORTER_OTLP_CERTIFICATE). Only with a nil Client.
	RootCAs *x509.CertPool
}

// DefaultTimeout is the export timeout when HTTPConfig.Timeout is not set;
// it is the stock OTLP exporters' default.
const DefaultTimeout = 10 * time.Second

// Retry backoff: a retryable answer without Retry-After is retried after
// about 100ms, 200ms, 400ms, ... up to 2s between attempts (±25% jitter),
// for as long as the export's deadline leaves room.
const (
	backoffInitial = 100 * time.Millisecond
	backoffMax     = 2 * time.Second
)

// errBodyMax is how much of a failed response's body an error quotes.
const errBodyMax = 200

// ErrShutdown is returned by ExportSpans once Shutdown has been called.
var ErrShutdown = errors.New("otlpwire: exporter is shut down")

// StatusError is the error for a response outside 2xx.
type StatusError struct {
	StatusCode int
	// Status is the response's status line text ("503 Service Unavailable").
	Status string
	// Body holds the first bytes (at most 200) of the response body.
	Body string
	// Retryable is set for 429, 502, 503 and 504: the exporter retried
	// until its deadline (or a Retry-After beyond it) stopped it.
	Retryable bool
}

func (e *StatusError) Error() string {
	body := e.Body
	if body == "" {
		body = "(empty body)"
	}
	return "otlpwire: collector answered " + e.Status + ": " + body
}

// Exporter is an sdktrace.SpanExporter that sends spans as OTLP/HTTP
// protobuf. It is safe for concurrent use.
//
// A 2xx answer is success. In particular a 200 whose body is an
// ExportTraceServiceResponse with partial_success set (the collector
// rejected some spans) is treated as success: the body is not parsed, and
// the rejected spans are not reported.
type Exporter struct {
	endpoint  string
	timeout   time.Duration
	header    http.Header
	client    *http.Client
	ownClient bool
	gzip      bool

	stopped  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{} // closed by Shutdown: ends backoff waits
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// NewHTTPExporter returns an exporter posting to cfg.Endpoint. It checks the
// configuration but does not connect.
func NewHTTPExporter(cfg HTTPConfig) (*Exporter, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("otlpwire: endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("otlpwire: endpoint %q: want an http:// or https:// URL with a host", cfg.Endpoint)
	}
	e := &Exporter{
		endpoint: u.String(),
		timeout:  cfg.Timeout,
		header:   make(http.Header, len(cfg.Headers)+3),
		client:   cfg.Client,
		gzip:     cfg.Gzip,
		stop:     make(chan struct{}),
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	e.header.Set("User-Agent", "hopscope/"+version.Version+" otlpwire")
	for k, v := range cfg.Headers {
		e.header.Set(k, v)
	}
	e.header.Set("Content-Type", "application/x-protobuf")
	if e.gzip {
		e.header.Set("Content-Encoding", "gzip")
	} else {
		e.header.Del("Content-Encoding")
	}
	if e.client == nil {
		tr, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, errors.New("otlpwire: http.DefaultTransport is not an *http.Transport; pass HTTPConfig.Client")
		}
		own := tr.Clone()
		if cfg.RootCAs != nil {
			own.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
		}
		e.client = &http.Client{Transport: own}
		e.ownClient = true
	}
	return e, nil
}

// ExportSpans encodes spans and POSTs them, retrying 429, 502, 503 and 504
// with backoff (or after the answer's Retry-After) while the deadline — the
// earlier of ctx's and the configured Timeout — allows. Any other non-2xx
// answer is returned at once as a *StatusError; transport errors are
// returned at once too. An empty batch sends nothing.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.stopped.Load() {
		return ErrShutdown
	}
	p := getPayload()
	p.buf = AppendExportRequest(p.buf[:0], spans)
	if len(p.buf) == 0 {
		p.release()
		return nil
	}
	if e.gzip {
		z, err := compress(p.buf)
		p.release()
		if err != nil {
			return err
		}
		p = z
	}
	defer p.release()

	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	backoff := backoffInitial
	for {
		retryAfter, err := e.post(ctx, p)
		var se *StatusError
		if err == nil || !errors.As(err, &se) || !se.Retryable {
			return err
		}
		wait := retryAfter
		if wait <= 0 {
			wait = jitter(backoff)
			backoff = min(2*backoff, backoffMax)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return fmt.Errorf("%w (retry in %v would pass the export deadline)", err, wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%w while waiting to retry)", err, context.Cause(ctx))
		case <-e.stop:
			t.Stop()
			return fmt.Errorf("%w (%w while waiting to retry)", err, ErrShutdown)
		}
	}
}

// post makes one attempt. It returns the Retry-After delay of a retryable
// answer, if it had one.
func (e *Exporter) post(ctx context.Context, p *payload) (time.Duration, error) {
	body := p.body()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, body)
	if err != nil {
		_ = body.Close()
		return 0, fmt.Errorf("otlpwire: %w", err)
	}
	req.ContentLength = int64(len(p.buf))
	req.GetBody = func() (io.ReadCloser, error) { return p.body(), nil }
	req.Header = e.header.Clone() // a Client with a Jar adds to it

	resp, err := e.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("otlpwire: %w", err)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return 0, nil
	}
	var buf [errBodyMax]byte
	n, _ := io.ReadFull(resp.Body, buf[:])
	se := &StatusError{
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Body:       string(bytes.TrimSpace(buf[:n])),
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		se.Retryable = true
		return parseRetryAfter(resp.Header.Get("Retry-After")), se
	}
	return 0, se
}

// Shutdown makes every later ExportSpans fail at once with ErrShutdown and
// cuts short the backoff wait of exports in progress (a request already on
// the wire runs to its deadline). It closes the idle connections of the
// exporter's own client. Calling it again does nothing.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.stopOnce.Do(func() {
		e.stopped.Store(true)
		close(e.stop)
		if e.ownClient {
			e.client.CloseIdleConnections()
		}
	})
	return ctx.Err()
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or bad.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// jitter spreads d over [0.75d, 1.25d).
func jitter(d time.Duration) time.Duration {
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2))
}

// ---------------------------------------------------------------------------
// Pooled request bodies.

// maxPooledBuf keeps a single huge batch from pinning its buffer forever.
const maxPooledBuf = 8 << 20

// payload is an encoded (or compressed) request body. It is reference
// counted because the HTTP transport may close a request body after Do has
// returned (net/http documents that RoundTrip may close it in another
// goroutine): the buffer goes back to the pool only when the exporter and
// every request body made from it are done with it.
type payload struct {
	buf  []byte
	refs atomic.Int32
}

// payloads keeps a few request buffers from batch to batch. A sync.Pool is
// emptied by every garbage collection, and a busy sidecar collects several
// times a second: each batch then grew its buffer from nothing again and
// the runtime handed the last one back to the OS (growslice and madvise
// were ~17% of the proxy path's CPU in BenchmarkProxy/full).
var payloads = make(chan *payload, 4)

func getPayload() *payload {
	var p *payload
	select {
	case p = <-payloads:
	default:
		p = new(payload)
	}
	p.refs.Store(1)
	return p
}

func (p *payload) release() {
	if p.refs.Add(-1) != 0 {
		return
	}
	if cap(p.buf) > maxPooledBuf {
		p.buf = nil
	}
	p.buf = p.buf[:0]
	select {
	case payloads <- p:
	default: // enough kept
	}
}

// body returns a new reader over p holding a reference until closed.
func (p *payload) body() *payloadBody {
	p.refs.Add(1)
	r := &payloadBody{p: p}
	r.Reset(p.buf)
	return r
}

type payloadBody struct {
	bytes.Reader
	p      *payload
	closed atomic.Bool
}

func (r *payloadBody) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.Reset(nil)
		r.p.release()
	}
	return nil
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// appender is an io.Writer appending to a payload's buffer.
type appender struct{ p *payload }

func (a appender) Write(b []byte) (int, error) {
	a.p.buf = append(a.p.buf, b...)
	return len(b), nil
}

func compress(raw []byte) (*payload, error) {
	z := getPayload()
	w := gzipPool.Get().(*gzip.Writer)
	w.Reset(appender{z})
	_, err := w.Write(raw)
	if err == nil {
		err = w.Close()
	}
	w.Reset(io.Discard)
	gzipPool.Put(w)
	if err != nil {
		z.release()
		return nil, fmt.Errorf("otlpwire: gzip: %w", err)
	}
	return z, nil
}
