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
	p := jsonScan{s: line}
	p.ws()
	if !p.eat('{') {
		return nil, p.syntax("want an object")
	}
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			if p.i == len(p.s) || p.s[p.i] != '"' {
				return nil, p.syntax("want a field name")
			}
			raw, esc, err := p.str()
			if err != nil {
				return nil, err
			}
			key := raw
			if esc {
				key = unescapeJSON(raw)
			}
			p.ws()
			if !p.eat(':') {
				return nil, p.syntax("want ':'")
			}
			p.ws()
			k := slices.Index(keys, key)
			if p.i == len(p.s) {
				return nil, p.syntax("want a value")
			}
			switch c := p.s[p.i]; {
			case c == '"':
				raw, esc, err := p.str()
				if err != nil {
					return nil, err
				}
				if k >= 0 {
					out[k] = raw
					if esc {
						out[k] = unescapeJSON(raw)
					}
				}
			case c == '-' || '0' <= c && c <= '9':
				num, err := p.number()
				if err != nil {
					return nil, err
				}
				if k >= 0 {
					out[k] = num
				}
			case c == 'n':
				if err := p.literal("null"); err != nil {
					return nil, err
				}
				if k >= 0 {
					out[k] = ""
				}
			default:
				if err := p.skip(0); err != nil {
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
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return nil, p.syntax("want ',' or '}'")
		}
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, p.syntax("text after the object")
	}
	for k, b := range bad {
		if b {
			return nil, fmt.Errorf("field %q: %w", keys[k], errJSONValue)
		}
	}
	return out, nil
}

// jsonScan reads JSON from s, checking the syntax of everything.
type jsonScan struct {
	s string
	i int
}

func (p *jsonScan) syntax(msg string) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", p.i, msg)
}

func (p *jsonScan) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonScan) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string at p.i (a '"') and returns its contents, whose
// escapes are checked but not decoded.
func (p *jsonScan) str() (raw string, esc bool, err error) {
	p.i++
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			raw = p.s[start:p.i]
			p.i++
			return raw, esc, nil
		case c == '\\':
			esc = true
			if p.i+1 == len(p.s) {
				return "", false, p.syntax("unterminated string")
			}
			switch p.s[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.s) || !isHex4(p.s[p.i+2:p.i+6]) {
					return "", false, p.syntax(`\u not followed by 4 hex digits`)
				}
				p.i += 6
			default:
				return "", false, p.syntax("invalid escape")
			}
		case c < 0x20:
			return "", false, p.syntax("control character in string")
		default:
			p.i++
		}
	}
	return "", false, p.syntax("unterminated string")
}

// number reads a JSON number and returns its text.
func (p *jsonScan) number() (string, error) {
	start := p.i
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.s) && '1' <= p.s[p.i] && p.s[p.i] <= '9':
		p.digits()
	default:
		return "", p.syntax("invalid number")
	}
	if p.eat('.') && p.digits() == 0 {
		return "", p.syntax("invalid number")
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return "", p.syntax("invalid number")
		}
	}
	return p.s[start:p.i], nil
}

func (p *jsonScan) digits() int {
	n := 0
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *jsonScan) literal(lit string) error {
	if !strings.HasPrefix(p.s[p.i:], lit) {
		return p.syntax("invalid value")
	}
	p.i += len(lit)
	return nil
}

// skip reads and checks any value.
func (p *jsonScan) skip(depth int) error {
	if p.i == len(p.s) {
		return p.syntax("want a value")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		_, _, err := p.str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		_, err := p.number()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '{' || c == '[':
		if depth == maxJSONDepth {
			return p.syntax("nested too deeply")
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		p.i++
		p.ws()
		if p.eat(closing) {
			return nil
		}
		for {
			p.ws()
			if c == '{' {
				if p.i == len(p.s) || p.s[p.i] != '"' {
					return p.syntax("want a field name")
				}
				if _, _, err := p.str(); err != nil {
					return err
				}
				p.ws()
				if !p.eat(':') {
					return p.syntax("want ':'")
				}
				p.ws()
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat(closing) {
				return nil
			}
			return p.syntax(fmt.Sprintf("want ',' or '%c'", closing))
		}
	}
	return p.syntax("invalid value")
}

func isHex4(s string) bool {
	for i := 0; i < len(s); i++ {
		if Unhex(s[i]) < 0 {
			return false
		}
	}
	return true
}

// unescapeJSON decodes the escapes of a JSON string's contents (already
// checked by jsonScan.str). Like encoding/json, a lone UTF-16 surrogate
// becomes U+FFFD.
func unescapeJSON(raw string) string {
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
