package collector

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hopscope/hopscope/collector/otlp"
)

// grpcBackend is an OTLP/gRPC trace service on 127.0.0.1 answering each
// call with the next of errs (nil: success; the last one repeated),
// recording the metadata and compression of each.
type grpcBackend struct {
	mu          sync.Mutex
	errs        []error
	md          []metadata.MD
	compression []string
	bodies      [][]byte
}

func (b *grpcBackend) handle(_ any, stream grpc.ServerStream) error {
	var in otlp.RawMessage
	if err := stream.RecvMsg(&in); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	b.mu.Lock()
	n := len(b.md)
	b.md = append(b.md, md)
	b.bodies = append(b.bodies, in.B)
	var err error
	if len(b.errs) > 0 {
		err = b.errs[min(n, len(b.errs)-1)]
	}
	b.mu.Unlock()
	if err != nil {
		return err
	}
	return stream.SendMsg(&otlp.RawMessage{})
}

// grpcStats records the compression each call arrived with.
type grpcStats struct{ b *grpcBackend }

func (grpcStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (grpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (grpcStats) HandleConn(context.Context, stats.ConnStats) {}
func (s grpcStats) HandleRPC(_ context.Context, st stats.RPCStats) {
	if h, ok := st.(*stats.InHeader); ok {
		s.b.mu.Lock()
		s.b.compression = append(s.b.compression, h.Compression)
		s.b.mu.Unlock()
	}
}

func startGRPCBackend(t *testing.T, errs ...error) (*grpcBackend, string) {
	t.Helper()
	b := &grpcBackend{errs: errs}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(otlp.RawCodec{}), grpc.UnknownServiceHandler(b.handle),
		grpc.StatsHandler(grpcStats{b}))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return b, "grpc://" + l.Addr().String()
}

// TestExportGRPC: over OTLP/gRPC the headers arrive as metadata, gzip is
// the call's compression, UNAVAILABLE and RESOURCE_EXHAUSTED with
// RetryInfo are retried, RESOURCE_EXHAUSTED without it and
// INVALID_ARGUMENT are not.
func TestExportGRPC(t *testing.T) {
	withRetryInfo, err := status.New(codes.ResourceExhausted, "slow down").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(50 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		errs         []error
		gzip         bool
		wantErr      bool
		wantRequests int
	}{
		{name: "ok, gzip", errs: nil, gzip: true, wantRequests: 1},
		{name: "unavailable then ok", errs: []error{status.Error(codes.Unavailable, "down"), nil}, wantRequests: 2},
		{name: "resource exhausted with RetryInfo then ok", errs: []error{withRetryInfo.Err(), nil}, wantRequests: 2},
		{name: "resource exhausted without RetryInfo", errs: []error{status.Error(codes.ResourceExhausted, "too large"), nil},
			wantErr: true, wantRequests: 1},
		{name: "invalid argument", errs: []error{status.Error(codes.InvalidArgument, "bad"), nil}, wantErr: true, wantRequests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, url := startGRPCBackend(t, tc.errs...)
			cfg := DefaultConfig()
			cfg.ExportOTLPEndpoint = url
			cfg.ExportHeaders = "authorization=Bearer%20abc,X-Tenant=shop"
			if tc.gzip {
				cfg.ExportCompression = "gzip"
			}
			e := testEmitter(t, 10, time.Second, sinkFor(t, cfg, nil))
			body := exportBody()
			err := e.send(context.Background(), body)
			if (err != nil) != tc.wantErr {
				t.Fatalf("send: %v, want an error: %v", err, tc.wantErr)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(b.md) != tc.wantRequests {
				t.Fatalf("%d calls, want %d", len(b.md), tc.wantRequests)
			}
			if got := b.md[0].Get("authorization"); len(got) != 1 || got[0] != "Bearer abc" {
				t.Errorf("authorization metadata %q, want Bearer abc", got)
			}
			if got := b.md[0].Get("x-tenant"); len(got) != 1 || got[0] != "shop" {
				t.Errorf("x-tenant metadata %q, want shop", got)
			}
			want := ""
			if tc.gzip {
				want = "gzip"
			}
			if len(b.compression) == 0 || b.compression[0] != want {
				t.Errorf("call compression %q, want %q", b.compression, want)
			}
			if !bytes.Equal(b.bodies[0], body) {
				t.Errorf("backend got %d bytes, want the %d sent", len(b.bodies[0]), len(body))
			}
		})
	}
}
