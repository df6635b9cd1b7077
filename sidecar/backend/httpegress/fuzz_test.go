package httpegress

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// panicLog fails the fuzz target when net/http recovered a panic of the
// handler (it logs "panic serving ...").
type panicLog struct {
	mu  sync.Mutex
	msg string
}

func (l *panicLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("panic")) {
		l.mu.Lock()
		l.msg = string(p)
		l.mu.Unlock()
	}
	return len(p), nil
}

func (l *panicLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.msg
	l.msg = ""
	return m
}

// FuzzForwardRequest feeds raw bytes as an HTTP/1.1 connection to the
// forward proxy. Nothing reaches the network (every dial and lookup is
// refused); the proxy must not panic, must refuse malformed requests with
// a 4xx/5xx status of net/http's (400 mostly) and requests that are not
// proxy requests with 400, and must never answer 2xx since no target can
// be reached.
func FuzzForwardRequest(f *testing.F) {
	f.Add([]byte("GET http://127.0.0.1:9/x HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n"))
	e := newEnv(f)
	p, err := NewForward(Options{Egress: e.rec.Backend(backend.Config{Name: "egress", Kind: backend.KindHTTP,
		Retries: &backend.RetryPolicy{Attempts: 2, Budget: 1}, Timeout: time.Second})})
	if err != nil {
		f.Fatal(err)
	}
	var dials atomic.Int64
	refused := errors.New("fuzz: no network")
	p.dial = func(context.Context, string, string) (net.Conn, error) { dials.Add(1); return nil, refused }
	p.lookup = func(context.Context, string) ([]net.IPAddr, error) { return nil, refused }
	plog := &panicLog{}
	p.srv.ErrorLog = log.New(plog, "", 0)
	p.srv.ReadHeaderTimeout = 2 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()

	f.Fuzz(func(t *testing.T, data []byte) {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		srvConn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); p.ServeConn(context.Background(), srvConn); srvConn.Close() }()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() { conn.Write(data); conn.(*net.TCPConn).CloseWrite() }()

		first, perr := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		br := bufio.NewReader(conn)
		resp, rerr := http.ReadResponse(br, first)
		for rerr == nil && resp.StatusCode < 200 { // interim (100 Continue)
			resp, rerr = http.ReadResponse(br, first)
		}
		if rerr == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			t.Logf("answered %d (request parses: %v)", resp.StatusCode, perr == nil)
			switch {
			case resp.StatusCode < 300:
				t.Errorf("answered %d with no reachable target", resp.StatusCode)
			case perr != nil && !(resp.StatusCode == 400 || resp.StatusCode == 431 || resp.StatusCode == 501 || resp.StatusCode == 505):
				t.Errorf("malformed request (%v) answered %d, want 400", perr, resp.StatusCode)
			case perr == nil && first.Method != http.MethodConnect && !first.URL.IsAbs() && resp.StatusCode != 400 && resp.StatusCode != 505 && resp.StatusCode != 417:
				t.Errorf("origin-form request answered %d, want 400", resp.StatusCode)
			}
		} else if perr == nil && len(data) > 0 && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) && !isReset(rerr) {
			t.Errorf("no answer to a well-formed request: %v", rerr)
		}
		io.Copy(io.Discard, br)
		conn.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeConn did not return after the client hung up")
		}
		if m := plog.take(); m != "" {
			t.Fatalf("handler panicked: %s", m)
		}
	})
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}
