package peers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		spec, err string
	}{
		{"dns+hopscope-collector-headless.observability.svc:8088", ""},
		{"10.0.0.1:8088,10.0.0.2:8088", ""},
		{"10.0.0.1:8088, [::1]:8088", ""},
		{"", "empty"},
		{"dns+hopscope-collector-headless", "is not HOST:PORT"},
		{"10.0.0.1", "is not HOST:PORT"},
		{"10.0.0.1:8088,", "is not HOST:PORT"},
		{":8088", "is not HOST:PORT"},
	} {
		err := DefaultConfig(tc.spec).Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Validate(%q) = %v, want %q", tc.spec, err, tc.err)
		}
	}
}

// TestDNSAddrs: a dns+ spec is every address the name resolves to, at the
// port; the answer is reused for Refresh, then looked up again; a failed
// lookup keeps the last answer, and with none fails naming the name.
func TestDNSAddrs(t *testing.T) {
	s, err := New(Config{Spec: "dns+peers.test:8088", Timeout: time.Second, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.lookup = func(context.Context, string) ([]string, error) { return nil, errors.New("no such host") }
	if _, err := s.Addrs(ctx); err == nil || !strings.Contains(err.Error(), "peers.test") {
		t.Errorf("first lookup failing: %v, want an error naming peers.test", err)
	}
	lookups := 0
	s.lookup = func(_ context.Context, host string) ([]string, error) {
		lookups++
		return []string{"10.1.0.7", "10.1.0.3", "fd00::5"}, nil
	}
	want := []string{"10.1.0.3:8088", "10.1.0.7:8088", "[fd00::5]:8088"}
	for range 3 {
		got, err := s.Addrs(ctx)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Addrs = %v, %v, want %v", got, err, want)
		}
	}
	if lookups != 1 {
		t.Errorf("%d lookups within Refresh, want 1", lookups)
	}
	s.resolvedAt = time.Time{} // Refresh has passed
	s.lookup = func(context.Context, string) ([]string, error) { return nil, errors.New("timeout") }
	if got, err := s.Addrs(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("failed refresh: %v, %v, want the last answer %v", got, err, want)
	}
}

// TestAsk: every peer is asked at once with local=1 added to the query
// and the caller's Authorization; a peer that does not answer in time is
// an error of its own, the others' answers stand.
func TestAsk(t *testing.T) {
	seen := make(chan string, 2)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.RequestURI() + " " + r.Header.Get("Authorization")
		_, _ = w.Write([]byte("ok"))
	}))
	defer ok.Close()
	stall := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(stall)
	s, err := New(Config{Spec: strings.TrimPrefix(ok.URL, "http://") + "," + strings.TrimPrefix(slow.URL, "http://"),
		Timeout: 200 * time.Millisecond, Refresh: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	answers, err := s.Ask(context.Background(), "/api/v1/breakdowns", "limit=5", "Bearer t")
	if err != nil || len(answers) != 2 {
		t.Fatalf("Ask = %v, %v", answers, err)
	}
	if a := answers[0]; a.Err != nil || a.Status != 200 || string(a.Body) != "ok" {
		t.Errorf("answering peer: %+v", a)
	}
	if got := <-seen; got != "/api/v1/breakdowns?limit=5&local=1 Bearer t" {
		t.Errorf("the peer was asked %q", got)
	}
	if a := answers[1]; a.Err == nil || !strings.Contains(a.Err.Error(), strings.TrimPrefix(slow.URL, "http://")) {
		t.Errorf("stalled peer: %+v, want an error naming it", a)
	}
}
