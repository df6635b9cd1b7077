package pgproxy

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// bind builds a Bind body: portal, statement, formats, parameters (nil =
// NULL).
func bind(formats []uint16, params ...[]byte) []byte {
	b := []byte("\x00stmt_1\x00")
	b = binary.BigEndian.AppendUint16(b, uint16(len(formats)))
	for _, f := range formats {
		b = binary.BigEndian.AppendUint16(b, f)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(params)))
	for _, p := range params {
		if p == nil {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return binary.BigEndian.AppendUint16(b, 0) // result formats
}

func int4(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func int8(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
func int2(v int16) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

// TestBindValues: the first parameters of a Bind, as a request's id would
// appear in them; pgx sends integers in binary.
func TestBindValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  []byte
		marks []string // each must match
		not   []string // none may match
	}{
		{"text", bind(nil, []byte("17"), []byte("shop")), []string{"17", "shop"}, []string{"1"}},
		{"all binary int4", bind([]uint16{1}, int4(4711)), []string{"4711"}, []string{"47"}},
		{"per-parameter formats", bind([]uint16{0, 1, 1}, []byte("abc"), int8(-9), int2(300)), []string{"abc", "-9", "300"}, nil},
		{"NULL skipped", bind([]uint16{1}, nil, int4(5)), []string{"5"}, nil},
		{"binary of another width", bind([]uint16{1}, []byte{1, 2, 3}), nil, []string{"66051"}},
		{"cut by the capture", bind(nil, []byte("12"), []byte(strings.Repeat("x", 600)))[:40], []string{"12"}, nil},
		{"malformed counts", append([]byte("\x00\x00"), 0xff, 0xff), nil, []string{"0"}},
		{"no statement name end", []byte("\x00stmt"), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h backend.Hint
			h.SetShape("SELECT")
			bindValues(&h, tc.body)
			for _, m := range tc.marks {
				if !h.Matches(m) {
					t.Errorf("%q not among the values", m)
				}
			}
			for _, m := range tc.not {
				if h.Matches(m) {
					t.Errorf("%q among the values", m)
				}
			}
		})
	}
}

// FuzzBindValues: any Bind body, cut anywhere, is read without panicking
// and keeps at most MaxHintValues values.
func FuzzBindValues(f *testing.F) {
	f.Add(bind(nil, []byte("17")))
	f.Add(bind([]uint16{1}, int4(4711), int8(1)))
	f.Add(bind([]uint16{0, 1}, nil, int2(3)))
	f.Add([]byte("\x00\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var h backend.Hint
		bindValues(&h, body)
		if h.Values() > backend.MaxHintValues {
			t.Fatalf("%d values", h.Values())
		}
	})
}
