package route

import (
	"math/rand/v2"
	"testing"
)

func TestCollapseIDs(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/orders/123", "/orders/{id}"},
		{"/orders/1/items", "/orders/{id}/items"},
		{"/users/42/posts/7", "/users/{id}/posts/{id}"},
		{"/items/550e8400-e29b-41d4-a716-446655440000", "/items/{id}"},
		{"/blobs/4bf92f3577b34da6a3ce929d0e0e4736", "/blobs/{id}"},
		{"/blobs/cafe", "/blobs/cafe"}, // short hex is a word
		{"/v2/users", "/v2/users"},
		{"/users/42/", "/users/{id}/"},
		{"/", "/"},
		{"", ""},
		{"/orders/", "/orders/"},
		// Tokens (issue 19, item 12): reset and invitation links, JWTs.
		{"/reset/Xk9fQ2mZp4LwT7vB", "/reset/{id}"},
		{"/invite/aZ3_-kLq9PwX2mN8yT5v", "/invite/{id}"},
		{"/t/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "/t/{id}"},
		{"/confirm/k3j4h5g6f7d8s9a0q1w2", "/confirm/{id}"},
		{"/confirm/K3J4H5G6F7D8S9A0Q1W2", "/confirm/{id}"},
		// Words and slugs stay.
		{"/blog/how-to-configure-nginx-2024", "/blog/how-to-configure-nginx-2024"},
		{"/docs/getting-started", "/docs/getting-started"},
		{"/api/oauth2/callback", "/api/oauth2/callback"},
		{"/internationalization", "/internationalization"},
		{"/products/iphone15promax256", "/products/iphone15promax256"},   // 17 characters in one case: a word
		{"/files/Report2024Final", "/files/Report2024Final"},             // 15 characters
		{"/api/getUserProfileV2", "/api/getUserProfileV2"},               // camelCase
		{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Check"}, // a gRPC service
		{"/files/AnnualReport2024FinalDraft", "/files/AnnualReport2024FinalDraft"},
	} {
		if got := CollapseIDs(tt.path); got != tt.want {
			t.Errorf("CollapseIDs(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestFromPath(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/api/orders/17?token=secret", "/api/orders/{id}"},
		{"/search?q=1", "/search"},
		{"/page#frag", "/page"},
		{"/?x", "/"},
		{"?x", ""},
		{"", ""},
		{"/healthz", "/healthz"},
	} {
		if got := FromPath(tt.path); got != tt.want {
			t.Errorf("FromPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestCollapseIDsNoAlloc(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { CollapseIDs("/api/orders/list") })
	if allocs != 0 {
		t.Fatalf("CollapseIDs allocated %v times on a path without ids", allocs)
	}
}

// TestTokensCollapsed: most random tokens, as reset and invitation links
// carry them, become {id} (issue 19, item 12: a /reset/<token> path put
// the token in the route label, the API, logs and spans).
func TestTokensCollapsed(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 12))
	const base62, base36 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789"
	for _, tc := range []struct {
		alphabet string
		n        int
		min      float64
	}{
		{base62, 16, 0.85}, {base62, 22, 0.9}, {base62, 32, 0.9}, {base62, 43, 0.9}, {base36, 24, 0.85}, {base36, 32, 0.9},
	} {
		collapsed := 0
		for range 1000 {
			b := make([]byte, tc.n)
			for i := range b {
				b[i] = tc.alphabet[rng.IntN(len(tc.alphabet))]
			}
			if CollapseIDs("/reset/"+string(b)) == "/reset/"+ID {
				collapsed++
			}
		}
		if rate := float64(collapsed) / 1000; rate < tc.min {
			t.Errorf("%d-character tokens of %d symbols: %.0f%% collapsed, want at least %.0f%%", tc.n, len(tc.alphabet), 100*rate, 100*tc.min)
		}
	}
}
