//go:build unix

package h1

import "syscall"

// peekFD is alive's look at an idle connection's socket: one recvfrom with
// MSG_PEEK, which consumes nothing and does not block (Go's sockets are
// non-blocking). EAGAIN: nothing arrived, the connection is alive. 0 bytes:
// the app's FIN. A byte: stray data. An error: a reset. It returns true so
// that RawConn.Read does not wait for the socket to become readable.
func (pc *conn) peekFD(fd uintptr) bool {
	for {
		_, _, err := syscall.Recvfrom(int(fd), pc.peekBuf[:], syscall.MSG_PEEK)
		if err == syscall.EINTR {
			continue
		}
		pc.peekOK = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	}
}
