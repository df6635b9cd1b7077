package hugeheap

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"always [madvise] never\n", "madvise", false},
		{"[always] madvise never\n", "always", false},
		{"always madvise [never]\n", "never", false},
		{"always madvise never\n", "", true},
		{"", "", true},
	} {
		got, err := parseMode([]byte(tc.in))
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("parseMode(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestAnonMapping: real /proc/self/maps lines (this machine's, a Go
// program's) are told apart.
func TestAnonMapping(t *testing.T) {
	for _, tc := range []struct {
		line   string
		lo, hi uintptr
		ok     bool
	}{
		{"3b006e000000-3b0074800000 rw-p 00000000 00:00 0 ", 0x3b006e000000, 0x3b0074800000, true},
		{"3b0074800000-3b0078000000 ---p 00000000 00:00 0 ", 0, 0, false},
		{"c000000000-c004000000 rw-p 00000000 00:00 0                          [anon: Go: heap]", 0xc000000000, 0xc004000000, true},
		{"7ffed068c000-7ffed06ad000 rw-p 00000000 00:00 0                          [stack]", 0, 0, false},
		{"00599000-005cf000 rw-p 00198000 fd:01 1234                         /usr/bin/x", 0, 0, false},
		{"garbage", 0, 0, false},
		{"5-4 rw-p 00000000 00:00 0", 0, 0, false},
	} {
		lo, hi, ok := anonMapping([]byte(tc.line))
		if lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("anonMapping(%q) = %#x, %#x, %v; want %#x, %#x, %v", tc.line, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}

// vmFlags returns the VmFlags of the mapping of /proc/self/smaps holding
// addr.
func vmFlags(t *testing.T, addr uintptr) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	in := false
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) > 0 && bytes.IndexByte(f[0], '-') > 0 && !bytes.HasSuffix(f[0], []byte(":")) {
			l, h, _ := bytes.Cut(f[0], []byte("-"))
			lo, _ := strconv.ParseUint(string(l), 16, 64)
			hi, _ := strconv.ParseUint(string(h), 16, 64)
			in = uintptr(lo) <= addr && addr < uintptr(hi)
			continue
		}
		if in && bytes.HasPrefix(line, []byte("VmFlags:")) {
			return string(line)
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}

// TestAdvisorAdvisesGrowingHeap: under "madvise", the heap's mapping is
// advised (VmFlags hg) at Start, and so is memory the heap maps later,
// once Check sees it grew.
func TestAdvisorAdvisesGrowingHeap(t *testing.T) {
	mode, err := thpMode()
	if err != nil || mode != "madvise" {
		t.Skipf("transparent huge pages %q (%v): the advisor only acts under madvise", mode, err)
	}
	a, err := New(Config{Interval: time.Hour}) // Check is called by hand
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(ctx)
	st := a.Stats()
	if !st.Active || st.AdvisedBytes == 0 || st.Err != nil {
		t.Fatalf("after Start: %+v; want active, the heap advised", st)
	}
	if f := vmFlags(t, heapAddress()); !bytes.Contains([]byte(f), []byte(" hg")) {
		t.Errorf("the heap's mapping is not advised: %s", f)
	}
	// Grow the heap until the runtime maps 64 MiB more than at Start (the
	// memory of earlier runs in this process, freed, is used first).
	base := runtimeMapped()
	var keep [][]byte
	for runtimeMapped() < base+64<<20 && len(keep) < 1024 {
		keep = append(keep, make([]byte, 4<<20))
	}
	if runtimeMapped() < base+64<<20 {
		t.Fatalf("4 GiB allocated and the runtime mapped less than 64 MiB more")
	}
	before := st.AdvisedBytes
	if !a.Check() {
		t.Errorf("Check after the heap grew: reported no growth")
	}
	st = a.Stats()
	if st.AdvisedBytes <= before || st.Err != nil {
		t.Errorf("after the heap grew: %+v; want more advised than %d bytes", st, before)
	}
	last := keep[len(keep)-1]
	if f := vmFlags(t, uintptr(unsafe.Pointer(unsafe.SliceData(last)))); !bytes.Contains([]byte(f), []byte(" hg")) {
		t.Errorf("memory the heap mapped after Start is not advised: %s", f)
	}
	runtime.KeepAlive(keep)
	// No growth, no scan: the runtime's mapped memory held still (the
	// real figure moves with the test binary's own goroutines).
	a.mu.Lock()
	held := a.mapped
	a.readMapped = func() uint64 { return held }
	a.mu.Unlock()
	scans := st.Scans
	if a.Check() {
		t.Errorf("Check without growth: reported growth")
	}
	if st := a.Stats(); st.Scans != scans {
		t.Errorf("Check scanned the mappings again without growth: %d scans, want %d", st.Scans, scans)
	}
}
