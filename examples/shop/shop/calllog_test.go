package shop_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/examples/shop/shop"
)

// TestShopCallLog: each request writes one line naming the calls its
// handler made, in order, under its X-Request-ID; the new routes make the
// calls their doc comments promise.
func TestShopCallLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target []string // requests in order, the last one checked
		status int
		route  string
		calls  string
	}{
		{"order", []string{"/api/orders/3"}, 200, "/api/orders/{id}", "redis GET,postgres SELECT,redis SET"},
		{"item miss", []string{"/api/items/4"}, 200, "/api/items/{id}", "redis GET,postgres SELECT,redis SET"},
		{"item hit", []string{"/api/items/4", "/api/items/4"}, 200, "/api/items/{id}", "redis GET"},
		{"item unknown", []string{"/api/items/99"}, 404, "/api/items/{id}", "redis GET,postgres SELECT"},
		{"featured", []string{"/api/featured"}, 200, "/api/featured", "redis GET,postgres SELECT"},
		{"health", []string{"/healthz"}, 200, "/healthz", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer // the app serialises its writes
			f := newFixture(t, shop.Config{CallLog: &log})
			var w interface{ Result() *http.Response }
			for i, target := range tc.target {
				rec := f.do(t, target, http.Header{"X-Request-Id": {"req-" + string(rune('a'+i))}})
				w = rec
			}
			if got := w.Result().StatusCode; got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != len(tc.target) {
				t.Fatalf("%d lines, want %d: %s", len(lines), len(tc.target), log.String())
			}
			var rec shop.CallRecord
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
				t.Fatal(err)
			}
			var calls []string
			for _, c := range rec.Calls {
				calls = append(calls, c.Backend+" "+c.Op)
				if c.Start <= 0 || c.End < c.Start {
					t.Errorf("call %+v: want 0 < start <= end", c)
				}
			}
			wantID := "req-" + string(rune('a'+len(tc.target)-1))
			if rec.RequestID != wantID || rec.Route != tc.route || strings.Join(calls, ",") != tc.calls {
				t.Errorf("got %s %s [%s], want %s %s [%s]", rec.RequestID, rec.Route, strings.Join(calls, ","), wantID, tc.route, tc.calls)
			}
		})
	}
}

// TestShopNoTelemetry: with NoTelemetry the app makes no span and its
// backends see no trace context, even when the request carries one.
func TestShopNoTelemetry(t *testing.T) {
	for _, tc := range []struct {
		noTelemetry bool
		wantSpans   bool
	}{{false, true}, {true, false}} {
		f := newFixture(t, shop.Config{NoTelemetry: tc.noTelemetry})
		w := f.do(t, "/api/orders/2", http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
		if w.Code != 200 {
			t.Fatalf("NoTelemetry=%v: status %d", tc.noTelemetry, w.Code)
		}
		if got := len(f.spans.Ended()) > 0; got != tc.wantSpans {
			t.Errorf("NoTelemetry=%v: spans %v, want %v", tc.noTelemetry, got, tc.wantSpans)
		}
		for _, c := range f.orders.all() {
			if got := c.span.IsValid(); got != tc.wantSpans {
				t.Errorf("NoTelemetry=%v: the database call has trace context %v, want %v", tc.noTelemetry, got, tc.wantSpans)
			}
		}
	}
}
