package tail

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of DefaultConfig.
const (
	DefaultPollInterval    = 250 * time.Millisecond
	DefaultRotateWait      = 5 * time.Second
	DefaultMaxLineBytes    = 1 << 20
	DefaultReadBufferBytes = 64 << 10
	DefaultSaveInterval    = time.Second
)

// State stores read offsets so that a restarted Tailer resumes where the
// previous one stopped. Implementations must be safe for use by several
// Tailers at once when they share one State.
type State interface {
	// Load returns the inode and offset last saved for path; ok is false
	// when nothing was saved.
	Load(path string) (inode uint64, offset int64, ok bool)
	// Save records that every line of the file with this inode that ends
	// before offset was delivered.
	Save(path string, inode uint64, offset int64) error
}

// Config configures a Tailer. Start from DefaultConfig.
type Config struct {
	// Path is the file to follow. It need not exist yet.
	Path string
	// StartAtBeginning reads the content the file has at Start. By default
	// reading starts at its end, after its last newline. A saved offset in
	// Offsets for the same inode wins over both.
	StartAtBeginning bool
	// PollInterval is how often the file and the path are checked for new
	// data, truncation and rotation. Must be positive.
	PollInterval time.Duration
	// RotateWait is how long a file that no longer is at Path (renamed or
	// deleted) must go without growing before it is released and the file
	// now at Path is read. It gives the writer time to reopen its log; a
	// line it appends to the old file after that is not read. Zero
	// switches at the first poll that sees the rotation. Must not be
	// negative.
	RotateWait time.Duration
	// MaxLineBytes is the longest line delivered, without its newline; a
	// longer line is delivered cut to this length and reported to OnError
	// with ErrLineTooLong. Must be positive.
	MaxLineBytes int
	// ReadBufferBytes is the size of the reused read buffer. Must be
	// positive.
	ReadBufferBytes int
	// Format is the lines' log format (logformat.IngressNginx, …), which
	// New parses them as; HAProxyLoc the zone of HAProxy's local dates
	// (UTC when nil).
	Format     string
	HAProxyLoc *time.Location
	// Offsets, if set, is asked at Start where reading stopped last time
	// and told the offset after the last delivered line.
	Offsets State
	// SaveInterval is the shortest time between two saves to Offsets; the
	// last offset is also saved at Shutdown. Zero saves after every poll
	// that delivered lines. Must not be negative.
	SaveInterval time.Duration
	// OnError, if set, is called with Path and every error the Tailer
	// recovers from (unreadable file, over-long line, failed save), from
	// the Tailer's goroutine. A condition that persists is reported once.
	OnError func(path string, err error)
	// Pause, if set, is asked whenever a read of the file brought new
	// bytes; while it reports true (the memory limiter refusing input) the
	// Tailer delivers nothing and reads no further, asking again every
	// 50 ms, and then goes on from where it stopped: the file stays open,
	// nothing is lost (unless the file is truncated in place meanwhile,
	// copytruncate). It must be cheap.
	Pause func() bool
	// OnPause, if set, is called with Path each time the Tailer pauses for
	// Pause (once per pause, however long), from the Tailer's goroutine.
	OnPause func(path string)
}

// DefaultConfig returns a Config with every default; only Path is left to
// set.
func DefaultConfig() Config {
	return Config{
		PollInterval:    DefaultPollInterval,
		RotateWait:      DefaultRotateWait,
		MaxLineBytes:    DefaultMaxLineBytes,
		ReadBufferBytes: DefaultReadBufferBytes,
		SaveInterval:    DefaultSaveInterval,
	}
}

// Validate reports every invalid field, each error naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("tail: Path: must not be empty"))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("tail: PollInterval: must be positive, got %v", c.PollInterval))
	}
	if c.RotateWait < 0 {
		errs = append(errs, fmt.Errorf("tail: RotateWait: must not be negative, got %v", c.RotateWait))
	}
	if c.MaxLineBytes <= 0 {
		errs = append(errs, fmt.Errorf("tail: MaxLineBytes: must be positive, got %d", c.MaxLineBytes))
	}
	if c.ReadBufferBytes <= 0 {
		errs = append(errs, fmt.Errorf("tail: ReadBufferBytes: must be positive, got %d", c.ReadBufferBytes))
	}
	if c.SaveInterval < 0 {
		errs = append(errs, fmt.Errorf("tail: SaveInterval: must not be negative, got %v", c.SaveInterval))
	}
	return errors.Join(errs...)
}
