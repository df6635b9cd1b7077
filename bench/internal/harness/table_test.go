package harness

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	xs := []float64{3, 1, 2}
	if m := Median(xs); m != 2 || xs[0] != 3 {
		t.Errorf("odd: %v, input now %v", m, xs)
	}
	if m := Median([]float64{4, 1, 3, 2}); math.Abs(m-2.5) > 1e-9 {
		t.Errorf("even: %v", m)
	}
	if m := Median(nil); m != 0 {
		t.Errorf("none: %v", m)
	}
}

func TestPick(t *testing.T) {
	type run struct{ rps float64 }
	got := Pick([]run{{1}, {2.5}}, func(r run) float64 { return r.rps })
	if len(got) != 2 || got[0] != 1 || got[1] != 2.5 {
		t.Errorf("got %v", got)
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{FmtK(812.4), "812"},
		{FmtK(24370), "24.4k"},
		{FmtK(-1500), "-1.5k"},
		{FmtK(1234567), "1.23M"},
		{FmtMiB(14745), "14.4 MiB"},
		{FmtMiB(0), "0.0 MiB"},
		{FmtRatio(0.934), "0.93×"},
		{FmtRatio(0), "-"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	tw := NewTable(&b)
	fmt.Fprintln(tw, "contender\treq/s\t")
	fmt.Fprintln(tw, "nginx\t26.2k\t")
	tw.Flush()
	PrintNotes(&b, nil)
	PrintNotes(&b, []string{"noisy"})
	want := "  contender  req/s\n      nginx  26.2k\n\nnotes:\n  - noisy\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
