package albdir

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fuzzMaxLine is MaxLineBytes in FuzzReadGzip: fuzzed lines pass it.
const fuzzMaxLine = 40

// fuzzReader reads one file at a time with readFile, collecting what it
// delivers and reports.
type fuzzReader struct {
	r     *Reader
	lines []Line
	errs  []error
}

func newFuzzReader(tb testing.TB, dir string) *fuzzReader {
	fr := &fuzzReader{}
	cfg := Config{Dir: dir, ScanInterval: time.Hour, MaxLineBytes: fuzzMaxLine,
		OnError: func(_ string, err error) { fr.errs = append(fr.errs, err) }}
	r, err := newLines(cfg, func(l Line) {
		l.Text = bytes.Clone(l.Text) // valid only during the call
		fr.lines = append(fr.lines, l)
	})
	if err != nil {
		tb.Fatal(err)
	}
	// The smallest buffer bufio allows, so that lines longer than it take
	// the held path, as a line over 64 KiB does in production.
	r.setLineBuffer(16)
	fr.r = r
	return fr
}

// read writes data to path and reads it with readFile after skip lines.
func (fr *fuzzReader) read(t *testing.T, path string, data []byte, skip int64) (n int64, bytesRead uint64) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fr.lines, fr.errs = nil, nil
	before := fr.r.Stats()
	n, _, outcome := fr.r.readFile(snapshot{rel: filepath.Base(path), path: path, size: fi.Size(), mtime: fi.ModTime()}, skip)
	if outcome != done {
		t.Fatalf("readFile(%s) outcome %d, want done", path, outcome)
	}
	after := fr.r.Stats()
	if got := after.Lines - before.Lines; got != uint64(len(fr.lines)) {
		t.Fatalf("Stats.Lines grew by %d for %d lines delivered", got, len(fr.lines))
	}
	if got := after.Errors - before.Errors; got != uint64(len(fr.errs)) {
		t.Fatalf("Stats.Errors grew by %d for %d errors reported", got, len(fr.errs))
	}
	return n, after.Bytes - before.Bytes
}

// check compares what was delivered after skip with want, the file's
// lines, and the reports with the over-long lines among them plus damaged
// (a reading error after them).
func (fr *fuzzReader) check(t *testing.T, what, path string, want [][]byte, skip int64, damaged bool) {
	t.Helper()
	var wantErrs int
	var delivered []Line
	for i, text := range want {
		if int64(i) < skip {
			continue
		}
		if len(text) > fuzzMaxLine {
			wantErrs++
			text = text[:fuzzMaxLine]
		}
		delivered = append(delivered, Line{Source: path, Number: int64(i) + 1, Text: text})
	}
	if damaged {
		wantErrs++
	}
	if !slices.EqualFunc(fr.lines, delivered, func(a, b Line) bool {
		return a.Source == b.Source && a.Number == b.Number && bytes.Equal(a.Text, b.Text)
	}) {
		t.Fatalf("%s (skip %d): delivered %s\nwant %s", what, skip, showLines(fr.lines), showLines(delivered))
	}
	if len(fr.errs) != wantErrs {
		t.Fatalf("%s: %d errors reported, want %d: %v", what, len(fr.errs), wantErrs, fr.errs)
	}
	for _, err := range fr.errs[:wantErrs-btoi(damaged)] {
		if !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("%s: error %v for an over-long line does not wrap ErrLineTooLong", what, err)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func showLines(ls []Line) string {
	var b bytes.Buffer
	for _, l := range ls {
		fmt.Fprintf(&b, "\n  %d %q", l.Number, l.Text)
	}
	return b.String()
}

// refLines splits data into lines: the last one needs no newline; when
// the data is damaged (cut short), an unterminated last fragment is not a
// line.
func refLines(data []byte, damaged bool) [][]byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if last := lines[len(lines)-1]; len(last) == 0 || damaged && last[len(last)-1] != '\n' {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\n"))
	}
	return lines
}

// FuzzReadGzip: for any bytes in an .log.gz file, the lines delivered (and
// the line count readFile returns, and Stats.Bytes) are those of what a
// reference gunzip (compress/gzip, io.ReadAll) makes of the file: the
// complete lines, and a last line without newline unless the stream is
// damaged; each cut to MaxLineBytes and reported with ErrLineTooLong; a
// damaged stream reported once more, an unreadable header once with no
// line, an empty file without report; after skip lines only the rest,
// numbered on. Text cut into gzip members at any two points is read as the
// text itself, in a .log.gz as in a .log. Seeds: f.Add below and
// testdata/fuzz/FuzzReadGzip.
func FuzzReadGzip(f *testing.F) {
	alb := "https 2025-11-26T07:30:01.123456Z app/shop/50dc6c495c0c9188 203.0.113.9:51234 10.0.1.17:15080 0.001 0.084 0.000 200 200 512 7634 " +
		"\"GET https://shop.example:443/orders/42 HTTP/1.1\" \"Mozilla/5.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 " +
		"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/73e2d6bc24d8a067 \"Root=1-5759e988-bd862e3fe1be46a994272793\"\n"
	for _, s := range []struct {
		file, text string
		c1, c2     uint16
		skip       uint8
	}{
		{gzString(f, alb+alb), alb + alb, 10, 300, 0},
		{gzString(f, "a\nb\r\nc"), "a\nb\r\nc", 2, 3, 1},
		{gzString(f, "a\n")[:12], "\n\n\n", 1, 2, 0},
		{gzString(f, "first\n") + gzString(f, "second\nthi") + gzString(f, "rd\n"), "no newline at the end", 0, 0, 0},
		{gzString(f, "ok\n") + "trailing garbage", "x\n" + string(bytes.Repeat([]byte("y"), 100)) + "\nz", 3, 50, 2},
		{"", "", 0, 0, 0},
	} {
		f.Add([]byte(s.file), []byte(s.text), s.c1, s.c2, s.skip)
	}
	dir := f.TempDir()
	fr := newFuzzReader(f, dir)
	gzPath, logPath := filepath.Join(dir, "x.log.gz"), filepath.Join(dir, "x.log")
	f.Fuzz(func(t *testing.T, file, text []byte, c1, c2 uint16, skipByte uint8) {
		skip := int64(skipByte % 8)

		// Any file, against the reference gunzip.
		var want [][]byte
		var dec []byte
		damaged, headerErr := false, false
		zr, err := gzip.NewReader(bytes.NewReader(file))
		switch {
		case err == io.EOF: // an empty file
		case err != nil:
			headerErr = true
		default:
			dec, err = io.ReadAll(zr)
			damaged = err != nil
			want = refLines(dec, damaged)
		}
		for _, sk := range []int64{0, skip} {
			n, nbytes := fr.read(t, gzPath, file, sk)
			if headerErr {
				if len(fr.lines) != 0 || len(fr.errs) != 1 {
					t.Fatalf("unreadable gzip header: %d lines, %d errors; want none and 1", len(fr.lines), len(fr.errs))
				}
				continue
			}
			fr.check(t, "gzip file", gzPath, want, sk, damaged)
			if n != int64(len(want)) { // skipped ones included
				t.Fatalf("readFile returned %d lines read, want %d", n, len(want))
			}
			if nbytes != uint64(len(dec)) {
				t.Fatalf("Stats.Bytes grew by %d, decompressed %d", nbytes, len(dec))
			}
		}

		// Text in one to three members, and as a plain file.
		cuts := []int{0, min(int(c1), len(text)), min(int(c2), len(text)), len(text)}
		slices.Sort(cuts)
		var members bytes.Buffer
		for i := 0; i+1 < len(cuts); i++ {
			if i == 0 || cuts[i] != cuts[i+1] {
				members.Write(gzBytes(t, text[cuts[i]:cuts[i+1]]))
			}
		}
		want = refLines(text, false)
		fr.read(t, gzPath, members.Bytes(), skip)
		fr.check(t, fmt.Sprintf("text in members cut at %v", cuts[1:3]), gzPath, want, skip, false)
		fr.read(t, logPath, text, skip)
		fr.check(t, "plain file", logPath, want, skip, false)
	})
}

// fuzzZW is reused: a gzip.Writer costs hundreds of KiB to make.
var fuzzZW, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed)

func gzBytes(tb testing.TB, data []byte) []byte {
	var b bytes.Buffer
	zw := fuzzZW
	zw.Reset(&b)
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func gzString(tb testing.TB, s string) string { return string(gzBytes(tb, []byte(s))) }
