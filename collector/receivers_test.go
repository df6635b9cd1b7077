package collector

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newRUMCollector builds a collector whose only receiver is the RUM
// endpoint, lets tune adjust its server, and starts it.
func newRUMCollector(t *testing.T, tune func(*rumServer)) *Collector {
	t.Helper()
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen = "", "", ""
	cfg.HTTPListen, cfg.RUMListen, cfg.RUMAllowedOrigins = "127.0.0.1:0", "127.0.0.1:0", []string{"*"}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(c.rum)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c
}

func TestRUMServerBounds(t *testing.T) {
	srv := newRUMServer(":0", http.NotFoundHandler())
	if srv.srv.ReadHeaderTimeout <= 0 || srv.srv.ReadTimeout <= 0 || srv.srv.WriteTimeout < srv.srv.ReadTimeout || srv.srv.IdleTimeout <= 0 || srv.maxConns <= 0 {
		t.Fatalf("public RUM server unbounded: read header %v, read %v, write %v, idle %v, %d connections",
			srv.srv.ReadHeaderTimeout, srv.srv.ReadTimeout, srv.srv.WriteTimeout, srv.srv.IdleTimeout, srv.maxConns)
	}
}

// TestRUMSlowBodyCut: a POST that sends half its body and stalls holds
// its connection no longer than the read timeout.
func TestRUMSlowBodyCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	c := newRUMCollector(t, func(r *rumServer) {
		if r.srv.ReadTimeout > 0 { // shortened for the test, not set by it
			r.srv.ReadTimeout = timeout
		}
	})
	conn, err := net.Dial("tcp", c.RUMAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetDeadline(start.Add(5 * time.Second))
	io.WriteString(conn, "POST /v1/rum HTTP/1.1\r\nHost: rum.example\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{\"v\":1,")
	// The server answers (400: the body could not be read) or closes; it
	// must not wait for the rest of the body.
	_, err = io.ReadAll(conn)
	if took := time.Since(start); err != nil || took > timeout+2*time.Second {
		t.Fatalf("connection held %v (read timeout %v): %v", took, timeout, err)
	}
}

// TestRUMConnectionLimit: beyond the limit, a connection waits until one
// of those served closes.
func TestRUMConnectionLimit(t *testing.T) {
	c := newRUMCollector(t, func(r *rumServer) { r.maxConns = 1 })
	addr := c.RUMAddr().String()
	get := func(conn net.Conn) error {
		io.WriteString(conn, "GET /rum.js HTTP/1.1\r\nHost: rum.example\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(first); err != nil { // served: it holds the one slot
		t.Fatal(err)
	}
	second, err := net.Dial("tcp", addr) // the kernel's backlog takes it
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if err := get(second); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("second connection served while the first is open: %v", err)
	}
	first.Close()
	second.Close()
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetDeadline(time.Now().Add(5 * time.Second))
	if err := get(third); err != nil {
		t.Fatalf("a connection after the others closed: %v", err)
	}
}
