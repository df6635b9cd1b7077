package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestBackendTLSFromEnv: a backend's tls: mapping reaches the sidecar
// through HOPSCOPE_BACKENDS (what the injector sets), strictly decoded: a
// misspelt key, or a file the sidecar cannot read, stops it at start
// naming the key.
func TestBackendTLSFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, tls, want string
	}{
		{"misspelt key", "{mode: originate, caFlie: /x}", "tls.caFlie"},
		{"mode of another kind", "{mode: terminate}", "backends[0].tls"},
		{"unreadable CA", "{mode: originate, caFile: /nonexistent/ca.crt}", "tls.caFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HOPSCOPE_BACKENDS", "[{name: cache, kind: redis, listen: '127.0.0.1:0', target: 'cache:6379', tls: "+tc.tls+"}]")
			var errb bytes.Buffer
			// Bounded: a sidecar that wrongly started serves until ctx ends.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if code := run(ctx, []string{"sidecar", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, io.Discard, &errb); code == 0 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want an error naming %s", code, errb.String(), tc.want)
			}
		})
	}
}
