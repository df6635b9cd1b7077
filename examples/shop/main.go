// Command shop runs the example shop (package shop) against real
// PostgreSQL, Redis and a payments API. See README.md.
//
//	go run ./examples/shop --listen 127.0.0.1:8080 \
//	    --database-url 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' \
//	    --redis-addr 127.0.0.1:6379 --payments-url http://127.0.0.1:8091 --payments-stub-listen 127.0.0.1:8091
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hopscope/hopscope/examples/shop/shop"
)

func main() {
	if err := run(); err != nil {
		slog.Error("shop", "err", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg shop.Config
	flag.StringVar(&cfg.Listen, "listen", ":8080", "address to serve the shop on")
	flag.StringVar(&cfg.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL)")
	flag.StringVar(&cfg.RedisAddr, "redis-addr", "127.0.0.1:6379", "Redis host:port or redis:// URL")
	flag.StringVar(&cfg.PaymentsURL, "payments-url", "", "base URL of the payments API (GET {url}/quote)")
	flag.StringVar(&cfg.CollectorRUMURL, "collector-rum-url", "", "hopscope collector's public RUM URL the page loads rum.js from, e.g. http://127.0.0.1:8089 (empty: no RUM)")
	flag.StringVar(&cfg.ServiceName, "service-name", envOr("OTEL_SERVICE_NAME", "shop"), "service.name of the spans")
	flag.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", "", "OTLP/HTTP endpoint, http(s)://host:4318 (empty: no export)")
	flag.BoolVar(&cfg.InsecureSkipVerify, "insecure-skip-verify", false, "accept any certificate from the payments API")
	migrate := flag.Bool("migrate", true, "create and seed the orders table at start")
	stubListen := flag.String("payments-stub-listen", "", "also serve a stand-in payments API on this address (plain HTTP)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if cfg.PaymentsURL == "" && *stubListen != "" {
		cfg.PaymentsURL = "http://" + *stubListen
	}
	if cfg.DatabaseURL == "" || cfg.PaymentsURL == "" {
		return errors.New("--database-url and --payments-url (or --payments-stub-listen) are required")
	}

	// SIGTERM (Kubernetes) or Ctrl-C starts a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	shutdownTracing, err := shop.SetupTracing(ctx, cfg.OTLPEndpoint, cfg.ServiceName)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(sctx)
	}()

	// The backends, built here so that main shows the whole wiring.
	orders, err := shop.NewPostgresOrders(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer orders.Close()
	if *migrate {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := shop.Migrate(mctx, orders.Pool())
		cancel()
		if err != nil {
			return err
		}
	}
	cache, err := shop.NewRedisCache(cfg.RedisAddr)
	if err != nil {
		return err
	}
	defer cache.Close()
	payments, err := shop.NewHTTPPayments(cfg.PaymentsURL, cfg.InsecureSkipVerify)
	if err != nil {
		return err
	}
	defer payments.Close()

	app, err := shop.New(cfg, shop.Deps{Orders: orders, Cache: cache, Payments: payments})
	if err != nil {
		return err
	}
	defer app.Close()

	var servers []*http.Server
	if *stubListen != "" {
		servers = append(servers, newServer(*stubListen, shop.PaymentsStub{}))
	}
	servers = append(servers, newServer(cfg.Listen, app.Handler()))
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			return err
		}
		slog.Info("listening", "addr", ln.Addr().String())
		go func() { errc <- srv.Serve(ln) }()
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := len(servers) - 1; i >= 0; i-- { // the app first, then the stub it calls
		if err := servers[i].Shutdown(sctx); err != nil {
			return err
		}
	}
	return nil
}

func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
