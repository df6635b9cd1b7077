package hugeheap

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/hopscope/hopscope/internal/procmaps"
)

const (
	madvHugepage = 14      // MADV_HUGEPAGE
	hugePage     = 2 << 20 // x86-64 and arm64 (4 KiB pages) PMD size
	heapReach    = 1 << 40 // the heap's mappings lie within this of a heap object
)

// thpMode reads the host's transparent huge page mode: the bracketed word
// of /sys/kernel/mm/transparent_hugepage/enabled.
func thpMode() (string, error) {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return "", fmt.Errorf("reading the transparent huge page mode: %w", err)
	}
	return parseMode(b)
}

func parseMode(b []byte) (string, error) {
	i, j := bytes.IndexByte(b, '['), bytes.IndexByte(b, ']')
	if i < 0 || j < i {
		return "", fmt.Errorf("transparent huge page mode %q: no [selected] word", bytes.TrimSpace(b))
	}
	return string(b[i+1 : j]), nil
}

// heapAddress returns the address of a fresh heap object: a 128 KiB one,
// which the runtime places in its arenas (a large object: never in a span
// of small objects', too large for a stack).
func heapAddress() uintptr {
	escape = new([128 << 10]byte)
	p := uintptr(unsafe.Pointer(escape))
	escape = nil
	return p
}

var escape *[128 << 10]byte

// adviseHeap advises the anonymous private read-write mappings of at
// least a huge page within heapReach of heap that advised does not hold
// as they are, and records them there. It returns the bytes advised.
func adviseHeap(heap uintptr, advised map[[2]uintptr]bool) (uint64, error) {
	lines, err := procmaps.SelfLines()
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, line := range lines {
		lo, hi, ok := anonMapping(line)
		if !ok || hi-lo < hugePage || lo+heapReach < heap || heap+heapReach < hi {
			continue
		}
		key := [2]uintptr{lo, hi}
		if advised[key] {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, madvHugepage); e != 0 {
			return n, fmt.Errorf("madvise(MADV_HUGEPAGE) %#x-%#x: %w", lo, hi, e)
		}
		advised[key] = true
		n += uint64(hi - lo)
	}
	return n, nil
}

// anonMapping parses one /proc/self/maps line and says whether it is an
// anonymous private read-write mapping: no path, or a name the runtime
// gave it ("[anon: Go: heap]", kernels with anonymous VMA names); [stack]
// and files are not.
func anonMapping(line []byte) (lo, hi uintptr, ok bool) {
	m, ok := procmaps.Parse(line)
	if !ok || m.Perms != "rw-p" || m.Inode != "0" || m.Path != "" && !strings.HasPrefix(m.Path, "[anon:") {
		return 0, 0, false
	}
	return m.Lo, m.Hi, true
}
