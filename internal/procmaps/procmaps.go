// Package procmaps parses the lines of Linux's /proc/PID/maps: the
// sidecar gives back its executable's start-up pages
// (sidecar/sidecarcmd) and the collector advises its heap's huge pages
// (internal/hugeheap) by what the lines say.
package procmaps

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Mapping is one line: "lo-hi perms offset dev inode [path]".
type Mapping struct {
	// Lo and Hi are the mapping's addresses, [Lo, Hi).
	Lo, Hi uintptr
	// Perms is "rwxp"-style: r, w, x or -, then p (private) or s
	// (shared).
	Perms string
	// Inode is the file's inode number, "0" for anonymous memory.
	Inode string
	// Path is the file, a name the kernel gives ("[stack]", "[heap]",
	// "[anon: NAME]"), or "" for anonymous memory without one.
	Path string
}

// Parse parses one line and reports whether it is one.
func Parse(line []byte) (Mapping, bool) {
	f := bytes.Fields(line)
	if len(f) < 5 {
		return Mapping{}, false
	}
	l, h, found := bytes.Cut(f[0], []byte("-"))
	if !found {
		return Mapping{}, false
	}
	a, err1 := strconv.ParseUint(string(l), 16, 64)
	b, err2 := strconv.ParseUint(string(h), 16, 64)
	if err1 != nil || err2 != nil || b <= a {
		return Mapping{}, false
	}
	m := Mapping{Lo: uintptr(a), Hi: uintptr(b), Perms: string(f[1]), Inode: string(f[4])}
	if len(f) > 5 {
		m.Path = string(bytes.Join(f[5:], []byte(" ")))
	}
	return m, true
}

// SelfLines reads this process's /proc/self/maps, a line each.
func SelfLines() ([][]byte, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("reading the mappings: %w", err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")), nil
}
