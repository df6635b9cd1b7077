package relay

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config configures a Relay.
type Config struct {
	// Endpoint is the gateway's OTLP/HTTP base URL
	// (http://hopscope-gateway:4318); records are posted to
	// Endpoint/v1/traces. Flag --gateway-endpoint.
	Endpoint string
	// TokenFile, when set, is a token file (internal/bearer's format) whose
	// first token is sent as `Authorization: Bearer` with each request: the
	// gateway, like the collector, takes only senders with a token of its
	// list (the chart's auth.enabled). Read again for each request, so a
	// rotated Secret takes effect. Flag --gateway-token-file.
	TokenFile string
	// QueueSize bounds the records waiting to be sent; one taken in while
	// it is full is joined locally (outcome queue_full).
	QueueSize int
	// BatchSize is the most records of one request.
	BatchSize int
	// FlushInterval is the longest a record waits for its batch to fill.
	FlushInterval time.Duration
	// Timeout bounds one request to the gateway; a batch that fails is
	// joined locally (outcome failed), not retried: the gateway retries
	// what it took, and a retry here would delay the records past the
	// owner's export delay.
	Timeout time.Duration
}

// DefaultConfig returns the defaults, with no endpoint.
func DefaultConfig() Config {
	return Config{QueueSize: 10_000, BatchSize: 512, FlushInterval: 200 * time.Millisecond, Timeout: 5 * time.Second}
}

// Validate names the flag of a bad field.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		errs = append(errs, errors.New("--gateway-endpoint: empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("--gateway-endpoint: %w", err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("--gateway-endpoint %q: want http(s)://host:port, the gateway's OTLP/HTTP receiver", c.Endpoint))
	}
	if c.QueueSize < 1 {
		errs = append(errs, errors.New("relay QueueSize: must be at least 1"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, errors.New("relay BatchSize: must be at least 1"))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, errors.New("relay FlushInterval: must be positive"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("relay Timeout: must be positive"))
	}
	return errors.Join(errs...)
}
