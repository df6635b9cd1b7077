package queuetime

import (
	"strconv"
	"testing"
	"time"
)

// now is 100.123456 ms after 1512379167.574 (2017-12-04T09:19:27.574Z).
var now = time.Unix(1512379167, 674_123_456)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		now    time.Time // zero means the package-level now
		want   time.Duration
		wantOK bool
	}{
		// Every unit.
		{name: "seconds with fraction, t= prefix", in: "t=1512379167.574", want: 100123456 * time.Nanosecond, wantOK: true},
		{name: "seconds without fraction", in: "t=1512379167", want: 674123456 * time.Nanosecond, wantOK: true},
		{name: "seconds without prefix", in: "1512379167.574", want: 100123456 * time.Nanosecond, wantOK: true},
		{name: "seconds, fraction beyond nanoseconds truncated", in: "t=1512379167.574123456789", want: 100 * time.Millisecond, wantOK: true},
		{name: "seconds, one fraction digit", in: "t=1512379167.5", want: 174123456 * time.Nanosecond, wantOK: true},
		{name: "milliseconds", in: "t=1512379167574", want: 100123456 * time.Nanosecond, wantOK: true},
		{name: "milliseconds without prefix (Heroku)", in: "1512379167574", want: 100123456 * time.Nanosecond, wantOK: true},
		{name: "milliseconds with fraction", in: "t=1512379167574.5", want: 99623456 * time.Nanosecond, wantOK: true},
		{name: "microseconds (Apache %t)", in: "t=1512379167574123", want: 100000456 * time.Nanosecond, wantOK: true},
		{name: "microseconds with Apache D= field", in: "t=1512379167574123 D=1234", want: 100000456 * time.Nanosecond, wantOK: true},
		{name: "nanoseconds", in: "t=1512379167574123456", want: 100 * time.Millisecond, wantOK: true},
		{name: "nanoseconds, fraction ignored", in: "1512379167574123456.9", want: 100 * time.Millisecond, wantOK: true},
		{name: "surrounding spaces and tabs", in: " \tt=1512379167574\t ", want: 100123456 * time.Nanosecond, wantOK: true},
		{name: "leading zeros", in: "t=0001512379167574", want: 100123456 * time.Nanosecond, wantOK: true},
		{name: "start equal to now", in: "t=1512379167674123456", want: 0, wantOK: true},
		{name: "exactly MaxAge", in: "t=" + strconv.FormatInt(now.Add(-MaxAge).UnixNano(), 10), want: MaxAge, wantOK: true},

		// Every rejection.
		{name: "empty", in: ""},
		{name: "blank", in: "   "},
		{name: "prefix only", in: "t="},
		{name: "garbage", in: "abc"},
		{name: "garbage after prefix", in: "t=abc"},
		{name: "garbage after number", in: "t=1512379167574x"},
		{name: "exponent", in: "1.512379167574e12"},
		{name: "comma fraction", in: "t=1512379167,574"},
		{name: "two dots", in: "t=1512379167.574.1"},
		{name: "dot without fraction digits", in: "t=1512379167."},
		{name: "fraction without integer", in: "t=.574"},
		{name: "negative", in: "t=-1512379167574"},
		{name: "negative without prefix", in: "-1512379167"},
		{name: "plus sign", in: "+1512379167574"},
		{name: "upper-case prefix", in: "T=1512379167574"},
		{name: "space inside prefix", in: "t =1512379167574"},
		{name: "double prefix", in: "t=t=1512379167574"},
		{name: "zero", in: "t=0"},
		{name: "zero with fraction", in: "0.000"},
		{name: "future seconds", in: "t=1512379168"},
		{name: "future milliseconds", in: "t=1512379167675"},
		{name: "future microseconds", in: "t=1512379167674124"},
		{name: "future nanoseconds", in: "t=1512379167674123457"},
		{name: "one nanosecond older than MaxAge", in: "t=" + strconv.FormatInt(now.Add(-MaxAge-1).UnixNano(), 10)},
		{name: "two hours old (ms)", in: "t=" + strconv.FormatInt(now.Add(-2*time.Hour).UnixMilli(), 10)},
		{name: "tiny number read as 1970 seconds", in: "t=5"},
		{name: "overflows int64", in: "t=99999999999999999999"},
		{name: "max int64 (year 2262, future)", in: "t=9223372036854775807"},
		{name: "max int64 plus one", in: "t=9223372036854775808"},

		// Years 2000 and 2100 in every unit against a matching now.
		{name: "2000 seconds", in: "t=946684800", now: time.Unix(946684801, 0), want: time.Second, wantOK: true},
		{name: "2000 milliseconds", in: "t=946684800000", now: time.Unix(946684801, 0), want: time.Second, wantOK: true},
		{name: "2000 microseconds", in: "t=946684800000000", now: time.Unix(946684801, 0), want: time.Second, wantOK: true},
		{name: "2000 nanoseconds", in: "t=946684800000000000", now: time.Unix(946684801, 0), want: time.Second, wantOK: true},
		{name: "2100 seconds", in: "t=4102444799", now: time.Unix(4102444800, 0), want: time.Second, wantOK: true},
		{name: "2100 milliseconds", in: "t=4102444799000", now: time.Unix(4102444800, 0), want: time.Second, wantOK: true},
		{name: "2100 microseconds", in: "t=4102444799000000", now: time.Unix(4102444800, 0), want: time.Second, wantOK: true},
		{name: "2100 nanoseconds", in: "t=4102444799000000000", now: time.Unix(4102444800, 0), want: time.Second, wantOK: true},
		{name: "now with monotonic reading", in: "t=1512379167574", now: time.Unix(1512379167, 674_123_456).Add(0), want: 100123456 * time.Nanosecond, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.now
			if n.IsZero() {
				n = now
			}
			got, ok := Parse(tt.in, n)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Parse(%q, %v) = (%v, %v), want (%v, %v)", tt.in, n.UTC(), got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseWallClockNow(t *testing.T) {
	// A real time.Now() carries a monotonic reading; Parse must use wall
	// clock arithmetic against the header's wall time.
	n := time.Now()
	in := "t=" + strconv.FormatInt(n.Add(-250*time.Millisecond).UnixMicro(), 10)
	got, ok := Parse(in, n)
	if !ok || got < 250*time.Millisecond || got > 251*time.Millisecond {
		t.Errorf("Parse(%q, time.Now()) = (%v, %v), want about 250ms", in, got, ok)
	}
}

func TestParseAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := Parse("t=1512379167574123", now); !ok {
			t.Fatal("not ok")
		}
	})
	if allocs != 0 {
		t.Errorf("Parse allocates %v times, want 0", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Parse("t=1512379167.574", now); !ok {
			b.Fatal("not ok")
		}
	}
}
