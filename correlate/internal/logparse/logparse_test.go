package logparse

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		s        string
		max      int64
		d, res   time.Duration
		wantErr  error
		describe string
	}{
		{s: "0.048", max: 10, d: 48 * time.Millisecond, res: time.Millisecond},
		{s: "0.000123", max: 10, d: 123 * time.Microsecond, res: time.Microsecond},
		{s: "61", max: 100, d: 61 * time.Second, res: time.Second},
		{s: "0.05", max: 10, d: 50 * time.Millisecond, res: 10 * time.Millisecond},
		{s: "0.999999999", max: 10, d: 999999999, res: 1, describe: "nanoseconds, exact"},
		{s: "86400.123", max: 1e9, d: 24*time.Hour + 123*time.Millisecond, res: time.Millisecond},
		{s: "1795660238.639", max: 9e9, d: 1795660238639 * time.Millisecond, res: time.Millisecond, describe: "an epoch"},
		{s: "10", max: 10, d: 10 * time.Second, res: time.Second, describe: "at the bound"},
		{s: "", max: 10, wantErr: ErrEmpty},
		{s: "11", max: 10, wantErr: ErrRange},
		{s: "99999999999999999999", max: 1e9, wantErr: ErrRange},
		{s: "0.0480000001", max: 10, wantErr: ErrFracDigits},
		{s: "0.0x6", max: 10, wantErr: ErrNotDecimal},
		{s: "-0.048", max: 10, wantErr: ErrNotDecimal},
		{s: "-1", max: 10, wantErr: ErrNotDecimal},
		{s: "4.8e-2", max: 10, wantErr: ErrNotDecimal},
		{s: "1.", max: 10, wantErr: ErrNotDecimal},
		{s: ".048", max: 10, wantErr: ErrNotDecimal},
		{s: "0,007", max: 10, wantErr: ErrNotDecimal},
		{s: "0.0.7", max: 10, wantErr: ErrNotDecimal},
	}
	for _, tt := range tests {
		d, res, err := ParseSeconds(tt.s, tt.max)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || d != 0 || res != 0 {
				t.Errorf("ParseSeconds(%q, %d) = %v, %v, %v; want error %v", tt.s, tt.max, d, res, err, tt.wantErr)
			}
			continue
		}
		if err != nil || d != tt.d || res != tt.res {
			t.Errorf("ParseSeconds(%q, %d) = %v, %v, %v; want %v, %v (%s)", tt.s, tt.max, d, res, err, tt.d, tt.res, tt.describe)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for s, want := range map[string]int{"200": 200, "000": 0, "999": 999, "-": 0} {
		if got, err := ParseStatus(s); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "20", "2000", "20O", "-20", " 200"} {
		if got, err := ParseStatus(s); !errors.Is(err, ErrStatus) || got != 0 {
			t.Errorf("ParseStatus(%q) = %d, %v; want %v", s, got, err, ErrStatus)
		}
	}
}

func TestNumAndMonth(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "09": 9, "2026": 2026, "": -1, "1x": -1, "-1": -1, " 1": -1} {
		if got := Num(s); got != want {
			t.Errorf("Num(%q) = %d, want %d", s, got, want)
		}
	}
	for s, want := range map[string]int{"Jan": 1, "Nov": 11, "Dec": 12, "nov": 0, "Foo": 0, "": 0, "November": 0} {
		if got := Month(s); got != want {
			t.Errorf("Month(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := Quote(`a"b`); got != `"a\"b"` {
		t.Errorf("Quote = %s", got)
	}
	long := strings.Repeat("9", 100)
	if got, want := Quote(long), `"`+strings.Repeat("9", 64)+`"…`; got != want {
		t.Errorf("Quote(100 bytes) = %s, want %s", got, want)
	}
}

func TestRequestLine(t *testing.T) {
	tests := []struct{ line, method, path string }{
		{"GET https://www.example.com:443/ HTTP/1.1", "GET", "/"},
		{"GET https://www.example.com:443/orders/42?id=1&x=y HTTP/1.1", "GET", "/orders/42"},
		{"POST https://www.example.com:443/caf%C3%A9/a%20b#frag HTTP/2.0", "POST", "/caf%C3%A9/a%20b"},
		{"GET https://www.example.com:443/a b?c HTTP/1.1", "GET", "/a b"},
		{"GET /health?full=1 HTTP/1.1", "GET", "/health"},
		{"GET /x", "GET", "/x"}, // HTTP/0.9: no version
		{"OPTIONS * HTTP/1.1", "OPTIONS", "*"},
		{"- http://203.0.113.10:80- -", "", ""},
		{"- - - ", "", ""},
		{"-", "", ""},
		{"", "", ""},
		{"GARBAGE", "", ""},
		{"\x16\x03\x01 / HTTP/1.1", "", "/"},
		{"GET https://shop.example?q HTTP/1.1", "GET", ""}, // no path before the query
		{"GET ://x/y HTTP/1.1", "GET", ""},
		{"GET host/y HTTP/1.1", "GET", ""},
	}
	for _, tt := range tests {
		if m, p := RequestLine(tt.line); m != tt.method || p != tt.path {
			t.Errorf("RequestLine(%q) = %q, %q; want %q, %q", tt.line, m, p, tt.method, tt.path)
		}
	}
}

func TestIsToken(t *testing.T) {
	for _, s := range []string{"GET", "M-SEARCH", "x!#$%&'*+-.^_`|~9"} {
		if !IsToken(s) {
			t.Errorf("IsToken(%q) = false", s)
		}
	}
	for _, s := range []string{"", "-", "GE T", "GET/", "\x16", "é"} {
		if IsToken(s) {
			t.Errorf("IsToken(%q) = true", s)
		}
	}
}

func TestTraceparentID(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		v  string
		ok bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{" \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ", true},
		{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever", true},
		{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := TraceparentID(tt.v)
		if ok != tt.ok || ok && got != id || !ok && got != "" {
			t.Errorf("TraceparentID(%q) = %q, %v; want ok %v", tt.v, got, ok, tt.ok)
		}
	}
}

func TestXRayRoot(t *testing.T) {
	tests := []struct{ h, root, id string }{
		{"Root=1-58337281-1d84f3d73c47ec4e58577259", "1-58337281-1d84f3d73c47ec4e58577259", "583372811d84f3d73c47ec4e58577259"},
		{"Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678;CalledFrom=app",
			"1-67891233-abcdef012345678912345678", "67891233abcdef012345678912345678"},
		{"Root=1-5759E988-BD862E3FE1BE46A994272793", "1-5759E988-BD862E3FE1BE46A994272793", "5759e988bd862e3fe1be46a994272793"},
		{" Root = 1-5759e988-bd862e3fe1be46a994272793 ;Sampled=1", "1-5759e988-bd862e3fe1be46a994272793", "5759e988bd862e3fe1be46a994272793"},
		// Lenient, unlike correlate/xray: a bad Parent or Sampled does not
		// hide a good Root, and a bad Root is skipped for a later good one.
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz;Sampled=7", "1-5759e988-bd862e3fe1be46a994272793", "5759e988bd862e3fe1be46a994272793"},
		{"Root=1-6789;Root=1-5759e988-bd862e3fe1be46a994272793", "1-5759e988-bd862e3fe1be46a994272793", "5759e988bd862e3fe1be46a994272793"},
		{"Root=1-6655dd56-7bd889385aff85131b10****", "", ""},
		{"Root=1-00000000-000000000000000000000000", "", ""},
		{"Root=2-58337281-1d84f3d73c47ec4e58577259", "", ""},
		{"Root=1-58337281-1d84f3d73c47ec4e5857725", "", ""},
		{"Self=1-67891234-12456789abcdef012345678;Root=1-6789", "", ""},
		{"root=1-58337281-1d84f3d73c47ec4e58577259", "", ""},
		{"-", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if root, id := XRayRoot(tt.h); root != tt.root || id != tt.id {
			t.Errorf("XRayRoot(%q) = %q, %q; want %q, %q", tt.h, root, id, tt.root, tt.id)
		}
	}
}

func TestTrimOWS(t *testing.T) {
	for s, want := range map[string]string{" \ta b\t ": "a b", "x": "x", " \t ": "", "\nx\n": "\nx\n"} {
		if got := TrimOWS(s); got != want {
			t.Errorf("TrimOWS(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestUnescapeHex(t *testing.T) {
	tests := []struct{ s, escape, want string }{
		{"/a#20b#22c", "#", `/a b"c`},
		{"#7b#7D", "#", "{}"},
		{"no escape", "#", "no escape"},
		{"#2", "#", "#2"},
		{"#zz#", "#", "#zz#"},
		{"a#", "#", "a#"},
		{`/caf\xC3\xA9/\x22q\x22`, `\x`, `/café/"q"`},
		{`\x2`, `\x`, `\x2`},
		{`\x`, `\x`, `\x`},
		{`\\x41`, `\x`, `\A`},
		{`\y41`, `\x`, `\y41`},
	}
	for _, tt := range tests {
		if got := UnescapeHex(tt.s, tt.escape); got != tt.want {
			t.Errorf("UnescapeHex(%q, %q) = %q, want %q", tt.s, tt.escape, got, tt.want)
		}
	}
}

func TestScanner(t *testing.T) {
	p := Scanner{Line: "  a  bb c"}
	var words []string
	for {
		w, ok := p.Word()
		if !ok {
			break
		}
		words = append(words, w)
	}
	if strings.Join(words, "|") != "a|bb|c" || p.Pos != len(p.Line) {
		t.Fatalf("words %q, Pos %d", words, p.Pos)
	}
	p = Scanner{Line: "x   "}
	if w, ok := p.Word(); w != "x" || !ok {
		t.Fatalf("Word = %q, %v", w, ok)
	}
	if w, ok := p.Word(); w != "" || ok || p.Pos != 4 {
		t.Fatalf("Word at the trailing spaces = %q, %v, Pos %d", w, ok, p.Pos)
	}
}

func TestB3TraceID(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"80f198ee56343ba864fe8b2a57d3eff7", "80f198ee56343ba864fe8b2a57d3eff7", true},
		{" 80F198EE56343BA864FE8B2A57D3EFF7\t", "80f198ee56343ba864fe8b2a57d3eff7", true},
		{"e457b5a2e4d86bd1", "0000000000000000e457b5a2e4d86bd1", true},
		{"0000000000000000", "", false},
		{"00000000000000000000000000000000", "", false},
		{"e457b5a2e4d86bd", "", false},
		{"e457b5a2e4d86bd1e", "", false},
		{"g457b5a2e4d86bd1", "", false},
		{"", "", false},
		{"-", "", false},
	} {
		got, ok := B3TraceID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("B3TraceID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
