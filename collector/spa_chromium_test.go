//go:build linux

package collector

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar"
)

const chromiumPath = "/usr/bin/chromium"

// TestChromiumSPA loads a single-page app in headless Chromium: the page
// comes through sidecar "web" and, once loaded, calls two services with
// fetch: web's own /api/cart (same origin, plain http) and the "orders"
// service, a second sidecar behind a TLS-terminating proxy on another
// port (cross-origin https, a test certificate). rum.js, served by the
// collector's RUM endpoint, reports the navigation and both fetch calls'
// Resource Timing; each fetch call's trace then has a breakdown with dns,
// connect, the server hops (edge_network, sidecar, app) and download, and
// the https call a tls hop whose time Chromium measured.
func TestChromiumSPA(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no %s: %v", chromiumPath, err)
	}
	if testing.Short() {
		t.Skip("-short: not starting Chromium")
	}
	const appDelay = 15 * time.Millisecond

	c := startCollector(t, nil) // RUM endpoint allows every origin
	rumURL := "http://" + c.RUMAddr().String()

	// The beacons pass through a recorder on their way to the collector,
	// so that a failure shows what the browser sent.
	var beaconMu sync.Mutex
	var beacons []string
	rumTarget, _ := url.Parse(rumURL)
	rumProxy := httputil.NewSingleHostReverseProxy(rumTarget)
	rumTransport := &http.Transport{}
	t.Cleanup(rumTransport.CloseIdleConnections)
	rumProxy.Transport = rumTransport
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			beaconMu.Lock()
			beacons = append(beacons, string(b))
			beaconMu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		rumProxy.ServeHTTP(w, r)
	}))
	t.Cleanup(recorder.Close)
	t.Cleanup(func() {
		beaconMu.Lock()
		defer beaconMu.Unlock()
		if t.Failed() {
			t.Logf("beacons:\n%s", strings.Join(beacons, "\n"))
		}
		if path := os.Getenv("HOPSCOPE_RECORD_BEACON"); path != "" {
			for _, b := range beacons {
				if strings.Contains(b, `"resources"`) && strings.Contains(b, "https://") {
					if err := os.WriteFile(path, []byte(b+"\n"), 0o644); err != nil {
						t.Error(err)
					}
				}
			}
		}
	})

	// traceparents the apps received, by path: the sidecars' trace ids.
	var mu sync.Mutex
	seen := map[string]string{}
	note := func(r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("traceparent")
		mu.Unlock()
	}

	ordersProxyLn := listenLocal(t)
	var pageOrigin string // once web's sidecar listens

	// The TLS front of the orders service (as an ingress would be), on
	// its own port: another origin.
	ordersProxy := httptest.NewUnstartedServer(nil)
	ordersProxy.Listener.Close()
	ordersProxy.Listener = ordersProxyLn
	ordersOrigin := "https://" + ordersProxyLn.Addr().String()

	// The apps.
	web := http.NewServeMux()
	web.HandleFunc("/shop", func(w http.ResponseWriter, r *http.Request) {
		note(r)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, `<!doctype html>
<html><head><title>shop</title>
<script>
window.addEventListener('error', function (e) {
  var p = document.createElement('p'); p.className = 'page-error'; p.textContent = 'ERROR: ' + e.message;
  document.body.appendChild(p);
});
window.addEventListener('load', function () {
  var mark = function (id, text) { var p = document.createElement('p'); p.id = id; p.textContent = text; document.body.appendChild(p); };
  fetch('/api/cart', {cache: 'no-store'}).then(function (r) { return r.text(); }).then(function (t) {
    mark('cart', t);
    return fetch('%s/api/orders', {cache: 'no-store'});
  }).then(function (r) { return r.text(); }).then(function (t) { mark('orders', t); })
    ['catch'](function (e) { mark('fetch-error', String(e)); });
});
</script>
<script src="%s/rum.js" data-endpoint="%s/v1/rum" async></script>
</head><body><h1>Shop</h1></body></html>`, ordersOrigin, rumURL, recorder.URL)
	})
	web.HandleFunc("/api/cart", func(w http.ResponseWriter, r *http.Request) {
		note(r)
		time.Sleep(appDelay) // the app's own time
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "cart: 2 items")
	})
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note(r)
		time.Sleep(appDelay)
		h := w.Header()
		mu.Lock()
		h.Set("Access-Control-Allow-Origin", pageOrigin) // the app's CORS, not hopscope's
		mu.Unlock()
		h.Set("Cache-Control", "no-store")
		io.WriteString(w, "orders: 7")
	})
	webApp, ordersApp := httptest.NewServer(web), httptest.NewServer(orders)
	t.Cleanup(webApp.Close)
	t.Cleanup(ordersApp.Close)

	// The sidecars, exporting to the collector, with Timing-Allow-Origin
	// so that Chromium exposes the cross-origin call's timing and its
	// Server-Timing.
	startSidecar := func(upstream, service string) *sidecar.Sidecar {
		cfg := sidecar.DefaultConfig()
		cfg.Listen, cfg.AdminListen, cfg.Upstream, cfg.Service = "127.0.0.1:0", "127.0.0.1:0", upstream, service
		cfg.OTLPEndpoint = "http://" + c.OTLPHTTPAddr().String()
		cfg.AccessLog, cfg.ShutdownGrace = "off", 0
		cfg.TimingAllowOrigin = "*"
		sc, err := sidecar.New(cfg, sidecar.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return sc
	}
	webSC := startSidecar(webApp.URL, "web")
	ordersSC := startSidecar(ordersApp.URL, "orders")
	mu.Lock()
	pageOrigin = "http://" + webSC.Addr().String()
	mu.Unlock()
	shutdown := func(sc *sidecar.Sidecar) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sc.Shutdown(ctx); err != nil { // flushes the spans
			t.Errorf("sidecar shutdown: %v", err)
		}
	}
	var once [2]sync.Once
	t.Cleanup(func() { once[0].Do(func() { shutdown(webSC) }); once[1].Do(func() { shutdown(ordersSC) }) })

	proxyTransport := &http.Transport{}
	t.Cleanup(proxyTransport.CloseIdleConnections)
	target, _ := url.Parse("http://" + ordersSC.Addr().String())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = proxyTransport
	ordersProxy.Config.Handler = rp
	ordersProxy.StartTLS()
	t.Cleanup(ordersProxy.Close)

	// In real time (--virtual-time-budget would skew the page's clock
	// against the network's timings), with the browser kept open until
	// rum.js has flushed.
	ctx := openChromium(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(pageOrigin+"/shop?session=secret")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	testkit.Eventually(t, "both fetch calls answered", waitLimit, func() bool {
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.getElementById('orders') || !!document.getElementById('fetch-error')`))
		return err == nil && done
	})
	dom, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="cart">cart: 2 items`, `id="orders">orders: 7`} {
		if !strings.Contains(dom, want) {
			t.Fatalf("the page did not get %q:\n%s", want, dom)
		}
	}
	if strings.Contains(dom, `<p class="page-error">`) || strings.Contains(dom, `id="fetch-error"`) {
		t.Fatalf("the page saw an error:\n%s", dom)
	}
	// rum.js sends the fetch calls FLUSH_DELAY (2 s) after the first.
	testkit.Eventually(t, "the beacon with both fetch calls", waitLimit, func() bool {
		beaconMu.Lock()
		defer beaconMu.Unlock()
		for _, b := range beacons {
			if strings.Contains(b, "/api/cart") && strings.Contains(b, "/api/orders") {
				return true
			}
		}
		return false
	})
	once[0].Do(func() { shutdown(webSC) })
	once[1].Do(func() { shutdown(ordersSC) })

	traceOf := func(path string) string {
		mu.Lock()
		defer mu.Unlock()
		parts := strings.Split(seen[path], "-")
		if len(parts) != 4 {
			t.Fatalf("app saw traceparent %q on %s", seen[path], path)
		}
		return parts[1]
	}
	tests := []struct {
		name, path string
		tls        bool
	}{
		{"same-origin fetch over http", "/api/cart", false},
		{"cross-origin fetch over https", "/api/orders", true},
		{"the page load", "/shop", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tid := traceOf(tc.path)
			var b BreakdownResponse
			api := "http://" + c.HTTPAddr().String() + "/api/v1/traces/" + tid + "/breakdown"
			testkit.Eventually(t, "a breakdown with the browser's and the sidecar's hops", waitLimit, func() bool {
				h := hopsOf(b)
				_, download := h["download"]
				_, app := h["app"]
				return getJSON(t, api, &b) == 200 && download && app
			})
			t.Logf("%s: total %.1f ms from %s, hops %+v", tc.path, b.TotalMS, b.TotalSource, b.Hops)
			h := hopsOf(b)
			for _, hop := range []string{"dns", "connect", "edge_network", "sidecar", "app", "download"} {
				if _, ok := h[hop]; !ok {
					t.Errorf("hop %s missing: %+v", hop, b.Hops)
				}
			}
			if tls, ok := h["tls"]; ok != tc.tls || (tc.tls && tls <= 0) {
				t.Errorf("tls hop %v (present %v), want present %v and > 0", tls, ok, tc.tls)
			}
			if b.TotalSource != "rum" {
				t.Errorf("total from %s, want rum", b.TotalSource)
			}
			if tc.path != "/shop" && h["app"] < float64(appDelay.Milliseconds()) {
				t.Errorf("app %v ms, but the app slept %v", h["app"], appDelay)
			}
			var sum float64
			for _, hop := range b.Hops {
				sum += hop.MS
			}
			if d := sum - b.TotalMS; d > 0.1 || d < -0.1 {
				t.Errorf("hops sum %.3f, total %.3f", sum, b.TotalMS)
			}
		})
	}
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// openChromium starts headless Chromium (flags as in collector/ui's
// browser test, plus --ignore-certificate-errors for the test
// certificate) and returns its context; it ends with the test.
func openChromium(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return bctx
}
