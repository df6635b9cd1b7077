package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// LocalParam is the query parameter that marks a question asked by a
// peer: the replica answers from its own traces only, so questions never
// travel further than one hop.
const LocalParam = "local"

// maxBody bounds a peer's answer (a list of 1,000 breakdowns is ~5 MB).
const maxBody = 32 << 20

// Config says where the peers are.
type Config struct {
	// Spec is --peers: "dns+HOST:PORT" (every address HOST resolves to,
	// at PORT: a headless Service's ready pods) or a comma-separated list
	// of HOST:PORT.
	Spec string
	// Timeout bounds one fan-out (all peers at once).
	Timeout time.Duration
	// Refresh is how long a DNS answer is reused.
	Refresh time.Duration
}

// DefaultConfig returns the defaults for a spec.
func DefaultConfig(spec string) Config {
	return Config{Spec: spec, Timeout: 3 * time.Second, Refresh: 5 * time.Second}
}

// Validate checks the spec's form (not that it resolves).
func (c Config) Validate() error {
	if c.Spec == "" {
		return errors.New("empty")
	}
	if host, ok := strings.CutPrefix(c.Spec, "dns+"); ok {
		return checkHostPort(host)
	}
	for _, a := range strings.Split(c.Spec, ",") {
		if err := checkHostPort(strings.TrimSpace(a)); err != nil {
			return err
		}
	}
	if c.Timeout <= 0 || c.Refresh <= 0 {
		return errors.New("timeout and refresh must be positive")
	}
	return nil
}

func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("%q is not HOST:PORT (or dns+HOST:PORT)", a)
	}
	return nil
}

// Set is the peers of one replica. Its methods are safe for concurrent
// use.
type Set struct {
	cfg    Config
	client *http.Client
	lookup func(ctx context.Context, host string) ([]string, error)

	mu         sync.Mutex
	addrs      []string
	resolvedAt time.Time
}

// New returns the peers of cfg; nothing is resolved until asked.
func New(cfg Config) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Set{
		cfg:    cfg,
		client: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}},
		lookup: net.DefaultResolver.LookupHost,
	}, nil
}

// Close closes the idle connections to the peers.
func (s *Set) Close() { s.client.CloseIdleConnections() }

// Addrs returns the peers' HOST:PORT addresses, resolving a dns+ spec
// again once its answer is older than Refresh. A failed lookup keeps the
// last answer, if any.
func (s *Set) Addrs(ctx context.Context) ([]string, error) {
	hostport, isDNS := strings.CutPrefix(s.cfg.Spec, "dns+")
	if !isDNS {
		var out []string
		for _, a := range strings.Split(s.cfg.Spec, ",") {
			out = append(out, strings.TrimSpace(a))
		}
		return out, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addrs != nil && time.Since(s.resolvedAt) < s.cfg.Refresh {
		return s.addrs, nil
	}
	host, port, _ := net.SplitHostPort(hostport) // checked by Validate
	ips, err := s.lookup(ctx, host)
	if err != nil {
		if s.addrs != nil {
			return s.addrs, nil
		}
		return nil, fmt.Errorf("looking up peers %s: %w", host, err)
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip, port))
	}
	slices.Sort(out)
	s.addrs, s.resolvedAt = out, time.Now()
	return out, nil
}

// Answer is one peer's answer.
type Answer struct {
	// Addr is the peer's HOST:PORT.
	Addr string
	// Status is the HTTP status; 0 when Err is set.
	Status int
	// Body is the answer's body.
	Body []byte
	// Err says why the peer could not be asked or did not answer.
	Err error
}

// Ask sends GET path (with query, to which LocalParam=1 is added) to
// every peer at once, with the given Authorization header (the caller's
// own: every replica reads the same tokens), and returns every answer.
// It returns an error only when the peers themselves cannot be found.
func (s *Set) Ask(ctx context.Context, path, query, authorization string) ([]Answer, error) {
	addrs, err := s.Addrs(ctx)
	if err != nil {
		return nil, err
	}
	if query != "" {
		query += "&"
	}
	query += LocalParam + "=1"
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	out := make([]Answer, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() {
			out[i] = s.ask(ctx, addr, path+"?"+query, authorization)
		})
	}
	wg.Wait()
	return out, nil
}

func (s *Set) ask(ctx context.Context, addr, pathQuery, authorization string) Answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+pathQuery, nil)
	if err != nil {
		return Answer{Addr: addr, Err: err}
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Answer{Addr: addr, Err: fmt.Errorf("asking peer %s: %w", addr, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Answer{Addr: addr, Err: fmt.Errorf("reading peer %s: %w", addr, err)}
	}
	return Answer{Addr: addr, Status: resp.StatusCode, Body: body}
}
