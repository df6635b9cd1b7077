package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenLoop: the generator keeps its schedule whatever the server does,
// so one 150 ms stall delays every request scheduled during it (a closed
// loop would count one slow request, under 1%, and its p99 would not
// show the stall); it counts failed answers as errors and goes on, on a
// fresh connection where the server closed one.
func TestOpenLoop(t *testing.T) {
	tests := []struct {
		name    string
		handler func(n int64, w http.ResponseWriter)
		check   func(t *testing.T, r openLoopResult)
	}{
		{
			name: "a stall delays what was scheduled during it",
			handler: func(n int64, w http.ResponseWriter) {
				if n == 10 {
					time.Sleep(150 * time.Millisecond)
				}
				w.Write([]byte("ok"))
			},
			check: func(t *testing.T, r openLoopResult) {
				if r.Errors != 0 || r.Completed != r.Scheduled {
					t.Errorf("completed %d of %d, %d errors; want all", r.Completed, r.Scheduled, r.Errors)
				}
				// ~150 of 400 requests were scheduled during the stall.
				if r.P99Ms < 50 || r.P50Ms > r.P99Ms || r.MaxMs < 140 {
					t.Errorf("p50 %.2f ms, p99 %.2f ms, max %.2f ms; want p99 ≥ 50 ms, max ≥ 140 ms (the stall counted for every request behind it)", r.P50Ms, r.P99Ms, r.MaxMs)
				}
			},
		},
		{
			name: "failed answers are errors, closed connections are redialled",
			handler: func(n int64, w http.ResponseWriter) {
				switch {
				case n%4 == 1:
					w.WriteHeader(http.StatusServiceUnavailable)
				case n%4 == 2:
					w.Header().Set("Connection", "close")
					w.Write([]byte("ok"))
				default:
					w.Write([]byte("ok"))
				}
			},
			check: func(t *testing.T, r openLoopResult) {
				if r.Errors != r.Scheduled/4 || r.Completed != r.Scheduled-r.Errors {
					t.Errorf("completed %d, errors %d of %d; want every 4th an error (503), the rest completed", r.Completed, r.Errors, r.Scheduled)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.handler(n.Add(1), w)
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := openLoop(ctx, strings.TrimPrefix(srv.URL, "http://"), 1000, 400*time.Millisecond, 1)
			if err != nil {
				t.Fatal(err)
			}
			if r.Scheduled != 400 || r.Rate != 1000 {
				t.Fatalf("scheduled %d at %v req/s; want 400 at 1000", r.Scheduled, r.Rate)
			}
			tt.check(t, r)
		})
	}
}

func TestOpenLoopRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	if _, err := openLoop(context.Background(), addr, 1000, time.Second, 2); err == nil || !strings.Contains(err.Error(), "connection 1") {
		t.Fatalf("err = %v; want the first connection's dial error", err)
	}
}
