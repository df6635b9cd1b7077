package pgproxy

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"
)

func spanContext(t *testing.T, traceID, spanID string) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceID)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex(spanID)
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// TestAttribution: a call is tied exactly to the request whose
// traceparent its sqlcommenter comment carries (even with another request
// in flight), inferred to the only request in flight, and ambiguous with
// none or several.
func TestAttribution(t *testing.T) {
	dbURL := postgresURL(t)
	f := newFixture(t, targetOf(t, dbURL), "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, f.via(dbURL, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)

	commented := spanContext(t, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
	inbound := spanContext(t, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
	other := spanContext(t, "11111111111111111111111111111111", "2222222222222222")
	const comment = "/*action='checkout',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/"
	const encoded = "/*traceparent='00%2D4bf92f3577b34da6a3ce929d0e0e4736%2D00f067aa0ba902b7%2D01'*/"

	for _, tc := range []struct {
		name       string
		inFlight   []trace.SpanContext
		sql        string
		mode       pgx.QueryExecMode
		wantParent trace.SpanContext
		want       string
	}{
		{"sqlcommenter, simple protocol", []trace.SpanContext{other}, "SELECT 1 " + comment, pgx.QueryExecModeSimpleProtocol, commented, "exact"},
		{"sqlcommenter, extended protocol", []trace.SpanContext{other, inbound}, "SELECT $1::int " + comment, pgx.QueryExecModeExec, commented, "exact"},
		{"sqlcommenter, URL-encoded", nil, "SELECT 3 " + encoded, pgx.QueryExecModeSimpleProtocol, commented, "exact"},
		{"one request in flight", []trace.SpanContext{inbound}, "SELECT 4", pgx.QueryExecModeSimpleProtocol, inbound, "inferred"},
		{"none in flight", nil, "SELECT 5", pgx.QueryExecModeSimpleProtocol, trace.SpanContext{}, "ambiguous"},
		{"two in flight", []trace.SpanContext{inbound, other}, "SELECT $1::int", pgx.QueryExecModeExec, trace.SpanContext{}, "ambiguous"},
		{"traceparent in a string literal does not count", []trace.SpanContext{inbound},
			"SELECT 'traceparent=''00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'''", pgx.QueryExecModeSimpleProtocol, inbound, "inferred"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var leaves []func()
			for _, sc := range tc.inFlight {
				leaves = append(leaves, f.tracker.Enter(sc))
			}
			before := len(queries(f.spans.Ended()))
			args := []any{tc.mode}
			if tc.mode == pgx.QueryExecModeExec {
				args = append(args, 7) // with no argument pgx uses the simple protocol
			}
			_, err := c.Exec(ctx, tc.sql, args...)
			for _, leave := range leaves {
				leave()
			}
			if err != nil {
				t.Fatal(err)
			}
			s := f.waitSpans(before + 1)[before]
			if got := attr(s, "hopscope.attribution"); got != tc.want {
				t.Errorf("attribution %q, want %q", got, tc.want)
			}
			p := s.Parent()
			if p.TraceID() != tc.wantParent.TraceID() || p.SpanID() != tc.wantParent.SpanID() {
				t.Errorf("parent %s/%s, want %s/%s", p.TraceID(), p.SpanID(), tc.wantParent.TraceID(), tc.wantParent.SpanID())
			}
			if tc.wantParent.IsValid() && s.SpanContext().TraceID() != tc.wantParent.TraceID() {
				t.Errorf("span in trace %s, want %s", s.SpanContext().TraceID(), tc.wantParent.TraceID())
			}
			if text := attr(s, "db.query.text"); text != "SELECT ?" && text != "SELECT $1::int" {
				t.Errorf("db.query.text %q, want the statement without its comment and literals", text)
			}
		})
	}
}
