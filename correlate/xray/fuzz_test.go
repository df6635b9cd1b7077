package xray

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		albRoot,
		albSelfRoot,
		full,
		"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?;Lineage=a87bd80c:1|68fd508a:5",
		"",
		";;;",
		"Root=",
		"Root=1-00000000-000000000000000000000000",
		"Root=1-5759e988-bd862e3fe1be46a99427279g",
		"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz",
		"Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-5759e988-bd862e3fe1be46a994272793",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h, err := Parse(v)
		if err != nil {
			if h != (Header{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", v, h, err)
			}
			return
		}
		hx := h.TraceIDHex()
		if len(hx) != 32 {
			t.Fatalf("Parse(%q): TraceIDHex() = %q, want 32 hex digits", v, hx)
		}
		if hx != strings.ToLower(h.Root[2:10]+h.Root[11:]) {
			t.Fatalf("Parse(%q): TraceIDHex() = %q does not match Root %q", v, hx, h.Root)
		}
		tid := h.TraceID()
		if tid == ([16]byte{}) {
			t.Fatalf("Parse(%q) accepted an all-zero trace id", v)
		}
		var parent [8]byte
		parent[7] = 1
		for _, sampled := range []bool{false, true} {
			out := Format(tid, parent, sampled)
			h2, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(Format(%x)) = %v", tid, err)
			}
			if h2.TraceID() != tid {
				t.Fatalf("round trip trace id %x, want %x", h2.TraceID(), tid)
			}
		}
	})
}
