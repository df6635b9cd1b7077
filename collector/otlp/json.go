package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxJSONElements is the number of JSON objects and arrays an
// OTLP/JSON request may hold (Config.MaxJSONElements). A span is one, plus
// two per attribute, event or link: some 5,000 spans of 5 attributes fit,
// ten times the OpenTelemetry SDKs' batch of 512. Decoding a request at
// the limit costs at most ~25 MB, whatever its shape.
const DefaultMaxJSONElements = 1 << 16

// maxJSONDepth bounds the nesting of an OTLP/JSON document (attribute
// values nest through arrayValue and kvlistValue).
const maxJSONDepth = 1000

// ErrTooManyElements is returned for an OTLP/JSON document with more
// objects and arrays than allowed: each costs the decoder a message or a
// slice, so 16 MiB of `{},` would cost gigabytes.
var ErrTooManyElements = errors.New("too many JSON elements")

// UnmarshalJSON decodes OTLP/JSON of at most DefaultMaxJSONElements
// objects and arrays. OTLP/JSON differs from protobuf's canonical JSON in
// one way that matters: traceId, spanId and parentSpanId are hex strings,
// not base64. They are rewritten before protojson decodes.
func UnmarshalJSON(data []byte, msg proto.Message) error {
	return unmarshalJSON(data, msg, DefaultMaxJSONElements)
}

func unmarshalJSON(data []byte, msg proto.Message, maxElements int) error {
	fixed, err := prepareJSON(data, maxElements)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(fixed, msg)
}

// prepareJSON scans one JSON value in a single pass, without building a
// tree, and returns it ready for protojson: the values of the id keys
// (traceId, spanId, parentSpanId and their snake_case forms, at any depth)
// rewritten from hex to base64, invalid UTF-8 in strings replaced by
// U+FFFD. Bytes after the value are ignored. It refuses, before any
// decoding, a document of more than maxElements objects and arrays
// (ErrTooManyElements) or nested deeper than maxJSONDepth.
func prepareJSON(data []byte, maxElements int) ([]byte, error) {
	// The output grows as the scan goes: a body refused at its 65,537th
	// element has cost little more than its own bytes.
	s := &jsonScanner{in: data, out: make([]byte, 0, min(len(data), 64<<10)), max: maxElements, left: maxElements}
	if err := s.value(0); err != nil {
		return nil, err
	}
	return s.out, nil
}

type jsonScanner struct {
	in   []byte
	pos  int
	out  []byte
	max  int
	left int // objects and arrays still allowed
}

func (s *jsonScanner) errorf(format string, a ...any) error {
	return fmt.Errorf("JSON at byte %d: %s", s.pos, fmt.Sprintf(format, a...))
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.in) {
		switch s.in[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek is the next byte after white space, 0 at the end.
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.in) {
		return 0
	}
	return s.in[s.pos]
}

func (s *jsonScanner) value(depth int) error {
	switch c := s.peek(); {
	case c == '{' || c == '[':
		if s.left--; s.left < 0 {
			return fmt.Errorf("%w: more than %d objects and arrays", ErrTooManyElements, s.max)
		}
		if depth >= maxJSONDepth {
			return s.errorf("nested deeper than %d", maxJSONDepth)
		}
		if c == '{' {
			return s.object(depth + 1)
		}
		return s.array(depth + 1)
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == 0:
		return s.errorf("unexpected end of input")
	default:
		return s.errorf("unexpected %q", c)
	}
}

func (s *jsonScanner) object(depth int) error {
	s.out = append(s.out, '{')
	s.pos++
	if s.peek() == '}' {
		s.out = append(s.out, '}')
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.errorf("object key is not a string")
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.errorf("no colon after object key")
		}
		s.out = append(s.out, ':')
		s.pos++
		if idKeys[string(key)] && s.peek() == '"' {
			err = s.id(key)
		} else {
			err = s.value(depth)
		}
		if err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.out = append(s.out, ',')
			s.pos++
		case '}':
			s.out = append(s.out, '}')
			s.pos++
			return nil
		default:
			return s.errorf("object not continued with , or }")
		}
	}
}

func (s *jsonScanner) array(depth int) error {
	s.out = append(s.out, '[')
	s.pos++
	if s.peek() == ']' {
		s.out = append(s.out, ']')
		s.pos++
		return nil
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.out = append(s.out, ',')
			s.pos++
		case ']':
			s.out = append(s.out, ']')
			s.pos++
			return nil
		default:
			return s.errorf("array not continued with , or ]")
		}
	}
}

// str copies the string at pos to the output (invalid UTF-8 replaced) and
// returns its value.
func (s *jsonScanner) str() ([]byte, error) {
	start := s.pos
	s.pos++ // the opening quote
	plain := true
	for {
		if s.pos >= len(s.in) {
			return nil, s.errorf("unterminated string")
		}
		c := s.in[s.pos]
		switch {
		case c == '"':
			s.pos++
			raw := s.in[start:s.pos]
			if plain && utf8.Valid(raw) {
				s.out = append(s.out, raw...)
				return raw[1 : len(raw)-1], nil
			}
			// Escapes or invalid UTF-8: decode as encoding/json does
			// (invalid bytes and lone surrogates become U+FFFD) and
			// encode again.
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				s.pos = start
				return nil, s.errorf("bad string: %v", err)
			}
			b, _ := json.Marshal(v)
			s.out = append(s.out, b...)
			return []byte(v), nil
		case c == '\\':
			plain = false
			s.pos += 2 // the escaped byte is checked by json.Unmarshal
		case c < 0x20:
			return nil, s.errorf("control character in string")
		default:
			s.pos++
		}
	}
}

// id rewrites the hex string value of an id key as base64.
func (s *jsonScanner) id(key []byte) error {
	mark := len(s.out)
	v, err := s.str()
	if err != nil || len(v) == 0 {
		return err
	}
	var buf [16]byte // a trace id; longer ones are for protojson and otlpwire to judge
	dst := buf[:]
	if len(v) > 2*len(buf) {
		dst = make([]byte, hex.DecodedLen(len(v)))
	}
	n, err := hex.Decode(dst, v)
	if err != nil {
		return fmt.Errorf("%s %.80q: not hex: %w", key, v, err)
	}
	s.out = append(s.out[:mark], '"')
	s.out = base64.StdEncoding.AppendEncode(s.out, dst[:n])
	s.out = append(s.out, '"')
	return nil
}

func (s *jsonScanner) number() error {
	start := s.pos
	digits := func() int {
		n := 0
		for s.pos < len(s.in) && s.in[s.pos] >= '0' && s.in[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	if s.in[s.pos] == '-' {
		s.pos++
	}
	if s.pos < len(s.in) && s.in[s.pos] == '0' {
		s.pos++
	} else if digits() == 0 {
		return s.errorf("bad number")
	}
	if s.pos < len(s.in) && s.in[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	if s.pos < len(s.in) && (s.in[s.pos] == 'e' || s.in[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.in) && (s.in[s.pos] == '+' || s.in[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	s.out = append(s.out, s.in[start:s.pos]...)
	return nil
}

func (s *jsonScanner) literal(lit string) error {
	if len(s.in)-s.pos < len(lit) || string(s.in[s.pos:s.pos+len(lit)]) != lit {
		return s.errorf("bad literal")
	}
	s.out = append(s.out, lit...)
	s.pos += len(lit)
	return nil
}

var idKeys = map[string]bool{"traceId": true, "spanId": true, "parentSpanId": true, "trace_id": true, "span_id": true, "parent_span_id": true}
