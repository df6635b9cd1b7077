// Package shop is a small web shop used to show what hopscope sees: one
// request goes through the app's handler, Redis, PostgreSQL and an external
// payments API, and every step is traced with OpenTelemetry.
//
// The app is split from its main package so that hopscope's demo and tests
// can run it in-process with their own backends (see Deps).
//
// Routes:
//
//	GET /                  an HTML page showing one order (?order=ID), loading hopscope's rum.js
//	GET /api/orders/{id}   the order as JSON: Redis lookup, PostgreSQL, payments API, Redis write
//	GET /api/items/{id}    the order's item, cache-aside: Redis lookup, and on a miss PostgreSQL and a Redis write
//	GET /api/featured      the featured order (1): Redis lookup of a fixed key, PostgreSQL
//	GET /healthz           200 while the process is up
//
// Both / and /api/orders/{id} accept injected delays, to make a hop slow on
// purpose: the query parameters app_ms, sql_ms and ext_ms, or the header
// X-Hopscope-Delay: app_ms=40, sql_ms=25, ext_ms=30 (a query parameter wins
// over the header for the same key). Each is whole milliseconds from 0 to
// 10000; anything else is answered 400 with {"error": "...", "field": "..."}.
//
//   - app_ms is slept in the handler itself, outside any backend call;
//   - sql_ms is slept inside PostgreSQL by pg_sleep in the order query;
//   - ext_ms is sent to the payments API as delay_ms, and it sleeps.
package shop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Config is what the shop needs to run. New reads CollectorRUMURL and
// ServiceName, and the backend fields for the Deps left nil; main reads
// the rest.
type Config struct {
	// Listen is the address the HTTP server listens on, e.g. 127.0.0.1:8080
	// (used by main; a caller serving App.Handler itself may leave it empty).
	Listen string
	// DatabaseURL is the PostgreSQL connection URL, e.g.
	// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
	DatabaseURL string
	// RedisAddr is the Redis address host:port (or a redis:// URL).
	RedisAddr string
	// PaymentsURL is the base URL of the external payments API; the shop
	// calls GET {PaymentsURL}/quote?order=ID&delay_ms=N.
	PaymentsURL string
	// CollectorRUMURL is where the page loads hopscope's rum.js from and
	// sends its beacon to, e.g. http://127.0.0.1:8089 (the collector's
	// public RUM port). Empty: the page has no RUM script.
	CollectorRUMURL string
	// ServiceName is the service.name of the app's spans; it is also shown
	// on the page. Empty means "shop".
	ServiceName string
	// OTLPEndpoint is where spans go: http(s)://host:4318 for OTLP/HTTP
	// (/v1/traces is added to a bare host). Empty: no export.
	OTLPEndpoint string
	// InsecureSkipVerify makes the payments client accept any certificate,
	// for a payments API with a self-signed certificate in tests.
	InsecureSkipVerify bool
	// NoTelemetry runs the shop as an uninstrumented app: no server span,
	// no client spans, no traceparent on the payments call, no context
	// read from the request. What hopscope sees of such an app is only
	// what its sidecar sees (bench/attribution). False: OpenTelemetry as
	// described above.
	NoTelemetry bool
	// CallLog, when set, receives one JSON line per request naming the
	// backend calls its handler made, in order (see CallRecord): the ground
	// truth bench/attribution compares hopscope's attribution with. Nil: no
	// log.
	CallLog io.Writer
}

// Order is one row of the orders table.
type Order struct {
	ID          int    `json:"id"`
	Item        string `json:"item"`
	AmountCents int    `json:"amount_cents"`
}

// Quote is the payments API's answer for one order.
type Quote struct {
	OrderID  int    `json:"order"`
	Currency string `json:"currency"`
	FeeCents int    `json:"fee_cents"`
	DelayMS  int    `json:"delay_ms"`
}

// ErrNotFound is returned (possibly wrapped) by Orders.Get for an unknown id.
var ErrNotFound = errors.New("order not found")

// Orders reads orders. The SQL delay of the request (DelaysFrom(ctx).SQL)
// is to be spent inside the database.
type Orders interface {
	Get(ctx context.Context, id int) (Order, error)
}

// Cache is a key-value cache with expiry. Get reports found=false for a
// missing key, with a nil error.
type Cache interface {
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Payments is the external payments API. The external delay of the request
// (DelaysFrom(ctx).Ext) is to be spent by the API.
type Payments interface {
	Quote(ctx context.Context, orderID int) (Quote, error)
}

// Deps are the app's backends and telemetry. A nil backend is built from
// Config (NewPostgresOrders, NewRedisCache, NewHTTPPayments) and closed by
// App.Close; a backend given here is the caller's to close.
type Deps struct {
	Orders   Orders
	Cache    Cache
	Payments Payments
	// TracerProvider makes the app's server spans and the spans of the
	// backends New builds. Nil: the global provider (see SetupTracing).
	TracerProvider trace.TracerProvider
	// Logger gets one line per failed request. Nil: slog.Default().
	Logger *slog.Logger
}

// MaxDelay bounds each injected delay.
const MaxDelay = 10 * time.Second

// DelayHeader is the request header that carries injected delays.
const DelayHeader = "X-Hopscope-Delay"

// Delays are the latencies injected into one request.
type Delays struct {
	App time.Duration // slept in the handler, outside any backend call
	SQL time.Duration // slept in PostgreSQL (pg_sleep in the order query)
	Ext time.Duration // slept by the payments API (delay_ms)
}

type delaysKey struct{}

// WithDelays returns ctx carrying d, for the backends to apply.
func WithDelays(ctx context.Context, d Delays) context.Context {
	return context.WithValue(ctx, delaysKey{}, d)
}

// DelaysFrom returns the delays carried by ctx (zero if none).
func DelaysFrom(ctx context.Context) Delays {
	d, _ := ctx.Value(delaysKey{}).(Delays)
	return d
}

// App is the shop's HTTP application.
type App struct {
	orders   Orders
	cache    Cache
	payments Payments
	log      *slog.Logger
	service  string
	rumURL   string
	handler  http.Handler
	closers  []func()
	calls    *callLog // nil without Config.CallLog
}

// New builds the app. See Deps for which backends it builds itself.
func New(cfg Config, deps Deps) (*App, error) {
	rum, err := rumBase(cfg.CollectorRUMURL)
	if err != nil {
		return nil, err
	}
	a := &App{
		orders: deps.Orders, cache: deps.Cache, payments: deps.Payments,
		log: deps.Logger, service: cfg.ServiceName, rumURL: rum,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.service == "" {
		a.service = "shop"
	}
	tp := deps.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if err := a.buildMissing(cfg, tp); err != nil {
		a.Close()
		return nil, err
	}
	if cfg.CallLog != nil {
		a.calls = &callLog{w: cfg.CallLog}
		a.orders, a.cache = loggedOrders{a.orders}, loggedCache{a.cache}
	}
	a.handler = a.routes(tp, cfg.NoTelemetry)
	return a, nil
}

func (a *App) buildMissing(cfg Config, tp trace.TracerProvider) error {
	opts := []Option{WithTracerProvider(tp)}
	if cfg.NoTelemetry {
		opts = []Option{withoutTelemetry()}
	}
	if a.orders == nil {
		if cfg.DatabaseURL == "" {
			return errors.New("shop: Config.DatabaseURL is required when Deps.Orders is nil")
		}
		o, err := NewPostgresOrders(context.Background(), cfg.DatabaseURL, opts...)
		if err != nil {
			return err
		}
		a.orders, a.closers = o, append(a.closers, o.Close)
	}
	if a.cache == nil {
		if cfg.RedisAddr == "" {
			return errors.New("shop: Config.RedisAddr is required when Deps.Cache is nil")
		}
		c, err := NewRedisCache(cfg.RedisAddr, opts...)
		if err != nil {
			return err
		}
		a.cache, a.closers = c, append(a.closers, func() { _ = c.Close() })
	}
	if a.payments == nil {
		if cfg.PaymentsURL == "" {
			return errors.New("shop: Config.PaymentsURL is required when Deps.Payments is nil")
		}
		p, err := NewHTTPPayments(cfg.PaymentsURL, cfg.InsecureSkipVerify, opts...)
		if err != nil {
			return err
		}
		a.payments, a.closers = p, append(a.closers, p.Close)
	}
	return nil
}

// Handler is the app's HTTP handler, traced with otelhttp.
func (a *App) Handler() http.Handler { return a.handler }

// Close closes the backends New built (not those passed in Deps).
func (a *App) Close() {
	for _, c := range a.closers {
		c()
	}
	a.closers = nil
}

// rumBase checks the collector's RUM URL and drops a trailing slash.
func rumBase(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("shop: Config.CollectorRUMURL: want http(s)://host[:port][/path], got %q", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// Option configures a backend built by NewPostgresOrders, NewRedisCache or
// NewHTTPPayments.
type Option func(*options)

type options struct {
	tp       trace.TracerProvider
	untraced bool // no instrumentation at all (Config.NoTelemetry)
}

// withoutTelemetry builds the backend without any instrumentation.
func withoutTelemetry() Option {
	return func(o *options) { o.untraced = true }
}

// WithTracerProvider sets the provider of the backend's client spans
// (default: the global provider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.tp == nil {
		o.tp = otel.GetTracerProvider()
	}
	return o
}
