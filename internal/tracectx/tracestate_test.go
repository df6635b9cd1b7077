package tracectx

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestParseTracestate(t *testing.T) {
	long := func(key string, n int) string { return key + "=" + strings.Repeat("v", n-len(key)-1) } // a member of n characters
	var many []string
	for i := 1; i <= 33; i++ {
		many = append(many, fmt.Sprintf("k%02d=%d", i, i))
	}
	for _, tc := range []struct {
		name string
		in   []string
		want string
		err  string
	}{
		{"none", nil, "", ""},
		{"empty header", []string{""}, "", ""},
		{"one member", []string{"foo=1"}, "foo=1", ""},
		{"kept as sent", []string{"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"}, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", ""},
		{"headers combined in order", []string{"foo=1,bar=2", "rojo=1", "", "baz=3"}, "foo=1,bar=2,rojo=1,baz=3", ""},
		{"white space around members", []string{" foo=1 \t,\t bar=2 , baz=3\t"}, "foo=1,bar=2,baz=3", ""},
		{"empty members", []string{",foo=1,,bar=2,"}, "foo=1,bar=2", ""},
		{"space inside a value", []string{"foo=a b"}, "foo=a b", ""},
		{"repeated key keeps the first", []string{"foo=1,bar=2,foo=3"}, "foo=1,bar=2", ""},
		{"repeated key across headers", []string{"foo=1", "foo=2"}, "foo=1", ""},
		{"multi-tenant keys", []string{"t@v=1,foo@=2,foo@@bar=3,0a@b@c=4"}, "t@v=1,foo@=2,foo@@bar=3,0a@b@c=4", ""},
		{"32 members", []string{strings.Join(many[:32], ",")}, strings.Join(many[:32], ","), ""},
		{"33 members", []string{strings.Join(many[:20], ","), strings.Join(many[20:], ",")}, "", "more than 32 list members"},
		{"33 with a repeat is 32", []string{strings.Join(many[:32], ",") + ",k01=x"}, strings.Join(many[:32], ","), ""},
		{"upper-case key", []string{"FOO=1"}, "", "tracestate key"},
		{"key starting with @", []string{"@foo=1,bar=2"}, "", "tracestate key"},
		{"key with a dot", []string{"foo.bar=1"}, "", "tracestate key"},
		{"space before =", []string{"foo =1"}, "", "tracestate key"},
		{"key of 256", []string{strings.Repeat("z", 256) + "=1"}, strings.Repeat("z", 256) + "=1", ""},
		{"key of 257", []string{"foo=1", strings.Repeat("z", 257) + "=1"}, "", "tracestate key"},
		{"no =", []string{"foo"}, "", "not key=value"},
		{"empty value", []string{"foo=,bar=3"}, "", "tracestate value"},
		{"= in the value", []string{"foo=bar=baz"}, "", "tracestate value"},
		{"value of 257", []string{"foo=" + strings.Repeat("v", 257)}, "", "tracestate value"},
		{"control character", []string{"foo=a\x01"}, "", "tracestate value"},
		{"non-ASCII", []string{"foo=é"}, "", "tracestate value"},
		{"512 kept", []string{long("a", 128) + "," + long("b", 128) + "," + long("c", 128) + "," + long("d", 125)},
			long("a", 128) + "," + long("b", 128) + "," + long("c", 128) + "," + long("d", 125), ""},
		{"long members go first, from the right", []string{long("a", 200) + ",b=1," + long("c", 200) + ",d=2," + long("e", 200)},
			long("a", 200) + ",b=1," + long("c", 200) + ",d=2", ""},
		{"then from the right", []string{long("a", 120) + "," + long("b", 120) + "," + long("c", 120) + "," + long("d", 120) + "," + long("e", 120)},
			long("a", 120) + "," + long("b", 120) + "," + long("c", 120) + "," + long("d", 120), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTracestate(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || got != "" {
					t.Errorf("ParseTracestate(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseTracestate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if len(got) > TracestatePropagateLen {
				t.Errorf("%d characters", len(got))
			}
		})
	}
}

// TestParseTracestateAllocs: a header that needs no change costs no
// allocation (it is on every traced request's path).
func TestParseTracestateAllocs(t *testing.T) {
	in := []string{"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,foo@bar=1"}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseTracestate(in) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

// FuzzParseTracestate: whatever the input, the result is a valid
// tracestate of at most 32 members and 512 characters that parses to
// itself; and where OpenTelemetry Go's parser (an independent
// implementation, of the spec's first-level key grammar) accepts a header
// of at most 512 characters, this one keeps the same members.
func FuzzParseTracestate(f *testing.F) {
	f.Add("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "")
	f.Add("foo=1 \t , \t bar=2", "baz=3")
	f.Add("foo=1,foo=2", "")
	f.Add("@foo=1,bar=2", "")
	f.Add("foo=bar=baz", "")
	f.Add("t@"+strings.Repeat("v", 15)+"=1", "foo=1")
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := ParseTracestate([]string{a, b})
		if err != nil {
			if got != "" {
				t.Fatalf("error %v with %q", err, got)
			}
			return
		}
		if len(got) > TracestatePropagateLen {
			t.Fatalf("%d characters: %q", len(got), got)
		}
		again, err := ParseTracestate([]string{got})
		if err != nil || again != got {
			t.Fatalf("%q parses to %q, %v", got, again, err)
		}
		if got != "" && strings.Count(got, ",") >= TracestateMaxMembers {
			t.Fatalf("more than 32 members: %q", got)
		}
		joined := a
		if b != "" {
			joined = a + "," + b
		}
		if ts, err := trace.ParseTraceState(joined); err == nil && len(ts.String()) <= TracestatePropagateLen {
			if ts.String() != got {
				t.Fatalf("OpenTelemetry reads %q as %q, ParseTracestate as %q", joined, ts.String(), got)
			}
		}
	})
}
