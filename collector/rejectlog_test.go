package collector

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hopscope/hopscope/collector/forward"
)

// TestRejectLogRateLimited: at most one line per source per period, with
// the count since the source's previous line and the last error; pending
// counts are flushed once the period is over; texts are clipped.
func TestRejectLogRateLimited(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	r := newRejectLog(zap.New(core), 10*time.Second)
	at := func(s float64) time.Time { return time.Unix(1000, 0).Add(time.Duration(s * float64(time.Second))) }
	type line struct {
		source string
		count  int64
		err    string
	}
	steps := []struct {
		name string
		do   func()
		want []line // lines written by this step
	}{
		{"first rejection logged at once", func() { r.note(at(0), SrcIngress, "malformed", "a.log:1", errors.New("e1")) },
			[]line{{SrcIngress, 1, "e1"}}},
		{"more within the period: quiet", func() {
			for i := range 4 {
				r.note(at(1+float64(i)), SrcIngress, "malformed", "a.log:2", errors.New("e"+string(rune('2'+i))))
			}
		}, nil},
		{"another source logs at once", func() { r.note(at(2), SrcForward, "malformed", "tag t", errors.New("f1")) },
			[]line{{SrcForward, 1, "f1"}}},
		{"flush within the period: quiet", func() { r.flush(at(9), false) }, nil},
		{"flush after the period: count and last error", func() { r.flush(at(10), false) },
			[]line{{SrcIngress, 4, "e5"}}},
		{"nothing pending: flush quiet", func() { r.flush(at(30), false) }, nil},
		{"next rejection after the period: at once", func() { r.note(at(31), SrcIngress, "no_key", "a.log:9", errors.New("e6")) },
			[]line{{SrcIngress, 1, "e6"}}},
		{"pending at shutdown: forced out", func() {
			r.note(at(32), SrcIngress, "malformed", "a.log:10", errors.New(strings.Repeat("x", 5000)))
			r.flush(at(32), true)
		}, []line{{SrcIngress, 1, strings.Repeat("x", maxRejectTextBytes) + "…"}}},
	}
	seen := 0
	for _, st := range steps {
		st.do()
		all := logs.All()
		got := all[seen:]
		seen = len(all)
		if len(got) != len(st.want) {
			t.Fatalf("%s: %d lines, want %d: %v", st.name, len(got), len(st.want), got)
		}
		for i, w := range st.want {
			e := got[i]
			m := e.ContextMap()
			if e.Level != zapcore.WarnLevel || m["source"] != w.source || m["count"] != w.count || m["error"] != w.err {
				t.Errorf("%s: line %v %v, want %+v", st.name, e.Level, m, w)
			}
		}
	}
}

// TestRejectionsLogged: a refused line is logged at Warn with the parse
// error naming the field and where the line was, never the line itself,
// and the reason label stays a fixed word.
func TestRejectionsLogged(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen = "", "", "", ""
	cfg.HTTPListen = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	bad := `{"msec":"1764151200.100","request_time":"fast","status":"200","request_method":"GET","request_uri":"/orders/1?token=SECRET","upstream_response_time":"0.013","req_id":"r"}`
	consumeLine(c, FormatIngressNginxJSON, SrcIngress, "/var/log/ingress.log", 3, bad)
	consumeForward(c, []forward.Event{{Tag: "kube.other", Record: map[string]any{"foo": "bar SECRET"}}})

	byInput := map[string]map[string]any{}
	for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
		m := e.ContextMap()
		byInput[m["input"].(string)] = m
		for k, v := range m {
			if s, ok := v.(string); ok && strings.Contains(s, "SECRET") {
				t.Errorf("logged %s=%q: the input's content", k, s)
			}
		}
	}
	for _, tt := range []struct{ input, source, err string }{
		{"/var/log/ingress.log:3", SrcIngress, `field "request_time"`},
		{"tag kube.other", SrcForward, "not a sidecar access log"},
	} {
		m, ok := byInput[tt.input]
		if !ok {
			t.Errorf("no Warn line for %s: %v", tt.input, logs.All())
			continue
		}
		if m["source"] != tt.source || m["reason"] != "malformed" || !strings.Contains(m["error"].(string), tt.err) {
			t.Errorf("%s: %v, want source %s and an error with %q", tt.input, m, tt.source, tt.err)
		}
	}
	if n := testutilCounter(c.m.rejected.WithLabelValues(SrcIngress, "malformed")); n != 1 {
		t.Errorf("rejected{ingress,malformed} = %v", n)
	}
}
