package forward

import (
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

func TestDecodeModes(t *testing.T) {
	stream := concat(
		entry(t0, false, "msg", "a"),
		entry(t1, true, "msg", "b"),
	)
	gz := gzipBytes(t, stream)
	// Two gzip members, each holding one event.
	gz2 := concat(gzipBytes(t, entry(t0, false, "msg", "a")), gzipBytes(t, entry(t1, true, "msg", "b")))
	two := []Event{
		{Tag: "app", Time: t0, Record: map[string]any{"msg": "a"}},
		{Tag: "app", Time: t1, Record: map[string]any{"msg": "b"}},
	}

	v2Time := msgp.AppendArrayHeader(nil, 2)
	v2Time = appendEventTime(v2Time, t0)
	v2Time = appendRecord(v2Time, "stream", "stdout")
	v2 := msgp.AppendArrayHeader(nil, 2)
	v2 = append(v2, v2Time...)
	v2 = appendRecord(v2, "log", "x")

	floatTime := msgp.AppendArrayHeader(nil, 3)
	floatTime = msgp.AppendString(floatTime, "f")
	floatTime = msgp.AppendFloat64(floatTime, 1714979289.25)
	floatTime = appendRecord(floatTime, "k", int64(1))

	ext8Time := msgp.AppendArrayHeader(nil, 3)
	ext8Time = msgp.AppendString(ext8Time, "e")
	ext8Time = appendEventTimeExt8(ext8Time, t0)
	ext8Time = appendRecord(ext8Time, "k", int64(1))

	nilTime := msgp.AppendArrayHeader(nil, 3)
	nilTime = msgp.AppendString(nilTime, "n")
	nilTime = msgp.AppendNil(nilTime)
	nilTime = appendRecord(nilTime, "k", int64(1))

	zeroTime := msgp.AppendArrayHeader(nil, 3)
	zeroTime = msgp.AppendString(zeroTime, "z")
	zeroTime = msgp.AppendInt(zeroTime, 0)
	zeroTime = appendRecord(zeroTime, "k", int64(1))

	nilRecord := msgp.AppendArrayHeader(nil, 2)
	nilRecord = msgp.AppendInt64(nilRecord, t1.Unix())
	nilRecord = msgp.AppendNil(nilRecord)

	nilOption := msgp.AppendArrayHeader(nil, 4)
	nilOption = msgp.AppendString(nilOption, "o")
	nilOption = msgp.AppendInt64(nilOption, t1.Unix())
	nilOption = appendRecord(nilOption, "k", "v")
	nilOption = msgp.AppendNil(nilOption)

	// An option that also carries size and an unknown key.
	sizeOption := msgp.AppendArrayHeader(nil, 3)
	sizeOption = msgp.AppendString(sizeOption, "app")
	sizeOption = msgp.AppendBytes(sizeOption, stream)
	sizeOption = msgp.AppendMapHeader(sizeOption, 3)
	sizeOption = msgp.AppendString(sizeOption, "size")
	sizeOption = msgp.AppendInt(sizeOption, 2)
	sizeOption = msgp.AppendString(sizeOption, "fluent_signal")
	sizeOption = msgp.AppendInt(sizeOption, 0)
	sizeOption = msgp.AppendString(sizeOption, "chunk")
	sizeOption = msgp.AppendString(sizeOption, "c9")

	tests := []struct {
		name      string
		in        []byte
		want      []Event
		wantChunk string
	}{
		{
			name: "message EventTime",
			in:   messageMode("app.access", t0, "", "trace_id", "4bf9", "status", int64(200)),
			want: []Event{{Tag: "app.access", Time: t0, Record: map[string]any{"trace_id": "4bf9", "status": int64(200)}}},
		},
		{
			name:      "message with chunk",
			in:        messageMode("app", t0, "abc==", "k", "v"),
			want:      []Event{{Tag: "app", Time: t0, Record: map[string]any{"k": "v"}}},
			wantChunk: "abc==",
		},
		{
			name: "message int time",
			in: func() []byte {
				b := msgp.AppendArrayHeader(nil, 3)
				b = msgp.AppendString(b, "app")
				b = msgp.AppendInt64(b, t1.Unix())
				return appendRecord(b, "k", "v")
			}(),
			want: []Event{{Tag: "app", Time: t1, Record: map[string]any{"k": "v"}}},
		},
		{
			name: "message uint32 time",
			in: func() []byte {
				b := msgp.AppendArrayHeader(nil, 3)
				b = msgp.AppendString(b, "app")
				b = msgp.AppendUint32(b, uint32(t1.Unix()))
				return appendRecord(b, "k", "v")
			}(),
			want: []Event{{Tag: "app", Time: t1, Record: map[string]any{"k": "v"}}},
		},
		{
			name: "message float time",
			in:   floatTime,
			want: []Event{{Tag: "f", Time: time.Unix(1714979289, 250000000).UTC(), Record: map[string]any{"k": int64(1)}}},
		},
		{
			name: "message ext8 EventTime",
			in:   ext8Time,
			want: []Event{{Tag: "e", Time: t0, Record: map[string]any{"k": int64(1)}}},
		},
		{
			name: "message nil time is zero",
			in:   nilTime,
			want: []Event{{Tag: "n", Record: map[string]any{"k": int64(1)}}},
		},
		{
			name: "message time 0 is zero",
			in:   zeroTime,
			want: []Event{{Tag: "z", Record: map[string]any{"k": int64(1)}}},
		},
		{
			name: "message nil option",
			in:   nilOption,
			want: []Event{{Tag: "o", Time: t1, Record: map[string]any{"k": "v"}}},
		},
		{
			name:      "forward",
			in:        forwardMode("app", "ch1", entry(t0, false, "msg", "a"), entry(t1, true, "msg", "b")),
			want:      two,
			wantChunk: "ch1",
		},
		{
			name: "forward empty",
			in:   forwardMode("app", ""),
			want: nil,
		},
		{
			name: "forward nil record skipped",
			in:   forwardMode("app", "", entry(t0, false, "msg", "a"), nilRecord),
			want: []Event{{Tag: "app", Time: t0, Record: map[string]any{"msg": "a"}}},
		},
		{
			name: "forward Fluent Bit metadata",
			in:   forwardMode("kube", "", v2),
			want: []Event{{Tag: "kube", Time: t0, Record: map[string]any{"log": "x"}, Metadata: map[string]any{"stream": "stdout"}}},
		},
		{
			name: "packed bin",
			in:   packedMode("app", stream, false),
			want: two,
		},
		{
			name:      "packed str with chunk",
			in:        packedMode("app", stream, true, "chunk", "c2"),
			want:      two,
			wantChunk: "c2",
		},
		{
			name:      "packed size and unknown options",
			in:        sizeOption,
			want:      two,
			wantChunk: "c9",
		},
		{
			name: "packed compressed text",
			in:   packedMode("app", stream, false, "compressed", "text"),
			want: two,
		},
		{
			name:      "compressed gzip",
			in:        packedMode("app", gz, false, "compressed", "gzip", "chunk", "c3"),
			want:      two,
			wantChunk: "c3",
		},
		{
			name: "compressed gzip two members",
			in:   packedMode("app", gz2, false, "compressed", "gzip"),
			want: two,
		},
		{
			name: "heartbeat",
			in:   msgp.AppendNil(nil),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, chunk, err := Decode(reader(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if chunk != tt.wantChunk {
				t.Errorf("chunk = %q, want %q", chunk, tt.wantChunk)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeValueTypes(t *testing.T) {
	b := msgp.AppendArrayHeader(nil, 3)
	b = msgp.AppendString(b, "types")
	b = appendEventTime(b, t0)
	b = msgp.AppendMapHeader(b, 18)
	kv := []struct {
		key string
		enc func([]byte) []byte
	}{
		{"str", func(b []byte) []byte { return msgp.AppendString(b, "héllo") }},
		{"fixint", func(b []byte) []byte { return msgp.AppendInt(b, 7) }},
		{"negint", func(b []byte) []byte { return msgp.AppendInt64(b, -40000) }},
		{"int64", func(b []byte) []byte { return msgp.AppendInt64(b, math.MinInt64) }},
		{"uint8", func(b []byte) []byte { return msgp.AppendUint8(b, 200) }},
		{"uint64small", func(b []byte) []byte { return append(b, 0xcf, 0, 0, 0, 0, 0, 0, 0, 5) }},
		{"uint64big", func(b []byte) []byte { return msgp.AppendUint64(b, math.MaxUint64) }},
		{"float32", func(b []byte) []byte { return msgp.AppendFloat32(b, 1.5) }},
		{"float64", func(b []byte) []byte { return msgp.AppendFloat64(b, 12.345) }},
		{"true", func(b []byte) []byte { return msgp.AppendBool(b, true) }},
		{"false", func(b []byte) []byte { return msgp.AppendBool(b, false) }},
		{"nil", msgp.AppendNil},
		{"bin", func(b []byte) []byte { return msgp.AppendBytes(b, []byte{1, 2, 3}) }},
		{"array", func(b []byte) []byte {
			b = msgp.AppendArrayHeader(b, 2)
			b = msgp.AppendString(b, "x")
			return msgp.AppendInt(b, 1)
		}},
		{"map", func(b []byte) []byte {
			b = msgp.AppendMapHeader(b, 1)
			b = msgp.AppendString(b, "inner")
			b = msgp.AppendMapHeader(b, 1)
			b = msgp.AppendString(b, "deep")
			return msgp.AppendBool(b, true)
		}},
		{"ext5", func(b []byte) []byte { return append(b, 0xd5, 0x05, 0xaa, 0xbb) }},
		{"eventtime", func(b []byte) []byte { return appendEventTime(b, t1) }},
	}
	for _, e := range kv {
		b = msgp.AppendString(b, e.key)
		b = e.enc(b)
	}
	// A bin key, as old clients send.
	b = msgp.AppendBytes(b, []byte("binkey"))
	b = msgp.AppendString(b, "v")

	evs, _, err := Decode(reader(b))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
	want := map[string]any{
		"str":         "héllo",
		"fixint":      int64(7),
		"negint":      int64(-40000),
		"int64":       int64(math.MinInt64),
		"uint8":       int64(200),
		"uint64small": int64(5),
		"uint64big":   uint64(math.MaxUint64),
		"float32":     float64(1.5),
		"float64":     12.345,
		"true":        true,
		"false":       false,
		"nil":         nil,
		"bin":         []byte{1, 2, 3},
		"array":       []any{"x", int64(1)},
		"map":         map[string]any{"inner": map[string]any{"deep": true}},
		"ext5":        []byte{0xaa, 0xbb},
		"eventtime":   t1,
		"binkey":      "v",
	}
	got := evs[0].Record
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing", k)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", k, g, g, w, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d keys, want %d", len(got), len(want))
	}
}

func TestDecodeStream(t *testing.T) {
	in := concat(
		messageMode("a", t0, "", "n", int64(1)),
		msgp.AppendNil(nil),
		forwardMode("b", "c", entry(t1, true, "n", int64(2))),
		packedMode("c", entry(t0, false, "n", int64(3)), false),
	)
	r := reader(in)
	var tags []string
	for i := 0; i < 10; i++ {
		evs, _, err := Decode(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		for _, e := range evs {
			tags = append(tags, e.Tag)
		}
	}
	if got := strings.Join(tags, ","); got != "a,b,c" {
		t.Fatalf("tags = %q, want a,b,c", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	msgWith := func(second []byte, third []byte) []byte {
		b := msgp.AppendArrayHeader(nil, 3)
		b = msgp.AppendString(b, "t")
		b = append(b, second...)
		return append(b, third...)
	}
	rec := appendRecord(nil, "k", "v")
	et := appendEventTime(nil, t0)

	badEntry2 := forwardMode("app", "",
		entry(t0, false, "a", "1"),
		entry(t0, false, "a", "2"),
		concat(msgp.AppendArrayHeader(nil, 2), et, msgp.AppendArrayHeader(nil, 0)),
	)
	full := messageMode("app", t0, "", "k", "v")

	tests := []struct {
		name      string
		in        []byte
		wantErr   string
		wantLimit bool
		wantEOF   bool
	}{
		{name: "not an array", in: rec, wantErr: "forward: request: expected array, got map"},
		{name: "too few elements", in: concat(msgp.AppendArrayHeader(nil, 1), msgp.AppendString(nil, "x")), wantErr: "expected array of 2 to 4 elements, got 1"},
		{name: "too many elements", in: msgp.AppendArrayHeader(nil, 5), wantErr: "expected array of 2 to 4 elements, got 5"},
		{name: "tag not a string", in: concat(msgp.AppendArrayHeader(nil, 3), msgp.AppendInt(nil, 1), et, rec), wantErr: "forward: tag: expected str, got int"},
		{name: "entry 2 record is an array", in: badEntry2, wantErr: "forward: entry 2: record: expected map, got array"},
		{name: "entry not a pair", in: forwardMode("app", "", concat(msgp.AppendArrayHeader(nil, 3), et, rec, rec)), wantErr: "forward: entry 0: expected [time, record], got array of 3 elements"},
		{name: "time is a bool", in: msgWith(msgp.AppendBool(nil, true), rec), wantErr: "forward: time: expected time (int, float or EventTime), got bool"},
		{name: "time is a map", in: concat(msgp.AppendArrayHeader(nil, 4), msgp.AppendString(nil, "t"), rec, rec, rec), wantErr: "forward: time: expected time (int, float or EventTime), got map"},
		{name: "message mode with 2 elements", in: concat(msgp.AppendArrayHeader(nil, 2), msgp.AppendString(nil, "t"), et), wantErr: "forward: message mode: expected 3 or 4 elements, got 2"},
		{name: "empty metadata pair", in: forwardMode("app", "", concat(msgp.AppendArrayHeader(nil, 2), msgp.AppendArrayHeader(nil, 0), rec)), wantErr: "forward: entry 0: time: expected [time, metadata], got empty array"},
		{name: "metadata not a map", in: forwardMode("app", "", concat(msgp.AppendArrayHeader(nil, 2), msgp.AppendArrayHeader(nil, 2), et, msgp.AppendInt(nil, 1), rec)), wantErr: "forward: entry 0: time: metadata: expected map, got int"},
		{name: "time ext type 5", in: msgWith([]byte{0xd7, 0x05, 0, 0, 0, 0, 0, 0, 0, 0}, rec), wantErr: "forward: time: expected EventTime (ext type 0, 8 bytes), got ext type 5 of 8 bytes"},
		{name: "time uint64 out of range", in: msgWith(msgp.AppendUint64(nil, math.MaxUint64), rec), wantErr: "forward: time: time 18446744073709551615 out of range"},
		{name: "time NaN", in: msgWith(msgp.AppendFloat64(nil, math.NaN()), rec), wantErr: "forward: time: time NaN out of range"},
		{name: "record is a string", in: msgWith(et, msgp.AppendString(nil, "x")), wantErr: "forward: record: expected map, got str"},
		{name: "record key is an int", in: msgWith(et, concat(msgp.AppendMapHeader(nil, 1), msgp.AppendInt(nil, 1), msgp.AppendInt(nil, 1))), wantErr: "forward: record: key 0: expected string key, got int"},
		{name: "invalid byte", in: msgWith(et, concat(msgp.AppendMapHeader(nil, 1), msgp.AppendString(nil, "k"), []byte{0xc1})), wantErr: `forward: record: key "k": expected value, got invalid byte 0xc1`},
		{name: "option not a map", in: concat(msgp.AppendArrayHeader(nil, 4), msgp.AppendString(nil, "t"), et, rec, msgp.AppendInt(nil, 3)), wantErr: "forward: option: expected map, got int"},
		{name: "chunk not a string", in: concat(msgp.AppendArrayHeader(nil, 4), msgp.AppendString(nil, "t"), et, rec, msgp.AppendMapHeader(nil, 1), msgp.AppendString(nil, "chunk"), msgp.AppendInt(nil, 3)), wantErr: "forward: option: chunk: expected str, got int"},
		{name: "unsupported compression", in: packedMode("app", []byte{1}, false, "compressed", "zstd"), wantErr: `forward: option: unsupported compression "zstd"`},
		{name: "gzip garbage", in: packedMode("app", []byte("this is not gzip data"), false, "compressed", "gzip"), wantErr: "forward: compressed entries: gzip:"},
		{name: "packed garbage", in: packedMode("app", []byte{0x93, 1, 2, 3}, false), wantErr: "forward: packed entries: entry 0: expected [time, record], got array of 3 elements"},
		{name: "packed truncated", in: packedMode("app", entry(t0, false, "k", "v")[:8], false), wantErr: "forward: packed entries: entry 0: time", wantEOF: true},
		{name: "forward mode with 4 elements", in: concat(msgp.AppendArrayHeader(nil, 4), msgp.AppendString(nil, "t"), msgp.AppendArrayHeader(nil, 0), rec, rec), wantErr: "forward: forward mode: expected 2 or 3 elements, got 4"},
		{name: "truncated", in: full[:len(full)-2], wantErr: "forward: record", wantEOF: true},
		{name: "truncated in header", in: full[:1], wantErr: "forward: tag", wantEOF: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode(reader(tt.in))
			if err == nil {
				t.Fatal("Decode: no error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "forward: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if got := errors.Is(err, ErrLimitExceeded); got != tt.wantLimit {
				t.Errorf("errors.Is(ErrLimitExceeded) = %v, want %v", got, tt.wantLimit)
			}
			if got := errors.Is(err, io.ErrUnexpectedEOF); got != tt.wantEOF {
				t.Errorf("errors.Is(io.ErrUnexpectedEOF) = %v, want %v (%v)", got, tt.wantEOF, err)
			}
		})
	}
}

func TestDecodeEmptyInput(t *testing.T) {
	if _, _, err := Decode(reader(nil)); err != io.EOF {
		t.Fatalf("Decode(empty) = %v, want io.EOF", err)
	}
}

func TestDecodeLimits(t *testing.T) {
	big := strings.Repeat("x", 4096)
	var manyEvents [][]byte
	for i := 0; i < 11; i++ {
		manyEvents = append(manyEvents, entry(t0, true, "i", int64(i)))
	}
	// ~1 MiB of valid events that gzip down to a few KiB.
	var bomb []byte
	for len(bomb) < 1<<20 {
		bomb = append(bomb, entry(t0, true, "log", big)...)
	}
	deep := func(levels int) []byte {
		var b []byte
		for i := 0; i < levels; i++ {
			b = msgp.AppendArrayHeader(b, 1)
		}
		return msgp.AppendInt(b, 1)
	}
	msg := func(kv ...any) []byte { return messageMode("app", t0, "", kv...) }
	// str32 announcing 4 GiB with no bytes behind it.
	hugeStr := concat(msgp.AppendArrayHeader(nil, 3), msgp.AppendString(nil, "t"),
		appendEventTime(nil, t0), msgp.AppendMapHeader(nil, 1), msgp.AppendString(nil, "k"),
		[]byte{0xdb, 0xff, 0xff, 0xff, 0xff})
	// array32 announcing 2^31 entries.
	hugeArray := concat(msgp.AppendArrayHeader(nil, 2), msgp.AppendString(nil, "t"), []byte{0xdd, 0x80, 0, 0, 0})
	// map32 announcing 2^31 fields.
	hugeMap := concat(msgp.AppendArrayHeader(nil, 3), msgp.AppendString(nil, "t"),
		appendEventTime(nil, t0), []byte{0xdf, 0x80, 0, 0, 0})
	manyValues := msgp.AppendArrayHeader(nil, 100)
	for i := 0; i < 100; i++ {
		manyValues = msgp.AppendInt(manyValues, i)
	}

	tests := []struct {
		name    string
		limits  Limits
		in      []byte
		wantErr string
	}{
		{name: "entry bytes", limits: Limits{MaxEntryBytes: 1024}, in: msg("k", big), wantErr: "request larger than 1024 bytes"},
		{name: "announced string", in: hugeStr, wantErr: "request larger than 16777216 bytes"},
		{name: "announced events", in: hugeArray, wantErr: "forward: entries: more than 100000 events (2147483648 announced)"},
		{name: "announced fields", in: hugeMap, wantErr: "forward: record: request larger than 16777216 bytes (2147483648 elements announced)"},
		{name: "events forward", limits: Limits{MaxEvents: 10}, in: forwardMode("app", "", manyEvents...), wantErr: "more than 10 events (11 announced)"},
		{name: "events packed", limits: Limits{MaxEvents: 10}, in: packedMode("app", concat(manyEvents...), false), wantErr: "forward: packed entries: entry 10: more than 10 events"},
		{name: "decompressed bytes", limits: Limits{MaxDecompressedBytes: 64 << 10}, in: packedMode("app", gzipBytes(t, bomb), false, "compressed", "gzip"), wantErr: "decompressed entries larger than 65536 bytes"},
		{name: "depth", limits: Limits{MaxDepth: 8}, in: concat(msgp.AppendArrayHeader(nil, 3), msgp.AppendString(nil, "t"), appendEventTime(nil, t0), msgp.AppendMapHeader(nil, 1), msgp.AppendString(nil, "k"), deep(40)), wantErr: "nested deeper than 8"},
		{name: "values", limits: Limits{MaxValues: 50}, in: concat(msgp.AppendArrayHeader(nil, 3), msgp.AppendString(nil, "t"), appendEventTime(nil, t0), msgp.AppendMapHeader(nil, 1), msgp.AppendString(nil, "k"), manyValues), wantErr: `forward: record: key "k": element 49: more than 50 values`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tt.limits.Decode(reader(tt.in))
			if err == nil {
				t.Fatal("Decode: no error")
			}
			if !errors.Is(err, ErrLimitExceeded) {
				t.Errorf("error %q does not wrap ErrLimitExceeded", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}

	// The same inputs pass with default limits where they are legitimate.
	for _, in := range [][]byte{msg("k", big), forwardMode("app", "", manyEvents...), packedMode("app", gzipBytes(t, bomb), false, "compressed", "gzip")} {
		if _, _, err := Decode(reader(in)); err != nil {
			t.Errorf("default limits: %v", err)
		}
	}
}

func TestDecodeLargeStringGrowsWithData(t *testing.T) {
	// A 1 MiB string is read through the growing path and survives intact.
	s := strings.Repeat("abcdefgh", 1<<17)
	evs, _, err := Decode(reader(messageMode("app", t0, "", "k", s)))
	if err != nil {
		t.Fatal(err)
	}
	if got := evs[0].Record["k"]; got != s {
		t.Fatalf("string of %d bytes came back as %d bytes", len(s), len(got.(string)))
	}
	// The same string announced but cut short fails without a panic.
	in := messageMode("app", t0, "", "k", s)
	if _, _, err := Decode(reader(in[:len(in)/2])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestLimitsDefaults(t *testing.T) {
	got := DefaultLimits()
	want := Limits{
		MaxEntryBytes:        DefaultMaxEntryBytes,
		MaxDecompressedBytes: DefaultMaxDecompressedBytes,
		MaxEvents:            DefaultMaxEvents,
		MaxValues:            DefaultMaxValues,
		MaxDepth:             DefaultMaxDepth,
	}
	if got != want {
		t.Fatalf("DefaultLimits() = %+v, want %+v", got, want)
	}
	if (Limits{MaxEvents: 5}).withDefaults().MaxEvents != 5 {
		t.Fatal("explicit limit overwritten")
	}
}
