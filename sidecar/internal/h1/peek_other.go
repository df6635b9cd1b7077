//go:build !unix

package h1

// peekFD cannot look at the socket here: alive relies on the bytes already
// buffered, and a connection the app closed while idle is found out by the
// request (a request that can be replayed is retried once).
func (pc *conn) peekFD(uintptr) bool {
	pc.peekOK = true
	return true
}
