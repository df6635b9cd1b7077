package pgproxy

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func whole(b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	return [][]byte{b}
}

func bytewise(b []byte) [][]byte {
	var out [][]byte
	for i := range b {
		out = append(out, b[i:i+1])
	}
	return out
}

// TestDecoderSplits: however the byte streams are cut into reads (each
// step cut at every byte boundary, or read a byte at a time), the
// decoder sees the same calls.
func TestDecoderSplits(t *testing.T) {
	check := func(t *testing.T, name string, split func([]byte) [][]byte) {
		t.Helper()
		ts := newTestSession(t)
		ts.feed(conversation, split)
		if ts.failed.Load() {
			t.Fatalf("%s: decoding failed", name)
		}
		if got := calls(ts.spans.Ended()); fmt.Sprint(got) != fmt.Sprint(wantCalls) {
			t.Fatalf("%s: calls\n%v\nwant\n%v", name, got, wantCalls)
		}
		for _, s := range ts.spans.Ended() {
			for _, kv := range s.Attributes() {
				if strings.Contains(kv.Value.Emit(), "secret") {
					t.Fatalf("%s: span %s carries %s=%q", name, s.Name(), kv.Key, kv.Value.Emit())
				}
			}
		}
	}
	check(t, "whole", whole)
	check(t, "bytewise", bytewise)
	for i := range conversation {
		for _, side := range []string{"client", "server"} {
			b := conversation[i].client
			if side == "server" {
				b = conversation[i].server
			}
			for cut := 1; cut < len(b); cut++ {
				split := func(p []byte) [][]byte {
					if bytes.Equal(p, b) {
						return [][]byte{p[:cut], p[cut:]}
					}
					return whole(p)
				}
				check(t, fmt.Sprintf("step %d %s cut at %d", i, side, cut), split)
			}
		}
	}
}

// TestDecoderFailures: what the decoder cannot follow stops the decoding
// (counted once, the connection counted relayed), never the relay.
func TestDecoderFailures(t *testing.T) {
	ready := []step{{startupMsg("u", "d"), serverHello()}}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"client length below 4", append(ready, step{client: []byte{'Q', 0, 0, 0, 3}})},
		{"client length above 1 GiB", append(ready, step{client: []byte{'Q', 0x40, 0, 0, 5}})},
		{"unknown client message", append(ready, step{client: msg('Y', []byte("x"))})},
		{"server message sent by the client", append(ready, step{client: readyMsg()})},
		{"startup packet too long", []step{{client: cat(i32(20000), i32(196608))}}},
		{"server length below 4", append(ready, step{client: queryMsg("SELECT 1"), server: []byte{'Z', 0, 0, 0, 0}})},
		{"unknown server message", append(ready, step{client: queryMsg("SELECT 1"), server: msg('x')})},
		{"too many calls in flight", append(ready, step{client: bytes.Repeat(syncMsg(), maxPending+1)})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSession(t)
			ts.feed(tc.steps, whole)
			if !ts.failed.Load() {
				t.Fatal("decoding went on")
			}
			// More bytes after the failure are not decoded, and do not panic.
			ts.feed(conversation, whole)
			fx := &fixture{t: t, reg: ts.reg}
			if got := fx.decodeErrors(); got != 1 {
				t.Errorf("decode errors %v, want 1", got)
			}
			if n := len(queries(ts.spans.Ended())); n != 0 {
				t.Errorf("%d query spans after a failure", n)
			}
			if fx.gauge("decoded") != 0 || fx.gauge("relayed") != 1 {
				t.Errorf("connections decoded=%v relayed=%v, want 0 and 1", fx.gauge("decoded"), fx.gauge("relayed"))
			}
		})
	}
}

// TestDecoderStreamsLargeMessages: a 100 MB CopyData and a 1 MB query
// stream through in 32 KiB reads without being buffered: no allocation
// per read, the capture bounded; a sqlcommenter comment at the end of the
// long query is still found.
func TestDecoderStreamsLargeMessages(t *testing.T) {
	ts := newTestSession(t)
	ts.feed([]step{{startupMsg("u", "d"), serverHello()}, {queryMsg("COPY t FROM STDIN"), msg('G', []byte{0}, i16(0))}}, whole)
	const size = 100 << 20
	ts.clientBytes(cat([]byte{'d'}, i32(size+4)))
	chunk := make([]byte, bufSize)
	reads := size / bufSize
	// AllocsPerRun reads once more than it counts: reads reads in all.
	allocs := testing.AllocsPerRun(reads-1, func() { ts.clientBytes(chunk) })
	if allocs != 0 {
		t.Errorf("%v allocations per 32 KiB read of CopyData", allocs)
	}
	ts.feed([]step{{copyDone(), cat(completeMsg("COPY 1"), readyMsg())}}, whole)
	if ts.failed.Load() {
		t.Fatal("decoding failed")
	}

	long := "SELECT '" + strings.Repeat("x", 1<<20) + "' /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/"
	q := queryMsg(long)
	for len(q) > 0 {
		n := min(bufSize, len(q))
		ts.clientBytes(q[:n])
		q = q[n:]
	}
	ts.serverBytes(readyMsg())
	ts.finish(nil)
	if cap(ts.fe.f.buf) > 2*textCapture {
		t.Errorf("capture buffer grew to %d bytes", cap(ts.fe.f.buf))
	}
	spans := queries(ts.spans.Ended())
	if got := calls(spans); len(got) != 2 || got[0] != (call{"COPY", "COPY t FROM STDIN", ""}) || got[1].op != "SELECT" {
		t.Fatalf("calls %v", got)
	}
	s := spans[1]
	if got := attr(s, "hopscope.attribution"); got != "exact" || s.Parent().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("long query: attribution %s parent %s, want exact from its trailing comment", got, s.Parent().TraceID())
	}
	if text := attr(s, "db.query.text"); text != "SELECT ?" {
		t.Errorf("long query text %q", text)
	}
}

// TestNonStandardStringsFollowed: once the server reports
// standard_conforming_strings off (at startup, or after a SET), a
// backslash-escaped quote in a plain string does not end it, and what
// follows stays hidden; when it is reported on again, strings are read the
// standard way (issue 19, item 12).
func TestNonStandardStringsFollowed(t *testing.T) {
	param := func(name, value string) []byte { return msg('S', cstr(name), cstr(value)) }
	const q = `SELECT * FROM u WHERE p = 'it\'s the s3cret' AND q = 1`
	ts := newTestSession(t)
	ts.feed([]step{
		{startupMsg("u", "d"), cat(msg('R', i32(0)), param("standard_conforming_strings", "off"), msg('K', i32(1), i32(2)), readyMsg())},
		{queryMsg(q), cat(completeMsg("SELECT 0"), readyMsg())},
		{queryMsg("SET standard_conforming_strings = on"), cat(completeMsg("SET"), param("standard_conforming_strings", "on"), readyMsg())},
		{queryMsg(`SELECT 'a\', b FROM t`), cat(completeMsg("SELECT 0"), readyMsg())},
	}, whole)
	var texts []string
	for _, c := range calls(ts.spans.Ended()) {
		texts = append(texts, c.text)
	}
	want := []string{"SELECT * FROM u WHERE p = ? AND q = ?", "SET standard_conforming_strings = ?", "SELECT ?, b FROM t"}
	if fmt.Sprint(texts) != fmt.Sprint(want) {
		t.Errorf("texts %q, want %q", texts, want)
	}
}
