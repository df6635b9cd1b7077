package pgproxy

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// BenchmarkTLSOriginate compares, on tlsOnlyPG (ssl=on, hostssl only),
// pgx in TLS straight to the server with pgx in plain text through the
// proxy in mode originate: a query on an open connection (SELECT 1), and
// a connection's setup (connect, startup, close).
func BenchmarkTLSOriginate(b *testing.B) {
	dbURL := tlsOnlyPostgresURL(b)
	ctx := context.Background()
	f := newFixtureTLS(b, targetOf(b, dbURL), backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: tlsCerts.ca.File})
	for _, bc := range []struct{ name, url string }{
		{"direct-tls", strings.Replace(dbURL, "sslmode=disable", "sslmode=require", 1)},
		{"proxy-originate", f.via(dbURL, "disable")},
	} {
		b.Run("query/"+bc.name, func(b *testing.B) {
			c, err := pgx.Connect(ctx, bc.url)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(ctx)
			var one int
			for b.Loop() {
				if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("connect/"+bc.name, func(b *testing.B) {
			for b.Loop() {
				c, err := pgx.Connect(ctx, bc.url)
				if err != nil {
					b.Fatal(err)
				}
				c.Close(ctx)
			}
		})
	}
}
