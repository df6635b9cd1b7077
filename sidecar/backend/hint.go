package backend

// Bounds of a Hint.
const (
	// MaxHintValues is how many values of one call a Hint keeps (Redis
	// keys and arguments, PostgreSQL bind parameters): the first ones.
	MaxHintValues = 4
	// MaxHintValue is the longest value kept; longer ones are skipped.
	MaxHintValue = 64
	// maxShape is the longest shape kept; a longer one is cut (shapes
	// then merge, which only widens the candidates).
	maxShape = 128
)

// Hint is what a proxy read of a call that may tie it to its request: the
// call's shape (the normalised statement, a Redis command with its key's
// digits masked) and its first values. It lives in the proxy's
// per-connection state and is read only during Begin: the values are
// compared with the values of the requests in flight, in memory, and never
// stored, logged or exported. The zero Hint is empty; Reset empties it.
type Hint struct {
	shape  [maxShape]byte
	nshape uint8
	vals   [MaxHintValues][MaxHintValue]byte
	lens   [MaxHintValues]uint8
	n      uint8
}

// Reset empties h.
func (h *Hint) Reset() { h.nshape, h.n = 0, 0 }

// SetShape sets the call's shape, cut to the bound.
func (h *Hint) SetShape(s string) {
	h.nshape = uint8(copy(h.shape[:], s))
}

// AppendShape adds b to the shape, cut to the bound.
func (h *Hint) AppendShape(b []byte) {
	h.nshape += uint8(copy(h.shape[h.nshape:], b))
}

// AppendShapeMasked adds b to the shape with every run of digits replaced
// by one '#': shop:order:17 and shop:order:4 have one shape.
func (h *Hint) AppendShapeMasked(b []byte) {
	digits := false
	for _, c := range b {
		if int(h.nshape) >= maxShape {
			return
		}
		if isDigit(c) {
			if digits {
				continue
			}
			digits, c = true, '#'
		} else {
			digits = false
		}
		h.shape[h.nshape] = c
		h.nshape++
	}
}

// Shape is the call's shape ("" when unknown). It aliases h: use it
// before h changes.
func (h *Hint) Shape() []byte { return h.shape[:h.nshape] }

// AddValue keeps b as one of the call's values; past MaxHintValues values,
// and for a value longer than MaxHintValue or empty, it does nothing.
func (h *Hint) AddValue(b []byte) {
	if int(h.n) >= MaxHintValues || len(b) == 0 || len(b) > MaxHintValue {
		return
	}
	h.lens[h.n] = uint8(copy(h.vals[h.n][:], b))
	h.n++
}

// AddInt keeps v, in decimal, as one of the call's values (a binary
// integer bind parameter).
func (h *Hint) AddInt(v int64) {
	var buf [20]byte
	i := len(buf)
	u := uint64(v)
	if v < 0 {
		u = uint64(-v)
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if v < 0 {
		i--
		buf[i] = '-'
	}
	h.AddValue(buf[i:])
}

// first is the call's first value (nil when none).
func (h *Hint) first() []byte {
	if h.n == 0 {
		return nil
	}
	return h.vals[0][:h.lens[0]]
}

// Values is the number of values kept.
func (h *Hint) Values() int { return int(h.n) }

// Matches reports whether mark is one of the call's values or a token of
// one (a run of letters and digits between other bytes): the request's id
// 17 matches the key shop:order:17 and the parameter 17, not 170.
func (h *Hint) Matches(mark string) bool {
	if h == nil || mark == "" {
		return false
	}
	for i := 0; i < int(h.n); i++ {
		if containsToken(h.vals[i][:h.lens[i]], mark) {
			return true
		}
	}
	return false
}

func containsToken(v []byte, mark string) bool {
	for start := 0; start+len(mark) <= len(v); {
		i := indexFrom(v, mark, start)
		if i < 0 {
			return false
		}
		end := i + len(mark)
		if (i == 0 || !isAlnum(v[i-1])) && (end == len(v) || !isAlnum(v[end])) {
			return true
		}
		start = i + 1
	}
	return false
}

// indexFrom is the index of s in v at or after from, or -1; it does not
// allocate.
func indexFrom(v []byte, s string, from int) int {
	for i := from; i+len(s) <= len(v); i++ {
		if v[i] == s[0] && string(v[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// Bounds of a request's marks.
const (
	// maxMarks is how many values of one request's path are kept.
	maxMarks = 4
	// maxMark is the longest path segment taken as a value.
	maxMark = MaxHintValue
)

// marks are the values of one inbound request a call may carry: its path
// segments that hold a digit (ids, numbers, UUIDs), at most maxMarks. They
// are substrings of the request's path, held while it is in flight.
type marks struct {
	v [maxMarks]string
	n uint8
}

// pathMarks takes the marks of path.
func pathMarks(path string) marks {
	var m marks
	for len(path) > 0 && int(m.n) < maxMarks {
		var seg string
		if i := indexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			seg, path = path, ""
		}
		if seg == "" || len(seg) > maxMark || !hasDigit(seg) {
			continue
		}
		m.v[m.n] = seg
		m.n++
	}
	return m
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

// matchedBy reports whether the call of h carries one of m.
func (m *marks) matchedBy(h *Hint) bool {
	for i := 0; i < int(m.n); i++ {
		if h.Matches(m.v[i]) {
			return true
		}
	}
	return false
}
