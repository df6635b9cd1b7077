package h1

import (
	"io"
	"time"
)

// respBody returns the connection to the pool when the response was read to
// the end (and the request body, if still going, ends soon after), and
// closes it otherwise. Close waits for a request body writer, so that
// nothing reads the client's body once the response is done.
type respBody struct {
	rc       io.ReadCloser
	pc       *conn
	client   *Client
	stop     func() bool
	reusable bool
	writing  bool // the request body is still being written (writeBody)
	eof      bool
	done     bool
}

func (b *respBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *respBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if !b.eof {
		// net/http's body reader drains to EOF on Close; an abandoned
		// (maybe endless) stream must not be drained: close the conn first.
		b.pc.c.Close()
		if b.writing {
			<-b.pc.wdone
		}
		b.stop()
		b.rc.Close()
		return nil
	}
	err := b.rc.Close()
	reusable := b.reusable && err == nil
	if b.writing {
		// The app answered before the whole body was sent. It may still be
		// reading it: give the writer a moment, as http.Transport does,
		// then the connection goes (a deadline, so no timer).
		if reusable {
			b.pc.c.SetWriteDeadline(time.Now().Add(bodyWriteGrace))
		} else {
			b.pc.c.Close()
		}
		if werr := <-b.pc.wdone; werr != nil {
			reusable = false
		} else if reusable {
			b.pc.c.SetWriteDeadline(time.Time{})
		}
	}
	if b.stop() && reusable {
		b.client.put(b.pc)
		return nil
	}
	b.pc.c.Close()
	return err
}
