package forward

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Builders of forward-protocol requests, written with msgp append functions.

var (
	t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	t1 = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
)

// appendEventTime appends t as the EventTime extension (fixext8, type 0).
func appendEventTime(b []byte, t time.Time) []byte {
	b = append(b, 0xd7, 0x00)
	b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// appendEventTimeExt8 appends t as ext8 with length 8, the longer
// encoding some clients use.
func appendEventTimeExt8(b []byte, t time.Time) []byte {
	b = append(b, 0xc7, 0x08, 0x00)
	b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// appendRecord appends a record with sorted, deterministic keys.
func appendRecord(b []byte, kv ...any) []byte {
	b = msgp.AppendMapHeader(b, uint32(len(kv)/2))
	for i := 0; i < len(kv); i += 2 {
		b = msgp.AppendString(b, kv[i].(string))
		var err error
		if b, err = msgp.AppendIntf(b, kv[i+1]); err != nil {
			panic(err)
		}
	}
	return b
}

func appendOption(b []byte, kv ...string) []byte {
	b = msgp.AppendMapHeader(b, uint32(len(kv)/2))
	for i := 0; i < len(kv); i += 2 {
		b = msgp.AppendString(b, kv[i])
		b = msgp.AppendString(b, kv[i+1])
	}
	return b
}

// messageMode builds [tag, EventTime, record] or with option chunk.
func messageMode(tag string, t time.Time, chunk string, kv ...any) []byte {
	n := uint32(3)
	if chunk != "" {
		n = 4
	}
	b := msgp.AppendArrayHeader(nil, n)
	b = msgp.AppendString(b, tag)
	b = appendEventTime(b, t)
	b = appendRecord(b, kv...)
	if chunk != "" {
		b = appendOption(b, "chunk", chunk)
	}
	return b
}

// entry builds one [time, record] pair with integer seconds when intTime.
func entry(t time.Time, intTime bool, kv ...any) []byte {
	b := msgp.AppendArrayHeader(nil, 2)
	if intTime {
		b = msgp.AppendInt64(b, t.Unix())
	} else {
		b = appendEventTime(b, t)
	}
	return appendRecord(b, kv...)
}

func forwardMode(tag, chunk string, entries ...[]byte) []byte {
	n := uint32(2)
	if chunk != "" {
		n = 3
	}
	b := msgp.AppendArrayHeader(nil, n)
	b = msgp.AppendString(b, tag)
	b = msgp.AppendArrayHeader(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e...)
	}
	if chunk != "" {
		b = appendOption(b, "chunk", chunk)
	}
	return b
}

// packedMode builds PackedForward; asStr sends the stream as str, opts
// are option key/values.
func packedMode(tag string, stream []byte, asStr bool, opts ...string) []byte {
	n := uint32(2)
	if len(opts) > 0 {
		n = 3
	}
	b := msgp.AppendArrayHeader(nil, n)
	b = msgp.AppendString(b, tag)
	if asStr {
		b = msgp.AppendStringFromBytes(b, stream)
	} else {
		b = msgp.AppendBytes(b, stream)
	}
	if len(opts) > 0 {
		b = appendOption(b, opts...)
	}
	return b
}

func gzipBytes(tb testing.TB, p []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(p); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func reader(b []byte) *msgp.Reader {
	return msgp.NewReader(bytes.NewReader(b))
}
