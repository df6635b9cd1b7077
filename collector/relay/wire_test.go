package relay

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/logformat"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/beacon"
)

// recordedRecords are records parsed from real recorded inputs: the
// collector's recorded scenarios (ingress-nginx JSON lines with upstream
// retries, ALB lines, a beacon) and HAProxy's documentation's log lines.
func recordedRecords(t testing.TB) []Item {
	t.Helper()
	p := logformat.Parser{HAProxyLoc: time.UTC}
	var out []Item
	lines := func(path, format, source string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			rec, err := p.Parse(format, sc.Text())
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			out = append(out, Item{Source: source, Where: filepath.Base(path), Record: rec})
		}
	}
	rec := filepath.Join("..", "testdata", "recorded")
	lines(filepath.Join(rec, "ingress_retries", "ingress.log"), logformat.IngressNginxJSON, logformat.SourceIngress)
	for _, dir := range []string{"full_path", "no_rum", "skew_plus_2s", "skew_minus_2s"} {
		lines(filepath.Join(rec, dir, "ingress.log"), logformat.IngressNginxJSON, logformat.SourceIngress)
		lines(filepath.Join(rec, dir, "alb.log"), logformat.ALB, logformat.SourceALB)
	}
	lines(filepath.Join("..", "..", "correlate", "haproxy", "testdata", "haproxy-docs.log"), logformat.HAProxy, logformat.SourceHAProxy)
	b, err := os.ReadFile(filepath.Join(rec, "full_path", "beacon.json"))
	if err != nil {
		t.Fatal(err)
	}
	bt, err := beacon.Parse(b, beacon.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, Item{Source: "rum", Where: "beacon", Record: &bt})
	// A version 2 beacon as rum.js sent it from a single-page app in
	// Chromium 156 (recorded by collector's TestChromiumSPA with
	// HOPSCOPE_RECORD_BEACON): two fetch calls' Resource Timing, one over
	// a new TLS connection.
	b, err = os.ReadFile(filepath.Join("testdata", "beacon-v2-resources.json"))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := beacon.ParseBatch(b, beacon.DefaultLimits())
	if err != nil || len(batch.Records) != 2 || len(batch.Rejected) != 0 {
		t.Fatalf("the v2 beacon: %+v, %v", batch, err)
	}
	for i := range batch.Records {
		out = append(out, Item{Source: "rum", Where: "beacon", Record: &batch.Records[i]})
	}
	for i := range out {
		out[i].ID, _ = RouteID(out[i].Record)
	}
	return out
}

// inUTC is rec with its times in UTC, the zone Decode gives them: the
// instant is what joins, the zone is the parser's.
func inUTC(rec correlate.Record) correlate.Record {
	switch r := rec.(type) {
	case *correlate.IngressLog:
		c := *r
		c.Start = c.Start.UTC()
		return &c
	case *correlate.LoadBalancerLog:
		c := *r
		c.Start = c.Start.UTC()
		return &c
	case *correlate.BrowserTiming:
		c := *r
		c.Start = c.Start.UTC()
		return &c
	}
	return rec
}

// TestRoundTrip: every record type, with every field the join reads
// (upstream tries' timings included), comes out of Decode as it went
// into Encode, with its source, place and trace id.
func TestRoundTrip(t *testing.T) {
	items := recordedRecords(t)
	kinds := map[string]bool{}
	for _, it := range items {
		kinds[reflect.TypeOf(it.Record).String()] = true
	}
	if len(kinds) != 3 {
		t.Fatalf("recorded inputs cover %v, want all three record types", kinds)
	}
	body, err := Encode(items, time.Unix(1795687201, 0))
	if err != nil {
		t.Fatal(err)
	}
	got, bad, firstErr, err := Decode(body)
	if err != nil || bad != 0 {
		t.Fatalf("Decode: %v, %d bad (%v)", err, bad, firstErr)
	}
	if len(got) != len(items) {
		t.Fatalf("%d items back, want %d", len(got), len(items))
	}
	for i := range items {
		want := items[i]
		want.Record = inUTC(want.Record)
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("item %d:\n got %+v %+v\nwant %+v %+v", i, got[i], got[i].Record, want, want.Record)
		}
	}
	// The resource beacons keep what a navigation does not have: the
	// called URL, and the https call its TLS handshake.
	var resources, tls int
	for _, it := range got {
		if bt, ok := it.Record.(*correlate.BrowserTiming); ok && bt.Initiator == correlate.InitiatorFetch {
			resources++
			if bt.URL == "" {
				t.Errorf("a relayed fetch lost its URL: %+v", bt)
			}
			if strings.HasPrefix(bt.URL, "https://") && bt.TLS > 0 && bt.TLSStart > 0 {
				tls++
			}
		}
	}
	if resources != 2 || tls != 1 {
		t.Errorf("%d fetch records relayed, %d with TLS; want 2, 1", resources, tls)
	}
	if tries := got[0].Record.(*correlate.IngressLog).Tries; len(tries) != 2 || tries[0].Header == 0 || tries[1].Response == 0 {
		t.Errorf("upstream tries lost their timings: %+v", tries)
	}
}

// TestDecodeRefuses: spans named as relayed records that are not (a bad
// body, an unknown type) are counted with a reason, the others kept.
func TestDecodeRefuses(t *testing.T) {
	items := recordedRecords(t)[:1]
	good, _ := Encode(items, time.Now())
	// edit changes the one span's type and body attributes.
	edit := func(f func(typ, body string) (string, string)) func(string) string {
		return func(string) string {
			var req coltracepb.ExportTraceServiceRequest
			if err := proto.Unmarshal(good, &req); err != nil {
				t.Fatal(err)
			}
			sp := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
			typ, body := f(sp.Attributes[0].Value.GetStringValue(), sp.Attributes[1].Value.GetStringValue())
			sp.Attributes[0].Value.Value = &commonpb.AnyValue_StringValue{StringValue: typ}
			sp.Attributes[1].Value.Value = &commonpb.AnyValue_StringValue{StringValue: body}
			b, _ := proto.Marshal(&req)
			return string(b)
		}
	}
	for _, tc := range []struct {
		name    string
		mutate  func(string) string
		wantBad int
		wantErr string
	}{
		{"relayed", func(s string) string { return s }, 0, ""},
		{"unknown type", edit(func(_, b string) (string, string) { return "ingresz", b }), 1, "not a record relayed"},
		{"bad body", edit(func(ty, b string) (string, string) {
			return ty, strings.Replace(b, `"start_unix_ns":`, `"start_unix_ns":"x`, 1)
		}), 1, "ingress record"},
		{"not JSON", edit(func(ty, _ string) (string, string) { return ty, "GET / 200" }), 1, "ingress record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bad, firstErr, err := Decode([]byte(tc.mutate(string(good))))
			if err != nil {
				t.Fatal(err)
			}
			if bad != tc.wantBad || len(got) != 1-tc.wantBad {
				t.Fatalf("%d kept, %d bad (%v)", len(got), bad, firstErr)
			}
			if tc.wantErr != "" && (firstErr == nil || !strings.Contains(firstErr.Error(), tc.wantErr)) {
				t.Errorf("reason %v, want %q", firstErr, tc.wantErr)
			}
		})
	}
	if _, _, _, err := Decode([]byte{0xff, 0xff}); err == nil {
		t.Error("garbage decoded")
	}
}

// TestRouteID: the trace id, else the X-Ray Root's, else a 32-hex
// request id; nothing else routes.
func TestRouteID(t *testing.T) {
	const hexID = "67891233abcdef012345678912345678"
	for _, tc := range []struct {
		name string
		keys correlate.Keys
		want string
	}{
		{"trace id", correlate.Keys{TraceID: hexID, RequestID: "req-7"}, hexID},
		{"upper-case trace id", correlate.Keys{TraceID: strings.ToUpper(hexID)}, hexID},
		{"X-Ray Root", correlate.Keys{XRayRoot: "1-67891233-abcdef012345678912345678"}, hexID},
		{"bad trace id, Root", correlate.Keys{TraceID: "xyz", XRayRoot: "1-67891233-abcdef012345678912345678"}, hexID},
		{"32-hex request id", correlate.Keys{RequestID: "0af7651916cd43dd8448eb211c80319c"}, "0af7651916cd43dd8448eb211c80319c"},
		{"request id of another form", correlate.Keys{RequestID: "req-7"}, ""},
		{"upper-case request id", correlate.Keys{RequestID: "0AF7651916CD43DD8448EB211C80319C"}, ""},
		{"all-zero request id", correlate.Keys{RequestID: strings.Repeat("0", 32)}, ""},
		{"nothing", correlate.Keys{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := RouteID(&correlate.IngressLog{Keys: tc.keys})
			if ok != (tc.want != "") || id.String() != tc.want {
				t.Errorf("RouteID = %s, %v; want %q", id, ok, tc.want)
			}
		})
	}
	if _, ok := RouteID(&correlate.SidecarSpan{Keys: correlate.Keys{TraceID: hexID}}); ok {
		t.Error("a sidecar span is routed by the gateway itself, not relayed")
	}
}
