package shop

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestShopParseDelays(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		query, header string
		want          Delays
		bad           bool
	}{
		{"app_ms=10000&sql_ms=10000&ext_ms=10000", "", Delays{MaxDelay, MaxDelay, MaxDelay}, false},
		{"app_ms=10001", "", Delays{}, true},
		{"", " app_ms = 1 ;; ext_ms=2 ,", Delays{App: ms, Ext: 2 * ms}, false},
		{"", "", Delays{}, false},
		{"other=5", "", Delays{}, false},
		{"", "app_ms=1;app_ms=1", Delays{}, true},
		{"", "sql_ms=0x10", Delays{}, true},
		{"sql_ms=007", "", Delays{SQL: 7 * ms}, false},
	} {
		r := httptest.NewRequest("GET", "/?"+tt.query, nil)
		if tt.header != "" {
			r.Header.Set(DelayHeader, tt.header)
		}
		got, err := parseDelays(r)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("query %q header %q: %+v, %v; want %+v, bad=%v", tt.query, tt.header, got, err, tt.want, tt.bad)
		}
	}
}
