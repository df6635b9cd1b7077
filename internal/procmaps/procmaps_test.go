package procmaps

import "testing"

// TestParse: lines of this machine's /proc/self/maps (a Go program's).
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Mapping
		ok   bool
	}{
		{"3b006e000000-3b0074800000 rw-p 00000000 00:00 0 ", Mapping{Lo: 0x3b006e000000, Hi: 0x3b0074800000, Perms: "rw-p", Inode: "0"}, true},
		{"00400000-02460000 r-xp 00000000 fd:01 1234                         /tmp/a b/hopscope",
			Mapping{Lo: 0x400000, Hi: 0x2460000, Perms: "r-xp", Inode: "1234", Path: "/tmp/a b/hopscope"}, true},
		{"c000000000-c004000000 rw-p 00000000 00:00 0                          [anon: Go: heap]",
			Mapping{Lo: 0xc000000000, Hi: 0xc004000000, Perms: "rw-p", Inode: "0", Path: "[anon: Go: heap]"}, true},
		{"7ffed068c000-7ffed06ad000 rw-p 00000000 00:00 0                          [stack]",
			Mapping{Lo: 0x7ffed068c000, Hi: 0x7ffed06ad000, Perms: "rw-p", Inode: "0", Path: "[stack]"}, true},
		{"garbage", Mapping{}, false},
		{"5-4 rw-p 00000000 00:00 0", Mapping{}, false},
		{"x-4 rw-p 00000000 00:00 0", Mapping{}, false},
		{"", Mapping{}, false},
	} {
		got, ok := Parse([]byte(tc.line))
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("3b006e000000-3b0074800000 rw-p 00000000 00:00 0 "))
	f.Add([]byte("00400000-02460000 r-xp 00000000 fd:01 1234 /tmp/hopscope"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, ok := Parse(line)
		if ok && m.Hi <= m.Lo {
			t.Errorf("Parse(%q) = %+v: an empty or reversed range accepted", line, m)
		}
	})
}
