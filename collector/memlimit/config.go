package memlimit

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of DefaultConfig.
const (
	// DefaultCheckInterval: a check reads one runtime/metrics sample (a
	// few microseconds, no stop of the world), so the limiter can look
	// often and leave the spike little time to grow.
	DefaultCheckInterval = 100 * time.Millisecond
	// DefaultSoftGCInterval bounds the GCs forced while the heap is between
	// the soft and the hard limit.
	DefaultSoftGCInterval = 2 * time.Second
	// DefaultHardGCInterval bounds the GCs forced at the hard limit: when
	// the heap is live data (requests being processed), a GC at every
	// check would only take the CPU that processing them needs.
	DefaultHardGCInterval = time.Second
	// DefaultSpikePercent is the spike, in percent of the limit, that the
	// collector's --memory-spike-mib defaults to (as the OpenTelemetry
	// Collector's limit_percentage/spike_limit_percentage 80/20 pair).
	DefaultSpikePercent = 20
)

// Config configures a Limiter. Start from DefaultConfig and set LimitBytes.
type Config struct {
	// LimitBytes is the hard limit of the heap in use, in bytes
	// (--memory-limit-mib): at or above it the Limiter refuses and forces
	// a garbage collection (at most every HardGCInterval). Must be
	// positive.
	LimitBytes uint64
	// SpikeBytes is how far below LimitBytes the soft limit lies
	// (--memory-spike-mib): from LimitBytes − SpikeBytes on, the Limiter
	// refuses, and it accepts again once a check finds the heap under it.
	// It is the room for what arrives between two checks and for the
	// requests being read when refusing starts. Must be less than
	// LimitBytes; zero puts the soft limit at the hard one.
	SpikeBytes uint64
	// CheckInterval is how often the heap is read. Must be positive.
	CheckInterval time.Duration
	// SoftGCInterval is the shortest time between two garbage collections
	// the Limiter forces while the heap is between the soft and the hard
	// limit: one when refusing starts (the heap may be mostly garbage) and
	// then at most this often while it lasts (input has stopped, so the
	// runtime would not collect on its own for up to two minutes). Must
	// not be negative.
	SoftGCInterval time.Duration
	// HardGCInterval is the shortest time between two garbage collections
	// forced at or above the hard limit; 0 forces one at every check, as
	// the OpenTelemetry Collector does by default. Must not be negative.
	HardGCInterval time.Duration
}

// DefaultConfig returns the defaults; LimitBytes is left to set (and
// SpikeBytes, which the collector derives from it).
func DefaultConfig() Config {
	return Config{CheckInterval: DefaultCheckInterval, SoftGCInterval: DefaultSoftGCInterval, HardGCInterval: DefaultHardGCInterval}
}

// SoftLimitBytes is LimitBytes − SpikeBytes, where refusing starts.
func (c Config) SoftLimitBytes() uint64 {
	if c.SpikeBytes >= c.LimitBytes {
		return 0
	}
	return c.LimitBytes - c.SpikeBytes
}

// Validate reports every invalid field, naming the collector's flag where
// it has one.
func (c Config) Validate() error {
	var errs []error
	if c.LimitBytes == 0 {
		errs = append(errs, errors.New("--memory-limit-mib: must be positive"))
	}
	if c.LimitBytes > 0 && c.SpikeBytes >= c.LimitBytes {
		errs = append(errs, fmt.Errorf("--memory-spike-mib: %d MiB must be less than the limit, %d MiB (--memory-limit-mib)", c.SpikeBytes>>20, c.LimitBytes>>20))
	}
	if c.CheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("memlimit: CheckInterval: must be positive, got %v", c.CheckInterval))
	}
	if c.SoftGCInterval < 0 {
		errs = append(errs, fmt.Errorf("memlimit: SoftGCInterval: must not be negative, got %v", c.SoftGCInterval))
	}
	if c.HardGCInterval < 0 {
		errs = append(errs, fmt.Errorf("memlimit: HardGCInterval: must not be negative, got %v", c.HardGCInterval))
	}
	return errors.Join(errs...)
}
