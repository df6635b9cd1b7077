package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestIdleConnLiveness: a pooled connection is checked before reuse; one the
// app closed, reset or wrote to while idle is not reused.
func TestIdleConnLiveness(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peer  func(net.Conn)
		alive bool
	}{
		{"idle", func(net.Conn) {}, true},
		{"closed by the app", func(c net.Conn) { c.Close() }, false},
		{"reset by the app", func(c net.Conn) { c.(*net.TCPConn).SetLinger(0); c.Close() }, false},
		{"stray bytes", func(c net.Conn) { io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\n\r\n") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			pc := newConn(conn)
			defer conn.Close()
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if !pc.alive() {
				t.Fatal("a fresh connection is not alive")
			}
			tc.peer(peer)
			if tc.alive {
				time.Sleep(20 * time.Millisecond)
				if !pc.alive() {
					t.Fatal("an idle connection was judged dead")
				}
				// The check consumes nothing: the next response is intact.
				io.WriteString(peer, "HTTP/1.1 204 No Content\r\n\r\n")
				res, err := http.ReadResponse(pc.br, nil)
				if err != nil || res.StatusCode != 204 {
					t.Fatalf("after the check: %v %v", res, err)
				}
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for pc.alive() {
				if time.Now().After(deadline) {
					t.Fatal("still judged alive 5 s after the app's move")
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// BenchmarkIdleConnAlive is the cost of the check before reusing a
// connection that was idle for aliveCheckAfter or longer.
func BenchmarkIdleConnAlive(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	peer, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	pc := newConn(conn)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !pc.alive() {
			b.Fatal("an idle connection judged dead")
		}
	}
}

// TestReadDeadlineKeepsCancellation: setting the header timeout after the
// client went away must not undo the past deadline that unblocks the read
// (that race hung a request until the app answered).
func TestReadDeadlineKeepsCancellation(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a.SetDeadline(aLongTimeAgo) // what the AfterFunc did
	setReadDeadline(ctx, a, time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() { _, err := a.Read(make([]byte, 1)); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read blocked: the cancellation deadline was overwritten")
	}
}
