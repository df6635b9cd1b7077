package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

func TestParseFlags(t *testing.T) {
	if o, err := parseFlags(nil); err != nil || o.traces != 300 {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--traces", "3"}, "at least 10"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		if _, err := parseFlags(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestPct(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 101; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if pct(d, 50) != 51*time.Millisecond || pct(d, 99) != 100*time.Millisecond || pct(d, 0) != time.Millisecond {
		t.Errorf("p50 %v p99 %v p0 %v", pct(d, 50), pct(d, 99), pct(d, 0))
	}
	if ms(1500*time.Microsecond) != "1.50" {
		t.Errorf("ms = %s", ms(1500*time.Microsecond))
	}
}

func TestSpanIsASidecarServerSpan(t *testing.T) {
	b := string(span("0af7651916cd43dd8448eb211c80319c"))
	for _, want := range []string{`"traceId":"0af7651916cd43dd8448eb211c80319c"`, `"kind":2`, `"hopscope.component"`, `"stringValue":"sidecar"`} {
		if !strings.Contains(b, want) {
			t.Errorf("span lacks %s: %s", want, b)
		}
	}
}
