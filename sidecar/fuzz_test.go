package sidecar

import (
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/route"
)

// FuzzRedactQuery: no input may make a sensitive value survive redaction,
// and non-sensitive queries come back unchanged.
func FuzzRedactQuery(f *testing.F) {
	for _, s := range []string{"", "a=1", "token=x", "a=1&token=x&b=2", "TOKEN=x", "tok%65n=x", "token", "&&&", "=x&token=", "api_key=1;b=2",
		"user[token]=x", "a[b][api_key]=1;c=2", "token[=x", "x[]]]=1"} {
		f.Add(s)
	}
	r := newQueryRedactor([]string{"token", "api_key"})
	f.Fuzz(func(t *testing.T, q string) {
		out := r.Redact(q)
		sep := func(c rune) bool { return c == '&' || c == ';' }
		in, got := splitKeep(q, sep), splitKeep(out, sep)
		if len(in) != len(got) {
			t.Fatalf("Redact(%q) = %q: pair count changed", q, out)
		}
		for i, pair := range in {
			k, _, hasValue := strings.Cut(pair, "=")
			if hasValue && r.sensitive(unescapeKey(k)) {
				if got[i] != k+"="+redactedValue {
					t.Fatalf("Redact(%q) = %q: pair %q not redacted", q, out, pair)
				}
			} else if got[i] != pair {
				t.Fatalf("Redact(%q) = %q: pair %q changed", q, out, pair)
			}
		}
	})
}

// FuzzRoute: any path gives a label that is a configured template, the
// path with ids collapsed, or "other"; the namer never holds more than its
// cap.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/", "", "/orders/1", "/a/550e8400-e29b-41d4-a716-446655440000/b", "//", "/x/", "/static/../../etc", "/ü/123"} {
		f.Add(s)
	}
	n := newRouteNamer([]string{"/orders/{id}", "/static/*"}, 50)
	f.Fuzz(func(t *testing.T, path string) {
		got := n.Route(path)
		if got != "/orders/{id}" && got != "/static/*" && got != RouteOther && got != route.CollapseIDs(orSlash(path)) {
			t.Fatalf("Route(%q) = %q", path, got)
		}
		if n.known.Len() > 50 {
			t.Fatalf("namer holds %d routes", n.known.Len())
		}
	})
}

// splitKeep splits s at every separator, keeping empty parts (unlike
// strings.FieldsFunc) and the separators' places: part i ends at the i-th.
func splitKeep(s string, sep func(rune) bool) []string {
	var parts []string
	start := 0
	for i, c := range s {
		if sep(c) {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func orSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
