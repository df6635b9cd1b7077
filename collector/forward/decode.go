package forward

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Event is one decoded log event.
type Event struct {
	// Tag is the Fluent tag of the request that carried the event.
	Tag string
	// Time is the event time in UTC. The zero Time means the client sent
	// no usable time (nil or 0, which fluentd replaces with the receive
	// time); Server does that replacement, Decode does not.
	Time time.Time
	// Record is the event body. Values are decoded to string, int64
	// (every integer that fits, signed or not), uint64 (unsigned integers
	// above math.MaxInt64), float64, bool, nil, []any, map[string]any and
	// []byte (msgpack bin and extension payloads), plus time.Time for an
	// EventTime extension found inside the record.
	Record map[string]any
	// Metadata is the metadata map of Fluent Bit's event format
	// [[time, metadata], record] (forward protocol v1.5); nil when the
	// event carried a plain time.
	Metadata map[string]any
}

// ErrLimitExceeded is wrapped by every error caused by a request that is
// larger than a configured Limits value, so callers can tell hostile or
// oversized input from malformed input with errors.Is.
var ErrLimitExceeded = errors.New("limit exceeded")

// Default limits applied by Decode and by Limits fields left at zero.
const (
	// DefaultMaxEntryBytes bounds the wire size of one request.
	DefaultMaxEntryBytes = 16 << 20
	// DefaultMaxDecompressedBytes bounds the decompressed size of the
	// event stream of one CompressedPackedForward request.
	DefaultMaxDecompressedBytes = 16 << 20
	// DefaultMaxEvents bounds the number of events in one request.
	DefaultMaxEvents = 100_000
	// DefaultMaxValues bounds the number of decoded values (record fields,
	// array elements, nested values) of one request, which bounds the
	// memory the decoded Go values take beyond the wire bytes.
	DefaultMaxValues = 1 << 21
	// DefaultMaxDepth bounds the nesting of arrays and maps in a record.
	DefaultMaxDepth = 32
)

// Limits bounds what one decoded request may cost. A zero or negative
// field means its default.
type Limits struct {
	// MaxEntryBytes is the largest wire size of one request, in bytes.
	MaxEntryBytes int64
	// MaxDecompressedBytes is the largest decompressed size of a
	// CompressedPackedForward event stream, in bytes.
	MaxDecompressedBytes int64
	// MaxEvents is the largest number of events in one request.
	MaxEvents int
	// MaxValues is the largest number of decoded values in one request.
	MaxValues int
	// MaxDepth is the deepest nesting of arrays and maps in a record.
	MaxDepth int
}

// DefaultLimits returns the limits Decode applies.
func DefaultLimits() Limits {
	return Limits{}.withDefaults()
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntryBytes <= 0 {
		l.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if l.MaxDecompressedBytes <= 0 {
		l.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	if l.MaxEvents <= 0 {
		l.MaxEvents = DefaultMaxEvents
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Decode reads one forward-protocol request from r with DefaultLimits; see
// Limits.Decode.
func Decode(r *msgp.Reader) (events []Event, chunk string, err error) {
	return Limits{}.Decode(r)
}

// Decode reads one forward-protocol request from r and returns its events
// and its "chunk" option (empty when the client asked for no
// acknowledgement).
//
// All four carrier modes are accepted: Message [tag, time, record, option?],
// Forward [tag, [[time, record], ...], option?], PackedForward [tag,
// bin|str of concatenated [time, record], option?] and
// CompressedPackedForward (option compressed: "gzip", possibly several
// concatenated gzip members). A time is an integer (seconds), a float
// (seconds), the EventTime extension (type 0: big-endian uint32 seconds and
// uint32 nanoseconds) or Fluent Bit's [time, metadata] pair. An event whose
// record is nil is skipped, as fluentd does. A nil request (a heartbeat)
// returns no events and no error.
//
// Decode returns io.EOF, unwrapped, when r ends before the first byte of a
// request; a request cut short returns an error wrapping
// io.ErrUnexpectedEOF. After any other error the position of r inside the
// stream is undefined and the stream must be abandoned.
func (l Limits) Decode(r *msgp.Reader) (events []Event, chunk string, err error) {
	l = l.withDefaults()
	st := &state{lim: l, values: l.MaxValues}
	d := &decoder{m: r, st: st, left: l.MaxEntryBytes, limit: l.MaxEntryBytes, what: "request"}

	lead, err := r.R.PeekByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, "", io.EOF
		}
		return nil, "", fmt.Errorf("forward: %w", err)
	}
	if lead == mNil {
		if _, err := d.header(1); err != nil {
			return nil, "", fmt.Errorf("forward: heartbeat: %w", err)
		}
		return nil, "", nil
	}
	n, err := d.arrayHeader()
	if err != nil {
		return nil, "", fmt.Errorf("forward: request: %w", err)
	}
	if n < 2 || n > 4 {
		return nil, "", fmt.Errorf("forward: request: expected array of 2 to 4 elements, got %d", n)
	}
	tag, err := d.str()
	if err != nil {
		return nil, "", fmt.Errorf("forward: tag: %w", err)
	}
	second, err := d.peek()
	if err != nil {
		return nil, "", fmt.Errorf("forward: tag %s: %w", quoteShort(tag), err)
	}

	var opt option
	switch kindOf(second) {
	case kindArray: // Forward mode.
		if n > 3 {
			return nil, "", fmt.Errorf("forward: forward mode: expected 2 or 3 elements, got %d", n)
		}
		if events, err = d.eventArray(tag); err != nil {
			return nil, "", err
		}
		if n == 3 {
			if opt, err = d.option(); err != nil {
				return nil, "", fmt.Errorf("forward: option: %w", err)
			}
		}
	case kindStr, kindBin: // PackedForward and CompressedPackedForward modes.
		if n > 3 {
			return nil, "", fmt.Errorf("forward: packed forward mode: expected 2 or 3 elements, got %d", n)
		}
		payload, err := d.blob()
		if err != nil {
			return nil, "", fmt.Errorf("forward: entries: %w", err)
		}
		if n == 3 {
			if opt, err = d.option(); err != nil {
				return nil, "", fmt.Errorf("forward: option: %w", err)
			}
		}
		if events, err = st.packed(tag, payload, opt.compressed); err != nil {
			return nil, "", err
		}
	default: // Message mode.
		if n < 3 {
			return nil, "", fmt.Errorf("forward: message mode: expected 3 or 4 elements, got %d", n)
		}
		t, meta, err := d.time()
		if err != nil {
			return nil, "", fmt.Errorf("forward: time: %w", err)
		}
		rec, err := d.record()
		if err != nil {
			return nil, "", fmt.Errorf("forward: record: %w", err)
		}
		if n == 4 {
			if opt, err = d.option(); err != nil {
				return nil, "", fmt.Errorf("forward: option: %w", err)
			}
		}
		if rec != nil {
			events = []Event{{Tag: tag, Time: t, Record: rec, Metadata: meta}}
		}
	}
	if len(events) == 0 {
		events = nil
	}
	return events, opt.chunk, nil
}

// state is shared by the decoders of one request.
type state struct {
	lim    Limits
	values int // values still allowed
	events int // events decoded so far
}

func (st *state) addEvent() error {
	if st.events >= st.lim.MaxEvents {
		return limitErrorf("more than %d events", st.lim.MaxEvents)
	}
	st.events++
	return nil
}

// packed decodes a PackedForward event stream, decompressing it first
// when compressed says so.
func (st *state) packed(tag string, payload []byte, compressed string) ([]Event, error) {
	switch compressed {
	case "", "text":
		d := &decoder{
			m:     msgp.NewReaderSize(bytes.NewReader(payload), 4096),
			st:    st,
			left:  int64(len(payload)),
			limit: int64(len(payload)),
			what:  "packed entries",
			sized: true,
		}
		return d.stream(tag)
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("forward: compressed entries: gzip: %w", err)
		}
		zr.Multistream(true)
		d := &decoder{
			m:     msgp.NewReaderSize(zr, 32<<10),
			st:    st,
			left:  st.lim.MaxDecompressedBytes,
			limit: st.lim.MaxDecompressedBytes,
			what:  "decompressed entries",
		}
		return d.stream(tag)
	default:
		return nil, fmt.Errorf("forward: option: unsupported compression %q", compressed)
	}
}

type option struct {
	chunk      string
	compressed string
}

// decoder reads msgpack values from one stream, charging every byte it
// consumes against a budget so that no allocation can exceed the limits.
type decoder struct {
	m     *msgp.Reader
	st    *state
	left  int64  // bytes this stream may still consume
	limit int64  // initial value of left, for errors
	what  string // what the byte limit bounds, for errors
	// sized is set when left is the exact size of the stream, so running
	// past it means the data is cut short rather than too large.
	sized bool
}

// limitError reports a Limits violation; it matches ErrLimitExceeded.
type limitError struct{ msg string }

func (e *limitError) Error() string        { return e.msg + " (" + ErrLimitExceeded.Error() + ")" }
func (e *limitError) Is(target error) bool { return target == ErrLimitExceeded }

func limitErrorf(format string, args ...any) error {
	return &limitError{msg: fmt.Sprintf(format, args...)}
}

// take charges n bytes against the budget.
func (d *decoder) take(n int64) error {
	if n > d.left {
		if d.sized {
			return io.ErrUnexpectedEOF
		}
		return limitErrorf("%s larger than %d bytes", d.what, d.limit)
	}
	d.left -= n
	return nil
}

// peek returns the next byte without consuming it; EOF is unexpected.
func (d *decoder) peek() (byte, error) {
	b, err := d.m.R.PeekByte()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// header consumes n (at most 10) bytes.
func (d *decoder) header(n int) ([]byte, error) {
	if err := d.take(int64(n)); err != nil {
		return nil, err
	}
	p, err := d.m.R.Next(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return p, err
}

// payload consumes n bytes into a new slice. Large payloads grow the slice
// as bytes arrive, so a lying length costs no more memory than was sent.
func (d *decoder) payload(n int64) ([]byte, error) {
	if err := d.take(n); err != nil {
		return nil, err
	}
	if n <= 64<<10 {
		p := make([]byte, n)
		if _, err := d.m.R.ReadFull(p); err != nil {
			return nil, unexpectedEOF(err)
		}
		return p, nil
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, d.m, n); err != nil {
		return nil, unexpectedEOF(err)
	}
	return buf.Bytes(), nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// value charges one decoded value against the value budget.
func (d *decoder) value() error {
	if d.st.values <= 0 {
		return limitErrorf("more than %d values", d.st.lim.MaxValues)
	}
	d.st.values--
	return nil
}

// msgpack format bytes.
const (
	mNil      = 0xc0
	mFalse    = 0xc2
	mTrue     = 0xc3
	mBin8     = 0xc4
	mBin16    = 0xc5
	mBin32    = 0xc6
	mExt8     = 0xc7
	mExt16    = 0xc8
	mExt32    = 0xc9
	mFloat32  = 0xca
	mFloat64  = 0xcb
	mUint8    = 0xcc
	mUint16   = 0xcd
	mUint32   = 0xce
	mUint64   = 0xcf
	mInt8     = 0xd0
	mInt16    = 0xd1
	mInt32    = 0xd2
	mInt64    = 0xd3
	mFixExt1  = 0xd4
	mFixExt2  = 0xd5
	mFixExt4  = 0xd6
	mFixExt8  = 0xd7
	mFixExt16 = 0xd8
	mStr8     = 0xd9
	mStr16    = 0xda
	mStr32    = 0xdb
	mArray16  = 0xdc
	mArray32  = 0xdd
	mMap16    = 0xde
	mMap32    = 0xdf
)

type kind int

const (
	kindInvalid kind = iota
	kindNil
	kindBool
	kindInt
	kindFloat
	kindStr
	kindBin
	kindArray
	kindMap
	kindExt
)

var kindNames = [...]string{
	kindInvalid: "invalid byte",
	kindNil:     "nil",
	kindBool:    "bool",
	kindInt:     "int",
	kindFloat:   "float",
	kindStr:     "str",
	kindBin:     "bin",
	kindArray:   "array",
	kindMap:     "map",
	kindExt:     "ext",
}

func (k kind) String() string { return kindNames[k] }

func kindOf(b byte) kind {
	switch {
	case b <= 0x7f, b >= 0xe0:
		return kindInt
	case b <= 0x8f:
		return kindMap
	case b <= 0x9f:
		return kindArray
	case b <= 0xbf:
		return kindStr
	}
	switch b {
	case mNil:
		return kindNil
	case mFalse, mTrue:
		return kindBool
	case mBin8, mBin16, mBin32:
		return kindBin
	case mExt8, mExt16, mExt32, mFixExt1, mFixExt2, mFixExt4, mFixExt8, mFixExt16:
		return kindExt
	case mFloat32, mFloat64:
		return kindFloat
	case mUint8, mUint16, mUint32, mUint64, mInt8, mInt16, mInt32, mInt64:
		return kindInt
	case mStr8, mStr16, mStr32:
		return kindStr
	case mArray16, mArray32:
		return kindArray
	case mMap16, mMap32:
		return kindMap
	}
	return kindInvalid
}

// typeError reports a value of an unexpected type.
func typeError(want string, got byte) error {
	k := kindOf(got)
	if k == kindInvalid {
		return fmt.Errorf("expected %s, got invalid byte 0x%02x", want, got)
	}
	return fmt.Errorf("expected %s, got %s", want, k)
}

// lengthHeader reads the header of a str, bin, array or map (as selected
// by kind k) and returns the length it announces.
func (d *decoder) lengthHeader(k kind) (uint32, error) {
	lead, err := d.peek()
	if err != nil {
		return 0, err
	}
	if kindOf(lead) != k {
		return 0, typeError(k.String(), lead)
	}
	var size int // bytes of the length field after the lead byte
	switch {
	case lead >= 0x80 && lead <= 0x8f:
		_, err = d.header(1)
		return uint32(lead & 0x0f), err
	case lead >= 0x90 && lead <= 0x9f:
		_, err = d.header(1)
		return uint32(lead & 0x0f), err
	case lead >= 0xa0 && lead <= 0xbf:
		_, err = d.header(1)
		return uint32(lead & 0x1f), err
	case lead == mStr8 || lead == mBin8:
		size = 1
	case lead == mStr16 || lead == mBin16 || lead == mArray16 || lead == mMap16:
		size = 2
	default: // 32-bit lengths
		size = 4
	}
	p, err := d.header(1 + size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint32(p[1]), nil
	case 2:
		return uint32(binary.BigEndian.Uint16(p[1:])), nil
	default:
		return binary.BigEndian.Uint32(p[1:]), nil
	}
}

func (d *decoder) arrayHeader() (uint32, error) { return d.lengthHeader(kindArray) }

// containerLen checks an announced element count against the remaining
// budget (each element takes at least minBytes on the wire).
func (d *decoder) containerLen(n uint32, minBytes int64) error {
	if int64(n)*minBytes > d.left {
		if d.sized {
			return fmt.Errorf("%d elements announced in %d bytes: %w", n, d.left, io.ErrUnexpectedEOF)
		}
		return limitErrorf("%s larger than %d bytes (%d elements announced)", d.what, d.limit, n)
	}
	return nil
}

// str reads a msgpack str.
func (d *decoder) str() (string, error) {
	n, err := d.lengthHeader(kindStr)
	if err != nil {
		return "", err
	}
	return d.strBody(n)
}

func (d *decoder) strBody(n uint32) (string, error) {
	if n == 0 {
		return "", nil
	}
	if n <= 4096 {
		if err := d.take(int64(n)); err != nil {
			return "", err
		}
		p, err := d.m.R.Next(int(n))
		if err != nil {
			return "", unexpectedEOF(err)
		}
		return string(p), nil
	}
	p, err := d.payload(int64(n))
	if err != nil {
		return "", err
	}
	return string(p), nil
}

// blob reads a msgpack str or bin as bytes.
func (d *decoder) blob() ([]byte, error) {
	lead, err := d.peek()
	if err != nil {
		return nil, err
	}
	k := kindOf(lead)
	if k != kindStr && k != kindBin {
		return nil, typeError("bin or str", lead)
	}
	n, err := d.lengthHeader(k)
	if err != nil {
		return nil, err
	}
	return d.payload(int64(n))
}

// key reads a map key: a str, or a bin as older clients send.
func (d *decoder) key() (string, error) {
	lead, err := d.peek()
	if err != nil {
		return "", err
	}
	switch kindOf(lead) {
	case kindStr:
		return d.str()
	case kindBin:
		p, err := d.blob()
		return string(p), err
	default:
		return "", typeError("string key", lead)
	}
}

// ext reads an extension header and returns its type and payload length.
func (d *decoder) extHeader() (typ int8, n uint32, err error) {
	lead, err := d.peek()
	if err != nil {
		return 0, 0, err
	}
	var p []byte
	switch lead {
	case mFixExt1, mFixExt2, mFixExt4, mFixExt8, mFixExt16:
		p, err = d.header(2)
		if err != nil {
			return 0, 0, err
		}
		return int8(p[1]), 1 << (lead - mFixExt1), nil
	case mExt8:
		p, err = d.header(3)
		if err != nil {
			return 0, 0, err
		}
		return int8(p[2]), uint32(p[1]), nil
	case mExt16:
		p, err = d.header(4)
		if err != nil {
			return 0, 0, err
		}
		return int8(p[3]), uint32(binary.BigEndian.Uint16(p[1:])), nil
	case mExt32:
		p, err = d.header(6)
		if err != nil {
			return 0, 0, err
		}
		return int8(p[5]), binary.BigEndian.Uint32(p[1:]), nil
	default:
		return 0, 0, typeError("ext", lead)
	}
}

// scalar numbers --------------------------------------------------------

// number reads any msgpack integer or float. Integers come back as int64,
// or uint64 when above math.MaxInt64; floats as float64.
func (d *decoder) number() (any, error) {
	lead, err := d.peek()
	if err != nil {
		return nil, err
	}
	switch {
	case lead <= 0x7f:
		_, err = d.header(1)
		return int64(lead), err
	case lead >= 0xe0:
		_, err = d.header(1)
		return int64(int8(lead)), err
	}
	var size int
	switch lead {
	case mUint8, mInt8:
		size = 1
	case mUint16, mInt16:
		size = 2
	case mUint32, mInt32, mFloat32:
		size = 4
	case mUint64, mInt64, mFloat64:
		size = 8
	default:
		return nil, typeError("number", lead)
	}
	p, err := d.header(1 + size)
	if err != nil {
		return nil, err
	}
	p = p[1:]
	switch lead {
	case mUint8:
		return int64(p[0]), nil
	case mUint16:
		return int64(binary.BigEndian.Uint16(p)), nil
	case mUint32:
		return int64(binary.BigEndian.Uint32(p)), nil
	case mUint64:
		u := binary.BigEndian.Uint64(p)
		if u > math.MaxInt64 {
			return u, nil
		}
		return int64(u), nil
	case mInt8:
		return int64(int8(p[0])), nil
	case mInt16:
		return int64(int16(binary.BigEndian.Uint16(p))), nil
	case mInt32:
		return int64(int32(binary.BigEndian.Uint32(p))), nil
	case mInt64:
		return int64(binary.BigEndian.Uint64(p)), nil
	case mFloat32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(p))), nil
	default: // mFloat64
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	}
}

// times ----------------------------------------------------------------

// time reads an event time: integer or float seconds, EventTime, nil, or
// Fluent Bit's [time, metadata...] array.
func (d *decoder) time() (time.Time, map[string]any, error) {
	lead, err := d.peek()
	if err != nil {
		return time.Time{}, nil, err
	}
	if kindOf(lead) != kindArray {
		t, err := d.plainTime()
		return t, nil, err
	}
	n, err := d.arrayHeader()
	if err != nil {
		return time.Time{}, nil, err
	}
	if n == 0 {
		return time.Time{}, nil, errors.New("expected [time, metadata], got empty array")
	}
	if err := d.containerLen(n, 1); err != nil {
		return time.Time{}, nil, err
	}
	t, err := d.plainTime()
	if err != nil {
		return time.Time{}, nil, err
	}
	meta := map[string]any{}
	for i := uint32(1); i < n; i++ {
		lead, err := d.peek()
		if err != nil {
			return time.Time{}, nil, fmt.Errorf("metadata: %w", err)
		}
		if lead == mNil {
			if _, err := d.header(1); err != nil {
				return time.Time{}, nil, fmt.Errorf("metadata: %w", err)
			}
			continue
		}
		if err := d.mapInto(meta, 1); err != nil {
			return time.Time{}, nil, fmt.Errorf("metadata: %w", err)
		}
	}
	return t, meta, nil
}

// plainTime reads integer or float seconds, EventTime, or nil. Nil and a
// time of exactly 0 return the zero Time.
func (d *decoder) plainTime() (time.Time, error) {
	lead, err := d.peek()
	if err != nil {
		return time.Time{}, err
	}
	var t time.Time
	switch kindOf(lead) {
	case kindNil:
		_, err := d.header(1)
		return time.Time{}, err
	case kindExt:
		typ, n, err := d.extHeader()
		if err != nil {
			return time.Time{}, err
		}
		if typ != 0 || n != 8 {
			return time.Time{}, fmt.Errorf("expected EventTime (ext type 0, 8 bytes), got ext type %d of %d bytes", typ, n)
		}
		p, err := d.header(8)
		if err != nil {
			return time.Time{}, err
		}
		t = eventTime(p)
	case kindInt, kindFloat:
		v, err := d.number()
		if err != nil {
			return time.Time{}, err
		}
		switch v := v.(type) {
		case int64:
			t = time.Unix(v, 0)
		case uint64:
			return time.Time{}, fmt.Errorf("time %d out of range", v)
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1<<62 {
				return time.Time{}, fmt.Errorf("time %v out of range", v)
			}
			sec, frac := math.Modf(v)
			t = time.Unix(int64(sec), int64(math.Round(frac*1e9)))
		}
	default:
		return time.Time{}, typeError("time (int, float or EventTime)", lead)
	}
	if t.Unix() == 0 && t.Nanosecond() == 0 {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

// eventTime decodes the 8-byte EventTime payload.
func eventTime(p []byte) time.Time {
	sec := binary.BigEndian.Uint32(p)
	nsec := binary.BigEndian.Uint32(p[4:])
	return time.Unix(int64(sec), int64(nsec))
}

// records and values ---------------------------------------------------

// record reads an event record: a map, or nil (returned as a nil map).
func (d *decoder) record() (map[string]any, error) {
	lead, err := d.peek()
	if err != nil {
		return nil, err
	}
	if lead == mNil {
		_, err := d.header(1)
		return nil, err
	}
	if kindOf(lead) != kindMap {
		return nil, typeError("map", lead)
	}
	rec := map[string]any{}
	if err := d.mapInto(rec, 1); err != nil {
		return nil, err
	}
	return rec, nil
}

// mapInto reads a map at nesting depth into m.
func (d *decoder) mapInto(m map[string]any, depth int) error {
	n, err := d.lengthHeader(kindMap)
	if err != nil {
		return err
	}
	if err := d.containerLen(n, 2); err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		k, err := d.key()
		if err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		v, err := d.any(depth + 1)
		if err != nil {
			return fmt.Errorf("key %s: %w", quoteShort(k), err)
		}
		m[k] = v
	}
	return nil
}

// any reads any value at nesting depth.
func (d *decoder) any(depth int) (any, error) {
	if err := d.value(); err != nil {
		return nil, err
	}
	lead, err := d.peek()
	if err != nil {
		return nil, err
	}
	switch kindOf(lead) {
	case kindNil:
		_, err := d.header(1)
		return nil, err
	case kindBool:
		_, err := d.header(1)
		return lead == mTrue, err
	case kindInt, kindFloat:
		return d.number()
	case kindStr:
		return d.str()
	case kindBin:
		return d.blob()
	case kindExt:
		typ, n, err := d.extHeader()
		if err != nil {
			return nil, err
		}
		if typ == 0 && n == 8 {
			p, err := d.header(8)
			if err != nil {
				return nil, err
			}
			return eventTime(p).UTC(), nil
		}
		return d.payload(int64(n))
	case kindArray:
		if depth > d.st.lim.MaxDepth {
			return nil, limitErrorf("nested deeper than %d", d.st.lim.MaxDepth)
		}
		n, err := d.arrayHeader()
		if err != nil {
			return nil, err
		}
		if err := d.containerLen(n, 1); err != nil {
			return nil, err
		}
		a := make([]any, 0, min(n, 1024))
		for i := uint32(0); i < n; i++ {
			v, err := d.any(depth + 1)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			a = append(a, v)
		}
		return a, nil
	case kindMap:
		if depth > d.st.lim.MaxDepth {
			return nil, limitErrorf("nested deeper than %d", d.st.lim.MaxDepth)
		}
		m := map[string]any{}
		if err := d.mapInto(m, depth); err != nil {
			return nil, err
		}
		return m, nil
	default:
		return nil, typeError("value", lead)
	}
}

// skip reads and discards any value.
func (d *decoder) skip() error {
	_, err := d.any(1)
	return err
}

// events ---------------------------------------------------------------

// event reads one [time, record] entry. ok is false for a nil record.
func (d *decoder) event(tag string) (ev Event, ok bool, err error) {
	n, err := d.arrayHeader()
	if err != nil {
		return Event{}, false, err
	}
	if n != 2 {
		return Event{}, false, fmt.Errorf("expected [time, record], got array of %d elements", n)
	}
	t, meta, err := d.time()
	if err != nil {
		return Event{}, false, fmt.Errorf("time: %w", err)
	}
	rec, err := d.record()
	if err != nil {
		return Event{}, false, fmt.Errorf("record: %w", err)
	}
	if rec == nil {
		return Event{}, false, nil
	}
	return Event{Tag: tag, Time: t, Record: rec, Metadata: meta}, true, nil
}

// eventArray reads the entries array of Forward mode.
func (d *decoder) eventArray(tag string) ([]Event, error) {
	n, err := d.arrayHeader()
	if err != nil {
		return nil, fmt.Errorf("forward: entries: %w", err)
	}
	if int64(n) > int64(d.st.lim.MaxEvents) {
		return nil, fmt.Errorf("forward: entries: %w", limitErrorf("more than %d events (%d announced)", d.st.lim.MaxEvents, n))
	}
	if err := d.containerLen(n, 3); err != nil {
		return nil, fmt.Errorf("forward: entries: %w", err)
	}
	events := make([]Event, 0, min(n, 1024))
	for i := uint32(0); i < n; i++ {
		if err := d.st.addEvent(); err != nil {
			return nil, fmt.Errorf("forward: entry %d: %w", i, err)
		}
		ev, ok, err := d.event(tag)
		if err != nil {
			return nil, fmt.Errorf("forward: entry %d: %w", i, err)
		}
		if ok {
			events = append(events, ev)
		}
	}
	return events, nil
}

// stream reads a PackedForward event stream to its end.
func (d *decoder) stream(tag string) ([]Event, error) {
	var events []Event
	for i := 0; ; i++ {
		if _, err := d.m.R.PeekByte(); err != nil {
			if err == io.EOF {
				return events, nil
			}
			return nil, fmt.Errorf("forward: %s: entry %d: %w", d.what, i, err)
		}
		if err := d.st.addEvent(); err != nil {
			return nil, fmt.Errorf("forward: %s: entry %d: %w", d.what, i, err)
		}
		ev, ok, err := d.event(tag)
		if err != nil {
			return nil, fmt.Errorf("forward: %s: entry %d: %w", d.what, i, err)
		}
		if ok {
			events = append(events, ev)
		}
	}
}

// option reads the option map (or nil).
func (d *decoder) option() (option, error) {
	var opt option
	lead, err := d.peek()
	if err != nil {
		return opt, err
	}
	if lead == mNil {
		_, err := d.header(1)
		return opt, err
	}
	if kindOf(lead) != kindMap {
		return opt, typeError("map", lead)
	}
	n, err := d.lengthHeader(kindMap)
	if err != nil {
		return opt, err
	}
	if err := d.containerLen(n, 2); err != nil {
		return opt, err
	}
	for i := uint32(0); i < n; i++ {
		k, err := d.key()
		if err != nil {
			return opt, fmt.Errorf("key %d: %w", i, err)
		}
		switch k {
		case "chunk":
			if opt.chunk, err = d.str(); err != nil {
				return opt, fmt.Errorf("chunk: %w", err)
			}
		case "compressed":
			if opt.compressed, err = d.str(); err != nil {
				return opt, fmt.Errorf("compressed: %w", err)
			}
		default: // "size" and unknown options are read and ignored.
			if err := d.skip(); err != nil {
				return opt, fmt.Errorf("%s: %w", quoteShort(k), err)
			}
		}
	}
	return opt, nil
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
