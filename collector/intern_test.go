package collector

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/hopscope/hopscope/internal/otlpwire"
)

// TestInterner: a value seen before is handed out as the same string
// without allocating; the table keeps no more than its cap, and values
// beyond it are still returned right, as plain strings.
func TestInterner(t *testing.T) {
	in := newInterner(3)
	first := in.bytes([]byte("GET"))
	for _, tc := range []struct {
		name string
		get  func() string
		want string
	}{
		{"bytes", func() string { return in.bytes([]byte("GET")) }, "GET"},
		{"text", func() string { return in.text("GET") }, "GET"},
		{"string value", func() string { return in.value(otlpwire.Value{Type: otlpwire.TypeString, Str: []byte("GET")}) }, "GET"},
		{"empty", func() string { return in.bytes(nil) }, ""},
		{"not text", func() string { return in.value(otlpwire.Value{Type: otlpwire.TypeDouble, Double: 1}) }, ""},
	} {
		var got string
		if allocs := testing.AllocsPerRun(50, func() { got = tc.get() }); allocs != 0 || got != tc.want {
			t.Errorf("%s: %q with %.0f allocations, want %q with none", tc.name, got, allocs, tc.want)
		}
		if got != "" && unsafe.StringData(got) != unsafe.StringData(first) {
			t.Errorf("%s: a copy, not the table's string", tc.name)
		}
	}
	if got := in.value(otlpwire.Value{Type: otlpwire.TypeInt, Int: 5432}); got != "5432" {
		t.Errorf("int value: %q", got)
	}
	// Past the cap the table is emptied and starts again: hostile
	// cardinality does not grow it, and a common value comes back at once.
	for i := 0; i < 100; i++ {
		if got, want := in.bytes(fmt.Appendf(nil, "/route/%d", i)), fmt.Sprintf("/route/%d", i); got != want {
			t.Fatalf("past the cap: %q, want %q", got, want)
		}
		if n := in.size(); n > 3 {
			t.Fatalf("table holds %d values, past its cap 3", n)
		}
	}
	again := in.bytes([]byte("GET"))
	if got := in.bytes([]byte("GET")); got != "GET" || unsafe.StringData(got) != unsafe.StringData(again) {
		t.Errorf("GET after the table was emptied: %q, not kept again", got)
	}
}

// TestInternerConcurrent: interning from several goroutines (the OTLP
// receivers' requests) gives each the right value (run with -race).
func TestInternerConcurrent(t *testing.T) {
	in := newInterner(8)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				want := fmt.Sprintf("svc-%d", i%16)
				if got := in.bytes([]byte(want)); got != want {
					t.Errorf("got %q, want %q", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := in.size(); n < 1 || n > 8 {
		t.Errorf("table holds %d values, want 1 to its cap 8", n)
	}
}

// FuzzStatementVerb: the operation read from a statement without making
// text of it is what strings.Fields and strings.ToUpper made of it before.
func FuzzStatementVerb(f *testing.F) {
	for _, s := range []string{"select 1", "  SELECT * FROM t", "\u00a0update orders set x = 1", "", "   ", "ünïcode stmt", "insert\tinto t", "\xff\xfe x"} {
		f.Add(s)
	}
	in := newInterner(16)
	f.Fuzz(func(t *testing.T, stmt string) {
		want := strings.ToUpper(firstField(stmt))
		if got := statementVerb(in, otlpwire.Value{Type: otlpwire.TypeString, Str: []byte(stmt)}); got != want {
			t.Errorf("statementVerb(%q) = %q, want %q", stmt, got, want)
		}
	})
}
