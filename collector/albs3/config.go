package albs3

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults of DefaultConfig.
const (
	DefaultPollInterval = 60 * time.Second
	DefaultLookback     = 48 * time.Hour
	DefaultMaxLineBytes = 1 << 20
)

// StateFileName is the name of the state file in Config.StateDir.
const StateFileName = "albs3-state.json"

// Config configures a Reader. Start from DefaultConfig. The flag each
// field comes from in `hopscope collector` is named in its comment.
type Config struct {
	// URL is s3://bucket/prefix: the objects under prefix are read
	// (--alb-s3-url). The prefix may be empty (the whole bucket) and is
	// used as it is (no slash is added).
	URL string
	// Region is the bucket's AWS region (--alb-s3-region); empty takes
	// it from the default chain (AWS_REGION, the shared config).
	Region string
	// Endpoint is the URL of an S3-compatible server to use instead of
	// AWS's (--alb-s3-endpoint); empty is AWS.
	Endpoint string
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// instead of the host name, as most S3-compatible servers need
	// (--alb-s3-path-style).
	PathStyle bool
	// QueueURL is the URL of an SQS queue receiving the bucket's S3 event
	// notifications for the prefix (--alb-sqs-queue-url); empty polls the
	// listing every PollInterval instead.
	QueueURL string
	// StateDir is the directory of the state file (StateFileName),
	// created if missing (--state-dir). Two Readers must not share it.
	// Empty keeps the state in memory only.
	StateDir string
	// PollInterval is the time between two listings of the prefix, and
	// after a failed SQS receive before the next (--alb-s3-poll-interval).
	// Must be positive.
	PollInterval time.Duration
	// Lookback is how long after its day an object can still appear in
	// its day directory: the listing cursor passes only day directories
	// older than this (--alb-s3-lookback). Must be at least 24h.
	Lookback time.Duration
	// MaxLineBytes is the longest line delivered, without its newline; a
	// longer one is cut and reported with an error wrapping
	// logread.ErrLineTooLong. Must be positive.
	MaxLineBytes int
	// OnError, if set, is called with the object or queue concerned and
	// every error the Reader recovers from, from the Reader's goroutine.
	OnError func(where string, err error)
	// OnObject, if set, is called once per object read to its end with
	// its s3:// URL and whether it failed (damaged), from the Reader's
	// goroutine.
	OnObject func(where string, failed bool)
	// Pause, if set, is asked for every line read; while it reports true
	// the Reader reads no further (see albdir.Config.Pause).
	Pause func() bool
	// OnPause, if set, is called once per pause for Pause.
	OnPause func(where string)

	// S3 and SQS, when set, are used instead of clients made from the
	// default credential chain: for tests that feed notifications.
	S3  S3API
	SQS SQSAPI
}

// DefaultConfig returns a Config with every default; URL and StateDir are
// left to set.
func DefaultConfig() Config {
	return Config{PollInterval: DefaultPollInterval, Lookback: DefaultLookback, MaxLineBytes: DefaultMaxLineBytes}
}

// ParseURL splits s3://bucket/prefix.
func ParseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", err
	}
	if u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", fmt.Errorf("want s3://bucket/prefix, got %q", s)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

// Validate reports every invalid field, each error naming its flag.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := ParseURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("albs3: --alb-s3-url: %w", err))
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("albs3: --alb-s3-endpoint: want http(s)://host[:port], got %q", c.Endpoint))
		}
	}
	if c.QueueURL != "" {
		if u, err := url.Parse(c.QueueURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("albs3: --alb-sqs-queue-url: want https://sqs.<region>.amazonaws.com/<account>/<queue>, got %q", c.QueueURL))
		}
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("albs3: --alb-s3-poll-interval: must be positive, got %v", c.PollInterval))
	}
	if c.Lookback < 24*time.Hour {
		errs = append(errs, fmt.Errorf("albs3: --alb-s3-lookback: must be at least 24h, got %v", c.Lookback))
	}
	if c.MaxLineBytes <= 0 {
		errs = append(errs, fmt.Errorf("albs3: MaxLineBytes: must be positive, got %d", c.MaxLineBytes))
	}
	return errors.Join(errs...)
}
