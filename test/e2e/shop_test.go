//go:build e2e

package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hopscope/hopscope/examples/shop/shop"
)

// startShop runs the shop app on a free loopback port — instrumented with
// the OpenTelemetry SDK and exporting to otlpURL, on the given PostgreSQL
// and Redis, calling an HTTPS payments stub — and returns its address.
// wrap, when set, wraps the app's handler (to add a failing route, say).
func startShop(t *testing.T, pgURL, redisAddr, otlpURL, rumURL string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	ctx := context.Background()
	payments := httptest.NewTLSServer(shop.PaymentsStub{})
	t.Cleanup(payments.Close)
	appTP, err := shop.NewTracerProvider(ctx, otlpURL, "shop-app")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { appTP.Shutdown(context.Background()) })
	orders, err := shop.NewPostgresOrders(ctx, pgURL, shop.WithTracerProvider(appTP))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(orders.Close)
	if err := shop.Migrate(ctx, orders.Pool()); err != nil {
		t.Fatal(err)
	}
	cache, err := shop.NewRedisCache(redisAddr, shop.WithTracerProvider(appTP))
	if err != nil {
		t.Fatal(err)
	}
	pay, err := shop.NewHTTPPayments(payments.URL, true, shop.WithTracerProvider(appTP))
	if err != nil {
		t.Fatal(err)
	}
	app, err := shop.New(shop.Config{ServiceName: "shop-app", CollectorRUMURL: rumURL},
		shop.Deps{Orders: orders, Cache: cache, Payments: pay, TracerProvider: appTP})
	if err != nil {
		t.Fatal(err)
	}
	h := app.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
