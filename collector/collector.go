package collector

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"

	"github.com/hopscope/hopscope/collector/forward"
	"github.com/hopscope/hopscope/collector/gateway"
	"github.com/hopscope/hopscope/collector/k8smeta"
	"github.com/hopscope/hopscope/collector/memlimit"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/collector/peers"
	"github.com/hopscope/hopscope/collector/relay"
	"github.com/hopscope/hopscope/collector/tail"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/bearer"
)

// Options carries what the collector gets from its host process.
type Options struct {
	// Registerer receives the collector's metrics; Gatherer serves them
	// on /metrics. Both nil: a private registry.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Logger receives diagnostics; nop when nil.
	Logger *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// FlushTick is how often due traces are emitted; 250 ms when zero.
	FlushTick time.Duration
	// ALBScanInterval and ALBSettleTime override the ALB directory's scan
	// period (30 s) and the age a file must reach before it is read (10 s);
	// zero keeps the defaults. Tests and the demo shorten them.
	ALBScanInterval, ALBSettleTime time.Duration
	// TailPollInterval overrides the tailers' poll period (250 ms).
	TailPollInterval time.Duration
	// MemoryReader replaces the memory limiter's reading of the heap in
	// use (runtime/metrics) and MemoryCheckInterval its period (100 ms),
	// when a limit applies (--memory-limit-mib, GOMEMLIMIT). For tests.
	MemoryReader        func() uint64
	MemoryCheckInterval time.Duration
	// KubeConfig is the API server --kube-metadata watches; nil: the
	// in-cluster ServiceAccount, or $KUBECONFIG. For tests.
	KubeConfig *rest.Config
}

// Collector joins every hop's records into breakdowns.
type Collector struct {
	cfg   Config
	opts  Options
	log   *zap.Logger
	now   func() time.Time
	tick  time.Duration
	store *correlate.Store[traceState]
	// gateways recognises ingress/gateway server spans (--gateway-*).
	gateways *gateway.Matcher
	m        *metrics
	em       *emitter
	// strs interns the attribute values span records keep (intern.go).
	strs *interner
	sink spanSink
	// rejects logs refused input, rate-limited per source.
	rejects *rejectLog
	// tokens are --auth-token-file's (nil: no token required).
	tokens *bearer.Tokens
	// lim is the memory limiter (nil: no limit); see memory.go.
	lim *memlimit.Limiter
	// peers are --peers' other replicas (nil: none); see api.go.
	peers *peers.Set
	// relayM are collector/relay's metrics, registered in every mode.
	relayM *relay.Metrics
	// kube maps upstream addresses to pod, node and zone (nil: off;
	// kubemeta.go).
	kube *k8smeta.Cache

	otlp    *otlp.Receiver
	forward *forward.Server
	tails   []*tail.Tailer
	rum     *rumServer
	starts  []component
	api     *http.Server
	apiLn   net.Listener

	cancel context.CancelFunc
	// hardStop ends the ticker's flush under way: Shutdown calls it when
	// its context ends, so that no export outlives the shutdown's limit.
	hardStop context.CancelFunc
	wg       sync.WaitGroup
}

// component is a receiver with the Collector-style lifecycle.
type component interface {
	Start(context.Context) error
	Shutdown(context.Context) error
}

// New builds a collector from a validated configuration.
func New(cfg Config, opts Options) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlushTick <= 0 {
		opts.FlushTick = 250 * time.Millisecond
	}
	if opts.Registerer == nil && opts.Gatherer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}
	if opts.Registerer == nil || opts.Gatherer == nil {
		return nil, errors.New("collector: Options.Registerer and Options.Gatherer go together")
	}
	c := &Collector{cfg: cfg, opts: opts, log: opts.Logger, now: opts.Now, tick: opts.FlushTick,
		rejects: newRejectLog(opts.Logger, rejectLogEvery), strs: newInterner(maxInterned)}
	// One table: the store holds every trace once, with the emitter's
	// per-trace state, and calls the emitter when a trace is due.
	c.em = newEmitter(nil, nil)
	c.em.exemplars.clock = c.now
	scfg := correlate.DefaultStoreConfig()
	scfg.Window, scfg.MaxTraces, scfg.Delay = cfg.Window, cfg.MaxTraces, cfg.ExportDelay
	var err error
	if c.store, err = c.em.newTraceStore(scfg); err != nil {
		return nil, err
	}
	if c.m, err = newMetrics(opts.Registerer, c.store.Stats); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	if c.relayM, err = relay.NewMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	if cfg.ExportOTLPEndpoint != "" {
		es, err := cfg.exportSettings(os.LookupEnv)
		if err != nil {
			return nil, err
		}
		if c.sink, err = newSpanSink(es); err != nil {
			return nil, fmt.Errorf("--export-otlp-endpoint: %w", err)
		}
	}
	if c.gateways, err = gateway.NewMatcher(cfg.gatewayConfig()); err != nil {
		return nil, err
	}
	c.em.m, c.em.sink = c.m, c.sink
	c.em.configure(c.log, cfg)

	if cfg.AuthTokenFile != "" {
		if c.tokens, err = bearer.Load(cfg.AuthTokenFile); err != nil {
			return nil, fmt.Errorf("--auth-token-file: %w", err)
		}
	}
	if err := c.addMemoryLimiter(); err != nil {
		return nil, err
	}
	if err := c.addHugeHeap(); err != nil {
		return nil, err
	}
	if cfg.Peers != "" {
		if c.peers, err = peers.New(peers.DefaultConfig(cfg.Peers)); err != nil {
			return nil, fmt.Errorf("--peers: %w", err)
		}
	}
	if err := c.addKubeMetadata(); err != nil {
		return nil, err
	}
	if err := c.addReceivers(); err != nil {
		return nil, err
	}
	c.api = &http.Server{Handler: c.apiHandler(opts.Gatherer), ReadHeaderTimeout: 10 * time.Second, ErrorLog: httpErrorLog(c.log)}
	return c, nil
}

// httpErrorLog is the ErrorLog of the collector's HTTP servers: net/http's
// own lines ("http: Accept error: … too many open files; retrying in 5ms")
// as Warn entries of the JSON log instead of plain text on stderr.
func httpErrorLog(l *zap.Logger) *log.Logger {
	el, _ := zap.NewStdLogAt(l.Named("http"), zapcore.WarnLevel) // fails only for a bad level
	return el
}

// Start starts every receiver and the internal API.
func (c *Collector) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("--http-listen %s: %w", c.cfg.HTTPListen, err)
	}
	c.apiLn = ln
	for i, s := range c.starts {
		if err := s.Start(ctx); err != nil {
			for _, started := range c.starts[:i] {
				_ = started.Shutdown(context.Background())
			}
			ln.Close()
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	hardCtx, hardStop := context.WithCancel(context.Background())
	c.cancel, c.hardStop = cancel, hardStop
	c.wg.Add(3)
	go func() { defer c.wg.Done(); _ = c.api.Serve(ln) }()
	go func() { defer c.wg.Done(); c.em.run(runCtx, hardCtx, c.tick, c.now) }()
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				now := c.now()
				c.store.Expire(now)
				c.rejects.flush(now, false)
			}
		}
	}()
	c.log.Info("collector started", zap.String("http", ln.Addr().String()))
	return nil
}

// Shutdown stops the receivers, emits every trace still waiting and
// flushes the export, within ctx: when ctx ends, the export under way (the
// ticker's flush too) is cut, what was not sent is counted as failed, and
// Shutdown returns.
func (c *Collector) Shutdown(ctx context.Context) error {
	if c.hardStop != nil {
		defer context.AfterFunc(ctx, c.hardStop)()
		defer c.hardStop()
	}
	var errs []error
	for i := len(c.starts) - 1; i >= 0; i-- {
		if err := c.starts[i].Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.em.flushAll(ctx, c.now())
	if err := c.api.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("API server: %w", err))
	}
	c.wg.Wait()
	c.rejects.flush(c.now(), true)
	if c.sink != nil {
		_ = c.sink.Close()
	}
	if c.peers != nil {
		c.peers.Close()
	}
	return errors.Join(errs...)
}

// HTTPAddr is the internal API's address once started.
func (c *Collector) HTTPAddr() net.Addr { return c.apiLn.Addr() }

// OTLPHTTPAddr is the OTLP/HTTP receiver's address (nil when off).
func (c *Collector) OTLPHTTPAddr() net.Addr {
	if c.otlp == nil {
		return nil
	}
	return c.otlp.HTTPAddr()
}

// OTLPGRPCAddr is the OTLP/gRPC receiver's address (nil when off).
func (c *Collector) OTLPGRPCAddr() net.Addr {
	if c.otlp == nil {
		return nil
	}
	return c.otlp.GRPCAddr()
}

// ForwardAddr is the Fluent forward receiver's address (nil when off).
func (c *Collector) ForwardAddr() net.Addr {
	if c.forward == nil {
		return nil
	}
	return c.forward.Addr()
}

// Store exposes the trace store (for the UI and tests).
func (c *Collector) Store() *correlate.Store[traceState] { return c.store }
