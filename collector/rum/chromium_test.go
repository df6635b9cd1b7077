//go:build linux

package rum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

const chromiumPath = "/usr/bin/chromium"

// TestChromium loads a page in headless Chromium and checks that rum.js,
// served by the Handler, sends the page's Navigation Timing back to it.
//
// The page and the collector are two loopback servers, so two origins:
// the script is loaded cross-origin and derives its endpoint from its own
// src, the beacon is a cross-origin text/plain POST, and the Handler must
// accept the page's Origin. A second page points data-endpoint at the
// collector while loading the script from its own origin; a third makes
// sendBeacon throw, so that the script falls back to fetch. Every page
// includes the script twice and must still send one beacon.
func TestChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no %s: %v", chromiumPath, err)
	}
	if testing.Short() {
		t.Skip("-short: not starting Chromium")
	}

	const serverDelay = 30 * time.Millisecond
	spanID := "00f067aa0ba902b7"

	// Both listen before either serves, so each knows the other's URL.
	pageLn, collectorLn := listenLoopback(t), listenLoopback(t)
	pageURL := "http://" + pageLn.Addr().String()
	collectorURL := "http://" + collectorLn.Addr().String()

	// The collector.
	var mu sync.Mutex
	var bodies [][]byte
	var requests []string // method, Content-Type and Origin of each beacon request
	got := make(chan correlate.BrowserTiming, 4)
	cfg := DefaultConfig()
	cfg.AllowedOrigins = []string{pageURL}
	cfg.Consume = beacons(func(bt correlate.BrowserTiming) {
		select {
		case got <- bt:
		default:
			t.Errorf("more beacons than expected: %+v", bt)
		}
	})
	var results []string
	cfg.OnResult = func(r string) { mu.Lock(); results = append(results, r); mu.Unlock() }
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, collectorLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == BeaconPath {
			mu.Lock()
			requests = append(requests, r.Method+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Origin"))
			mu.Unlock()
		}
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	}))

	// The page's server; it serves rum.js too, for the data-endpoint page.
	page := http.NewServeMux()
	page.HandleFunc("/orders/42", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(serverDelay) // the app's time, seen by the browser as server time
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Server-Timing", `traceparent;desc="00-`+chromiumTraceID+`-`+spanID+`-01", app;dur=12.345, sidecar;dur=0.210`)
		h.Set("Timing-Allow-Origin", "*")
		h.Set("Cache-Control", "no-store")
		tag := `<script src="` + collectorURL + `/rum.js" async></script>`
		switch r.URL.Query().Get("mode") {
		case "data-endpoint":
			tag = `<script src="/rum.js" data-endpoint="` + collectorURL + `/v1/rum" async></script>`
		case "fetch-fallback":
			tag = `<script>navigator.sendBeacon = function () { throw new Error('blocked'); };</script>` + tag
		}
		fmt.Fprintf(w, `<!doctype html>
<html><head><title>order 42</title>
<script>
window.addEventListener('error', function (e) {
  var p = document.createElement('p'); p.className = 'page-error'; p.textContent = 'ERROR: ' + e.message;
  document.body.appendChild(p);
});
</script>
%s
%s
</head><body><h1>Order 42</h1><p id="done">loaded</p></body></html>`, tag, tag) // included twice: one beacon
	})
	page.Handle(ScriptPath, h)
	serveOn(t, pageLn, page)

	for _, tc := range []struct{ mode, contentType string }{
		{"derived", "text/plain"},
		{"data-endpoint", "text/plain"},
		// sendBeacon throws: the script falls back to fetch(keepalive),
		// still a simple request.
		{"fetch-fallback", "text/plain"},
	} {
		mode := tc.mode
		t.Run(mode, func(t *testing.T) {
			mu.Lock()
			bodies, results, requests = nil, nil, nil
			mu.Unlock()
			started := time.Now()
			dom := runChromium(t, pageURL+"/orders/42?mode="+mode+"&session=secret#items")
			if !strings.Contains(dom, `id="done"`) {
				t.Fatalf("Chromium did not render the page:\n%s", dom)
			}
			if strings.Contains(dom, `<p class="page-error">`) {
				t.Fatalf("the page saw an error:\n%s", dom)
			}

			var bt correlate.BrowserTiming
			select {
			case bt = <-got:
			case <-time.After(10 * time.Second):
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("no beacon consumed; results %v, bodies %q", results, bodies)
			}
			// At most once: nothing else arrives.
			select {
			case bt2 := <-got:
				t.Fatalf("a second beacon: %+v", bt2)
			case <-time.After(300 * time.Millisecond):
			}
			mu.Lock()
			t.Logf("beacon: %s", bodies)
			if len(results) != 1 || results[0] != ResultAccepted {
				t.Errorf("results = %v, want [accepted]", results)
			}
			// sendBeacon with a text/plain Blob: a simple request, no
			// preflight, from the page's origin.
			if want := "POST " + tc.contentType + " " + pageURL; len(requests) != 1 || requests[0] != want {
				t.Errorf("beacon requests %q, want [%q]", requests, want)
			}
			if os.Getenv("HOPSCOPE_RECORD_BEACON") != "" && len(bodies) == 1 {
				if err := os.WriteFile("testdata/beacon-from-rumjs-chromium.json", append(bodies[0], '\n'), 0o644); err != nil {
					t.Error(err)
				}
			}
			mu.Unlock()

			if bt.TraceID != chromiumTraceID {
				t.Errorf("TraceID = %q, want %q", bt.TraceID, chromiumTraceID)
			}
			if want := pageURL + "/orders/42"; bt.Page != want {
				t.Errorf("Page = %q, want %q", bt.Page, want)
			}
			if d := bt.Start.Sub(started); d < -time.Second || d > time.Minute {
				t.Errorf("Start %v is %v from the test's start", bt.Start, d)
			}
			if bt.ServerTime < serverDelay || bt.ServerTime > 30*time.Second {
				t.Errorf("ServerTime %v, want ≥ the server's %v", bt.ServerTime, serverDelay)
			}
			if bt.DNS != 0 {
				t.Errorf("DNS %v for an IP address", bt.DNS)
			}
			if !(bt.DNSStart <= bt.ConnectStart && bt.ConnectStart+bt.Connect <= bt.RequestStart &&
				bt.RequestStart+bt.ServerTime == bt.ResponseStart && bt.ResponseStart+bt.Download == bt.Total) {
				t.Errorf("timing does not hold together: %+v", bt)
			}
		})
	}
}

// runChromium loads url in headless Chromium, lets the page run for a
// virtual 5 s and returns the DOM it ends with. The run is bounded, and
// Chromium's whole process group is killed when it ends.
func runChromium(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=5000", "--dump-dom", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	pgid := cmd.Process.Pid
	// Helpers Chromium started in its group may outlive it: end them too.
	defer func() {
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill Chromium's process group %d: %v", pgid, err)
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("Chromium: %v (context: %v)\nstderr:\n%s", err, ctx.Err(), lastLines(stderr.String(), 20))
	}
	return stdout.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
