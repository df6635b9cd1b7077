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
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultFlushInterval     = time.Second
	DefaultFluentTag         = "hopscope.access"
	DefaultFluentBufferLimit = 8192
	DefaultFluentBufferBytes = 8 << 20
	DefaultFluentAckTimeout  = 5 * time.Second
	// MinFluentBufferBytes is the smallest FluentBufferBytes accepted.
	MinFluentBufferBytes = 16 << 10
)

// Sink names passed to Config.OnDrop.
const (
	SinkStdout = "stdout"
	SinkFluent = "fluent"
)

// stdoutBufferSize is the stdout log's buffer.
const stdoutBufferSize = 256 << 10

// Config configures a Logger.
type Config struct {
	// Stdout receives one JSON line per record; nil writes no stdout log.
	// The sidecar passes os.Stdout for --access-log stdout.
	Stdout io.Writer
	// FlushInterval is the longest a stdout line waits in the buffer
	// before it is written, and a record for Fluent Bit waits for more to
	// fill its chunk before the chunk is sent (a full chunk, 256 KiB, goes
	// at once). Zero means DefaultFlushInterval.
	FlushInterval time.Duration
	// FluentAddress is the host:port of Fluent Bit's forward input; empty
	// ships nothing.
	FluentAddress string
	// FluentTag is the Fluent tag of every record. Empty means
	// DefaultFluentTag.
	FluentTag string
	// FluentBufferLimit is how many records may wait for Fluent Bit (queued
	// or sent but not yet acknowledged) while it is slow or down; records
	// beyond it are dropped. Zero means DefaultFluentBufferLimit.
	FluentBufferLimit int
	// FluentBufferBytes bounds the memory those records take: the
	// capacity of every buffer holding encoded records, queued or in
	// flight, never exceeds it (a record that would take it past is
	// dropped). At least MinFluentBufferBytes; zero means
	// DefaultFluentBufferBytes.
	FluentBufferBytes int
	// FluentAckTimeout bounds the sending of one chunk of records and the
	// wait for Fluent Bit's acknowledgement of it; past it the connection
	// is closed and the chunk sent again on a new one (3 attempts, then
	// its records are dropped). Zero means DefaultFluentAckTimeout.
	FluentAckTimeout time.Duration
	// OnDrop, if set, is called with the sink (SinkFluent or SinkStdout)
	// and a count whenever records are dropped: a full Fluent buffer, a
	// chunk Fluent Bit did not acknowledge, records still queued when
	// Shutdown gives up, or a failed stdout write. It may be called from
	// the Fluent sender goroutine; it must be safe for concurrent use and
	// must not block.
	OnDrop func(sink string, n int)
	// Logger receives a Warn when chunks of records could not be
	// delivered to Fluent Bit, at most once per 10 s with the chunks and
	// records dropped since. Nil logs nothing.
	Logger *zap.Logger
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.FlushInterval < 0 {
		return fmt.Errorf("accesslog: FlushInterval must not be negative, got %v", c.FlushInterval)
	}
	if c.FluentBufferLimit < 0 {
		return fmt.Errorf("accesslog: FluentBufferLimit must not be negative, got %d", c.FluentBufferLimit)
	}
	if c.FluentBufferBytes != 0 && c.FluentBufferBytes < MinFluentBufferBytes {
		return fmt.Errorf("accesslog: FluentBufferBytes must be at least %d, got %d", MinFluentBufferBytes, c.FluentBufferBytes)
	}
	if c.FluentAckTimeout < 0 {
		return fmt.Errorf("accesslog: FluentAckTimeout must not be negative, got %v", c.FluentAckTimeout)
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

	ship *shipper // nil when nothing is shipped to Fluent Bit

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
	if cfg.FluentBufferBytes == 0 {
		cfg.FluentBufferBytes = DefaultFluentBufferBytes
	}
	if cfg.FluentAckTimeout == 0 {
		cfg.FluentAckTimeout = DefaultFluentAckTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	l := &Logger{onDrop: cfg.OnDrop}
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
		onDrop := l.onDrop
		l.ship = newShipper(cfg.FluentAddress, cfg.FluentTag, cfg.FluentBufferLimit, cfg.FluentBufferBytes,
			cfg.FluentAckTimeout, cfg.FlushInterval, func(n int) { onDrop(SinkFluent, n) }, cfg.Logger)
	}
	return l, nil
}

// Log writes r to every configured sink. It never blocks on Fluent Bit:
// a record that does not fit in the queue is dropped and reported through
// OnDrop. Log does not keep r (the Fluent record is encoded at once).
// Records logged after Shutdown are dropped.
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
		if l.ship != nil {
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
	if l.ship != nil {
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		if !l.ship.add(t, r) {
			l.onDrop(SinkFluent, 1)
		}
	}
}

// Shutdown flushes the stdout buffer and stops shipping to Fluent Bit. It
// first lets the Fluent queue drain while ctx leaves time; if Fluent Bit is
// dead or too slow, the records not yet acknowledged are dropped (and
// reported through OnDrop, and Shutdown returns an error saying how many)
// so that Shutdown returns by ctx's deadline. Later calls return the first
// result.
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
	if l.ship != nil {
		if err := l.ship.shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// noSync adapts an io.Writer to zapcore.WriteSyncer. Sync is a no-op:
// fsync of a pipe or terminal (stdout) fails with EINVAL.
type noSync struct{ io.Writer }

func (noSync) Sync() error { return nil }

// FluentCounts returns the records shipped to Fluent Bit and acknowledged
// (sent) and those queued or awaiting their acknowledgement (queued):
// every record logged is sent, queued or dropped (OnDrop). Zero when
// nothing is shipped.
func (l *Logger) FluentCounts() (sent uint64, queued int) {
	if l == nil || l.ship == nil {
		return 0, 0
	}
	l.ship.mu.Lock()
	defer l.ship.mu.Unlock()
	return l.ship.sent, l.ship.records
}
