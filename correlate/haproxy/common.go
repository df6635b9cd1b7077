package haproxy

import "strings"

// The helpers below are the same as correlate/ingressnginx's (the parsers
// share no package: each is self-contained).

// requestLine splits "METHOD TARGET VERSION" and returns the method and the
// target's path; what cannot be found is empty.
func requestLine(r string) (method, path string) {
	method, target, ok := strings.Cut(r, " ")
	if !ok {
		return "", ""
	}
	if !isToken(method) {
		method = ""
	}
	// The version is the last word; without one (HTTP/0.9) the target is
	// the rest.
	if k := strings.LastIndexByte(target, ' '); k >= 0 {
		target = target[:k]
	}
	return method, pathOf(target)
}

// pathOf returns the path of a request target in origin form ("/p?q") or
// absolute form ("https://host/p?q"), without query and fragment; "*" for
// the asterisk form and "" for anything else.
func pathOf(target string) string {
	switch {
	case target == "*":
		return "*"
	case strings.HasPrefix(target, "/"):
	default:
		i := strings.Index(target, "://")
		if i <= 0 {
			return ""
		}
		rest := target[i+3:]
		j := strings.IndexAny(rest, "/?#")
		if j < 0 || rest[j] != '/' {
			return ""
		}
		target = rest[j:]
	}
	if j := strings.IndexAny(target, "?#"); j >= 0 {
		target = target[:j]
	}
	return target
}

// isToken reports whether s is an HTTP token (RFC 9110), as a method is.
func isToken(s string) bool {
	if s == "" || s == "-" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// traceparentID validates a W3C traceparent value and returns its trace id.
// Version 00 must be exactly 00-<32 hex>-<16 hex>-<2 hex>; a later version
// (not ff) may append "-" and more. Hex digits are lower case and neither
// id may be all zeros.
func traceparentID(v string) (string, bool) {
	v = trimOWS(v)
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return "", false
	}
	if !isLowerHex(v[0:2]) || v[0:2] == "ff" || !isLowerHex(v[53:55]) {
		return "", false
	}
	if v[0:2] == "00" && len(v) != 55 || len(v) > 55 && v[55] != '-' {
		return "", false
	}
	trace, parent := v[3:35], v[36:52]
	if !isLowerHex(trace) || !isLowerHex(parent) || allZeros(trace) || allZeros(parent) {
		return "", false
	}
	return trace, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZeros(s string) bool {
	return strings.Trim(s, "0") == ""
}

// xrayRoot finds the Root field of an X-Amzn-Trace-Id value and returns it
// and the trace id it holds (its two hex parts, lower case). Both are empty
// when there is no well-formed Root.
func xrayRoot(h string) (root, traceID string) {
	for rest := h; rest != ""; {
		var field string
		field, rest, _ = strings.Cut(rest, ";")
		key, val, ok := strings.Cut(field, "=")
		if !ok || trimOWS(key) != "Root" {
			continue
		}
		val = trimOWS(val)
		if id, ok := rootTraceID(val); ok {
			return val, id
		}
	}
	return "", ""
}

// rootTraceID validates an X-Ray Root, 1-<8 hex>-<24 hex> with a trace id
// that is not all zeros, and returns the trace id in lower case.
func rootTraceID(r string) (string, bool) {
	if len(r) != 35 || r[0] != '1' || r[1] != '-' || r[10] != '-' {
		return "", false
	}
	var id [32]byte
	var or byte
	n := 0
	for i := 2; i < 35; i++ {
		if i == 10 {
			continue
		}
		c := r[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		id[n] = c
		or |= c - '0'
		n++
	}
	if or == 0 {
		return "", false
	}
	return string(id[:]), true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
