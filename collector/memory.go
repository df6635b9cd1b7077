package collector

import (
	"context"
	"fmt"
	"math"
	"net"
	"runtime/debug"

	"go.uber.org/zap"

	"github.com/hopscope/hopscope/collector/albdir"
	"github.com/hopscope/hopscope/collector/forward"
	"github.com/hopscope/hopscope/collector/memlimit"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/collector/tail"
	"github.com/hopscope/hopscope/internal/hugeheap"
)

// Defaults of the memory limiter's flags, as the OpenTelemetry Collector's
// memory_limiter recommends them (limit_percentage 80,
// spike_limit_percentage 20).
const (
	// memoryLimitPercent of GOMEMLIMIT is --memory-limit-mib's default: the
	// rest is for what the heap does not count (goroutine stacks, the
	// runtime's own memory, pages not yet returned), so that the process
	// stays under the container limit GOMEMLIMIT is set to.
	memoryLimitPercent = 80
	// maxMemoryMiB bounds the flags (beyond it MiB<<20 would overflow).
	maxMemoryMiB = 1 << 40
	// reasonMemoryLimit is the reason of every refusal, in
	// hopscope_collector_rejected_total.
	reasonMemoryLimit = "memory_limit"
)

// goMemLimit is the runtime's memory limit (GOMEMLIMIT):
// math.MaxInt64 when none is set.
func goMemLimit() int64 { return debug.SetMemoryLimit(-1) }

// memoryLimiter resolves --memory-limit-mib and --memory-spike-mib against
// the runtime's memory limit gml (math.MaxInt64: none): nil when no limit
// applies, an error naming the flag when they do not fit together.
func (c *Config) memoryLimiter(gml int64) (*memlimit.Config, error) {
	if c.MemoryLimitMiB > maxMemoryMiB {
		return nil, fmt.Errorf("--memory-limit-mib: %d is too large", c.MemoryLimitMiB)
	}
	if c.MemorySpikeMiB > maxMemoryMiB {
		return nil, fmt.Errorf("--memory-spike-mib: %d is too large", c.MemorySpikeMiB)
	}
	cfg := memlimit.DefaultConfig()
	switch {
	case c.MemoryLimitMiB > 0:
		cfg.LimitBytes = c.MemoryLimitMiB << 20
	case gml > 0 && gml < math.MaxInt64:
		cfg.LimitBytes = uint64(gml) / 100 * memoryLimitPercent
	case c.MemorySpikeMiB > 0:
		return nil, fmt.Errorf("--memory-spike-mib: needs a limit: --memory-limit-mib or GOMEMLIMIT")
	default:
		return nil, nil
	}
	cfg.SpikeBytes = cfg.LimitBytes / 100 * memlimit.DefaultSpikePercent
	if c.MemorySpikeMiB > 0 {
		cfg.SpikeBytes = c.MemorySpikeMiB << 20
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// addMemoryLimiter starts the memory limiter, when a limit applies, first
// of the components: started before the receivers, stopped after them.
// The receivers ask c.refuser().
func (c *Collector) addMemoryLimiter() error {
	gml := goMemLimit()
	mcfg, err := c.cfg.memoryLimiter(gml)
	if err != nil || mcfg == nil {
		return err
	}
	if c.opts.MemoryCheckInterval > 0 {
		mcfg.CheckInterval = c.opts.MemoryCheckInterval
	}
	lim, err := memlimit.New(*mcfg, c.opts.MemoryReader, memlimit.WithOnChange(c.memoryChanged))
	if err != nil {
		return fmt.Errorf("memory limiter: %w", err)
	}
	for _, m := range lim.Collectors() {
		if err := c.opts.Registerer.Register(m); err != nil {
			return fmt.Errorf("registering the memory limiter's metrics: %w", err)
		}
	}
	from := "--memory-limit-mib"
	if c.cfg.MemoryLimitMiB == 0 {
		from = fmt.Sprintf("%d%% of GOMEMLIMIT (%d MiB)", memoryLimitPercent, gml>>20)
	}
	fields := []zap.Field{zap.Uint64("limit_mib", mcfg.LimitBytes>>20),
		zap.Uint64("soft_limit_mib", mcfg.SoftLimitBytes()>>20), zap.String("limit_from", from)}
	if gml <= 0 || gml == math.MaxInt64 {
		if c.opts.MemoryReader == nil {
			// No GOMEMLIMIT: the runtime would let garbage grow to twice
			// the live heap (GOGC) between two collections, past the limit
			// between two checks. Give it the limit GOMEMLIMIT would have
			// had, as in the chart: the garbage is then collected before
			// the heap gets there, and the limiter deals with live data.
			l := mcfg.LimitBytes // ÷ 80 % = × 5/4, without overflowing
			rt := int64(min(l/4*5+l%4*5/4, math.MaxInt64))
			debug.SetMemoryLimit(rt)
			fields = append(fields, zap.Int64("gomemlimit_mib", rt>>20))
		}
	}
	c.log.Info("memory limiter on", fields...)
	c.lim = lim
	c.starts = append(c.starts, lim)
	return nil
}

// addHugeHeap advises the heap's huge pages from Start on
// (--heap-huge-pages).
func (c *Collector) addHugeHeap() error {
	if !c.cfg.HeapHugePages {
		return nil
	}
	a, err := hugeheap.New(hugeheap.DefaultConfig())
	if err != nil {
		return fmt.Errorf("--heap-huge-pages: %w", err)
	}
	c.starts = append(c.starts, hugeHeapLogged{a, c.log})
	return nil
}

// hugeHeapLogged logs what the advisor found at Start.
type hugeHeapLogged struct {
	*hugeheap.Advisor
	log *zap.Logger
}

func (h hugeHeapLogged) Start(ctx context.Context) error {
	if err := h.Advisor.Start(ctx); err != nil {
		return err
	}
	st := h.Stats()
	h.log.Info("heap huge pages", zap.String("thp_mode", st.Mode), zap.Bool("advising", st.Active),
		zap.Uint64("advised_mib", st.AdvisedBytes>>20), zap.NamedError("advise_error", st.Err))
	return nil
}

// memoryChanged logs the limiter's transitions.
func (c *Collector) memoryChanged(ch memlimit.Change) {
	fields := []zap.Field{zap.Uint64("heap_mib", ch.HeapBytes>>20), zap.Uint64("soft_limit_mib", ch.SoftBytes>>20),
		zap.Uint64("limit_mib", ch.LimitBytes>>20)}
	if ch.Refusing {
		c.log.Warn("memory limit: heap above the soft limit, refusing input (hopscope_collector_rejected_total{reason=\"memory_limit\"})", fields...)
		return
	}
	c.log.Info("memory limit: heap back under the soft limit, accepting input", fields...)
}

// refuser is what the receivers ask before reading: nil without a limiter.
func (c *Collector) refuser() func() bool {
	if c.lim == nil {
		return nil
	}
	return c.lim.Refusing
}

// limitOTLP refuses OTLP requests while the limiter refuses, and bounds
// the bytes of those being read and handled at once to half the spike:
// the requests let in together when refusing ends cannot take more of it
// before the next check sees them.
func (c *Collector) limitOTLP(ocfg *otlp.Config) {
	if c.lim == nil {
		return
	}
	ocfg.Refuse = c.lim.Refusing
	ocfg.MaxInFlightBytes = int64(c.lim.Config().SpikeBytes / 2)
}

// limitForward pauses the Fluent forward connections while the limiter
// refuses, counting each pause of a connection once.
func (c *Collector) limitForward(fcfg *forward.ServerConfig) {
	fcfg.Refuse = c.refuser()
	fcfg.OnPause = func(peer net.Addr) {
		where := ""
		if peer != nil {
			where = "peer " + peer.String()
		}
		c.reject(SrcForward, reasonMemoryLimit, where, 1, nil)
	}
}

// limitTail pauses a tailed file while the limiter refuses, counting each
// pause once under source.
func (c *Collector) limitTail(tcfg *tail.Config, source string) {
	tcfg.Pause = c.refuser()
	tcfg.OnPause = func(path string) { c.reject(source, reasonMemoryLimit, path, 1, nil) }
}

// limitALB pauses the ALB log directory's reader while the limiter
// refuses, counting each pause once.
func (c *Collector) limitALB(acfg *albdir.Config) {
	acfg.Pause = c.refuser()
	acfg.OnPause = func(path string) { c.reject(SrcALB, reasonMemoryLimit, path, 1, nil) }
}
