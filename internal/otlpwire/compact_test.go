package otlpwire

import (
	"bytes"
	"testing"
)

// TestCompact: the copies hold the same bytes in one allocation of the
// size returned, shared parts once, parts that are only equal (not the
// same bytes) each time, empty parts empty.
func TestCompact(t *testing.T) {
	req := []byte("RESOURCE-A|RESOURCE-B|scope|schema|span-1|span-2|span-3")
	resA, resB, scope, schema := req[0:10], req[11:21], req[22:27], req[28:34]
	equalA := []byte("RESOURCE-A") // equal to resA, other bytes
	spans := []Held{
		{Resource: resA, Scope: scope, ScopeSchema: schema, Span: req[35:41]},
		{Resource: resA, Scope: scope, ScopeSchema: schema, Span: req[42:48]},
		{Resource: resB, Scope: scope, Span: req[49:55]},
		{Resource: equalA, Span: []byte("span-4")},
		{Span: []byte{}},
	}
	out, n := Compact(spans)
	if want := 10 + 10 + 5 + 6 + 6*3 + 10 + 6; n != want {
		t.Errorf("size %d, want %d", n, want)
	}
	if len(out) != len(spans) {
		t.Fatalf("%d spans out of %d", len(out), len(spans))
	}
	for i := range spans {
		for _, p := range [][2][]byte{{out[i].Resource, spans[i].Resource}, {out[i].ResourceSchema, spans[i].ResourceSchema},
			{out[i].Scope, spans[i].Scope}, {out[i].ScopeSchema, spans[i].ScopeSchema}, {out[i].Span, spans[i].Span}} {
			if !bytes.Equal(p[0], p[1]) {
				t.Errorf("span %d: %q copied as %q", i, p[1], p[0])
			}
			if len(p[0]) > 0 && &p[0][0] == &p[1][0] {
				t.Errorf("span %d: %q not copied", i, p[1])
			}
		}
	}
	if &out[0].Resource[0] != &out[1].Resource[0] || &out[0].Scope[0] != &out[2].Scope[0] {
		t.Error("shared parts copied more than once")
	}
	if cap(out[0].Span) != len(out[0].Span) {
		t.Error("a copy can be appended to over its neighbour")
	}
	// One request out of Compact's spans equals one out of the originals.
	if a, b := AppendRequest(nil, spans[:3]), AppendRequest(nil, out[:3]); !bytes.Equal(a, b) {
		t.Error("the request built from the copies differs")
	}
}

// TestCompactManyResources: spans with a resource each (past the short
// list) are copied as well.
func TestCompactManyResources(t *testing.T) {
	var spans []Held
	want := 0
	shared := []byte("scope")
	for i := 0; i < 100; i++ {
		r := []byte{'r', byte(i)}
		spans = append(spans, Held{Resource: r, Scope: shared, Span: []byte{'s', byte(i)}})
		want += 4
	}
	out, n := Compact(spans)
	if n != want+len(shared) {
		t.Errorf("size %d, want %d", n, want+len(shared))
	}
	for i := range spans {
		if !bytes.Equal(out[i].Resource, spans[i].Resource) || !bytes.Equal(out[i].Span, spans[i].Span) || &out[i].Scope[0] != &out[0].Scope[0] {
			t.Fatalf("span %d: %+v", i, out[i])
		}
	}
}
