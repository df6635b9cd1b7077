package pgproxy

import "encoding/binary"

// Limits of the decoder.
const (
	// MaxMessage is the longest message the decoder follows (PostgreSQL's
	// own limit is 1 GB); a longer one stops decoding.
	MaxMessage = 1 << 30
	// maxStartup is PostgreSQL's limit on a startup packet.
	maxStartup = 10000
	// textCapture is how much of a statement's start is kept to name,
	// normalise and search it for a sqlcommenter comment.
	textCapture = 8 << 10
	// tailCapture is how much of a longer statement's end is kept: the
	// place of a sqlcommenter comment.
	tailCapture = 1 << 10
)

// message is one complete protocol message as the decoder saw it: the
// captured start of its body and, when the body was longer than the
// capture, its last bytes.
type message struct {
	typ       byte
	length    int    // body length
	body      []byte // first min(length, capture) bytes
	tail      []byte // last bytes when truncated
	truncated bool
}

// handler receives the messages of one direction.
type handler interface {
	// begin is called when a message's header is complete: it says how
	// much of the body to capture, and whether typ is a message of this
	// direction (false stops decoding).
	begin(typ byte, length int) (capture int, tail bool, ok bool)
	// end is called with the complete message; false stops decoding.
	end(m *message) bool
}

// framer splits one direction's byte stream into messages, however the
// stream is cut into reads. It keeps a small header, the captured start
// of the bodies the handler asks for and nothing else: bodies stream
// past.
type framer struct {
	startup bool // the next message has no type byte (the startup packet)
	hdr     [5]byte
	nhdr    int
	inBody  bool
	left    int // body bytes still to come
	capture int // body bytes to keep
	keepEnd bool
	msg     message
	buf     []byte // reused capture buffer
	tailBuf [tailCapture]byte
	ntail   int
}

// feed consumes p; false means the stream cannot be followed (a bad
// length, an unknown message type, or the handler said so).
func (f *framer) feed(p []byte, h handler) bool {
	for len(p) > 0 {
		if !f.inBody {
			hl := 5
			if f.startup {
				hl = 4
			}
			n := copy(f.hdr[f.nhdr:hl], p)
			f.nhdr += n
			p = p[n:]
			if f.nhdr < hl {
				return true
			}
			f.nhdr = 0
			var typ byte
			length := int(binary.BigEndian.Uint32(f.hdr[hl-4 : hl]))
			if f.startup {
				if length < 8 || length > maxStartup {
					return false
				}
				f.startup = false
			} else {
				typ = f.hdr[0]
				if length < 4 || length > MaxMessage {
					return false
				}
			}
			body := length - 4
			capture, keepEnd, ok := h.begin(typ, body)
			if !ok {
				return false
			}
			f.msg = message{typ: typ, length: body}
			f.capture = min(capture, body)
			f.keepEnd = keepEnd && body > f.capture
			f.buf = f.buf[:0]
			f.ntail = 0
			f.left = body
			f.inBody = true
		}
		n := min(f.left, len(p))
		chunk := p[:n]
		p = p[n:]
		f.left -= n
		if room := f.capture - len(f.buf); room > 0 {
			k := min(room, len(chunk))
			f.buf = append(f.buf, chunk[:k]...)
			chunk = chunk[k:]
		}
		if f.keepEnd && len(chunk) > 0 {
			f.keepTail(chunk)
		}
		if f.left == 0 {
			f.inBody = false
			f.msg.body = f.buf
			f.msg.truncated = f.msg.length > len(f.buf)
			f.msg.tail = nil
			if f.keepEnd {
				f.msg.tail = f.tailBuf[:f.ntail]
			}
			if !h.end(&f.msg) {
				return false
			}
		}
	}
	return true
}

// keepTail keeps the last tailCapture bytes seen past the capture.
func (f *framer) keepTail(b []byte) {
	if len(b) >= tailCapture {
		f.ntail = copy(f.tailBuf[:], b[len(b)-tailCapture:])
		return
	}
	if f.ntail+len(b) > tailCapture {
		drop := f.ntail + len(b) - tailCapture
		copy(f.tailBuf[:], f.tailBuf[drop:f.ntail])
		f.ntail -= drop
	}
	f.ntail += copy(f.tailBuf[f.ntail:], b)
}

// cstring splits a NUL-terminated string off b.
func cstring(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}
