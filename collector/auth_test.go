package collector

import (
	"github.com/hopscope/hopscope/internal/testkit"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuthTokenFile: with --auth-token-file the API answers 401 with a
// Bearer challenge to a call without an accepted token and counts it;
// /metrics, /healthz and the UI's files stay open.
func TestAuthTokenFile(t *testing.T) {
	const token = "api-0123456789abcdef"
	path := testkit.TokenFile(t, "# the API's token", token)
	c := startCollector(t, func(cfg *Config) { cfg.AuthTokenFile = path })
	base := "http://" + c.HTTPAddr().String()
	cl := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, auth string
		code       int
	}{
		{"/api/v1/breakdowns", "", http.StatusUnauthorized},
		{"/api/v1/breakdowns", "Bearer api-wrong-000000000000", http.StatusUnauthorized},
		{"/api/v1/traces/0af7651916cd43dd8448eb211c80319c/breakdown", "", http.StatusUnauthorized},
		{"/api/v1/breakdowns", "Bearer " + token, http.StatusOK},
		{"/api/v1/traces/0af7651916cd43dd8448eb211c80319c/breakdown", "bearer " + token, http.StatusNotFound},
		{"/metrics", "", http.StatusOK},
		{"/healthz", "", http.StatusOK},
		{"/ui/", "", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.code {
			t.Errorf("GET %s (%q): %d, want %d", tc.path, tc.auth, res.StatusCode, tc.code)
		}
		if tc.code == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("GET %s: WWW-Authenticate %q", tc.path, res.Header.Get("WWW-Authenticate"))
		}
	}
	if n := testutilCounter(c.m.rejected.WithLabelValues(SrcAPI, "unauthenticated")); n != 3 {
		t.Errorf("rejected_total{source=api,reason=unauthenticated} = %v, want 3", n)
	}
}

// TestAuthTokenFileValidate: a token file that cannot be used stops the
// collector at start with an error naming the flag.
func TestAuthTokenFileValidate(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# none yet\n"), 0o600)
	commented := filepath.Join(dir, "commented")
	os.WriteFile(commented, []byte("# rotated 2026-12-06\n0123456789abcdef01\n"), 0o600)
	for _, tc := range []struct {
		path, want string
		gateway    bool // with --gateway-endpoint
	}{
		{filepath.Join(dir, "missing"), "no such file", false},
		{short, "too short", false},
		{empty, "no token", false},
		// The scale-out gateway reads the list too, and would take "#".
		{commented, "comment line", true},
	} {
		cfg := DefaultConfig()
		cfg.AuthTokenFile = tc.path
		if tc.gateway {
			cfg.GatewayEndpoint = "http://hopscope-gateway:4318"
		}
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "--auth-token-file: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want --auth-token-file: …%s…", tc.path, err, tc.want)
		}
	}
	// Without the gateway, comments stay allowed.
	cfg := DefaultConfig()
	cfg.AuthTokenFile = commented
	if err := cfg.Validate(); err != nil {
		t.Errorf("a commented list without --gateway-endpoint: %v", err)
	}
}
