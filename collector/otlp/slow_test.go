package otlp

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
)

// rejects counts OnReject reasons.
type rejects struct {
	mu sync.Mutex
	by map[string]int
}

func (r *rejects) note(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by = map[string]int{}
	}
	r.by[reason]++
}

// snapshot copies the counts (for messages: the map is written as
// refusals happen).
func (r *rejects) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.by)
}

func (r *rejects) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[reason]
}

// rawGRPC is a gRPC client of r's OTLP/gRPC receiver that sends and
// takes messages as raw bytes (RawCodec), closed when the test ends.
func rawGRPC(t *testing.T, r *Receiver) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(RawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// slowBody opens a connection to addr and sends an OTLP/HTTP request's
// headers and the first bytes of a body that never ends.
func slowBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\n0123456789"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHTTPSlowBodiesBoundedAndCounted (issue 19 item 9): slow-body
// connections used to be held for ever, every one of them, until the
// process ran out of file descriptors. Now connections beyond
// MaxHTTPConnections are closed at once and counted (conn_limit), a body
// not received within HTTPReadTimeout is answered 408 and counted
// (read_timeout), and the receiver serves again once they are gone.
func TestHTTPSlowBodiesBoundedAndCounted(t *testing.T) {
	var c captured
	var rs rejects
	const max = 8
	r := start(t, &c, func(cfg *Config) {
		cfg.MaxHTTPConnections, cfg.HTTPReadTimeout, cfg.OnReject = max, 300*time.Millisecond, rs.note
	})
	addr := r.HTTPAddr().String()
	var slow []net.Conn
	for range max + 3 {
		slow = append(slow, slowBody(t, addr))
	}
	testkit.Eventually(t, "3 conn_limit rejections", 5*time.Second, func() bool { return rs.get("conn_limit") >= 3 })
	if got := rs.get("conn_limit"); got != 3 {
		t.Fatalf("conn_limit rejections %d, want 3", got)
	}
	for i, sc := range slow[:max] {
		res, err := http.ReadResponse(bufio.NewReader(sc), nil)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		if res.StatusCode != http.StatusRequestTimeout {
			t.Errorf("slow connection %d: status %d, want 408", i, res.StatusCode)
		}
	}
	testkit.Eventually(t, "the read_timeout rejections", 5*time.Second, func() bool { return rs.get("read_timeout") >= max })
	if got := rs.get("read_timeout"); got != max {
		t.Errorf("read_timeout rejections %d, want %d", got, max)
	}
	for _, sc := range slow {
		sc.Close()
	}
	// Served again.
	var lastErr error
	testkit.Eventually(t, "the receiver serving after the slow clients left", 5*time.Second, func() bool {
		res, err := http.Post("http://"+addr+"/v1/traces", "application/x-protobuf", nil)
		if lastErr = err; err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, func() string { return fmt.Sprintf("last error: %v", lastErr) })
}

// TestGRPCRefusalsCounted (issue 19 item 14): a gRPC request larger than
// MaxRequestBytes, or a gzip bomb that becomes larger once decompressed,
// is refused by gRPC before the handler sees it; neither was in
// rejected_total. Both are counted as too_large now, and a message that
// does not decompress as malformed.
func TestGRPCRefusalsCounted(t *testing.T) {
	var c captured
	var rs rejects
	r := start(t, &c, func(cfg *Config) { cfg.OnReject = rs.note; cfg.MaxRequestBytes = 1 << 20 })
	cc := rawGRPC(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	big := &RawMessage{B: make([]byte, 2<<20)} // zeros: 2 MiB, ~2 KiB gzipped
	for name, opts := range map[string][]grpc.CallOption{
		"too large": nil,
		"gzip bomb": {grpc.UseCompressor(gzip.Name)},
	} {
		err := cc.Invoke(ctx, method, big, &RawMessage{}, opts...)
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("%s: %v, want ResourceExhausted", name, err)
		}
	}
	// Counted as the refusals happen: the second may be noted just after
	// its status reached the client.
	testkit.Eventually(t, "too_large counted twice", 5*time.Second, func() bool { return rs.get("too_large") == 2 },
		func() string { return fmt.Sprint(rs.snapshot()) })
	if got := rs.get("too_large"); got != 2 {
		t.Errorf("too_large counted %d times, want 2 (%v)", got, rs.snapshot())
	}
	// An ordinary request still goes through.
	if err := cc.Invoke(ctx, method, &RawMessage{}, &RawMessage{}); err != nil {
		t.Errorf("empty request: %v", err)
	}
}

// TestHTTPGzipBombCounted: an OTLP/HTTP gzip body that decompresses past
// MaxRequestBytes is refused with 413 after reading MaxRequestBytes+1
// bytes of it, and counted as too_large (the gRPC twin is above).
func TestHTTPGzipBombCounted(t *testing.T) {
	var c captured
	var rs rejects
	r := start(t, &c, func(cfg *Config) { cfg.OnReject = rs.note; cfg.MaxRequestBytes = 1 << 20 })
	var zb bytes.Buffer
	zw := stdgzip.NewWriter(&zb)
	_, _ = zw.Write(make([]byte, 64<<20)) // 64 MiB of zeros: ~64 KiB gzipped
	_ = zw.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.HTTPAddr().String()+"/v1/traces", &zb)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || rs.get("too_large") != 1 {
		t.Errorf("gzip bomb: %d, too_large counted %d times", res.StatusCode, rs.get("too_large"))
	}
}
