package tracectx

// XRayRootLen is the length of an X-Ray Root: 1-<8 hex>-<24 hex>.
const XRayRootLen = 35

// ValidXRayRoot reports whether r is an AWS X-Ray Root, 1-<8 hex
// time>-<24 hex> (hex digits in either case, as AWS writes them in headers
// and ALB logs), whose trace id is not all zeros. It does not allocate.
func ValidXRayRoot(r string) bool {
	if len(r) != XRayRootLen || r[0] != '1' || r[1] != '-' || r[10] != '-' {
		return false
	}
	zero := true
	for i := 2; i < XRayRootLen; i++ {
		if i == 10 {
			continue
		}
		switch c := r[i]; {
		case c == '0':
		case '1' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			zero = false
		default:
			return false
		}
	}
	return !zero
}

// XRayRootTraceID returns the 128-bit trace id a valid X-Ray Root
// (ValidXRayRoot) holds, as 32 lower-case hex digits: the time, then the
// random part, the W3C trace id X-Ray maps it to.
func XRayRootTraceID(r string) (string, bool) {
	if !ValidXRayRoot(r) {
		return "", false
	}
	var id [32]byte
	n := 0
	for i := 2; i < XRayRootLen; i++ {
		if i == 10 {
			continue
		}
		c := r[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		id[n] = c
		n++
	}
	return string(id[:]), true
}
