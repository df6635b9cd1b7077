package rum

import (
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzContentType: checkContentType accepts exactly one Content-Type
// value; what it accepts, a reference reading (type/subtype before the
// first ';' outside quotes, its charset parameter, quoted or not) accepts
// too, unless an RFC 2231 charset* overrides the charset (it does, as RFC
// 2231 says); and for a value written plainly (a type/subtype and at most a
// charset parameter) the two agree both ways. Through the Handler, a beacon
// with that Content-Type is refused with 415, a JSON error carrying the same
// message and ResultBadContentType exactly when checkContentType refuses.
// Seeds: f.Add below and testdata/fuzz/FuzzContentType.
func FuzzContentType(f *testing.F) {
	for _, s := range []string{
		"text/plain", "text/plain;charset=UTF-8", "application/json", "application/json; charset=utf-8",
		"Text/Plain; Charset=\"utf-8\"", "text/plain; charset=iso-8859-1", "text/plain; charset=us-ascii",
		"application/x-www-form-urlencoded", "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
		"text/plain; charset", "text/plain; charset=utf-8; charset=latin1", "text/plain; x=\"a;charset=latin1\"",
		"text/plain; charset*=utf-8''utf-8", "application/json;charset=utf-16", "text/html", "",
	} {
		f.Add(s, "application/json", uint8(1))
	}
	f.Add("text/plain", "text/plain", uint8(2))
	f.Add("text/plain", "", uint8(0))

	h, rec, clk := newTestHandler(f, nil)
	f.Fuzz(func(t *testing.T, value, second string, count uint8) {
		values := [][]string{nil, {value}, {value, second}}[count%3]
		msg := checkContentType(values)
		if len(values) != 1 && msg == "" {
			t.Fatalf("checkContentType(%q) accepted %d values", values, len(values))
		}
		if len(values) == 1 {
			ref, decided := refContentType(value)
			if msg == "" && !ref && decided {
				t.Fatalf("checkContentType(%q) accepted what the reference refuses", value)
			}
			if plainContentType.MatchString(value) && decided && (msg == "") != ref {
				t.Fatalf("checkContentType(%q) = %q, reference accepts: %v", value, msg, ref)
			}
		}

		// Through the handler; the clock moves on so that no rate limit
		// applies.
		clk.Advance(time.Hour)
		r := post(testBeacon)
		r.Header.Del("Content-Type")
		for _, v := range values {
			if !validHeaderValue(v) {
				return // no HTTP server would pass it on
			}
			r.Header.Add("Content-Type", v)
		}
		n := len(rec.Results())
		w := serve(h, r)
		results := rec.Results()
		if len(results) != n+1 {
			t.Fatalf("Content-Type %q: %d results, want 1", values, len(results)-n)
		}
		if msg == "" {
			if w.Code != http.StatusNoContent || results[n] != ResultAccepted {
				t.Fatalf("Content-Type %q: %d %s, want 204 %s", values, w.Code, results[n], ResultAccepted)
			}
			return
		}
		if w.Code != http.StatusUnsupportedMediaType || results[n] != ResultBadContentType {
			t.Fatalf("Content-Type %q: %d %s, want 415 %s", values, w.Code, results[n], ResultBadContentType)
		}
		if e := errorOf(t, w); e.Error != msg {
			t.Fatalf("Content-Type %q: error %q, want %q", values, e.Error, msg)
		}
	})
}

// plainContentType is a Content-Type written as browsers and libraries
// write it: a type/subtype and at most a charset parameter, quoted or not.
var plainContentType = regexp.MustCompile(`^[ \t]*[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+[ \t]*(;[ \t]*[Cc][Hh][Aa][Rr][Ss][Ee][Tt]=([A-Za-z0-9._-]+|"[A-Za-z0-9._-]*")[ \t]*)?$`)

// refContentType is the reference reading of a Content-Type (white space
// trimmed, Unicode's included, as mime.ParseMediaType trims): the media
// type before the first ';' outside quotes must be text/plain or
// application/json, and every charset parameter utf-8 or us-ascii. decided
// is false when an RFC 2231 charset* parameter, which the reference does
// not decode, may override the plain one.
func refContentType(v string) (ok, decided bool) {
	parts := splitParams(v)
	mt := strings.ToLower(strings.TrimSpace(parts[0]))
	if mt != "text/plain" && mt != "application/json" {
		return false, true
	}
	ok, decided = true, true
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(p, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(k, "charset*") {
			decided = false
			continue
		}
		if k != "charset" {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = strings.ReplaceAll(val[1:len(val)-1], `\`, "")
		}
		if !strings.EqualFold(val, "utf-8") && !strings.EqualFold(val, "us-ascii") {
			ok = false
		}
	}
	return ok, decided
}

// splitParams splits a header value at the ';' outside quoted strings.
func splitParams(v string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch {
		case quoted && v[i] == '\\':
			i++
		case v[i] == '"':
			quoted = !quoted
		case v[i] == ';' && !quoted:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

// validHeaderValue reports whether net/http's server would accept v as a
// header value (no control character but tab, no leading or trailing
// space it would have trimmed).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return v == strings.Trim(v, " \t")
}

// FuzzForwardedFor: the address forwardedClient takes from X-Forwarded-For
// lines is, as a simple reference reads them (all lines as one
// comma-separated list, blank entries dropped), the parsed hops-th entry
// from the right (the left-most when there are fewer): so it is a valid
// address and one of the listed hops, and never one left of the trusted
// proxies' entries; when that entry is no address, nothing is taken (no
// other entry). The Handler then limits that address, or the connection's
// peer, whichever is valid, and ignores the header when it is not trusted.
// Seeds: f.Add below and testdata/fuzz/FuzzForwardedFor.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range []struct {
		l1, l2  string
		n, hops uint8
		remote  string
	}{
		{"203.0.113.9", "", 1, 1, "10.0.0.5:40000"},
		{"1.2.3.4, 203.0.113.9", "", 1, 1, "10.0.0.5:40000"},
		{" 1.2.3.4:5555 ,10.0.0.1", "192.0.2.1", 2, 1, "10.0.0.5:40000"},
		{"[2001:db8::1]:443", "", 1, 1, "[2001:db8::7]:40000"},
		{"unknown, 203.0.113.9", "", 1, 1, "10.0.0.5:40000"},
		{"203.0.113.9, unknown", "", 1, 1, "10.0.0.5:40000"},
		{"1.2.3.4, 203.0.113.9, 198.51.100.1", "", 1, 2, "10.0.0.5:40000"},
		{"1.2.3.4, 203.0.113.9", "198.51.100.1", 2, 2, "10.0.0.5:40000"},
		{"203.0.113.9", "", 1, 3, "10.0.0.5:40000"},
		{" , ", "", 1, 1, "10.0.0.5:40000"},
		{"[1.2.3.4]:80, fe80::1%eth0", "::ffff:192.0.2.1", 2, 2, "@"},
	} {
		f.Add(s.l1, s.l2, s.n, s.hops, s.remote)
	}
	// untrusted ignores X-Forwarded-For; trusted[h] trusts it with h hops.
	untrusted, _, _ := newTestHandler(f, nil)
	trusted := map[int]*Handler{}
	for hops := 1; hops <= 4; hops++ {
		trusted[hops], _, _ = newTestHandler(f, func(c *Config) { c.TrustForwardedFor, c.TrustedHops = true, hops })
	}
	f.Fuzz(func(t *testing.T, l1, l2 string, n, hopsByte uint8, remote string) {
		lines := [][]string{nil, {l1}, {l1, l2}}[n%3]
		hops := int(hopsByte%4) + 1
		got, ok := forwardedClient(lines, hops)

		var entries []string
		for _, l := range lines {
			for _, e := range strings.Split(l, ",") {
				if e = strings.TrimSpace(e); e != "" {
					entries = append(entries, e)
				}
			}
		}
		var want netip.Addr
		wantOK := false
		if len(entries) > 0 {
			want, wantOK = refParseAddr(entries[max(0, len(entries)-hops)])
		}
		if ok != wantOK || got != want {
			t.Fatalf("forwardedClient(%q, %d) = %v %v; reference: %v %v", lines, hops, got, ok, want, wantOK)
		}
		if ok && !got.IsValid() {
			t.Fatalf("forwardedClient(%q, %d) took an invalid address", lines, hops)
		}

		remoteAddr, _ := refParseAddr(remote)
		for _, h := range []*Handler{untrusted, trusted[hops]} {
			r := post(testBeacon)
			r.RemoteAddr = remote
			for _, l := range lines {
				r.Header.Add("X-Forwarded-For", l)
			}
			a := h.clientAddr(r)
			trust := h.cfg.TrustForwardedFor
			switch {
			case trust && ok:
				if a != got {
					t.Fatalf("trusted X-Forwarded-For %q (hops %d): limited %v, want %v", lines, hops, a, got)
				}
			case a != remoteAddr:
				t.Fatalf("trust %v, X-Forwarded-For %q, peer %q: limited %v, want the peer %v", trust, lines, remote, a, remoteAddr)
			}
		}
	})
}

// refParseAddr reads an address as the README documents the forms: an
// IPv4 or IPv6 address, an IPv4 address with :port, an IPv6 address in
// brackets, with or without :port.
func refParseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok || p == "" {
				return netip.Addr{}, false
			}
			port = p
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if port == "" {
			return netip.Addr{}, false
		}
	} else {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	if port != "" {
		if strings.Trim(port, "0123456789") != "" {
			return netip.Addr{}, false
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
			return netip.Addr{}, false
		}
		// With a port, brackets go with IPv6 and only there.
		if strings.HasPrefix(s, "[") != a.Is6() {
			return netip.Addr{}, false
		}
	}
	return a, true
}
