package redisproxy

// Inline tokenizer states.
const (
	tokBlank   uint8 = iota // between arguments
	tokWord                 // in an unquoted argument
	tokDQ                   // in "…"
	tokDQEsc                // after \ in "…"
	tokDQClose              // after the closing "
	tokSQ                   // in '…'
	tokSQEsc                // after \ in '…'
	tokSQClose              // after the closing '
	tokNUL                  // a NUL byte: Redis never finds the line's end (strchr)
	tokErr                  // unbalanced quotes: Redis answers an error
)

// capture is the start of one inline argument.
type capture struct {
	b    [maxNameLen]byte
	n    int
	over bool // the argument is longer than b
}

// inlineTokenizer splits an inline command line as Redis's sdssplitargs
// does, fed in chunks (a line may be longer than the reader's buffer). It
// counts the arguments and keeps the start of the first three.
type inlineTokenizer struct {
	state uint8
	argc  int
	cr    bool // a CR is held back: it may be the one before the LF
	caps  [3]capture
}

func (t *inlineTokenizer) reset() {
	t.state, t.argc, t.cr = tokBlank, 0, false
	for i := range t.caps {
		t.caps[i].n, t.caps[i].over = 0, false
	}
}

// keep appends c to the current argument's capture.
func (t *inlineTokenizer) keep(c byte) {
	if t.argc > len(t.caps) {
		return
	}
	k := &t.caps[t.argc-1]
	if k.n == len(k.b) {
		k.over = true
		return
	}
	k.b[k.n] = c
	k.n++
}

// isSpace is C's isspace.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// feed takes the next bytes of the line (without its final LF).
func (t *inlineTokenizer) feed(b []byte) {
	for _, c := range b {
		if t.cr {
			t.cr = false
			t.step('\r')
		}
		if c == '\r' {
			t.cr = true
			continue
		}
		t.step(c)
	}
}

// end ends the line: a CR held back was the one before the LF, which
// Redis strips.
func (t *inlineTokenizer) end() {
	t.cr = false
	switch t.state {
	case tokDQ, tokDQEsc, tokSQ, tokSQEsc:
		t.state = tokErr // unterminated quotes
	}
}

func (t *inlineTokenizer) step(c byte) {
	switch t.state {
	case tokNUL:
	case tokErr:
		if c == 0 {
			t.state = tokNUL
		}
	case tokBlank:
		switch {
		case c == 0:
			t.state = tokNUL
		case isSpace(c):
		default:
			t.argc++
			switch c {
			case '"':
				t.state = tokDQ
			case '\'':
				t.state = tokSQ
			default:
				t.keep(c)
				t.state = tokWord
			}
		}
	case tokWord:
		switch c {
		case ' ', '\n', '\r', '\t':
			t.state = tokBlank
		case 0:
			t.state = tokNUL
		case '"':
			t.state = tokDQ
		case '\'':
			t.state = tokSQ
		default:
			t.keep(c)
		}
	case tokDQ:
		switch c {
		case '\\':
			t.state = tokDQEsc
		case '"':
			t.state = tokDQClose
		case 0:
			t.state = tokNUL
		default:
			t.keep(c)
		}
	case tokDQEsc:
		if c == 0 {
			t.state = tokNUL
			return
		}
		t.keep(c)
		t.state = tokDQ
	case tokSQ:
		switch c {
		case '\\':
			t.state = tokSQEsc
		case '\'':
			t.state = tokSQClose
		case 0:
			t.state = tokNUL
		default:
			t.keep(c)
		}
	case tokSQEsc:
		if c == '\'' {
			t.keep(c)
			t.state = tokSQ
			return
		}
		t.keep('\\')
		t.state = tokSQ
		t.step(c)
	case tokDQClose, tokSQClose:
		switch {
		case c == 0:
			t.state = tokNUL
		case isSpace(c):
			t.state = tokBlank
		default:
			t.state = tokErr
		}
	}
}
