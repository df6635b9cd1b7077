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
	if r.listed(key) {
		return true
	}
	// A form field's bracketed key (user[password], filter[api_key],
	// password[]): its name and each bracketed part count.
	base, rest, ok := strings.Cut(key, "[")
	if !ok {
		return false
	}
	if r.listed(base) {
		return true
	}
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, "]")
		if r.listed(part) {
			return true
		}
		rest = strings.TrimPrefix(rest, "[")
	}
	return false
}

func (r *queryRedactor) listed(name string) bool {
	for _, n := range r.names {
		if len(n) == len(name) && strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// Redact returns rawQuery with the values of sensitive parameters replaced.
// It returns rawQuery itself, without allocating, when nothing is sensitive.
// Keys are compared raw and percent-decoded, case-insensitively; pairs are
// split on & and on ; (which some servers take as a separator too, so a
// value after ; may be a parameter of its own to them).
func (r *queryRedactor) Redact(rawQuery string) string {
	if rawQuery == "" || len(r.names) == 0 {
		return rawQuery
	}
	var b *strings.Builder
	for start := 0; ; {
		end := strings.IndexAny(rawQuery[start:], "&;")
		if end < 0 {
			end = len(rawQuery)
		} else {
			end += start
		}
		pair := rawQuery[start:end]
		key, _, hasValue := strings.Cut(pair, "=")
		if hasValue && r.sensitive(unescapeKey(key)) {
			if b == nil {
				b = &strings.Builder{}
				b.Grow(len(rawQuery))
				b.WriteString(rawQuery[:start])
			}
			b.WriteString(key)
			b.WriteString("=" + redactedValue)
		} else if b != nil {
			b.WriteString(pair)
		}
		if end == len(rawQuery) {
			break
		}
		if b != nil {
			b.WriteByte(rawQuery[end])
		}
		start = end + 1
	}
	if b == nil {
		return rawQuery
	}
	if b.Cap()-b.Len() > maxUnrecordedURI {
		// A long value was redacted: the span and the log keep the
		// result, not room for the value.
		return strings.Clone(b.String())
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
