package backend

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hopscope/hopscope/internal/contract"
)

// Span attributes the backend proxies set besides the OpenTelemetry
// semantic conventions' (db.system.name, db.operation.name,
// db.query.text, server.address, server.port, error.type, http.*): the
// contract's (internal/contract).
const (
	AttrBackend     = contract.AttrBackend
	AttrAttribution = contract.AttrAttribution
	// AttrAttributionReason says how an inferred call was tied (Reason).
	AttrAttributionReason = contract.AttrAttributionReason
)

// maxOperations bounds the operation label per backend; later operations
// are counted as "other".
const maxOperations = 64

// durationBuckets span 0.1 ms (a Redis GET on loopback) to 30 s.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Options configure a Recorder.
type Options struct {
	// Tracer makes the client spans; no spans when nil.
	Tracer trace.Tracer
	// Tracker knows the inbound requests in flight; every call is
	// ambiguous without it.
	Tracker *Tracker
	// Registerer receives the hopscope_backend_* metrics.
	Registerer prometheus.Registerer
	// AmbiguousSpansPerSecond bounds, per backend, the spans of calls no
	// inbound request can be tied to (each would be a trace of its own; a
	// batch job without inbound requests would spend the pod's CPU on
	// them); every call is still counted. 0: no bound. The sidecar uses
	// DefaultAmbiguousSpansPerSecond.
	AmbiguousSpansPerSecond int
	// SpanEveryCall makes a span for every call of a batch too (each
	// command of a Redis pipeline) instead of one span per batch
	// (Batch). Every call is timed in the duration histogram either way;
	// a span per pipelined command costs the proxy most of a pipeline's
	// throughput (bench/README.md, redisbench -P 16).
	SpanEveryCall bool
}

// DefaultAmbiguousSpansPerSecond is the sidecar's bound on spans of
// ambiguous calls, per backend.
const DefaultAmbiguousSpansPerSecond = 10

// Recorder turns measured calls into client spans and metrics. One per
// sidecar, shared by every backend proxy.
type Recorder struct {
	tracer       trace.Tracer
	spans        bool // a real tracer: calls make spans
	tracker      *Tracker
	ambiguousMax int
	everyCall    bool // Options.SpanEveryCall

	duration    *prometheus.HistogramVec
	connections *prometheus.GaugeVec
	decodeErrs  *prometheus.CounterVec
	retries     *prometheus.CounterVec
	limited     *prometheus.CounterVec
	unspanned   *prometheus.CounterVec // ambiguous calls past AmbiguousSpansPerSecond
	breaker     *prometheus.GaugeVec
	rewrites    *prometheus.CounterVec
}

// NewRecorder registers the metrics.
func NewRecorder(opts Options) (*Recorder, error) {
	r := &Recorder{tracer: opts.Tracer, tracker: opts.Tracker, spans: opts.Tracer != nil, ambiguousMax: opts.AmbiguousSpansPerSecond,
		everyCall: opts.SpanEveryCall}
	if r.tracer == nil {
		r.tracer = noop.NewTracerProvider().Tracer("")
	}
	r.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    contract.MetricBackendDuration,
		Help:    "Duration of each query, command or request the sidecar's backend proxies relayed, by backend, kind, operation and outcome.",
		Buckets: durationBuckets,
	}, []string{contract.LabelBackend, contract.LabelKind, contract.LabelOperation, contract.LabelOutcome})
	r.connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: contract.MetricBackendConnections,
		Help: "Client connections open through a backend proxy: state=decoded (calls timed) or relayed (opaque: TLS passthrough, a CONNECT tunnel, or a stream the proxy stopped decoding).",
	}, []string{contract.LabelBackend, contract.LabelState})
	r.decodeErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: contract.MetricBackendDecodeErrors,
		Help: "Connections whose protocol the proxy could not follow; they were relayed on unchanged, untimed.",
	}, []string{contract.LabelBackend})
	r.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: contract.MetricBackendRetries,
		Help: "Requests retried by the HTTP egress proxy, by backend.",
	}, []string{contract.LabelBackend})
	r.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: contract.MetricBackendRateLimited,
		Help: "Requests refused (429) by a backend's rate limit.",
	}, []string{contract.LabelBackend})
	r.unspanned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: contract.MetricBackendAmbiguousDrops,
		Help: "Calls tied to no inbound request (attribution ambiguous) that made no span because the backend's bound of such spans per second was reached; the calls are still in hopscope_backend_duration_seconds.",
	}, []string{contract.LabelBackend})
	r.breaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: contract.MetricBackendCircuitState,
		Help: "Circuit breaker state per backend: 0 closed, 1 half-open (one trial call), 2 open (calls refused with 503).",
	}, []string{contract.LabelBackend})
	r.rewrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: contract.MetricBackendClusterRewrites,
		Help: "Redis Cluster node addresses a redis backend's proxy replaced with its node listeners', by reply kind (slots, shards, nodes, moved, ask); kind=unmapped counts nodes left at their own address (cluster.maxNodes reached).",
	}, []string{contract.LabelBackend, contract.LabelKind})
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.duration, r.connections, r.decodeErrs, r.retries, r.limited, r.unspanned, r.breaker, r.rewrites} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering backend metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Backend is one configured backend as its proxy sees the Recorder.
type Backend struct {
	Config Config
	r      *Recorder
	host   string
	port   int

	// base are the span attributes every call of the backend has.
	base []attribute.KeyValue

	mu  sync.Mutex
	ops map[string]bool
	obs map[obsKey]prometheus.Observer // the histogram's children, looked up once

	// ambiguous limits the spans of calls no request can be tied to
	// (Options.AmbiguousSpansPerSecond); unspanned counts the calls it
	// kept from making one.
	ambiguous rateGate
	unspanned prometheus.Counter
}

// rateGate lets through at most max events per wall-clock second.
type rateGate struct {
	mu     sync.Mutex
	second int64
	n      int
}

func (g *rateGate) allow(now time.Time, max int) bool {
	sec := now.Unix()
	g.mu.Lock()
	defer g.mu.Unlock()
	if sec != g.second {
		g.second, g.n = sec, 0
	}
	if g.n >= max {
		return false
	}
	g.n++
	return true
}

type obsKey struct{ op, outcome string }

// Backend returns the handle of one configured backend and creates its
// series, so dashboards show zeros before the first call.
func (r *Recorder) Backend(cfg Config) *Backend {
	b := &Backend{Config: cfg, r: r, ops: map[string]bool{}, obs: map[obsKey]prometheus.Observer{}}
	hostport := cfg.Target
	if i := strings.Index(hostport, "://"); i >= 0 {
		hostport = strings.TrimSuffix(hostport[i+3:], "/")
	}
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		b.host = h
		fmt.Sscan(p, &b.port)
	} else {
		b.host = hostport
	}
	b.base = []attribute.KeyValue{attribute.String(AttrBackend, cfg.Name), attribute.String(contract.AttrServerAddress, b.host)}
	if b.port != 0 {
		b.base = append(b.base, attribute.Int(contract.AttrServerPort, b.port))
	}
	switch cfg.Kind {
	case KindPostgres:
		b.base = append(b.base, attribute.String(contract.AttrDBSystemName, contract.DBSystemPostgreSQL))
	case KindRedis:
		b.base = append(b.base, attribute.String(contract.AttrDBSystemName, contract.DBSystemRedis))
	}
	for _, s := range []string{StateDecoded, StateRelayed} {
		r.connections.WithLabelValues(cfg.Name, s)
	}
	r.decodeErrs.WithLabelValues(cfg.Name)
	b.unspanned = r.unspanned.WithLabelValues(cfg.Name)
	if cfg.Kind == KindHTTP {
		r.retries.WithLabelValues(cfg.Name)
		r.limited.WithLabelValues(cfg.Name)
		r.breaker.WithLabelValues(cfg.Name)
	}
	return b
}

// Connection states of hopscope_backend_connections.
const (
	StateDecoded = "decoded"
	StateRelayed = "relayed"
)

// Connected counts a client connection in state until the returned
// function is called.
func (b *Backend) Connected(state string) (closed func()) {
	g := b.r.connections.WithLabelValues(b.Config.Name, state)
	g.Inc()
	var once sync.Once
	return func() { once.Do(g.Dec) }
}

// DecodeFailed counts a connection the proxy stopped decoding.
func (b *Backend) DecodeFailed() { b.r.decodeErrs.WithLabelValues(b.Config.Name).Inc() }

// Retried counts one retry (HTTP egress).
func (b *Backend) Retried() { b.r.retries.WithLabelValues(b.Config.Name).Inc() }

// RateLimited counts one refused request (HTTP egress).
func (b *Backend) RateLimited() { b.r.limited.WithLabelValues(b.Config.Name).Inc() }

// ClusterRewrite counts one rewritten Redis Cluster reply of a kind
// (redisproxy's cluster support).
func (b *Backend) ClusterRewrite(kind string) {
	b.r.rewrites.WithLabelValues(b.Config.Name, kind).Inc()
}

// SetBreakerState exports the circuit breaker's state: 0 closed, 1
// half-open, 2 open.
func (b *Backend) SetBreakerState(s int) { b.r.breaker.WithLabelValues(b.Config.Name).Set(float64(s)) }

// Call is a backend call that began: its attribution is fixed then. Its
// client span is made when the call finishes (with the call's start
// time), off the relay path, unless BeginTraced made it at once.
type Call struct {
	b           *Backend
	start       time.Time
	parent      trace.SpanContext
	tracestate  string // the inferred request's, to send on with the call
	attribution Attribution
	reason      Reason
	req         uint64     // the Tracker's id of the request it is tied to (0: none)
	span        trace.Span // nil until the span exists
}

// Begin starts a call at start. explicit is the trace context the call
// itself carried (invalid when none): it makes the attribution exact.
// Every Begin must be followed by Finish.
func (b *Backend) Begin(start time.Time, explicit trace.SpanContext) Call {
	return b.BeginHint(start, explicit, nil)
}

// BeginHint is Begin with what the proxy read of the call (nil: nothing),
// to tie it to its request when several are in flight (Tracker). h is
// read during the call only.
func (b *Backend) BeginHint(start time.Time, explicit trace.SpanContext, h *Hint) Call {
	parent, ts, a, why, req := b.r.tracker.attributeHint(explicit, h, true)
	return Call{b: b, start: start, parent: parent, tracestate: ts, attribution: a, reason: why, req: req}
}

// BeginTraced is Begin for a proxy that sends the call's own span context
// downstream (the HTTP egress proxy's traceparent): the span is made now.
func (b *Backend) BeginTraced(start time.Time, explicit trace.SpanContext) Call {
	c := b.Begin(start, explicit)
	c.span = c.startSpan()
	return c
}

// spanKindClient is the option every call's span starts with, made once.
var spanKindClient = trace.WithSpanKind(trace.SpanKindClient)

// noSpan stands for the span when the Recorder has no tracer.
var noSpan = trace.SpanFromContext(context.Background())

func (c Call) startSpan() trace.Span {
	if !c.b.r.spans {
		return noSpan
	}
	ctx := trace.ContextWithSpanContext(context.Background(), c.parent)
	_, span := c.b.r.tracer.Start(ctx, c.b.Config.Kind+" "+c.b.Config.Name, spanKindClient, trace.WithTimestamp(c.start))
	return span
}

// Attribution is how the call was tied to its inbound request.
func (c Call) Attribution() Attribution { return c.attribution }

// Reason says how an Inferred call was tied to its request ("" for the
// other attributions).
func (c Call) Reason() Reason { return c.reason }

// Parent is the span context the call's span is a child of (invalid when
// ambiguous).
func (c Call) Parent() trace.SpanContext { return c.parent }

// SpanContext is the call's own client span context, the parent the next
// hop should see, when BeginTraced made a span; else invalid.
func (c Call) SpanContext() trace.SpanContext {
	if c.span == nil {
		return trace.SpanContext{}
	}
	return c.span.SpanContext()
}

// Tracestate is the tracestate a proxy that writes the call's context
// sends with it: the inferred inbound request's, as a W3C participant
// carries it on; "" for an exact call (its own tracestate travels with
// it) or an ambiguous one (a new trace has none).
func (c Call) Tracestate() string { return c.tracestate }

// Op is what a proxy learnt of one call.
type Op struct {
	// Name is the operation: SELECT, INSERT, GET, HSET, HTTP GET… It must
	// come from a bounded set (a statement kind, a command name, a method),
	// never from parameters.
	Name string
	// Text is the normalised statement (literals replaced), or "".
	Text string
	// Namespace is the database the call ran against (db.namespace): a
	// PostgreSQL database's name, a Redis database's index; "" when not
	// known. Shared strings, not made per call.
	Namespace string
	// Summary is the statement's low-cardinality summary
	// (db.query.summary): "{operation} {target}" as the semantic
	// conventions write it, e.g. "SELECT orders", or the operation alone
	// when the target is not known; "" for none.
	Summary string
	// Error is the error type (a SQLSTATE, a Redis error prefix, an HTTP
	// status, "timeout") or "" for success.
	Error string
	// Attrs are more span attributes.
	Attrs []attribute.KeyValue
}

// Finish records the call ended at end: one observation and its client
// span, child of the attributed request, ended. Spans of ambiguous calls
// (a trace of their own each) are limited per Options.AmbiguousSpansPerSecond.
//
// The observation comes last, after the span has ended: whoever sees the
// call counted finds its span.
func (c Call) Finish(end time.Time, op Op) {
	b := c.b
	b.r.tracker.ended(c.req)
	defer b.observer(op).Observe(end.Sub(c.start).Seconds())
	c.endSpan(end, op, 0)
}

// endSpan makes and ends the call's span (batch: the calls of the batch
// it stands for, 0 when none).
func (c Call) endSpan(end time.Time, op Op, batch int) {
	b := c.b
	if !b.r.spans {
		return
	}
	span := c.span
	if span == nil {
		if c.attribution == Ambiguous && b.r.ambiguousMax > 0 && !b.ambiguous.allow(end, b.r.ambiguousMax) {
			b.unspanned.Inc()
			return
		}
		span = c.startSpan()
	}
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, len(b.base)+8+len(op.Attrs))
	attrs = append(attrs, b.base...)
	attrs = append(attrs, attribute.String(AttrAttribution, string(c.attribution)))
	if c.reason != "" {
		attrs = append(attrs, attribute.String(AttrAttributionReason, string(c.reason)))
	}
	if b.Config.Kind == KindPostgres || b.Config.Kind == KindRedis {
		attrs = append(attrs, attribute.String(contract.AttrDBOperationName, op.Name))
	}
	if op.Text != "" {
		attrs = append(attrs, attribute.String(contract.AttrDBQueryText, op.Text))
	}
	if op.Namespace != "" {
		attrs = append(attrs, attribute.String(contract.AttrDBNamespace, op.Namespace))
	}
	if op.Summary != "" {
		attrs = append(attrs, attribute.String(contract.AttrDBQuerySummary, op.Summary))
	}
	if op.Error != "" {
		attrs = append(attrs, attribute.String(contract.AttrErrorType, op.Error))
	}
	if batch >= 2 {
		attrs = append(attrs, attribute.Int(contract.AttrDBOperationBatchSize, batch))
	}
	attrs = append(attrs, op.Attrs...)
	if op.Name != "" {
		span.SetName(op.Name + " " + b.Config.Name)
	}
	span.SetAttributes(attrs...)
	if op.Error != "" {
		span.SetStatus(codes.Error, op.Error)
	}
	span.End(trace.WithTimestamp(end))
}

// observer is the histogram child of op's label set, bounded per backend
// (past maxOperations, new operations count as "other").
func (b *Backend) observer(op Op) prometheus.Observer {
	outcome := "ok"
	if op.Error != "" {
		outcome = "error"
	}
	name := op.Name
	if name == "" {
		name = "unknown"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if o, ok := b.obs[obsKey{name, outcome}]; ok {
		return o
	}
	label := name
	if op.Name != "" && !b.ops[name] {
		if len(b.ops) >= maxOperations {
			label = "other"
		} else {
			b.ops[name] = true
		}
	}
	o := b.r.duration.WithLabelValues(b.Config.Name, b.Config.Kind, label, outcome)
	if label == name || len(b.obs) < 4*maxOperations {
		b.obs[obsKey{name, outcome}] = o
	}
	return o
}
