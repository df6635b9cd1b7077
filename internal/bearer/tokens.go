package bearer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// MinTokenLength is the shortest token accepted in a token file: a token a
// person can guess is no token.
const MinTokenLength = 16

// recheck is how often Tokens looks at its file for a change.
const recheck = time.Second

// Tokens is the set of accepted tokens, read from a file. Safe for
// concurrent use.
type Tokens struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	sums    [][sha256.Size]byte // of the tokens, compared in constant time
	checked time.Time
	modTime time.Time
	size    int64
}

// Load reads the token file at path: one token per line, blank lines and
// lines starting with # ignored. It fails when the file cannot be read, has
// no token, or a token is shorter than MinTokenLength or holds a space.
func Load(path string) (*Tokens, error) {
	t := &Tokens{path: path, now: time.Now}
	if err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Parse reads tokens from the text of a token file.
func Parse(data []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("line %d: a token holds no space", n)
		}
		if len(line) < MinTokenLength {
			return nil, fmt.Errorf("line %d: a token of %d characters is too short (at least %d)", n, len(line), MinTokenLength)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no token in the file")
	}
	return out, nil
}

func (t *Tokens) reload() error {
	fi, err := os.Stat(t.path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	toks, err := Parse(data)
	if err != nil {
		return fmt.Errorf("token file %s: %w", t.path, err)
	}
	sums := make([][sha256.Size]byte, len(toks))
	for i, tok := range toks {
		sums[i] = sha256.Sum256([]byte(tok))
	}
	t.sums, t.modTime, t.size = sums, fi.ModTime(), fi.Size()
	return nil
}

// refresh reads the file again when it changed (at most once per
// recheck). A file that became unreadable or empty keeps the tokens last
// read: a Secret being rewritten must not open or close the door.
func (t *Tokens) refresh() {
	now := t.now()
	if now.Sub(t.checked) < recheck {
		return
	}
	t.checked = now
	fi, err := os.Stat(t.path)
	if err != nil || (fi.ModTime().Equal(t.modTime) && fi.Size() == t.size) {
		return
	}
	_ = t.reload()
}

// Valid reports whether token is one of the accepted tokens. The
// comparison takes the same time whichever token, if any, matches.
func (t *Tokens) Valid(token string) bool {
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	t.mu.Lock()
	t.refresh()
	sums := t.sums
	t.mu.Unlock()
	ok := 0
	for i := range sums {
		ok |= subtle.ConstantTimeCompare(sum[:], sums[i][:])
	}
	return ok == 1
}

// Authorized reports whether an Authorization header value carries an
// accepted bearer token.
func (t *Tokens) Authorized(authorization string) bool {
	tok, ok := FromHeader(authorization)
	return ok && t.Valid(tok)
}

// FromHeader returns the token of an Authorization header value of the
// Bearer scheme (the scheme's name in any case, RFC 9110 §11.1).
func FromHeader(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
