package httpegress

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// jsonError asserts the proxy's own JSON answer.
func jsonError(t *testing.T, r result, status int, backendName, want string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
	}
	var j struct{ Error, Backend string }
	if err := json.Unmarshal(r.body, &j); err != nil || j.Backend != backendName || !strings.Contains(j.Error, want) {
		t.Fatalf("body %s: want JSON naming backend %q with %q", r.body, backendName, want)
	}
}

func TestTimeout(t *testing.T) {
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL, Timeout: 100 * time.Millisecond}, Options{})
	start := time.Now()
	r := do(t, client(t, nil), "GET", "http://"+addr+"/slow", nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("answered after %v", d)
	}
	jsonError(t, r, http.StatusGatewayTimeout, "pay", "100ms")
	if got := attrs(e.span(1))["error.type"].AsString(); got != errTimeout {
		t.Errorf("error.type %q", got)
	}
	// The timeout bounds the headers, not the body.
	slowBody := target(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("late but whole"))
	})
	_, addr2 := e.backendProxy(backend.Config{Name: "slowbody", Target: slowBody.URL, Timeout: 100 * time.Millisecond}, Options{})
	if r := do(t, client(t, nil), "GET", "http://"+addr2+"/", nil); r.status != 200 || string(r.body) != "late but whole" {
		t.Errorf("slow body: %d %q", r.status, r.body)
	}
}

// flaky answers 503 to its first fail requests, then 200.
func flaky(t *testing.T, fail int, hits *counter) string {
	return target(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.inc() <= fail {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}).URL
}

func TestRetries(t *testing.T) {
	policy := &backend.RetryPolicy{Attempts: 3, Budget: 1, Backoff: time.Millisecond}
	t.Run("idempotent GET on 503", func(t *testing.T) {
		hits := &counter{}
		e := newEnv(t)
		_, addr := e.backendProxy(backend.Config{Target: flaky(t, 2, hits), Retries: policy}, Options{})
		r := do(t, client(t, nil), "GET", "http://"+addr+"/", nil)
		if r.status != 200 || hits.get() != 3 {
			t.Fatalf("status %d after %d hits, want 200 after 3", r.status, hits.get())
		}
		if got := attrs(e.span(1))[AttrAttempts].AsInt64(); got != 3 {
			t.Errorf("attempts %d, want 3", got)
		}
		if got := e.metric("hopscope_backend_retries_total", map[string]string{"backend": "pay"}); got != 2 {
			t.Errorf("retries_total %v, want 2", got)
		}
	})
	t.Run("attempts bound", func(t *testing.T) {
		hits := &counter{}
		e := newEnv(t)
		_, addr := e.backendProxy(backend.Config{Target: flaky(t, 100, hits), Retries: policy}, Options{})
		r := do(t, client(t, nil), "DELETE", "http://"+addr+"/", nil)
		if r.status != 503 || hits.get() != 3 {
			t.Fatalf("status %d after %d hits, want the target's 503 after 3", r.status, hits.get())
		}
		if got := attrs(e.span(1))["error.type"].AsString(); got != "503" {
			t.Errorf("error.type %q", got)
		}
	})
	for _, method := range []string{"POST", "PATCH"} {
		t.Run(method+" never retried", func(t *testing.T) {
			hits := &counter{}
			e := newEnv(t)
			_, addr := e.backendProxy(backend.Config{Target: flaky(t, 100, hits), Retries: policy}, Options{})
			r := do(t, client(t, nil), method, "http://"+addr+"/", nil)
			if r.status != 503 || hits.get() != 1 {
				t.Fatalf("status %d after %d hits, want 503 after 1", r.status, hits.get())
			}
			if got := e.metric("hopscope_backend_retries_total", map[string]string{"backend": "pay"}); got != 0 {
				t.Errorf("retries_total %v", got)
			}
		})
	}
	t.Run("PUT with a body not retried", func(t *testing.T) {
		hits := &counter{}
		e := newEnv(t)
		_, addr := e.backendProxy(backend.Config{Target: flaky(t, 100, hits), Retries: policy}, Options{})
		r := do(t, client(t, nil), "PUT", "http://"+addr+"/", []byte("payload"))
		if r.status != 503 || hits.get() != 1 {
			t.Fatalf("status %d after %d hits, want 503 after 1: the body cannot be replayed", r.status, hits.get())
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead := "http://" + ln.Addr().String()
		ln.Close()
		e := newEnv(t)
		_, addr := e.backendProxy(backend.Config{Target: dead, Retries: policy}, Options{})
		r := do(t, client(t, nil), "GET", "http://"+addr+"/", nil)
		jsonError(t, r, http.StatusBadGateway, "pay", "bad gateway")
		a := attrs(e.span(1))
		if a[AttrAttempts].AsInt64() != 3 || a["error.type"].AsString() != errConnect {
			t.Errorf("attempts %d error %q, want 3 and %q", a[AttrAttempts].AsInt64(), a["error.type"].AsString(), errConnect)
		}
	})
	t.Run("budget caps retries in an outage", func(t *testing.T) {
		hits := &counter{}
		e := newEnv(t)
		_, addr := e.backendProxy(backend.Config{Target: flaky(t, 1<<30, hits),
			Retries: &backend.RetryPolicy{Attempts: 3, Budget: 0.2}}, Options{})
		cl := client(t, nil)
		const n = 100
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if r := do(t, cl, "GET", "http://"+addr+"/", nil); r.status != 503 {
					t.Errorf("status %d", r.status)
				}
			}()
		}
		wg.Wait()
		retries := hits.get() - n
		t.Logf("%d retries for %d failing requests at budget 0.2", retries, n)
		if max := int(0.2*n) + budgetMinRetries; retries > max || retries < n/10 {
			t.Errorf("%d retries for %d failing requests, want between %d and %d", retries, n, n/10, max)
		}
		if got := e.metric("hopscope_backend_retries_total", map[string]string{"backend": "pay"}); got != float64(retries) {
			t.Errorf("retries_total %v, the target saw %d retries", got, retries)
		}
	})
}

func TestCircuitBreaker(t *testing.T) {
	var healthy atomic.Bool
	hits := &counter{}
	hold := make(chan struct{}) // closed: requests answer at once
	var holdOnce sync.Once
	entered := make(chan struct{}, 1)
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		hits.inc()
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/hold" {
			entered <- struct{}{}
			<-hold
		}
		if !healthy.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	})
	defer holdOnce.Do(func() { close(hold) })
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL,
		CircuitBreaker: &backend.BreakerPolicy{Failures: 3, OpenFor: 200 * time.Millisecond}}, Options{})
	cl := client(t, nil)
	state := func() float64 { return e.metric("hopscope_backend_circuit_state", map[string]string{"backend": "pay"}) }
	get := func(path string) result { return do(t, cl, "GET", "http://"+addr+path, nil) }
	open := func() {
		t.Helper()
		for i := range 3 {
			if st := state(); st != breakerClosed {
				t.Fatalf("state %v before failure %d", st, i+1)
			}
			if r := get("/"); r.status != 500 {
				t.Fatalf("status %d, want the target's 500", r.status)
			}
		}
		if st := state(); st != breakerOpen {
			t.Fatalf("state %v after 3 failures, want open", st)
		}
		before := hits.get()
		jsonError(t, get("/"), http.StatusServiceUnavailable, "pay", "circuit open")
		if hits.get() != before {
			t.Fatal("the open circuit let a request reach the target")
		}
	}

	open()
	if got := attrs(e.span(4))["error.type"].AsString(); got != errCircuitOpen {
		t.Errorf("error.type %q", got)
	}
	// Half-open: the trial fails, the circuit opens again.
	time.Sleep(250 * time.Millisecond) // OpenFor (200 ms) passes: the next request is the trial
	before := hits.get()
	if r := get("/"); r.status != 500 || hits.get() != before+1 {
		t.Fatalf("trial: %d, hits %d→%d", r.status, before, hits.get())
	}
	if st := state(); st != breakerOpen {
		t.Fatalf("state %v after a failed trial, want open", st)
	}
	jsonError(t, get("/"), http.StatusServiceUnavailable, "pay", "circuit open")

	// Half-open: one trial at a time; its success closes the circuit.
	time.Sleep(250 * time.Millisecond) // OpenFor again
	healthy.Store(true)
	trial := make(chan result, 1)
	go func() { trial <- get("/hold") }()
	<-entered
	if st := state(); st != breakerHalfOpen {
		t.Errorf("state %v during the trial, want half-open", st)
	}
	before = hits.get()
	jsonError(t, get("/"), http.StatusServiceUnavailable, "pay", "circuit open")
	if hits.get() != before {
		t.Error("a second request passed the half-open circuit")
	}
	holdOnce.Do(func() { close(hold) })
	if r := <-trial; r.status != 200 {
		t.Fatalf("trial %d", r.status)
	}
	if st := state(); st != breakerClosed {
		t.Fatalf("state %v after a good trial, want closed", st)
	}
	if r := get("/"); r.status != 200 {
		t.Fatalf("closed circuit: %d", r.status)
	}
	// 4xx are the caller's errors, not the target's: they do not open it.
	for range 5 {
		if r := get("/missing"); r.status != 404 {
			t.Fatalf("status %d, want the target's 404", r.status)
		}
	}
	if st := state(); st != breakerClosed {
		t.Fatalf("state %v after 4xx answers, want closed", st)
	}
}

func TestRateLimit(t *testing.T) {
	hits := &counter{}
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) { hits.inc() })
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL, RateLimit: &backend.RateLimitPolicy{PerSecond: 1, Burst: 3}}, Options{})
	cl := client(t, nil)
	var ok, limited int
	for range 5 {
		r := do(t, cl, "GET", "http://"+addr+"/", nil)
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			jsonError(t, r, 429, "pay", "rate limited")
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	if ok != 3 || limited != 2 || hits.get() != 3 {
		t.Fatalf("%d ok, %d limited, %d hits; want 3, 2, 3", ok, limited, hits.get())
	}
	if got := e.metric("hopscope_backend_rate_limited_total", map[string]string{"backend": "pay"}); got != 2 {
		t.Errorf("rate_limited_total %v", got)
	}
	if got := e.metric("hopscope_backend_duration_seconds", map[string]string{"backend": "pay", "outcome": "error"}); got != 2 {
		t.Errorf("error observations %v", got)
	}
}
