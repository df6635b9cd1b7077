package redisproxy

import (
	"bufio"
	"errors"
	"io"
)

// maxDepth bounds the nesting of a reply (aggregates and attributes).
const maxDepth = 512

// Kinds of the first element of a top-level aggregate, as pub/sub sends
// them; the confirmations reuse the command kinds they answer.
const (
	pushNone    uint8 = 0
	pushMessage uint8 = 100 // message, pmessage, smessage
)

// reply is what the decoder learnt of one top-level value (after its
// attributes).
type reply struct {
	typ byte   // the value's type byte: + - : $ * % ~ > _ # , ( ! =
	err string // the error type when the value is an error, else ""
	// kind classifies the first element of an aggregate: pushMessage, a
	// confirmation (kindSubscribe…) or pushNone.
	kind uint8
	// count is the third element when it is an integer (a confirmation's
	// subscription count).
	count    int64
	hasCount bool
}

// frame is one open aggregate or attribute.
type frame struct {
	left int64 // values still to come; -1 for a streamed aggregate (until '.')
	attr bool  // an attribute: the value it annotates follows
}

// replyDecoder reads RESP2 and RESP3 values from the server's stream. Its
// stack is reused: decoding a reply does not allocate.
type replyDecoder struct {
	br    *bufio.Reader
	stack []frame
	long  [64]byte // the start of a line longer than the reader's buffer
}

// next decodes the next top-level value.
func (d *replyDecoder) next() (r reply, err error) {
	d.stack = d.stack[:0]
	child := 0 // index of the next direct element of the top aggregate
	for {
		line, long, err := d.readLine()
		if err != nil {
			return r, err
		}
		t, body := line[0], line[1:]
		atTop := len(d.stack) == 0
		isChild := len(d.stack) == 1 && !d.stack[0].attr
		switch t {
		case '|', '*', '~', '>', '%':
			if long {
				return r, errProtocol
			}
			if len(body) == 1 && body[0] == '?' {
				if t == '|' {
					return r, errProtocol
				}
				if atTop {
					r.typ = t
				}
				if err := d.push(frame{left: -1}); err != nil {
					return r, err
				}
				continue
			}
			n, ok := parseInt(body)
			if !ok || n < -1 || n > maxBulk {
				return r, errProtocol
			}
			if t == '|' {
				if n > 0 {
					if err := d.push(frame{left: 2 * n, attr: true}); err != nil {
						return r, err
					}
				}
				continue // the annotated value follows
			}
			if atTop {
				r.typ = t
			}
			if n > 0 {
				if t == '%' {
					n *= 2
				}
				if err := d.push(frame{left: n}); err != nil {
					return r, err
				}
				continue
			}
			// empty or null (*-1): a complete value
		case '$', '!', '=':
			if long {
				return r, errProtocol
			}
			if atTop {
				r.typ = t
			}
			if t == '$' && len(body) == 1 && body[0] == '?' {
				if err := d.streamedString(); err != nil {
					return r, err
				}
				break
			}
			n, ok := parseInt(body)
			if !ok || n < -1 || n > maxBulk {
				return r, errProtocol
			}
			if n == -1 {
				break // null bulk string (RESP2)
			}
			switch {
			case atTop && t == '!':
				b, err := d.br.Peek(int(min(n, maxErrorLen+1)))
				if err != nil {
					return r, unexpected(err)
				}
				r.err = errorType(b)
			case isChild && child == 0 && n <= 16:
				b, err := d.br.Peek(int(n))
				if err != nil {
					return r, unexpected(err)
				}
				r.kind = pushKind(b)
			}
			if err := discard(d.br, n); err != nil {
				return r, err
			}
			if err := d.crlf(); err != nil {
				return r, err
			}
		case '+', '-', ':', '_', '#', ',', '(':
			if atTop {
				r.typ = t
				if t == '-' {
					r.err = errorType(body)
				}
			}
			if isChild {
				switch {
				case child == 0 && t == '+':
					r.kind = pushKind(body)
				case child == 2 && t == ':':
					r.count, r.hasCount = parseInt(body)
				}
			}
		case '.':
			// The end of a streamed aggregate, which is then complete.
			if atTop || d.stack[len(d.stack)-1].left != -1 || len(body) != 0 {
				return r, errProtocol
			}
			d.stack = d.stack[:len(d.stack)-1]
		default:
			return r, errProtocol
		}
		if d.complete(&child) {
			if r.typ == 0 {
				return r, errProtocol
			}
			return r, nil
		}
	}
}

// complete counts a value as done in the open aggregates; it reports
// whether the top-level value is complete.
func (d *replyDecoder) complete(child *int) bool {
	for len(d.stack) > 0 {
		top := &d.stack[len(d.stack)-1]
		if len(d.stack) == 1 && !top.attr {
			*child++
		}
		if top.left < 0 {
			return false // streamed: until '.'
		}
		top.left--
		if top.left > 0 {
			return false
		}
		attr := top.attr
		d.stack = d.stack[:len(d.stack)-1]
		if attr {
			return false // the annotated value follows
		}
	}
	return true
}

func (d *replyDecoder) push(f frame) error {
	if len(d.stack) >= maxDepth {
		return errProtocol
	}
	d.stack = append(d.stack, f)
	return nil
}

// streamedString skips the chunks of a $? string up to its ;0.
func (d *replyDecoder) streamedString() error {
	for {
		line, err := readHeader(d.br)
		if err != nil {
			return unexpected(err)
		}
		if line[0] != ';' {
			return errProtocol
		}
		n, ok := parseInt(line[1:])
		if !ok || n < 0 || n > maxBulk {
			return errProtocol
		}
		if n == 0 {
			return nil
		}
		if err := discard(d.br, n); err != nil {
			return err
		}
		if err := d.crlf(); err != nil {
			return err
		}
	}
}

// crlf consumes the CRLF after a bulk string's data.
func (d *replyDecoder) crlf() error {
	b, err := d.br.Peek(2)
	if err != nil {
		return unexpected(err)
	}
	if b[0] != '\r' || b[1] != '\n' {
		return errProtocol
	}
	_, err = d.br.Discard(2)
	return err
}

// readLine reads one line ending in CRLF, without the CRLF. A line longer
// than the reader's buffer (a long simple string or error) is skipped to
// its end; its first bytes are returned and long is true.
func (d *replyDecoder) readLine() (line []byte, long bool, err error) {
	line, err = d.br.ReadSlice('\n')
	if err == nil {
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return nil, false, errProtocol
		}
		return line[:len(line)-2], false, nil
	}
	if err != bufio.ErrBufferFull {
		if len(line) > 0 || len(d.stack) > 0 {
			return nil, false, unexpected(err)
		}
		return nil, false, err
	}
	n := copy(d.long[:], line)
	last := line[len(line)-1]
	for {
		more, err := d.br.ReadSlice('\n')
		switch {
		case err == nil:
			cr := last
			if len(more) >= 2 {
				cr = more[len(more)-2]
			}
			if cr != '\r' {
				return nil, false, errProtocol
			}
			return d.long[:n], true, nil
		case err == bufio.ErrBufferFull:
			last = more[len(more)-1]
		default:
			return nil, false, unexpected(err)
		}
	}
}

// unexpected turns io.EOF inside a value into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// pushKind classifies the first element of a pub/sub message.
func pushKind(b []byte) uint8 {
	switch string(b) {
	case "message", "pmessage", "smessage":
		return pushMessage
	case "subscribe":
		return kindSubscribe
	case "psubscribe":
		return kindPSubscribe
	case "ssubscribe":
		return kindSSubscribe
	case "unsubscribe":
		return kindUnsubscribe
	case "punsubscribe":
		return kindPUnsubscribe
	case "sunsubscribe":
		return kindSUnsubscribe
	}
	return pushNone
}

// isConfirmation reports whether a push kind confirms a (P|S)(UN)SUBSCRIBE.
func isConfirmation(k uint8) bool {
	return k >= kindSubscribe && k <= kindSUnsubscribe
}
