package tail

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzMaxLine is MaxLineBytes in FuzzLines: fuzzed lines pass it.
const fuzzMaxLine = 24

// FuzzLines: a byte stream appended to the followed file in arbitrary
// write chunks and read with an arbitrary buffer size is delivered, after
// every poll, as exactly the complete lines written so far (numbered from
// 1, the text without its newline, a '\r' kept) — a partial last line is
// held back until its newline arrives; a line longer than MaxLineBytes is
// delivered cut to it and reported once with ErrLineTooLong. The offset
// that would be saved is the one after the last newline, Stats.Bytes is
// what was written, and a held partial line is delivered, cut the same
// way, when the file is released (rotation, truncation). Seeds: f.Add
// below and testdata/fuzz/FuzzLines.
func FuzzLines(f *testing.F) {
	nginx := `203.0.113.9 - - [26/Nov/2025:07:30:01 +0000] "GET /orders/42 HTTP/1.1" 200 7634 "-" "Mozilla/5.0" 512 0.085 [shop-shop-80] [] 10.0.1.17:15080 7634 0.084 200 0af7651916cd43dd8448eb211c80319c` + "\n"
	f.Add([]byte(nginx+nginx), []byte{40, 3, 200}, uint8(7))
	f.Add([]byte("a\nbb\r\nccc\n\ndd"), []byte{1}, uint8(0))
	f.Add([]byte("partial line without newline"), []byte{5, 0}, uint8(3))
	f.Add(bytes.Repeat([]byte("0123456789"), 8), []byte{7}, uint8(31))
	f.Add([]byte("short\n"+string(bytes.Repeat([]byte("x"), 60))+"\nend\n"), []byte{}, uint8(16))
	f.Add([]byte("\n\n\n"), []byte{0, 0}, uint8(1))

	dir := f.TempDir()
	path := filepath.Join(dir, "access.log")
	f.Fuzz(func(t *testing.T, data, chunks []byte, bufByte uint8) {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		var lines []Line
		var errs []error
		tl, err := newLines(Config{Path: path, PollInterval: time.Hour, RotateWait: time.Hour, MaxLineBytes: fuzzMaxLine,
			ReadBufferBytes: int(bufByte%32) + 1, OnError: func(_ string, err error) { errs = append(errs, err) }},
			func(l Line) {
				l.Text = bytes.Clone(l.Text) // valid only during the call
				lines = append(lines, l)
			})
		if err != nil {
			t.Fatal(err)
		}
		if !tl.open() {
			t.Fatalf("open %s: %v", path, errs)
		}
		defer tl.cur.f.Close()
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()

		written := 0
		for i := 0; written < len(data); i++ {
			n := len(data) - written
			if len(chunks) > 0 {
				n = min(n, int(chunks[i%len(chunks)]%19)+1)
			}
			if _, err := w.Write(data[written : written+n]); err != nil {
				t.Fatal(err)
			}
			written += n
			tl.step()
			complete := bytes.LastIndexByte(data[:written], '\n') + 1
			checkLines(t, fmt.Sprintf("after %d of %d bytes", written, len(data)), lines, errs, data[:complete], false)
			if tl.cur.committed != int64(complete) {
				t.Fatalf("after %d bytes: offset to save %d, want %d (after the last newline)", written, tl.cur.committed, complete)
			}
		}
		tl.step() // nothing new
		if got := tl.Stats().Bytes; got != uint64(len(data)) {
			t.Fatalf("Stats.Bytes = %d, wrote %d", got, len(data))
		}
		tl.flushPending(tl.cur)
		checkLines(t, "released", lines, errs, data, true)
		if tl.cur.committed != int64(len(data)) {
			t.Fatalf("released: offset %d, want %d", tl.cur.committed, len(data))
		}
	})
}

// checkLines checks that lines are the lines of data (a last one without
// newline only when withPartial), cut to fuzzMaxLine, and that errs are
// one ErrLineTooLong for each that was cut.
func checkLines(t *testing.T, what string, lines []Line, errs []error, data []byte, withPartial bool) {
	t.Helper()
	want := bytes.Split(data, []byte("\n"))
	if last := want[len(want)-1]; len(last) == 0 || !withPartial {
		want = want[:len(want)-1] // the empty string after the last newline, or a partial line
	}
	if len(lines) != len(want) {
		t.Fatalf("%s: %d lines delivered, want %d:\n got %q\nwant %q", what, len(lines), len(want), texts(lines), want)
	}
	tooLong := 0
	for i, l := range lines {
		text := want[i]
		if len(text) > fuzzMaxLine {
			text = text[:fuzzMaxLine]
			tooLong++
		}
		if l.Number != int64(i)+1 || !bytes.Equal(l.Text, text) {
			t.Fatalf("%s: line %d = %d %q, want %d %q", what, i, l.Number, l.Text, i+1, text)
		}
	}
	if len(errs) != tooLong {
		t.Fatalf("%s: %d errors for %d over-long lines: %v", what, len(errs), tooLong, errs)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("%s: error %v does not wrap ErrLineTooLong", what, err)
		}
	}
}

func texts(lines []Line) [][]byte {
	var out [][]byte
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}
