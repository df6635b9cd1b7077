package accesslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"go.uber.org/zap/zapcore"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultFlushInterval     = time.Second
	DefaultFluentTag         = "hopscope.access"
	DefaultFluentBufferLimit = 8192
)

// Sink names passed to Config.OnDrop.
const (
	SinkStdout = "stdout"
	SinkFluent = "fluent"
)

// Settings of the Fluent client chosen so that a dead or slow Fluent Bit
// never slows requests and never holds Shutdown: few, short retries; dial
// and write timeouts so the sender goroutine cannot hang on a socket.
const (
	fluentMaxRetry     = 3
	fluentRetryWaitMS  = 100
	fluentMaxRetryWait = 1000
	fluentDialTimeout  = time.Second
	fluentWriteTimeout = 2 * time.Second
	stdoutBufferSize   = 256 << 10
	drainPollInterval  = 5 * time.Millisecond
)

// Config configures a Logger.
type Config struct {
	// Stdout receives one JSON line per record; nil writes no stdout log.
	// The sidecar passes os.Stdout for --access-log stdout.
	Stdout io.Writer
	// FlushInterval is the longest a stdout line waits in the buffer
	// before it is written. Zero means DefaultFlushInterval.
	FlushInterval time.Duration
	// FluentAddress is the host:port of Fluent Bit's forward input; empty
	// ships nothing.
	FluentAddress string
	// FluentTag is the Fluent tag of every record. Empty means
	// DefaultFluentTag.
	FluentTag string
	// FluentBufferLimit is how many records may wait for Fluent Bit while
	// it is slow or down; records beyond it are dropped. Zero means
	// DefaultFluentBufferLimit.
	FluentBufferLimit int
	// OnDrop, if set, is called with the sink (SinkFluent or SinkStdout)
	// and a count whenever records are dropped: a full Fluent buffer, a
	// failed send, records still queued when Shutdown gives up, or a
	// failed stdout write. It may be called from the Fluent sender
	// goroutine, and after Shutdown returned when Shutdown gave up at its
	// deadline; it must be safe for concurrent use and must not block.
	OnDrop func(sink string, n int)
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.FlushInterval < 0 {
		return fmt.Errorf("accesslog: FlushInterval must not be negative, got %v", c.FlushInterval)
	}
	if c.FluentBufferLimit < 0 {
		return fmt.Errorf("accesslog: FluentBufferLimit must not be negative, got %d", c.FluentBufferLimit)
	}
	if c.FluentAddress != "" {
		if err := ValidateFluentAddress(c.FluentAddress); err != nil {
			return fmt.Errorf("accesslog: FluentAddress: %w", err)
		}
	}
	if c.FluentTag != "" {
		if err := ValidateFluentTag(c.FluentTag); err != nil {
			return fmt.Errorf("accesslog: FluentTag: %w", err)
		}
	}
	return nil
}

// ValidateFluentAddress checks a Fluent forward address as Config.Validate
// does: host:port with a host and a port from 1 to 65535. Commands call it
// to name their own flag.
func ValidateFluentAddress(addr string) error {
	_, _, err := splitHostPort(addr)
	return err
}

// ValidateFluentTag checks a Fluent tag as Config.Validate does:
// dot-separated words without blanks or control characters.
func ValidateFluentTag(tag string) error { return validTag(tag) }

// splitHostPort parses a host:port Fluent address.
func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q must be host:port: %w", addr, err)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q must be host:port: missing host", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q must be host:port: port %q is not a number from 1 to 65535", addr, portText)
	}
	return host, port, nil
}

// validTag accepts dot-separated Fluent tags without blanks.
func validTag(tag string) error {
	if strings.ContainsFunc(tag, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%q must not contain blanks or control characters", tag)
	}
	if strings.HasPrefix(tag, ".") || strings.HasSuffix(tag, ".") || strings.Contains(tag, "..") {
		return fmt.Errorf("%q must be dot-separated words without empty parts", tag)
	}
	return nil
}

// Logger writes access-log records. Its methods are safe for concurrent
// use.
type Logger struct {
	onDrop func(string, int)

	mu     sync.RWMutex // Log holds it shared; Shutdown exclusively to close
	closed bool

	stdout   zapcore.Core
	buffered *zapcore.BufferedWriteSyncer

	fluent      *fluent.Fluent
	fluentTag   string
	bufferLimit int64
	// inflight counts records handed to the Fluent client whose fate the
	// async callback has not reported yet.
	inflight atomic.Int64

	shutdownOnce sync.Once
	shutdownErr  error
}

// fieldPool holds field slices so that Log does not allocate one per call.
var fieldPool = sync.Pool{New: func() any {
	f := make([]zapcore.Field, 0, numRecordKeys)
	return &f
}}

// New validates cfg and returns a Logger. It does not connect to Fluent
// Bit: the connection is made in the background, so a Fluent Bit that is
// down delays nothing.
func New(cfg Config) (*Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.FluentTag == "" {
		cfg.FluentTag = DefaultFluentTag
	}
	if cfg.FluentBufferLimit == 0 {
		cfg.FluentBufferLimit = DefaultFluentBufferLimit
	}
	l := &Logger{onDrop: cfg.OnDrop, fluentTag: cfg.FluentTag, bufferLimit: int64(cfg.FluentBufferLimit)}
	if l.onDrop == nil {
		l.onDrop = func(string, int) {}
	}

	if cfg.Stdout != nil {
		l.buffered = &zapcore.BufferedWriteSyncer{
			WS:            noSync{cfg.Stdout},
			Size:          stdoutBufferSize,
			FlushInterval: cfg.FlushInterval,
		}
		enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
			// No message, level, time, logger name, caller or stacktrace
			// keys: the line holds exactly the record's keys.
			LineEnding:     "\n",
			EncodeTime:     utcTimeEncoder,
			EncodeDuration: zapcore.NanosDurationEncoder,
		})
		l.stdout = zapcore.NewCore(enc, l.buffered, zapcore.DebugLevel)
	}

	if cfg.FluentAddress != "" {
		host, port, err := splitHostPort(cfg.FluentAddress)
		if err != nil {
			return nil, fmt.Errorf("accesslog: FluentAddress: %w", err)
		}
		if strings.Contains(host, ":") {
			// fluent-logger-golang joins host and port with a bare ":".
			host = "[" + host + "]"
		}
		f, err := fluent.New(fluent.Config{
			FluentNetwork:       "tcp",
			FluentHost:          host,
			FluentPort:          port,
			Async:               true,
			BufferLimit:         cfg.FluentBufferLimit,
			SubSecondPrecision:  true,
			MaxRetry:            fluentMaxRetry,
			RetryWait:           fluentRetryWaitMS,
			MaxRetryWait:        fluentMaxRetryWait,
			Timeout:             fluentDialTimeout,
			WriteTimeout:        fluentWriteTimeout,
			AsyncResultCallback: l.fluentResult,
		})
		if err != nil {
			return nil, fmt.Errorf("accesslog: fluent client for %s: %w", cfg.FluentAddress, err)
		}
		l.fluent = f
	}
	return l, nil
}

// fluentResult is called by the Fluent client's sender goroutine once per
// record it took from the queue.
func (l *Logger) fluentResult(_ []byte, err error) {
	l.inflight.Add(-1)
	if err != nil {
		l.onDrop(SinkFluent, 1)
	}
}

// Log writes r to every configured sink. It never blocks on Fluent Bit:
// a record that does not fit in the queue is dropped and reported through
// OnDrop. Log does not keep r. Records logged after Shutdown are dropped.
func (l *Logger) Log(r *Record) {
	if r == nil {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		if l.stdout != nil {
			l.onDrop(SinkStdout, 1)
		}
		if l.fluent != nil {
			l.onDrop(SinkFluent, 1)
		}
		return
	}
	if l.stdout != nil {
		fp := fieldPool.Get().(*[]zapcore.Field)
		fields := r.appendFields((*fp)[:0])
		if err := l.stdout.Write(zapcore.Entry{}, fields); err != nil {
			l.onDrop(SinkStdout, 1)
		}
		clear(fields) // drop references to r's strings
		*fp = fields[:0]
		fieldPool.Put(fp)
	}
	if l.fluent != nil {
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		// A full queue drops here, before the client spends an encoding
		// and an error on a record it would refuse anyway.
		if l.inflight.Add(1) > l.bufferLimit {
			l.inflight.Add(-1)
			l.onDrop(SinkFluent, 1)
			return
		}
		if err := l.fluent.PostWithTime(l.fluentTag, t, r); err != nil {
			l.inflight.Add(-1)
			l.onDrop(SinkFluent, 1)
		}
	}
}

// Shutdown flushes the stdout buffer and closes the Fluent client. It first
// lets the Fluent queue drain while ctx leaves time; if Fluent Bit is dead
// or too slow, the records still queued are dropped (and reported through
// OnDrop) so that Shutdown returns by ctx's deadline. When even that does
// not finish in time, Shutdown returns ctx's error at the deadline and the
// close completes in the background. Later calls return the first result.
func (l *Logger) Shutdown(ctx context.Context) error {
	l.shutdownOnce.Do(func() { l.shutdownErr = l.shutdown(ctx) })
	return l.shutdownErr
}

func (l *Logger) shutdown(ctx context.Context) error {
	// Wait for Logs in progress; a Log stuck on a blocked stdout must not
	// hold Shutdown past ctx.
	locked := make(chan struct{})
	go func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(locked)
	}()
	var errs []error
	select {
	case <-locked:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("accesslog: wait for Log calls: %w", ctx.Err()))
	}

	if l.buffered != nil {
		done := make(chan error, 1)
		go func() { done <- l.buffered.Stop() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("accesslog: flush stdout: %w", err))
			}
		case <-ctx.Done():
			// Go on: the Fluent client must still be stopped.
			errs = append(errs, fmt.Errorf("accesslog: flush stdout: %w", ctx.Err()))
		}
	}
	if l.fluent != nil {
		if err := l.closeFluent(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closeFluent drains and closes the Fluent client within ctx.
//
// fluent-logger-golang's Close waits for the whole queue to be sent unless
// ForceStopAsyncSend is set, which would hang on a dead Fluent Bit; with it
// set from the start, a healthy queue would be thrown away. So: wait for
// the queue to drain while ctx leaves time, then close gently if it
// drained, or with ForceStopAsyncSend otherwise, in a goroutine that is
// abandoned at the deadline.
func (l *Logger) closeFluent(ctx context.Context) error {
	drainCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		reserve := min(time.Until(deadline)/5, 250*time.Millisecond)
		var cancel context.CancelFunc
		drainCtx, cancel = context.WithDeadline(ctx, deadline.Add(-reserve))
		defer cancel()
	}
	drained := l.waitDrained(drainCtx)
	if !drained {
		// Only Close reads this field; the sender goroutine does not.
		l.fluent.ForceStopAsyncSend = true
	}

	done := make(chan error, 1)
	go func() {
		err := l.fluent.Close()
		// The sender goroutine has exited: whatever it did not report was
		// discarded.
		if n := l.inflight.Swap(0); n > 0 {
			l.onDrop(SinkFluent, int(n))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("accesslog: close fluent: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("accesslog: close fluent: %w", ctx.Err())
	}
}

// waitDrained polls until every queued record was reported or ctx ends.
func (l *Logger) waitDrained(ctx context.Context) bool {
	if l.inflight.Load() <= 0 {
		return true
	}
	tick := time.NewTicker(drainPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if l.inflight.Load() <= 0 {
				return true
			}
		case <-ctx.Done():
			return l.inflight.Load() <= 0
		}
	}
}

// noSync adapts an io.Writer to zapcore.WriteSyncer. Sync is a no-op:
// fsync of a pipe or terminal (stdout) fails with EINVAL.
type noSync struct{ io.Writer }

func (noSync) Sync() error { return nil }
