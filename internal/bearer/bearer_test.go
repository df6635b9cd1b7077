package bearer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hopscope/hopscope/internal/testkit"
)

const (
	tokA = "tok-a-0123456789abcdef"
	tokB = "tok-b-0123456789abcdef"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFromHeader(t *testing.T) {
	for _, tc := range []struct {
		in, tok string
		ok      bool
	}{
		{"Bearer " + tokA, tokA, true},
		{"bearer " + tokA, tokA, true},
		{"BEARER  " + tokA + " ", tokA, true},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{tokA, "", false},
		{"Bearer a b", "", false},
		{"", "", false},
	} {
		tok, ok := FromHeader(tc.in)
		if tok != tc.tok || ok != tc.ok {
			t.Errorf("FromHeader(%q) = %q, %v; want %q, %v", tc.in, tok, ok, tc.tok, tc.ok)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{"one", tokA + "\n", []string{tokA}, ""},
		{"two with comments", "# rotated 2026-12-06\n" + tokA + "\n\n  " + tokB + "  \n", []string{tokA, tokB}, ""},
		{"no newline at the end", tokA, []string{tokA}, ""},
		{"empty", "\n# nothing\n", nil, "no token"},
		{"short", "short\n", nil, "line 1: a token of 5 characters is too short"},
		{"space", tokA + " " + tokB + "\n", nil, "line 1: a token holds no space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("Parse = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestRotation: a rewritten file is read again (after the recheck
// interval); a file that became empty or unreadable keeps the tokens last
// read.
func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, tokA+"\n")
	tk, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	tk.now = func() time.Time { return now }
	if !tk.Valid(tokA) || tk.Valid(tokB) {
		t.Fatal("first file: want A only")
	}
	// Rotation step 1: A and B. Step 2: B only.
	for _, step := range []struct {
		content  string
		a, b     bool
		describe string
	}{
		{tokA + "\n" + tokB + "\n", true, true, "A and B"},
		{tokB + "\n", false, true, "B only"},
		{"", false, true, "emptied: B kept"},
	} {
		writeFile(t, path, step.content)
		os.Chtimes(path, now, now.Add(time.Hour)) // a new mtime whatever the file system's granularity
		now = now.Add(2 * recheck)
		if tk.Valid(tokA) != step.a || tk.Valid(tokB) != step.b {
			t.Errorf("%s: A %v, B %v", step.describe, tk.Valid(tokA), tk.Valid(tokB))
		}
		now = now.Add(time.Hour) // past the next file's mtime
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * recheck)
	if !tk.Valid(tokB) {
		t.Error("a removed file dropped the tokens last read")
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "token file") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestHandler(t *testing.T) {
	tk, err := Load(testkit.TokenFile(t, tokA))
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	h := Handler(tk, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), func() { refused++ })
	for _, tc := range []struct {
		auth string
		code int
	}{
		{"Bearer " + tokA, http.StatusNoContent},
		{"Bearer " + tokB, http.StatusUnauthorized},
		{"", http.StatusUnauthorized},
		{"Basic " + tokA, http.StatusUnauthorized},
	} {
		req := httptest.NewRequest("GET", "/api/v1/breakdowns", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%q: %d, want %d", tc.auth, rec.Code, tc.code)
		}
		if tc.code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") != `Bearer realm="hopscope"` {
			t.Errorf("%q: WWW-Authenticate %q", tc.auth, rec.Header().Get("WWW-Authenticate"))
		}
	}
	if refused != 3 {
		t.Errorf("refused counted %d times, want 3", refused)
	}
	rec := httptest.NewRecorder()
	Handler(nil, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), nil).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusNoContent {
		t.Errorf("nil tokens: %d, want the request let through", rec.Code)
	}
}

func TestCheckIncoming(t *testing.T) {
	tk, err := Load(testkit.TokenFile(t, tokA))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		md   metadata.MD
		code codes.Code
	}{
		{metadata.Pairs("authorization", "Bearer "+tokA), codes.OK},
		{metadata.Pairs("authorization", "Bearer "+tokB), codes.Unauthenticated},
		{metadata.Pairs("authorization", "Bearer "+tokA, "authorization", "Bearer "+tokA), codes.Unauthenticated},
		{nil, codes.Unauthenticated},
	} {
		ctx := context.Background()
		if tc.md != nil {
			ctx = metadata.NewIncomingContext(ctx, tc.md)
		}
		if err := CheckIncoming(ctx, tk); status.Code(err) != tc.code {
			t.Errorf("%v: %v, want %v", tc.md, err, tc.code)
		}
	}
	if err := CheckIncoming(context.Background(), nil); err != nil {
		t.Errorf("nil tokens: %v, want every call let through", err)
	}
}

func TestParseOTelHeaders(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want http.Header
		err  string
	}{
		{"authorization=Bearer%20" + tokA, http.Header{"Authorization": {"Bearer " + tokA}}, ""},
		{" api-key = k1 , x-tenant=shop%2Cblue ", http.Header{"Api-Key": {"k1"}, "X-Tenant": {"shop,blue"}}, ""},
		{"", http.Header{}, ""},
		{"novalue", nil, "entry 1: want key=value"},
		{"a=1,bad key=2", nil, `entry 2: "bad key" is not a header name`},
		{"a=%zz", nil, "entry 1 (a)"},
		{"a=x%0d%0aInjected:%201", nil, "no line break"},
	} {
		got, err := ParseOTelHeaders(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !equalHeader(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestTracesHeadersFromEnv(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20general,x-a=1")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer%20traces")
	h, err := TracesHeadersFromEnv()
	if err != nil || h.Get("Authorization") != "Bearer traces" || h.Get("X-A") != "1" {
		t.Errorf("headers = %v, %v", h, err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad")
	if _, err := TracesHeadersFromEnv(); err == nil || !strings.HasPrefix(err.Error(), "OTEL_EXPORTER_OTLP_TRACES_HEADERS: ") {
		t.Errorf("err = %v, want one naming the variable", err)
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// FuzzFromHeader: a token taken from a header has no white space and reads
// back the same from "Bearer <token>".
func FuzzFromHeader(f *testing.F) {
	for _, s := range []string{"Bearer " + tokA, "bearer x", "Basic abc", "Bearer  a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := FromHeader(s)
		if !ok {
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") {
			t.Fatalf("FromHeader(%q) = %q", s, tok)
		}
		if again, ok := FromHeader("Bearer " + tok); !ok || again != tok {
			t.Fatalf("round trip of %q: %q, %v", tok, again, ok)
		}
	})
}

// FuzzParseOTelHeaders: accepted values hold no line break, and a list
// written back with escaped values parses to the same headers.
func FuzzParseOTelHeaders(f *testing.F) {
	for _, s := range []string{"authorization=Bearer%20abc", "a=1,b=2", "x-tenant=shop%2Cblue", "a=%zz", "=,=", "k=v%0a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseOTelHeaders(s)
		if err != nil {
			return
		}
		var parts []string
		for k, vs := range h {
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("%q: value %q has a line break", s, v)
				}
				parts = append(parts, k+"="+url.PathEscape(v))
			}
		}
		again, err := ParseOTelHeaders(strings.Join(parts, ","))
		if err != nil || !equalHeader(h, again) {
			t.Fatalf("%q: %v, written back %v (%v)", s, h, again, err)
		}
	})
}
