package redisproxy

import (
	"bufio"
	"errors"
	"io"
	"math"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// errProtocol is a stream the decoders cannot follow: decoding stops, the
// relay goes on.
var errProtocol = errors.New("redisproxy: protocol violation")

// maxMultibulk is the most arguments of a multibulk command Redis accepts
// (INT_MAX).
const maxMultibulk = 1<<31 - 1

// maxBulk bounds a bulk length (Redis's proto-max-bulk-len is at most
// LLONG_MAX; anything past 1 TiB is taken as garbage).
const maxBulk = 1 << 40

// command is what the decoder learnt of one command: never its arguments.
type command struct {
	op    uint16 // index in opNames
	kind  uint8  // kindPlain, kindSubscribe…
	nargs int32  // arguments after the name
	// replyOff: CLIENT REPLY OFF or SKIP; replies would no longer match.
	replyOff bool
	// badQuotes: an inline command with unbalanced quotes, which Redis
	// answers with an error before it closes the connection.
	badQuotes bool
	// topology: CLUSTER SLOTS, SHARDS or NODES, whose reply names the
	// cluster's nodes (cluster.go).
	topology bool
	// db is a SELECT's database index, -1 when it is not one (or not a
	// number the proxy reads).
	db int32
}

// cmdDecoder reads commands from the app's stream. Its scratch buffers
// are reused: decoding a command does not allocate.
type cmdDecoder struct {
	br  *bufio.Reader
	tok inlineTokenizer
	// sub holds CLIENT's first two arguments, upper-cased and cut to 8
	// bytes, to see CLIENT REPLY OFF|SKIP.
	sub [2][8]byte
	nsb [2]int
	// hint is what next read of the command for its attribution: the
	// name and first key (digits masked) as its shape, the first
	// arguments as its values. Valid until the next call of next.
	hint backend.Hint
}

// next decodes the next command. ok is false when the bytes were no
// command (an empty inline line, *0 or *-1), which Redis does not answer.
// err is errProtocol when the stream is no RESP a server would accept, or
// the reader's error (io.EOF…).
func (d *cmdDecoder) next() (cmd command, ok bool, err error) {
	cmd.db = -1
	d.hint.Reset()
	first, err := d.br.Peek(1)
	if err != nil {
		return cmd, false, err
	}
	if first[0] != '*' {
		return d.inline()
	}
	line, err := readHeader(d.br)
	if err != nil {
		return cmd, false, err
	}
	n, valid := parseInt(line[1:])
	if !valid || n > maxMultibulk {
		return cmd, false, errProtocol
	}
	if n <= 0 {
		return cmd, false, nil // Redis skips it without a reply
	}
	cmd.nargs = int32(n - 1)
	var name [maxNameLen]byte
	for i := int64(0); i < n; i++ {
		line, err := readHeader(d.br)
		if err != nil {
			return cmd, false, err
		}
		if line[0] != '$' {
			return cmd, false, errProtocol // Redis: expected '$'
		}
		l, valid := parseInt(line[1:])
		if !valid || l < 0 || l > maxBulk {
			return cmd, false, errProtocol // Redis: invalid bulk length
		}
		switch {
		case i == 0:
			cmd.op = opOther
			if l <= maxNameLen {
				b, err := d.br.Peek(int(l))
				if err != nil {
					return cmd, false, err
				}
				cmd.op = lookupOp(upperInto(name[:], b))
			}
			cmd.kind = opKinds[cmd.op]
			d.hint.SetShape(opNames[cmd.op])
		case i <= backend.MaxHintValues && l <= backend.MaxHintValue && int(l) <= d.br.Size() && cmd.kind == kindPlain && !opSecret[cmd.op]:
			b, err := d.br.Peek(int(l))
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF // as discard says of a cut argument
				}
				return cmd, false, err
			}
			if i == 1 {
				d.hint.AppendShape(space)
				d.hint.AppendShapeMasked(b)
			}
			d.hint.AddValue(b)
		case cmd.kind == kindClient && i <= 2:
			b, err := d.br.Peek(int(min(l, 8)))
			if err != nil {
				return cmd, false, err
			}
			d.nsb[i-1] = len(upperInto(d.sub[i-1][:], b))
			if l > 8 {
				d.nsb[i-1] = 0
			}
		}
		if i == 1 && cmd.op == opCluster && l <= 8 {
			b, err := d.br.Peek(int(l))
			if err != nil {
				return cmd, false, err
			}
			var up [8]byte
			cmd.topology = isTopologySub(upperInto(up[:], b))
		}
		if i == 1 && cmd.op == opSelect && l <= maxDBDigits {
			b, err := d.br.Peek(int(l))
			if err != nil {
				return cmd, false, err
			}
			cmd.db = parseDB(b)
		}
		// Redis skips the two bytes after the data without looking at
		// them; so does the decoder.
		if err := discard(d.br, l+2); err != nil {
			return cmd, false, err
		}
	}
	if cmd.kind == kindClient && n >= 3 {
		cmd.replyOff = d.clientReplyOff()
	}
	return cmd, true, nil
}

var space = []byte{' '}

// clientReplyOff reports whether the captured CLIENT arguments are REPLY
// OFF or REPLY SKIP.
func (d *cmdDecoder) clientReplyOff() bool {
	if string(d.sub[0][:d.nsb[0]]) != "REPLY" {
		return false
	}
	a := string(d.sub[1][:d.nsb[1]])
	return a == "OFF" || a == "SKIP"
}

// inline decodes an inline command: one line split into arguments the way
// Redis's sdssplitargs does.
func (d *cmdDecoder) inline() (cmd command, ok bool, err error) {
	d.tok.reset()
	for {
		chunk, err := d.br.ReadSlice('\n')
		switch {
		case err == nil:
			d.tok.feed(chunk[:len(chunk)-1])
			d.tok.end()
		case err == bufio.ErrBufferFull:
			d.tok.feed(chunk)
			continue
		case errors.Is(err, io.EOF):
			return cmd, false, io.ErrUnexpectedEOF
		default:
			return cmd, false, err
		}
		break
	}
	t := &d.tok
	if t.state == tokNUL {
		// Redis looks for the line's end with strchr, which stops at the
		// NUL: it waits for a line that never ends, answering nothing.
		return cmd, false, errProtocol
	}
	if t.argc == 0 && t.state != tokErr {
		return cmd, false, nil // an empty line: Redis skips it
	}
	cmd.nargs = int32(max(t.argc-1, 0))
	cmd.op = opOther
	if !t.caps[0].over {
		cmd.op = lookupOp(upperInto(t.caps[0].b[:], t.caps[0].b[:t.caps[0].n]))
	}
	cmd.kind = opKinds[cmd.op]
	d.hint.SetShape(opNames[cmd.op]) // an inline command's arguments are not read
	if t.state == tokErr {
		cmd.badQuotes = true
		return cmd, true, nil
	}
	if cmd.op == opCluster && t.argc >= 2 && !t.caps[1].over {
		var up [8]byte
		c := &t.caps[1]
		cmd.topology = c.n <= 8 && isTopologySub(upperInto(up[:], c.b[:c.n]))
	}
	if cmd.op == opSelect && t.argc >= 2 && !t.caps[1].over {
		cmd.db = parseDB(t.caps[1].b[:t.caps[1].n])
	}
	if cmd.kind == kindClient && t.argc >= 3 {
		for i := 0; i < 2; i++ {
			c := &t.caps[i+1]
			d.nsb[i] = len(upperInto(d.sub[i][:], c.b[:min(c.n, 8)]))
			if c.over || c.n > 8 {
				d.nsb[i] = 0
			}
		}
		cmd.replyOff = d.clientReplyOff()
	}
	return cmd, true, nil
}

// readHeader reads a protocol line ending in CRLF and returns it without
// the CRLF; a line longer than the reader's buffer is a violation.
func readHeader(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, errProtocol
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errProtocol
	}
	return line[:len(line)-2], nil
}

// discard skips n bytes.
func discard(br *bufio.Reader, n int64) error {
	for n > 0 {
		step := int(min(n, 1<<30))
		m, err := br.Discard(step)
		n -= int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// parseInt parses a decimal integer as Redis's string2ll does: an
// optional minus, no plus, no leading zeros, no overflow.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// maxDBDigits bounds a SELECT index the proxy reads.
const maxDBDigits = 9

// parseDB reads a SELECT's index: decimal digits, at most maxDBDigits;
// -1 otherwise (Redis refuses what is not a number in range, and the
// database does not change).
func parseDB(b []byte) int32 {
	if len(b) == 0 || len(b) > maxDBDigits {
		return -1
	}
	var n int32
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int32(c-'0')
	}
	return n
}
