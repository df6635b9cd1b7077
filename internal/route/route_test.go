package route

import "testing"

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
