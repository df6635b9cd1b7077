// Package route turns URL paths into bounded route labels when no route
// template is known: identifier-like segments (numbers, UUIDs, hex strings
// of 16 characters or more) are collapsed to {id}. The sidecar applies it
// to paths no configured template matches; the collector (package
// correlate) to the paths of requests only a load balancer or ingress
// logged. Limit caps the distinct values of any label fed from outside
// input, routes included: past it a value becomes Other.
package route

import "strings"

// ID replaces an identifier-like segment.
const ID = "{id}"

// FromPath is the route of a request path as a log wrote it: the query
// string and fragment (which may carry secrets and are unbounded) are
// dropped, then identifiers collapsed. An empty path gives "".
func FromPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	return CollapseIDs(p)
}

// CollapseIDs replaces identifier-like segments of path with {id}. It
// returns path itself, without allocating, when nothing is replaced.
func CollapseIDs(path string) string {
	var b *strings.Builder
	start := 0
	for start <= len(path) {
		end := strings.IndexByte(path[start:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += start
		}
		seg := path[start:end]
		if isIDSegment(seg) {
			if b == nil {
				b = &strings.Builder{}
				b.Grow(len(path))
				b.WriteString(path[:start])
			}
			b.WriteString(ID)
		} else if b != nil {
			b.WriteString(seg)
		}
		if end == len(path) {
			break
		}
		if b != nil {
			b.WriteByte('/')
		}
		start = end + 1
	}
	if b == nil {
		return path
	}
	return b.String()
}

func isIDSegment(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		if !isDigit {
			digits = false
		}
		if !isDigit && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
			hex = false
		}
	}
	if digits {
		return true
	}
	if hex && len(s) >= 16 {
		return true
	}
	return isUUID(s) || isToken(s)
}

// isToken reports whether s looks like a secret token rather than a name
// (a password-reset or invitation link, a presigned path, a JWT): a JWT
// (eyJ…, two dots); or 16 or more characters of URL-safe base64 mixing
// digits, upper- and lower-case letters; or 20 or more letters and digits
// in one case, at least 4 of each — in both cases switching between
// digits and letters of either case as often as random text does (runs of
// 2 characters on average at most, 3.5 in one case), which names in
// camelCase (getUserProfileV2), gRPC services (grpc.health.v1.Health) and
// slugs (how-to-configure-nginx-2024) do not. Some random tokens escape it
// (a 16-character one about one time in 14): they still count against
// --max-routes.
func isToken(s string) bool {
	if len(s) < 16 {
		return false
	}
	if strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 && len(s) >= 20 {
		return true
	}
	var digits, upper, lower, seps, switches int
	prev := byte(0)
	for i := 0; i < len(s); i++ {
		var class byte
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
			class = 'd'
		case c >= 'A' && c <= 'Z':
			upper++
			class = 'u'
		case c >= 'a' && c <= 'z':
			lower++
			class = 'l'
		case c == '-' || c == '_':
			seps++
			class = 's'
		default:
			return false
		}
		if prev != 0 && class != prev {
			switches++
		}
		prev = class
	}
	runs := switches + 1 // of digits, of upper-case, of lower-case letters
	if digits > 0 && upper > 0 && lower > 0 {
		return 2*runs >= len(s)
	}
	return len(s) >= 20 && seps == 0 && (upper == 0 || lower == 0) && digits >= 4 && upper+lower >= 4 && 7*runs >= 2*len(s)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
