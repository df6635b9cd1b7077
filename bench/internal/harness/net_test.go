package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v", ports)
		}
		seen[p] = true
	}
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)) // free: it binds
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

func TestWaitReady(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := WaitReady(ctx, nil, Ready{URL: srv.URL, Body: "ok", Timeout: 5 * time.Second, Every: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d requests, want 3", calls.Load())
	}
	err := WaitReady(ctx, nil, Ready{URL: srv.URL, Body: "other", Timeout: 20 * time.Millisecond, Every: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `server not ready at `+srv.URL) || !strings.Contains(err.Error(), `body "ok"`) {
		t.Errorf("wrong body: %v", err)
	}
}

func TestWaitReadyExited(t *testing.T) {
	p, err := StartProc(context.Background(), "false", nil, "", "", "false")
	if err != nil {
		t.Skip(err)
	}
	<-p.done
	err = WaitReady(context.Background(), p, Ready{URL: "http://127.0.0.1:1/", Timeout: time.Minute, Every: time.Millisecond})
	if err == nil || !strings.HasPrefix(err.Error(), "false exited before it was ready (exit status 1)") {
		t.Errorf("got %v", err)
	}
}
