package pgproxy

import (
	"testing"

	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkDecoder is the decoder's cost per call as the proxy sees it:
// the client's messages, then the server's reply, each one read, with a
// Recorder without tracer (Begin only attributes the call). The recorded
// cases also record each call as the proxy does after every reply:
// metrics only, or metrics and a span from the OpenTelemetry SDK (no
// processor: the span's own cost, not an exporter's).
func BenchmarkDecoder(b *testing.B) {
	pgbenchQuery := queryMsg("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;")
	pgbenchReply := cat(msg('T', i16(1), cstr("abalance"), i32(16397), i16(3), i32(23), i16(4), i32(-1), i16(0)), rowMsg("0"), completeMsg("SELECT 1"), readyMsg())
	extended := cat(bindMsg("", "stmtcache_1", "48213"), describeMsg('P', ""), executeMsg(""), syncMsg())
	extendedReply := cat(msg('2'), msg('T', i16(1), cstr("abalance"), i32(16397), i16(3), i32(23), i16(4), i32(-1), i16(0)), rowMsg("0"), completeMsg("SELECT 1"), readyMsg())
	copyChunk := cat([]byte{'d'}, i32(bufSize-1), make([]byte, bufSize-5))

	for _, bc := range []struct {
		name          string
		setup         []byte
		client, reply []byte
		record        bool
		tracer        trace.Tracer
	}{
		{"simple-query", nil, pgbenchQuery, pgbenchReply, false, nil},
		{"extended-prepared", parseMsg("stmtcache_1", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"), extended, extendedReply, false, nil},
		{"copy-data-32KiB", queryMsg("COPY t FROM STDIN"), copyChunk, nil, false, nil},
		{"simple-query-recorded-metrics", nil, pgbenchQuery, pgbenchReply, true, nil},
		{"simple-query-recorded-sdk-span", nil, pgbenchQuery, pgbenchReply, true, sdktrace.NewTracerProvider().Tracer("bench")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rec, err := backend.NewRecorder(backend.Options{Tracer: bc.tracer, Tracker: backend.NewTracker(), Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			s := newSession(rec.Backend(backend.Config{Name: "db", Kind: backend.KindPostgres, Target: "127.0.0.1:5432"}))
			s.clientBytes(startupMsg("postgres", "bench"))
			s.serverBytes(serverHello())
			if bc.setup != nil {
				s.clientBytes(bc.setup)
			}
			b.SetBytes(int64(len(bc.client) + len(bc.reply)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s.clientBytes(bc.client)
				if bc.reply != nil {
					s.serverBytes(bc.reply)
				}
				if bc.record {
					s.finish(nil)
				} else {
					clear(s.be.done)
					s.be.done = s.be.done[:0]
				}
			}
			b.StopTimer()
			if s.failed.Load() {
				b.Fatal("decoding failed")
			}
		})
	}
}
