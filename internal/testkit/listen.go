package testkit

import (
	"net"
	"sync"
	"testing"
)

// Serve listens on a free 127.0.0.1 port and hands every connection to
// handle in a goroutine of its own (nil handle: the connection is kept
// open and never read, a black hole). When the test ends the listener and
// every connection are closed and the goroutines waited for. It returns
// the listener's address.
func Serve(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if handle != nil {
				wg.Go(func() { handle(c) })
			}
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// BlackHole returns the address of a listener that accepts connections
// and never reads from them or answers, like a sink whose process hangs.
func BlackHole(tb testing.TB) string {
	tb.Helper()
	return Serve(tb, nil)
}

// ClosedAddr returns a 127.0.0.1 address nothing listens on (a port that
// was free a moment ago): connecting to it is refused.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
