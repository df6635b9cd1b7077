package sidecar

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hopscope/hopscope/internal/testkit"
)

// failingGRPC starts a real gRPC server on loopback whose every method
// answers the code the request carries (a wrapperspb.Int32Value): at
// once, which grpc-go sends as a trailers-only response (grpc-status in
// the headers), or, for methods named …AfterMessage and for OK, after a
// response message, with grpc-status in the trailers.
func failingGRPC(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		var in wrapperspb.Int32Value
		if err := stream.RecvMsg(&in); err != nil {
			return err
		}
		method, _ := grpc.MethodFromServerStream(stream)
		if strings.HasSuffix(method, "AfterMessage") || in.Value == 0 {
			if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
				return err
			}
		}
		if in.Value == 0 {
			return nil
		}
		return status.Error(codes.Code(in.Value), "failed on purpose")
	}))
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return "http://" + ln.Addr().String()
}

// rawGRPCApp is an h2c app that answers gRPC calls itself, as no grpc-go
// server would: grpc-status 42 (no such code) in the trailers, or no
// grpc-status at all.
func rawGRPCApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: protocols, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte{0, 0, 0, 0, 0}) // an empty message
			if strings.HasSuffix(r.URL.Path, "/NoSuchCode") {
				w.Header().Set(http.TrailerPrefix+"Grpc-Status", "42")
			}
		})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestGRPCStatusCounted: a failed gRPC call answers HTTP 200 with its
// status in grpc-status; the sidecar counts it by that status
// (hopscope_requests_total{grpc_code}), records rpc.grpc.status_code on its
// span and makes the span's status Error for the server's errors (UNKNOWN,
// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), as
// the semantic conventions' gRPC server spans have it, whether the status
// came in the trailers or in a trailers-only response.
func TestGRPCStatusCounted(t *testing.T) {
	grpcApp, rawApp := failingGRPC(t), rawGRPCApp(t)
	tests := []struct {
		name     string
		raw      bool   // the raw h2c app, not grpc-go
		method   string // full method
		code     codes.Code
		wantCode codes.Code // what the client sees
		label    string     // grpc_code
		attr     string     // rpc.grpc.status_code
		spanErr  bool
	}{
		{name: "ok", method: "/hopscope.test.Svc/Ok", code: codes.OK, wantCode: codes.OK, label: "OK", attr: "0"},
		{name: "ok in trailers", method: "/hopscope.test.Svc/OkAfterMessage", code: codes.OK, wantCode: codes.OK, label: "OK", attr: "0"},
		{name: "unavailable, trailers-only", method: "/hopscope.test.Svc/Unavailable", code: codes.Unavailable, wantCode: codes.Unavailable,
			label: "Unavailable", attr: "14", spanErr: true},
		{name: "internal in trailers", method: "/hopscope.test.Svc/InternalAfterMessage", code: codes.Internal, wantCode: codes.Internal,
			label: "Internal", attr: "13", spanErr: true},
		{name: "deadline exceeded", method: "/hopscope.test.Svc/Deadline", code: codes.DeadlineExceeded, wantCode: codes.DeadlineExceeded,
			label: "DeadlineExceeded", attr: "4", spanErr: true},
		{name: "unimplemented", method: "/hopscope.test.Svc/Unimplemented", code: codes.Unimplemented, wantCode: codes.Unimplemented,
			label: "Unimplemented", attr: "12", spanErr: true},
		{name: "data loss", method: "/hopscope.test.Svc/DataLoss", code: codes.DataLoss, wantCode: codes.DataLoss,
			label: "DataLoss", attr: "15", spanErr: true},
		{name: "unknown", method: "/hopscope.test.Svc/Unknown", code: codes.Unknown, wantCode: codes.Unknown,
			label: "Unknown", attr: "2", spanErr: true},
		// The client's errors, as a 4xx: counted by their code, no Error.
		{name: "not found", method: "/hopscope.test.Svc/NotFound", code: codes.NotFound, wantCode: codes.NotFound, label: "NotFound", attr: "5"},
		{name: "invalid argument in trailers", method: "/hopscope.test.Svc/InvalidAfterMessage", code: codes.InvalidArgument,
			wantCode: codes.InvalidArgument, label: "InvalidArgument", attr: "3"},
		{name: "canceled", method: "/hopscope.test.Svc/Canceled", code: codes.Canceled, wantCode: codes.Canceled, label: "Canceled", attr: "1"},
		// A code past the known ones: the label stays bounded (Unknown),
		// the span keeps the number.
		{name: "no such code", raw: true, method: "/hopscope.test.Raw/NoSuchCode", wantCode: codes.Code(42), label: "Unknown", attr: "42", spanErr: true},
		// A 200 that ended without grpc-status: the client sees INTERNAL.
		{name: "no grpc-status", raw: true, method: "/hopscope.test.Raw/NoStatus", wantCode: codes.Internal, label: "Internal", attr: "13", spanErr: true},
	}
	sink := newOTLPSink(t)
	// One sidecar per app; both export to the sink.
	sidecars := map[bool]*harness{}
	for raw, app := range map[bool]string{false: grpcApp, true: rawApp} {
		sidecars[raw] = startSidecar(t, app, func(c *Config) { c.OTLPEndpoint = sink.url })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tt := range tests {
		h := sidecars[tt.raw]
		cc, err := grpc.NewClient(h.sc.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		err = cc.Invoke(ctx, tt.method, wrapperspb.Int32(int32(tt.code)), &emptypb.Empty{})
		cc.Close()
		if got := status.Code(err); got != tt.wantCode {
			t.Fatalf("%s: the client got %v (%v), want %v", tt.name, got, err, tt.wantCode)
		}
		testkit.Eventually(t, tt.name+": counted by its gRPC status", 10*time.Second, func() bool {
			return h.counter(h.sc.metrics.requests, "inbound", "POST", tt.method, "200", tt.label) == 1
		})
		// Not as a plain HTTP 200.
		if v := h.counter(h.sc.metrics.requests, "inbound", "POST", tt.method, "200", ""); v != 0 {
			t.Errorf("%s: counted %v times without grpc_code", tt.name, v)
		}
	}
	for _, h := range sidecars {
		h.shutdown()
	}

	spans := map[string]*tracepb.Span{}
	for _, sp := range sink.Spans() {
		spans[sp.Name] = sp
	}
	for _, tt := range tests {
		sp := spans["POST "+tt.method]
		if sp == nil {
			t.Errorf("%s: no span named %q", tt.name, "POST "+tt.method)
			continue
		}
		a := attrs(sp)
		if a["rpc.grpc.status_code"] != tt.attr || a["http.response.status_code"] != "200" {
			t.Errorf("%s: rpc.grpc.status_code %q, http.response.status_code %q; want %q, 200",
				tt.name, a["rpc.grpc.status_code"], a["http.response.status_code"], tt.attr)
		}
		if isErr := sp.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR; isErr != tt.spanErr {
			t.Errorf("%s: span status %v, want Error: %v", tt.name, sp.Status, tt.spanErr)
		}
	}
}

// TestGRPCStatusParse: grpcStatus reads the trailers-only headers first,
// then the trailers; grpcLabel stays within the 17 code names.
func TestGRPCStatusParse(t *testing.T) {
	tests := []struct {
		name    string
		header  string // Grpc-Status in the headers
		trailer string // in the trailers
		status  int
		want    int
		label   string
	}{
		{name: "trailers-only", header: "14", status: 200, want: 14, label: "Unavailable"},
		{name: "trailer", trailer: "0", status: 200, want: 0, label: "OK"},
		{name: "headers win", header: "5", trailer: "0", status: 200, want: 5, label: "NotFound"},
		{name: "sixteen", trailer: "16", status: 200, want: 16, label: "Unauthenticated"},
		{name: "past the codes", trailer: "17", status: 200, want: 17, label: "Unknown"},
		{name: "not a number", trailer: "x1", status: 200, want: 2, label: "Unknown"},
		{name: "too long", trailer: "0000", status: 200, want: 2, label: "Unknown"},
		{name: "none on a 200", status: 200, want: 13, label: "Internal"},
		{name: "none on a cut call", status: StatusClientClosed, want: noGRPC, label: ""},
	}
	for _, tt := range tests {
		res := &http.Response{Header: http.Header{}, Trailer: http.Header{}}
		if tt.header != "" {
			res.Header.Set("Grpc-Status", tt.header)
		}
		if tt.trailer != "" {
			res.Trailer.Set("Grpc-Status", tt.trailer)
		}
		got := grpcStatus(res, tt.status)
		if got != tt.want || grpcLabel(got) != tt.label {
			t.Errorf("%s: %d %q, want %d %q", tt.name, got, grpcLabel(got), tt.want, tt.label)
		}
	}
	if got := grpcStatus(nil, 502); got != noGRPC {
		t.Errorf("no response: %d, want noGRPC", got)
	}
}
