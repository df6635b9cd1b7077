package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"

	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/otlpwire"
	"github.com/hopscope/hopscope/internal/version"
	"github.com/hopscope/hopscope/sidecar/propagation"
)

// Span export tuning. The exporter gives up quickly: a collector that is
// down costs dropped spans, never stalled requests.
const (
	exportBatchSize = 512
	// exportBatchBytes also ends a batch: the cost (spanCost) of its spans
	// reaches it. A batch's OTLP encoding is smaller than its cost.
	exportBatchBytes = 2 << 20
	exportInterval   = time.Second
	exportTimeout    = 5 * time.Second
	// maxAttrValueBytes caps a span attribute's string value (each element
	// of a string slice) at export: a 60 KB User-Agent made 512 spans more
	// than the collector's 16 MiB request limit, and the whole batch was
	// refused. Cut values end in "…" and are counted.
	maxAttrValueBytes = 4 << 10
	// exportWarnEvery rate-limits the "span export failed" line.
	exportWarnEvery = 10 * time.Second
	// spanFixedCost is what a queued span holds besides its strings: the
	// SDK's snapshot and its attribute slice, about 1.4 KiB for the
	// proxy's server span (measured with runtime.MemStats over 20,000
	// queued spans), rounded up for allocation size classes and for the
	// request line a url.path or http.route value shares memory with
	// (proxy.spanAttributes copies them when that line is much longer).
	spanFixedCost = 2 << 10
	// spanEventCost and spanLinkCost: the same for an event or a link.
	spanEventCost = 128
	spanLinkCost  = 128
)

// newTracerProvider builds the SDK provider the sidecar's server spans come
// from. Without an endpoint spans still carry ids (the app needs a parent)
// but nothing is exported.
func newTracerProvider(cfg *Config, res *resource.Resource, dropped, truncated prometheus.Counter, log *zap.Logger) (*sdktrace.TracerProvider, error) {
	tp, _, err := newTracerProviderQueue(cfg, res, nil, dropped, truncated, log)
	return tp, err
}

// newTracerProviderQueue is newTracerProvider that also returns the span
// queue (nil without an endpoint). A non-nil exp replaces the endpoint's
// exporter (tests).
func newTracerProviderQueue(cfg *Config, res *resource.Resource, exp sdktrace.SpanExporter, dropped, truncated prometheus.Counter, log *zap.Logger) (*sdktrace.TracerProvider, *queueProcessor, error) {
	var queue *queueProcessor
	sampling, err := resolveSampler(cfg.TracesSampler, cfg.TracesSamplerArg, os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	if log != nil && sampling.from != "" {
		log.Info("sampling traces", zap.String("sampler", sampling.name), zap.String("from", sampling.from),
			zap.Float64("probability", sampling.arg))
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(propagation.IDGenerator{}),
		sdktrace.WithSampler(sampling.sampler()),
	}
	settings, export, warn, err := resolveExport(cfg.OTLPEndpoint, os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	if warn != nil && log != nil {
		log.Warn("span export settings partly ignored", zap.Error(warn))
	}
	if export && log != nil && settings.from != "--otlp-endpoint" {
		log.Info("exporting spans", zap.String("endpoint", settings.endpoint.Target), zap.Bool("grpc", settings.endpoint.GRPC),
			zap.String("from", settings.from))
	}
	if export {
		// Headers for every export (a bearer token, a tenant id), as the
		// OpenTelemetry SDKs take them, on both protocols. A malformed
		// list is a telemetry fault, not the app's: logged, and the spans
		// go without it (a collector that wants a token refuses them, and
		// they are counted as dropped).
		headers, err := bearer.TracesHeadersFromEnv()
		if err != nil {
			if log != nil {
				log.Error("exporting spans without headers", zap.Error(err))
			}
			headers = nil
		}
		if exp == nil {
			if exp, err = newExporter(settings, headers); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", settings.from, err)
			}
		}
		queue = newQueueProcessor(exp, cfg.SpanQueueSize, cfg.SpanQueueBytes, dropped, truncated, log)
		opts = append(opts, sdktrace.WithSpanProcessor(queue))
	}
	return sdktrace.NewTracerProvider(opts...), queue, nil
}

// newExporter returns the OTLP exporter of s, sending headers (from
// OTEL_EXPORTER_OTLP_HEADERS and _TRACES_HEADERS) with every request.
// Every setting is passed explicitly, on both protocols: the SDK's gRPC
// exporter would read the variables itself, but its options override
// them, and hopscope's HTTP exporter reads none.
func newExporter(s exportSettings, headers http.Header) (sdktrace.SpanExporter, error) {
	hm := make(map[string]string, len(headers))
	for k, v := range headers {
		hm[k] = strings.Join(v, ",")
	}
	ctx := context.Background()
	if s.endpoint.GRPC {
		opts := []otlptracegrpc.Option{
			otlptracegrpc.WithEndpoint(s.endpoint.Target),
			otlptracegrpc.WithHeaders(hm),
			otlptracegrpc.WithTimeout(s.timeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: s.timeout}),
		}
		switch {
		case !s.endpoint.TLS:
			opts = append(opts, otlptracegrpc.WithInsecure())
		case s.rootCAs != nil:
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12})))
		}
		if s.gzip {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	// OTLP/HTTP through the lean encoder: ~10× less CPU per span than the
	// stock exporter on the proxy's own core (internal/otlpwire).
	return otlpwire.NewHTTPExporter(otlpwire.HTTPConfig{Endpoint: s.endpoint.Target, Timeout: s.timeout, Headers: hm,
		Gzip: s.gzip, RootCAs: s.rootCAs})
}

// newResource describes the sidecar: service.name, hopscope.component,
// hopscope.version, the SDK's own telemetry.sdk.name, .language and
// .version, and OTEL_RESOURCE_ATTRIBUTES (README, Spans, lists them).
func newResource(service string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{
		attribute.String(contract.AttrServiceName, service),
		attribute.String(contract.AttrComponent, contract.ComponentSidecar),
		attribute.String(contract.AttrVersion, version.Version),
	}
	// resource.FromEnv merges OTEL_RESOURCE_ATTRIBUTES (the injector puts
	// k8s.pod.name and k8s.namespace.name there); our service name wins.
	env, err := resource.New(context.Background(), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return resource.Merge(env, resource.NewSchemaless(attrs...))
}

// queueProcessor is a span processor with a bounded queue whose drops are
// counted (the SDK's batch processor drops silently). A full queue or a
// failed export drops spans; OnEnd never blocks the request path.
//
// The queue is bounded twice: in spans (the channel) and in bytes, the sum
// of the spans' spanCost, an upper bound of the memory each holds. A span
// stays counted in bytes from OnEnd until the export of its batch has
// returned, so the batch in flight is inside the bound; only its OTLP
// encoding (smaller than the batch's cost, at most exportBatchBytes plus
// one span) and a capped copy of an attribute value longer than 4 KiB are
// not.
type queueProcessor struct {
	exp       sdktrace.SpanExporter
	queue     chan queuedSpan
	maxBytes  int64
	bytes     atomic.Int64 // cost of the spans queued or in the batch being built or exported
	spans     atomic.Int64 // spans queued or in the batch being built or exported
	sent      atomic.Int64 // spans the exporter delivered
	dropped   prometheus.Counter
	truncated prometheus.Counter // attribute values cut
	log       *zap.Logger

	// Of the run goroutine: when the last "span export failed" line was
	// written and the failures since.
	warned                     time.Time
	failedBatches, failedSpans int

	flushReq chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// queuedSpan is a span and its spanCost.
type queuedSpan struct {
	s    sdktrace.ReadOnlySpan
	cost int64
}

func newQueueProcessor(exp sdktrace.SpanExporter, size, maxBytes int, dropped, truncated prometheus.Counter, log *zap.Logger) *queueProcessor {
	if log == nil {
		log = zap.NewNop()
	}
	p := &queueProcessor{
		exp:       exp,
		queue:     make(chan queuedSpan, size),
		maxBytes:  int64(maxBytes),
		dropped:   dropped,
		truncated: truncated,
		log:       log,
		flushReq:  make(chan chan struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go p.run()
	return p
}

func (p *queueProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (p *queueProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	select {
	case <-p.stop:
		p.dropped.Inc()
		return
	default:
	}
	// Concurrent OnEnds may see each other's cost and drop a span that
	// would have fitted; none is queued past maxBytes.
	cost := spanCost(s)
	if p.bytes.Add(cost) > p.maxBytes {
		p.bytes.Add(-cost)
		p.dropped.Inc()
		return
	}
	p.spans.Add(1)
	select {
	case p.queue <- queuedSpan{s: s, cost: cost}:
	default:
		p.spans.Add(-1)
		p.bytes.Add(-cost)
		p.dropped.Inc()
	}
}

// spanCost is an upper bound of the memory a finished span holds: a fixed
// part and the bytes of its strings (name, attribute keys and values,
// events, links, status). It does not allocate for the attribute types the
// sidecar sets; a string slice value (none of the sidecar's spans has one)
// is copied to be measured.
func spanCost(s sdktrace.ReadOnlySpan) int64 {
	n := spanFixedCost + len(s.Name()) + len(s.Status().Description)
	n += attrsCost(s.Attributes())
	for _, e := range s.Events() {
		n += spanEventCost + len(e.Name) + attrsCost(e.Attributes)
	}
	for _, l := range s.Links() {
		n += spanLinkCost + attrsCost(l.Attributes)
	}
	return int64(n)
}

func attrsCost(attrs []attribute.KeyValue) int {
	n := 0
	for _, kv := range attrs {
		n += len(kv.Key)
		switch kv.Value.Type() {
		case attribute.STRING:
			n += len(kv.Value.AsString())
		case attribute.STRINGSLICE:
			for _, e := range kv.Value.AsStringSlice() {
				n += 16 + len(e)
			}
		case attribute.BOOLSLICE:
			n += len(kv.Value.AsBoolSlice())
		case attribute.INT64SLICE:
			n += 8 * len(kv.Value.AsInt64Slice())
		case attribute.FLOAT64SLICE:
			n += 8 * len(kv.Value.AsFloat64Slice())
		}
	}
	return n
}

func (p *queueProcessor) run() {
	defer close(p.done)
	batch := make([]sdktrace.ReadOnlySpan, 0, exportBatchSize)
	var batchCost int64
	ticker := time.NewTicker(exportInterval)
	defer ticker.Stop()
	export := func() {
		if len(batch) == 0 {
			return
		}
		for i, s := range batch {
			batch[i] = p.capAttrs(s)
		}
		ctx, cancel := context.WithTimeout(context.Background(), exportTimeout+time.Second)
		if err := p.exp.ExportSpans(ctx, batch); err != nil {
			p.dropped.Add(float64(len(batch)))
			p.exportFailed(len(batch), err)
		} else {
			p.sent.Add(int64(len(batch)))
		}
		p.spans.Add(-int64(len(batch)))
		cancel()
		clear(batch)
		batch = batch[:0]
		// The exporter is done with them: their memory leaves the bound.
		p.bytes.Add(-batchCost)
		batchCost = 0
	}
	add := func(q queuedSpan) {
		batch = append(batch, q.s)
		batchCost += q.cost
		if len(batch) == exportBatchSize || batchCost >= exportBatchBytes {
			export()
		}
	}
	drain := func() {
		for {
			select {
			case q := <-p.queue:
				add(q)
			default:
				export()
				return
			}
		}
	}
	for {
		select {
		case q := <-p.queue:
			add(q)
		case <-ticker.C:
			export()
		case ack := <-p.flushReq:
			drain()
			close(ack)
		case <-p.stop:
			drain()
			return
		}
	}
}

// exportFailed logs a failed export at Warn, at most once per
// exportWarnEvery, with the failures since the previous line (the spans
// are in hopscope_telemetry_dropped_total{sink="otlp"}).
func (p *queueProcessor) exportFailed(spans int, err error) {
	p.failedBatches++
	p.failedSpans += spans
	now := time.Now()
	if !p.warned.IsZero() && now.Sub(p.warned) < exportWarnEvery {
		return
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	p.log.Warn("span export failed", zap.String("error", msg), zap.Int("batches", p.failedBatches),
		zap.Int("spans_dropped", p.failedSpans))
	p.warned, p.failedBatches, p.failedSpans = now, 0, 0
}

// capAttrs returns s, or s with its string attribute values cut to
// maxAttrValueBytes when one is longer (counted in truncated). The SDK's
// span snapshot returns its attributes without copying: the common case
// costs a scan.
func (p *queueProcessor) capAttrs(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	attrs := s.Attributes()
	long := -1
	for i, kv := range attrs {
		if attrTooLong(kv.Value) {
			long = i
			break
		}
	}
	if long < 0 {
		return s
	}
	capped := append([]attribute.KeyValue(nil), attrs...)
	n := 0
	for i := long; i < len(capped); i++ {
		kv := capped[i]
		if !attrTooLong(kv.Value) {
			continue
		}
		n++
		if kv.Value.Type() == attribute.STRINGSLICE {
			ss := append([]string(nil), kv.Value.AsStringSlice()...)
			for j := range ss {
				ss[j] = capString(ss[j])
			}
			capped[i] = kv.Key.StringSlice(ss)
		} else {
			capped[i] = kv.Key.String(capString(kv.Value.AsString()))
		}
	}
	if p.truncated != nil {
		p.truncated.Add(float64(n))
	}
	return cappedSpan{ReadOnlySpan: s, attrs: capped}
}

func attrTooLong(v attribute.Value) bool {
	switch v.Type() {
	case attribute.STRING:
		return len(v.AsString()) > maxAttrValueBytes
	case attribute.STRINGSLICE:
		for _, e := range v.AsStringSlice() {
			if len(e) > maxAttrValueBytes {
				return true
			}
		}
	}
	return false
}

// capString cuts v to maxAttrValueBytes (on a character boundary, "…"
// included).
func capString(v string) string {
	if len(v) <= maxAttrValueBytes {
		return v
	}
	const ell = "…"
	cut := maxAttrValueBytes - len(ell)
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + ell
}

// cappedSpan is a span whose attributes were capped.
type cappedSpan struct {
	sdktrace.ReadOnlySpan
	attrs []attribute.KeyValue
}

func (s cappedSpan) Attributes() []attribute.KeyValue { return s.attrs }

func (p *queueProcessor) ForceFlush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case p.flushReq <- ack:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *queueProcessor) Shutdown(ctx context.Context) error {
	p.once.Do(func() { close(p.stop) })
	var err error
	select {
	case <-p.done:
	case <-ctx.Done():
		err = fmt.Errorf("flushing spans: %w", ctx.Err())
	}
	// Spans still queued after the deadline are lost: count them.
	if n := len(p.queue); n > 0 {
		p.dropped.Add(float64(n))
	}
	return errors.Join(err, p.exp.Shutdown(ctx))
}

// counts returns the spans delivered and those queued or being exported:
// every sampled span ended is sent, queued or dropped.
func (p *queueProcessor) counts() (sent, queued int64) {
	if p == nil {
		return 0, 0
	}
	return p.sent.Load(), p.spans.Load()
}

// queuedBytes is the cost of the spans queued or being exported.
func (p *queueProcessor) queuedBytes() int64 { return p.bytes.Load() }
