package pgproxy

import (
	"bytes"
	"github.com/hopscope/hopscope/internal/tracectx"

	"go.opentelemetry.io/otel/trace"
)

var traceparentKey = []byte("traceparent='")

// CommentTraceContext returns the trace context of a sqlcommenter comment
// (/*…traceparent='00-<trace id>-<span id>-<flags>'…*/, the value
// URL-encoded) anywhere in sql, or an invalid one. Only a traceparent
// inside a /* */ comment counts: a string literal holding one does not.
func CommentTraceContext(sql []byte) trace.SpanContext {
	from := 0
	for {
		k := bytes.Index(sql[from:], traceparentKey)
		if k < 0 {
			return trace.SpanContext{}
		}
		k += from
		from = k + len(traceparentKey)
		open := bytes.LastIndex(sql[:k], []byte("/*"))
		if open < 0 || bytes.LastIndex(sql[:k], []byte("*/")) > open {
			continue
		}
		end := bytes.IndexByte(sql[from:], '\'')
		if end < 0 || end > 3*64 {
			continue
		}
		if sc, ok := parseTraceparent(sql[from : from+end]); ok {
			return sc
		}
	}
}

// parseTraceparent parses a W3C traceparent, URL-encoded (%2D for -).
func parseTraceparent(v []byte) (trace.SpanContext, bool) {
	var buf [64]byte
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' {
			if i+2 >= len(v) {
				return trace.SpanContext{}, false
			}
			h, ok1 := unhex(v[i+1])
			l, ok2 := unhex(v[i+2])
			if !ok1 || !ok2 {
				return trace.SpanContext{}, false
			}
			c = h<<4 | l
			i += 2
		}
		if n == len(buf) {
			return trace.SpanContext{}, false
		}
		buf[n] = c
		n++
	}
	tp, err := tracectx.ParseTraceparent(string(buf[:n]))
	if err != nil {
		return trace.SpanContext{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tp.TraceID, SpanID: tp.SpanID, TraceFlags: trace.TraceFlags(tp.Flags) & trace.FlagsSampled, Remote: true,
	})
	return sc, sc.IsValid()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
