package h1

import (
	"bufio"
	"context"
	"net"
	"sync"
	"syscall"
	"time"
)

// conn is a connection to the app with its buffers and the state of the
// request on it.
type conn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// reused is true once the connection served a request; a reused
	// connection may have been closed by the app while idle.
	reused bool
	// idleSince is when the connection went back to the pool.
	idleSince time.Time

	// rc, peek (pc.peekFD, bound once) and the fields after them check an
	// idle connection before reuse without allocating (alive).
	rc      syscall.RawConn
	peek    func(fd uintptr) bool
	peekOK  bool
	peekBuf [1]byte

	// wdone receives the outcome of a request body written concurrently
	// with reading the response (writeBody); made on the first body.
	wdone chan error
	// dl orders the header deadline the body writer arms once the body is
	// sent with the reader clearing it once the response head arrived.
	dl      sync.Mutex
	gotHead bool
}

func newConn(nc net.Conn) *conn {
	pc := &conn{c: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 16<<10)}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			pc.rc, pc.peek = rc, pc.peekFD
		}
	}
	return pc
}

// alive reports whether an idle connection can carry a request: nothing
// arrived while it was idle, neither the app's FIN (it closed the
// connection, as apps do after their idle timeout), nor a reset, nor stray
// bytes. It costs one non-blocking MSG_PEEK recvfrom (peekFD; where there is
// none, only bytes already buffered are seen) and allocates nothing.
func (pc *conn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	if pc.rc == nil {
		return true
	}
	pc.peekOK = false
	if err := pc.rc.Read(pc.peek); err != nil {
		return false
	}
	return pc.peekOK
}

var aLongTimeAgo = time.Unix(1, 0)

// setReadDeadline sets a read deadline without undoing a cancellation: the
// AfterFunc that unblocks I/O when the client goes away may already have
// set a past deadline, which a later deadline would silently replace (and
// the request would hang until the app answered). ctx is marked done
// before its AfterFuncs run, so checking after setting closes the race.
func setReadDeadline(ctx context.Context, c net.Conn, t time.Time) {
	c.SetReadDeadline(t)
	if ctx.Err() != nil {
		c.SetDeadline(aLongTimeAgo)
	}
}
