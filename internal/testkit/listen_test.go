package testkit

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestBlackHoleAcceptsAndNeverAnswers(t *testing.T) {
	c, err := net.DialTimeout("tcp", BlackHole(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Errorf("read %d bytes, %v; want a timeout", n, err)
	}
}

func TestClosedAddrRefuses(t *testing.T) {
	if c, err := net.DialTimeout("tcp", ClosedAddr(t), time.Second); err == nil {
		c.Close()
		t.Error("connected to a closed address")
	}
}

func TestServeHandlesAndCloses(t *testing.T) {
	var got *net.Conn
	done := make(chan struct{})
	addr := ""
	t.Run("inner", func(t *testing.T) {
		addr = Serve(t, func(c net.Conn) {
			got = &c
			io.Copy(c, c) // echo until closed
			close(done)
		})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
			t.Fatalf("echo: %q, %v", b, err)
		}
	})
	// The inner test's cleanup closed the connection (the handler
	// returned) and the listener.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's connection was not closed at cleanup")
	}
	if got == nil {
		t.Fatal("no connection handled")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after cleanup")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
