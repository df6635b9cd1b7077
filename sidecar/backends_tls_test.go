package sidecar

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// TestBackendInsecureSkipVerifyWarns: a backend that verifies no
// certificate is said so at start, naming the key; a verifying one is not.
func TestBackendInsecureSkipVerifyWarns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		insecure bool
		want     int
	}{{"insecure", true, 1}, {"verifying", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			cfg := Config{Backends: []backend.Config{{Name: "db", Kind: backend.KindPostgres, Listen: "127.0.0.1:0", Target: "127.0.0.1:5432",
				TLS: backend.TLSConfig{Mode: backend.TLSOriginate, InsecureSkipVerify: tc.insecure}}}}
			if _, err := newBackends(&cfg, nil, prometheus.NewRegistry(), zap.New(core)); err != nil {
				t.Fatal(err)
			}
			got := logs.FilterField(zap.String("key", "backends[0].tls.insecureSkipVerify")).Len()
			if got != tc.want {
				t.Errorf("%d warnings naming backends[0].tls.insecureSkipVerify, want %d: %v", got, tc.want, logs.All())
			}
		})
	}
}
