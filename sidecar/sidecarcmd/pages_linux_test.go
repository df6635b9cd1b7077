package sidecarcmd

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"
)

// exeRSS is the resident KiB of this process's read-only mappings of its
// executable, from /proc/self/smaps.
func exeRSS(t *testing.T) int64 {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var kib int64
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if _, _, ok := bytes.Cut(line, []byte("-")); ok && len(bytes.Fields(line)) >= 5 && !bytes.HasSuffix(bytes.Fields(line)[0], []byte(":")) {
			_, _, in = exeMapping(line, exe)
			continue
		}
		if in && bytes.HasPrefix(line, []byte("Rss:")) {
			n, err := strconv.ParseInt(string(bytes.Fields(line)[1]), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			kib += n
		}
	}
	return kib
}

// TestReleaseStartupPages: the executable's read-only pages leave the
// process's RSS, and the code still runs (it faults back what it uses).
func TestReleaseStartupPages(t *testing.T) {
	before := exeRSS(t)
	advised, err := releaseStartupPages()
	if err != nil {
		t.Skipf("this kernel refuses MADV_PAGEOUT: %v", err)
	}
	after := exeRSS(t)
	if advised == 0 || before == 0 {
		t.Fatalf("advised %d bytes, executable RSS before %d KiB: found no mapping of the executable", advised, before)
	}
	if after > before/2 {
		t.Errorf("executable RSS %d KiB → %d KiB; want it at least halved", before, after)
	}
	t.Logf("executable RSS %d KiB → %d KiB (%d MiB of mappings advised)", before, after, advised>>20)
}

func TestExeMapping(t *testing.T) {
	const exe = "/hopscope-sidecar"
	tests := []struct {
		line   string
		ok     bool
		lo, hi uintptr
	}{
		{"00400000-00c5e000 r-xp 00000000 fd:01 123 /hopscope-sidecar", true, 0x400000, 0xc5e000},
		{"00c5e000-0148a000 r--p 0085e000 fd:01 123 /hopscope-sidecar", true, 0xc5e000, 0x148a000},
		{"0148a000-014e2000 rw-p 0108a000 fd:01 123 /hopscope-sidecar", false, 0, 0},
		{"c000000000-c000400000 rw-p 00000000 00:00 0 ", false, 0, 0},
		{"7f0000000000-7f0000001000 r--p 00000000 fd:01 9 /lib/other.so", false, 0, 0},
		{"zz-00c5e000 r-xp 00000000 fd:01 123 /hopscope-sidecar", false, 0, 0},
		{"00c5e000-00400000 r-xp 00000000 fd:01 123 /hopscope-sidecar", false, 0, 0},
		{"", false, 0, 0},
	}
	for _, tt := range tests {
		lo, hi, ok := exeMapping([]byte(tt.line), exe)
		if ok != tt.ok || lo != tt.lo || hi != tt.hi {
			t.Errorf("exeMapping(%q) = %#x, %#x, %v; want %#x, %#x, %v", tt.line, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
	}
}
