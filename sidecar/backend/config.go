package backend

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Kinds of backend.
const (
	KindPostgres = "postgres"
	KindRedis    = "redis"
	KindHTTP     = "http"
	KindTCP      = "tcp"
)

// Config is one entry of the sidecar's `backends:` YAML list.
type Config struct {
	// Name names the backend in metrics and spans (label backend).
	Name string `yaml:"name"`
	// Kind is the protocol: postgres, redis, http or tcp.
	Kind string `yaml:"kind"`
	// Listen is the local address the app is pointed at; loopback only.
	Listen string `yaml:"listen"`
	// Target is host:port of the backend (postgres, redis, tcp) or its base
	// URL (http: http://host[:port] or, with tls: originate, https://…).
	Target string `yaml:"target"`
	// TLS is how the backend's connections use TLS (TLSConfig): absent
	// (none), `tls: MODE`, or a mapping with mode and the certificates.
	TLS TLSConfig `yaml:"tls"`
	// Timeout bounds one HTTP call until its response headers (http only:
	// cutting one query of a PostgreSQL or Redis session would break the
	// session; use the client's statement timeout there); 0 = none.
	Timeout time.Duration `yaml:"timeout"`
	// Retries retries failed idempotent HTTP requests within a budget
	// (http only; off when absent).
	Retries *RetryPolicy `yaml:"retries"`
	// CircuitBreaker stops calling a failing target for a while (http only;
	// off when absent).
	CircuitBreaker *BreakerPolicy `yaml:"circuitBreaker"`
	// RateLimit bounds the calls per second to the target (http only; off
	// when absent).
	RateLimit *RateLimitPolicy `yaml:"rateLimit"`
	// Cluster makes a redis backend follow a Redis Cluster: the node
	// addresses the cluster announces are replaced by local listeners of
	// the proxy (redis only; off when absent).
	Cluster *RedisClusterPolicy `yaml:"cluster"`
}

// RedisClusterPolicy is how a redis backend follows a Redis Cluster: the
// target is one seed node; every node the cluster names (in CLUSTER SLOTS,
// SHARDS and NODES replies, MOVED and ASK errors) gets a listener of its
// own on 127.0.0.1, and the announced address is replaced by it.
type RedisClusterPolicy struct {
	// MaxNodes bounds the node listeners (1–1024; 0 is the default, 64):
	// a node past it keeps its own address, so the app reaches it
	// directly, untimed.
	MaxNodes int `yaml:"maxNodes"`
}

// DefaultRedisClusterPolicy is the policy of `cluster: {}`; a zero field
// of a configured policy takes its value from here.
func DefaultRedisClusterPolicy() RedisClusterPolicy { return RedisClusterPolicy{MaxNodes: 64} }

// RetryPolicy retries idempotent requests (GET, HEAD, OPTIONS, PUT,
// DELETE) that failed to connect or answered 502, 503 or 504.
type RetryPolicy struct {
	// Attempts is the most tries of one request, the first included (2–5).
	Attempts int `yaml:"attempts"`
	// Budget is the share of recent requests that may be retries (0–1],
	// so retries cannot multiply an outage's load.
	Budget float64 `yaml:"budget"`
	// Backoff is the wait before the first retry, doubled for each next.
	Backoff time.Duration `yaml:"backoff"`
}

// BreakerPolicy opens the circuit after consecutive failures: calls fail
// at once (503) for OpenFor, then one trial call decides.
type BreakerPolicy struct {
	// Failures is the consecutive failures (connection errors, 5xx) that
	// open the circuit.
	Failures int `yaml:"failures"`
	// OpenFor is how long the circuit stays open before a trial call.
	OpenFor time.Duration `yaml:"openFor"`
}

// RateLimitPolicy is a token bucket on calls to the target; calls over it
// get 429 at once.
type RateLimitPolicy struct {
	// PerSecond is the sustained rate.
	PerSecond float64 `yaml:"perSecond"`
	// Burst is the bucket size.
	Burst int `yaml:"burst"`
}

// Validate checks one entry; errors name it as backends[i].key.
func (c Config) Validate(i int) error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("backends[%d].%s: %s", i, key, fmt.Sprintf(format, a...)))
	}
	if c.Name == "" || strings.ContainsAny(c.Name, " \t\n\"") {
		bad("name", "must be a word naming the backend, got %q", c.Name)
	}
	switch c.Kind {
	case KindPostgres, KindRedis, KindHTTP, KindTCP:
	default:
		bad("kind", "must be postgres, redis, http or tcp, got %q", c.Kind)
	}
	if host, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		bad("listen", "must be host:port, got %q", c.Listen)
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		bad("listen", "must be a loopback address (127.0.0.1:PORT): only the pod's own app may use it, got %q", c.Listen)
	}
	if c.Kind == KindHTTP {
		u, err := url.Parse(c.Target)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
			bad("target", "must be a base URL http://host[:port] or https://host[:port], got %q", c.Target)
		} else if (u.Scheme == "https") != (c.TLS.Mode == TLSOriginate) {
			bad("tls", "an https:// target needs tls: originate (the app speaks plain HTTP to the sidecar), and originate needs https://")
		}
	} else if _, port, err := net.SplitHostPort(c.Target); err != nil || port == "" {
		bad("target", "must be host:port, got %q", c.Target)
	}
	c.TLS.validate(c.Kind, bad)
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	} else if c.Timeout > 0 && c.Kind != KindHTTP {
		bad("timeout", "applies to kind http only (a proxy cannot cut one query of a %s session without breaking the session; set the client's own timeout)", c.Kind)
	}
	if c.Kind != KindHTTP && (c.Retries != nil || c.CircuitBreaker != nil || c.RateLimit != nil) {
		bad("kind", "retries, circuitBreaker and rateLimit apply to kind http only")
	}
	if cl := c.Cluster; cl != nil {
		if c.Kind != KindRedis {
			bad("cluster", "applies to kind redis only, not %s", c.Kind)
		}
		if c.TLS.Mode != "" {
			// One TLS server name cannot verify every node; nodes on
			// tls-port are not followed (docs/redis-cluster.md).
			bad("cluster", "does not combine with tls.mode %s yet", c.TLS.Mode)
		}
		if cl.MaxNodes < 0 || cl.MaxNodes > 1024 {
			bad("cluster.maxNodes", "must be 1 to 1024 (0: the default, 64), got %d", cl.MaxNodes)
		}
	}
	if r := c.Retries; r != nil {
		if r.Attempts < 2 || r.Attempts > 5 {
			bad("retries.attempts", "must be 2 to 5 (the first try included), got %d", r.Attempts)
		}
		if r.Budget <= 0 || r.Budget > 1 {
			bad("retries.budget", "must be in (0, 1], got %v", r.Budget)
		}
		if r.Backoff < 0 {
			bad("retries.backoff", "must not be negative")
		}
	}
	if b := c.CircuitBreaker; b != nil {
		if b.Failures < 1 {
			bad("circuitBreaker.failures", "must be at least 1")
		}
		if b.OpenFor <= 0 {
			bad("circuitBreaker.openFor", "must be positive")
		}
	}
	if r := c.RateLimit; r != nil {
		if r.PerSecond <= 0 {
			bad("rateLimit.perSecond", "must be positive")
		}
		if r.Burst < 1 {
			bad("rateLimit.burst", "must be at least 1")
		}
	}
	return errors.Join(errs...)
}

// ValidateAll checks every entry and that names and listen addresses are
// unique.
func ValidateAll(cs []Config) error {
	var errs []error
	names, listens := map[string]int{}, map[string]int{}
	for i, c := range cs {
		if err := c.Validate(i); err != nil {
			errs = append(errs, err)
		}
		if j, dup := names[c.Name]; dup && c.Name != "" {
			errs = append(errs, fmt.Errorf("backends[%d].name: %q is also backends[%d]'s", i, c.Name, j))
		}
		if j, dup := listens[c.Listen]; dup && c.Listen != "" && !strings.HasSuffix(c.Listen, ":0") {
			errs = append(errs, fmt.Errorf("backends[%d].listen: %s is also backends[%d]'s", i, c.Listen, j))
		}
		names[c.Name], listens[c.Listen] = i, i
	}
	return errors.Join(errs...)
}
