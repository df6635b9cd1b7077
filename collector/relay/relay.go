package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/internal/bearer"
)

// Relay is a consumer.Consumer in front of the collector's own: records
// that can be routed go to the gateway in batches, everything else (OTLP,
// malformed input, records without a trace id) goes to local as before.
type Relay struct {
	cfg     Config
	url     string
	local   consumer.Consumer
	m       *Metrics
	onError func(error)
	client  *http.Client
	now     func() time.Time

	queue chan Item
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// New returns a Relay posting to cfg.Endpoint; local joins what is not
// relayed; onError (may be nil) hears of each batch the gateway did not
// take.
func New(cfg Config, local consumer.Consumer, m *Metrics, onError func(error)) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m, _ = NewMetrics(nil)
	}
	if onError == nil {
		onError = func(error) {}
	}
	return &Relay{cfg: cfg, url: strings.TrimSuffix(cfg.Endpoint, "/") + "/v1/traces", local: local, m: m, onError: onError,
		client: &http.Client{Timeout: cfg.Timeout}, now: time.Now,
		queue: make(chan Item, cfg.QueueSize), stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Consume relays in when it is a record with a trace id, else hands it
// to the local consumer.
func (r *Relay) Consume(ctx context.Context, in consumer.Input) error {
	if in.Record == nil || in.Err != nil || in.OTLP != nil {
		return r.local.Consume(ctx, in)
	}
	id, ok := RouteID(in.Record)
	if !ok {
		r.m.relayed.WithLabelValues(in.Source, OutcomeUnroutable).Inc()
		return r.local.Consume(ctx, in)
	}
	select {
	case r.queue <- Item{Source: in.Source, Where: in.Where, Record: in.Record, ID: id}:
		return nil
	default:
		r.m.relayed.WithLabelValues(in.Source, OutcomeQueueFull).Inc()
		return r.local.Consume(ctx, in)
	}
}

// Start starts the sender.
func (r *Relay) Start(context.Context) error {
	go r.run()
	return nil
}

// Shutdown sends what is queued and stops; what ctx does not leave time
// to send is joined locally. The receivers that feed the relay must be
// shut down first.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.once.Do(func() { close(r.stop) })
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("relay: %w", ctx.Err())
	}
}

func (r *Relay) run() {
	defer close(r.done)
	batch := make([]Item, 0, r.cfg.BatchSize)
	tick := time.NewTicker(r.cfg.FlushInterval)
	defer tick.Stop()
	flush := func() {
		if len(batch) > 0 {
			r.send(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case it := <-r.queue:
			batch = append(batch, it)
			if len(batch) == r.cfg.BatchSize {
				flush()
			}
		case <-tick.C:
			flush()
		case <-r.stop:
			for {
				select {
				case it := <-r.queue:
					batch = append(batch, it)
					if len(batch) == r.cfg.BatchSize {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

// send posts one batch; a batch the gateway does not take is joined
// locally, counted as failed.
func (r *Relay) send(batch []Item) {
	err := r.post(batch)
	outcome := OutcomeSent
	if err != nil {
		outcome = OutcomeFailed
		r.onError(fmt.Errorf("relaying %d records to %s: %w", len(batch), r.url, err))
	}
	for _, it := range batch {
		r.m.relayed.WithLabelValues(it.Source, outcome).Inc()
		if err != nil {
			_ = r.local.Consume(context.Background(), consumer.Input{Source: it.Source, Where: it.Where, Record: it.Record})
		}
	}
}

func (r *Relay) post(batch []Item) error {
	body, err := Encode(batch, r.now())
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if r.cfg.TokenFile != "" {
		data, err := os.ReadFile(r.cfg.TokenFile)
		if err != nil {
			return fmt.Errorf("--gateway-token-file: %w", err)
		}
		toks, err := bearer.Parse(data)
		if err != nil {
			return fmt.Errorf("--gateway-token-file %s: %w", r.cfg.TokenFile, err)
		}
		req.Header.Set("Authorization", "Bearer "+toks[0])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
