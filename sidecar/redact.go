package sidecar

import "strings"

// redactedValue replaces the value of a sensitive query parameter.
const redactedValue = "REDACTED"

// queryRedactor hides the values of configured query parameters. Header
// values are never logged at all (Authorization, Cookie and friends cannot
// leak because no header but User-Agent is recorded).
type queryRedactor struct {
	names []string // lower-cased
}

func newQueryRedactor(names []string) *queryRedactor {
	r := &queryRedactor{}
	for _, n := range names {
		r.names = append(r.names, strings.ToLower(n))
	}
	return r
}

func (r *queryRedactor) sensitive(key string) bool {
	for _, n := range r.names {
		if len(n) == len(key) && strings.EqualFold(n, key) {
			return true
		}
	}
	return false
}

// Redact returns rawQuery with the values of sensitive parameters replaced.
// It returns rawQuery itself, without allocating, when nothing is sensitive.
// Keys are compared raw and percent-decoded, case-insensitively.
func (r *queryRedactor) Redact(rawQuery string) string {
	if rawQuery == "" || len(r.names) == 0 {
		return rawQuery
	}
	var b *strings.Builder
	rest := rawQuery
	pos := 0
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		key, _, hasValue := strings.Cut(pair, "=")
		if hasValue && r.sensitive(unescapeKey(key)) {
			if b == nil {
				b = &strings.Builder{}
				b.Grow(len(rawQuery))
				b.WriteString(rawQuery[:pos])
			}
			b.WriteString(key)
			b.WriteString("=" + redactedValue)
		} else if b != nil {
			b.WriteString(pair)
		}
		pos += len(pair)
		if rest != "" || (pos < len(rawQuery) && rawQuery[pos] == '&') {
			pos++
			if b != nil {
				b.WriteByte('&')
			}
		}
	}
	if b == nil {
		return rawQuery
	}
	return b.String()
}

// unescapeKey decodes %XX and + in a query key; keys without them are
// returned as they are.
func unescapeKey(k string) string {
	if !strings.ContainsAny(k, "%+") {
		return k
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(k) && isHex(k[i+1]) && isHex(k[i+2]):
			b.WriteByte(unhex(k[i+1])<<4 | unhex(k[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
