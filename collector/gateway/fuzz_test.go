package gateway

import (
	"testing"

	"github.com/hopscope/hopscope/internal/otlpwire"
)

// FuzzBatch feeds any OTLP request bytes through a batch with the default
// rules and with a rule matching every resource: no panic, and every
// result keeps its invariants (a gateway server span of the request, its
// tries client spans within it, in order of start, one span id each). The
// seed corpus (testdata/fuzz/FuzzBatch) holds the recorded requests of
// testdata/ as protobuf.
func FuzzBatch(f *testing.F) {
	for _, name := range []string{"envoy-otel-demo.json", "traefik-retry.json", "caddy-live.json"} {
		f.Add(loadTB(f, name))
	}
	all, err := NewMatcher(Config{Services: []string{"*a*"}, ResourceAttributes: []string{"k=v"}, SpanAttributes: []string{"x=1", "y"}})
	if err != nil {
		f.Fatal(err)
	}
	def, _ := NewMatcher(DefaultConfig())
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range []*Matcher{def, all} {
			b := m.NewBatch()
			var servers int
			err := otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
				if b.Add(res, sp) && sp.Kind == kindServer {
					servers++
				}
				return nil
			})
			if err != nil {
				return
			}
			rs := b.Results(body)
			if len(rs) != servers {
				t.Fatalf("%d results for %d gateway server spans", len(rs), servers)
			}
			for _, r := range rs {
				in := r.Ingress
				if in.RequestTime < 0 || in.Resolution != Resolution || len(r.TrySpanIDs) != len(in.Tries) || in.Status < 0 || in.Status > 999 {
					t.Fatalf("result %+v %v", *in, r.TrySpanIDs)
				}
				for _, try := range in.Tries {
					if try.Response < 0 || try.Response > in.RequestTime {
						t.Fatalf("try %+v outside its request of %v", try, in.RequestTime)
					}
				}
			}
		}
	})
}
