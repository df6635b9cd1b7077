package albdir

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of DefaultConfig.
const (
	DefaultScanInterval = 30 * time.Second
	DefaultSettleTime   = 10 * time.Second
	DefaultMaxLineBytes = 1 << 20
)

// StateFileName is the name of the state file in Config.StateDir.
const StateFileName = "albdir-state.json"

// Config configures a Reader. Start from DefaultConfig.
type Config struct {
	// Dir is the root of the tree holding the log files, e.g. the target
	// of `aws s3 sync s3://bucket/prefix Dir` or a bucket's mount point.
	// It may be missing at Start (a mount not there yet); each scan that
	// cannot read it is reported to OnError.
	Dir string
	// StateDir is the directory of the state file (StateFileName) that
	// records the files already read; it is created if missing and must
	// be writable. Two Readers must not share it. Empty keeps the state
	// in memory only: a new Reader then reads every file again.
	StateDir string
	// ScanInterval is the time between two scans of Dir; the first scan
	// starts at Start. Must be positive.
	ScanInterval time.Duration
	// SettleTime is how old a file's modification time must be before the
	// file is read; younger files may still be written and are left for a
	// later scan. A file whose modification time is in the future is read
	// once two scans in a row saw the same size and time. Zero reads files
	// as soon as they are seen. Must not be negative.
	SettleTime time.Duration
	// MaxLineBytes is the longest line delivered, without its newline; a
	// longer line is delivered cut to this length and reported to OnError
	// with ErrLineTooLong. Must be positive.
	MaxLineBytes int
	// OnError, if set, is called with the path concerned (a log file, a
	// directory or the state file) and every error the Reader recovers
	// from, from the Reader's goroutine.
	OnError func(path string, err error)
	// Pause, if set, is asked for every line read; while it reports true
	// (the memory limiter refusing input) the Reader delivers nothing and
	// reads no further, asking again every 50 ms, and then goes on from
	// that line, the file kept open (a gzip stream is not read again):
	// nothing is lost. It must be cheap.
	Pause func() bool
	// OnPause, if set, is called with the file's path each time the Reader
	// pauses for Pause (once per pause, however long), from the Reader's
	// goroutine.
	OnPause func(path string)
}

// DefaultConfig returns a Config with every default; Dir and StateDir are
// left to set.
func DefaultConfig() Config {
	return Config{
		ScanInterval: DefaultScanInterval,
		SettleTime:   DefaultSettleTime,
		MaxLineBytes: DefaultMaxLineBytes,
	}
}

// Validate reports every invalid field, each error naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("albdir: Dir: must not be empty"))
	}
	if c.ScanInterval <= 0 {
		errs = append(errs, fmt.Errorf("albdir: ScanInterval: must be positive, got %v", c.ScanInterval))
	}
	if c.SettleTime < 0 {
		errs = append(errs, fmt.Errorf("albdir: SettleTime: must not be negative, got %v", c.SettleTime))
	}
	if c.MaxLineBytes <= 0 {
		errs = append(errs, fmt.Errorf("albdir: MaxLineBytes: must be positive, got %d", c.MaxLineBytes))
	}
	return errors.Join(errs...)
}
