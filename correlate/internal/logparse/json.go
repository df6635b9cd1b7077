package logparse

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// errJSONValue: a key a parser reads holds an object, an array or a
// boolean.
var errJSONValue = errors.New("want a string, a number or null")

// maxJSONDepth bounds the nesting of the values JSONFields skips.
const maxJSONDepth = 64

// JSONFields parses line as one JSON object (surrounding white space
// ignored) and returns the values of keys as text, in the order of keys:
// a string's value (escapes decoded; a lone UTF-16 surrogate becomes
// U+FFFD, other bytes are kept as they are), a number as written, "" for
// null or an absent key. A key that holds anything else is an error naming
// it; other keys may hold any JSON value, checked and ignored. When a key
// occurs twice the last value counts, as with encoding/json. Syntax errors
// start with "invalid JSON". It reads the line in one pass and allocates
// only the result and the strings that had escapes.
func JSONFields(line string, keys []string) ([]string, error) {
	out := make([]string, len(keys))
	var bad []bool // keys whose last value is not a scalar (made on the first)
	p := JSONScanner{S: line}
	p.WS()
	if !p.Eat('{') {
		return nil, p.Syntax("want an object")
	}
	p.WS()
	if !p.Eat('}') {
		for {
			p.WS()
			if p.I == len(p.S) || p.S[p.I] != '"' {
				return nil, p.Syntax("want a field name")
			}
			raw, esc, err := p.Str()
			if err != nil {
				return nil, err
			}
			key := raw
			if esc {
				key = UnescapeJSON(raw)
			}
			p.WS()
			if !p.Eat(':') {
				return nil, p.Syntax("want ':'")
			}
			p.WS()
			k := slices.Index(keys, key)
			if p.I == len(p.S) {
				return nil, p.Syntax("want a value")
			}
			switch c := p.S[p.I]; {
			case c == '"':
				raw, esc, err := p.Str()
				if err != nil {
					return nil, err
				}
				if k >= 0 {
					out[k] = raw
					if esc {
						out[k] = UnescapeJSON(raw)
					}
				}
			case c == '-' || '0' <= c && c <= '9':
				num, err := p.Number()
				if err != nil {
					return nil, err
				}
				if k >= 0 {
					out[k] = num
				}
			case c == 'n':
				if err := p.Literal("null"); err != nil {
					return nil, err
				}
				if k >= 0 {
					out[k] = ""
				}
			default:
				if err := p.Skip(0); err != nil {
					return nil, err
				}
				if k >= 0 {
					if bad == nil {
						bad = make([]bool, len(keys))
					}
					bad[k] = true
					k = -1 // not cleared below
				}
			}
			if k >= 0 && bad != nil {
				bad[k] = false
			}
			p.WS()
			if p.Eat(',') {
				continue
			}
			if p.Eat('}') {
				break
			}
			return nil, p.Syntax("want ',' or '}'")
		}
	}
	p.WS()
	if p.I != len(p.S) {
		return nil, p.Syntax("text after the object")
	}
	for k, b := range bad {
		if b {
			return nil, fmt.Errorf("field %q: %w", keys[k], errJSONValue)
		}
	}
	return out, nil
}

// jsonScan reads JSON from s, checking the syntax of everything.
// JSONScanner reads JSON from S at I, checking the syntax of everything
// it passes; the access-log parsers build their object loops on it
// (JSONFields, ingressnginx.ParseJSON).
type JSONScanner struct {
	S string
	I int
	// Field is the key whose value is being read, named in syntax errors;
	// "" names none.
	Field string
}

// Syntax is a syntax error at I, in Field when set.
func (p *JSONScanner) Syntax(msg string) error {
	if p.Field != "" {
		return fmt.Errorf("field %q: invalid JSON at byte %d: %s", p.Field, p.I, msg)
	}
	return fmt.Errorf("invalid JSON at byte %d: %s", p.I, msg)
}

// WS skips JSON white space.
func (p *JSONScanner) WS() {
	for p.I < len(p.S) {
		switch p.S[p.I] {
		case ' ', '\t', '\n', '\r':
			p.I++
		default:
			return
		}
	}
}

// Eat reads c when it is next.
func (p *JSONScanner) Eat(c byte) bool {
	if p.I < len(p.S) && p.S[p.I] == c {
		p.I++
		return true
	}
	return false
}

// Str reads a string at I (a '"') and returns its contents, whose
// escapes are checked but not decoded.
func (p *JSONScanner) Str() (raw string, esc bool, err error) {
	p.I++
	start := p.I
	for p.I < len(p.S) {
		c := p.S[p.I]
		switch {
		case c == '"':
			raw = p.S[start:p.I]
			p.I++
			return raw, esc, nil
		case c == '\\':
			esc = true
			if p.I+1 == len(p.S) {
				return "", false, p.Syntax("unterminated string")
			}
			switch p.S[p.I+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.I += 2
			case 'u':
				if p.I+6 > len(p.S) || !isHex4(p.S[p.I+2:p.I+6]) {
					return "", false, p.Syntax(`\u not followed by 4 hex digits`)
				}
				p.I += 6
			default:
				return "", false, p.Syntax("invalid escape")
			}
		case c < 0x20:
			return "", false, p.Syntax("control character in string")
		default:
			p.I++
		}
	}
	return "", false, p.Syntax("unterminated string")
}

// Number reads a JSON number and returns its text.
func (p *JSONScanner) Number() (string, error) {
	start := p.I
	p.Eat('-')
	switch {
	case p.Eat('0'):
	case p.I < len(p.S) && '1' <= p.S[p.I] && p.S[p.I] <= '9':
		p.digits()
	default:
		return "", p.Syntax("invalid number")
	}
	if p.Eat('.') && p.digits() == 0 {
		return "", p.Syntax("invalid number")
	}
	if p.Eat('e') || p.Eat('E') {
		if !p.Eat('+') {
			p.Eat('-')
		}
		if p.digits() == 0 {
			return "", p.Syntax("invalid number")
		}
	}
	return p.S[start:p.I], nil
}

func (p *JSONScanner) digits() int {
	n := 0
	for p.I < len(p.S) && '0' <= p.S[p.I] && p.S[p.I] <= '9' {
		p.I++
		n++
	}
	return n
}

// Literal reads lit (null, true, false).
func (p *JSONScanner) Literal(lit string) error {
	if !strings.HasPrefix(p.S[p.I:], lit) {
		return p.Syntax("invalid value")
	}
	p.I += len(lit)
	return nil
}

// Skip reads and checks any value, nested at most maxJSONDepth deep.
func (p *JSONScanner) Skip(depth int) error {
	if p.I == len(p.S) {
		return p.Syntax("want a value")
	}
	switch c := p.S[p.I]; {
	case c == '"':
		_, _, err := p.Str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		_, err := p.Number()
		return err
	case c == 't':
		return p.Literal("true")
	case c == 'f':
		return p.Literal("false")
	case c == 'n':
		return p.Literal("null")
	case c == '{' || c == '[':
		if depth == maxJSONDepth {
			return p.Syntax("nested too deeply")
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		p.I++
		p.WS()
		if p.Eat(closing) {
			return nil
		}
		for {
			p.WS()
			if c == '{' {
				if p.I == len(p.S) || p.S[p.I] != '"' {
					return p.Syntax("want a field name")
				}
				if _, _, err := p.Str(); err != nil {
					return err
				}
				p.WS()
				if !p.Eat(':') {
					return p.Syntax("want ':'")
				}
				p.WS()
			}
			if err := p.Skip(depth + 1); err != nil {
				return err
			}
			p.WS()
			if p.Eat(',') {
				continue
			}
			if p.Eat(closing) {
				return nil
			}
			return p.Syntax(fmt.Sprintf("want ',' or '%c'", closing))
		}
	}
	return p.Syntax("invalid value")
}

func isHex4(s string) bool {
	for i := 0; i < len(s); i++ {
		if Unhex(s[i]) < 0 {
			return false
		}
	}
	return true
}

// UnescapeJSON decodes the escapes of a JSON string's contents (already
// checked by jsonScan.str). Like encoding/json, a lone UTF-16 surrogate
// becomes U+FFFD.
func UnescapeJSON(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 == len(raw) {
			b.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 = hex4(raw[i+3 : i+7])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					i += 6
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default: // '"', '\\', '/'
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

func hex4(s string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		r = r<<4 | rune(Unhex(s[i]))
	}
	return r
}
