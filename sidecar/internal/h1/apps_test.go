package h1

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// The apps the differential test sends its requests to, and what they
// note of each.

// seen is what the app saw of one request.
type seen struct {
	Method, URI, Host, Proto string
	ContentLength            int64
	TransferEncoding         []string
	Header                   http.Header // without User-Agent, Accept-Encoding (diffUA)
	UserAgent, AcceptEnc     string
	Body                     string // its digest; "-" when the app did not read it
	Trailer                  http.Header
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d:%x", len(b), sum[:8])
}

// appLog collects what the apps saw, in order.
type appLog struct {
	mu   sync.Mutex
	seen []seen
}

func (l *appLog) add(r *http.Request, body string) {
	h := r.Header.Clone()
	ua, ae := h.Get("User-Agent"), h.Get("Accept-Encoding")
	h.Del("User-Agent")
	h.Del("Accept-Encoding")
	s := seen{Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto, ContentLength: r.ContentLength,
		TransferEncoding: r.TransferEncoding, Header: h, UserAgent: ua, AcceptEnc: ae, Body: body}
	if len(r.Trailer) > 0 && body != "-" {
		s.Trailer = r.Trailer.Clone()
	}
	l.mu.Lock()
	l.seen = append(l.seen, s)
	l.mu.Unlock()
}

func (l *appLog) take() []seen {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen
	l.seen = nil
	return s
}

// goApp is the net/http app most cases use. Each handler notes what it saw
// before it answers, so the caller's response means the note is there.
func goApp(t *testing.T, log *appLog) string {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			log.add(r, "read error: "+err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.add(r, digest(b))
		w.Header().Set("X-Echo", "1")
		io.WriteString(w, r.Method+" "+digest(b))
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		log.add(r, "-")
		for i := range 3 {
			fmt.Fprintf(w, "part %d\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		log.add(r, "-")
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big)
	})
	mux.HandleFunc("/head", func(w http.ResponseWriter, r *http.Request) {
		log.add(r, "-")
		w.Header().Set("Content-Length", "1234")
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) {
		log.add(r, "-")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) {
		log.add(r, "-")
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		log.add(r, digest(b))
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", digest(b))
	})
	// decline answers 413 without reading the body (to Expect:
	// 100-continue: no 100 is sent; to a large body: net/http closes the
	// connection after the answer).
	mux.HandleFunc("/decline", func(w http.ResponseWriter, r *http.Request) {
		log.add(r, "-")
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	// upgrade switches to an echo of lines when asked to.
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		log.add(r, "-")
		if !strings.EqualFold(r.Header.Get("Upgrade"), "echo") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "upgrade to echo only", http.StatusUpgradeRequired)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo: " + line)
			brw.Flush()
		}
	})
	srv := httptest.NewServer(mux) // 127.0.0.1, a free port
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// rawApp serves each connection of a listener on 127.0.0.1 with serve
// (n counts the connections from 0), bounded in time.
func rawApp(t *testing.T, serve func(n int, c net.Conn, br *bufio.Reader, done <-chan struct{})) string {
	t.Helper()
	done := make(chan struct{})
	var conns atomic.Int64 // the tests open their connections one after another
	addr := testkit.Serve(t, func(c net.Conn) {
		n := int(conns.Add(1) - 1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		serve(n, c, bufio.NewReader(c), done)
	})
	t.Cleanup(func() { close(done) }) // runs first: handlers waiting on done return
	return addr
}

// staleApp answers the first request on its first connection and keeps it
// open; it reads the next request on it whole and closes the connection
// without a byte of answer (as an app whose idle timeout fired just as the
// request came). Every other connection is served normally.
func staleApp(log *appLog) func(*testing.T) string {
	return func(t *testing.T) string {
		return rawApp(t, func(n int, c net.Conn, br *bufio.Reader, _ <-chan struct{}) {
			for i := 0; ; i++ {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				b, _ := io.ReadAll(req.Body)
				log.add(req, digest(b))
				if n == 0 && i == 1 {
					return // closes: EOF before any response byte
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
	}
}

// stopsReadingApp answers 401 after the request head and then neither
// reads the body nor closes the connection.
func stopsReadingApp(log *appLog) func(*testing.T) string {
	return func(t *testing.T) string {
		return rawApp(t, func(_ int, c net.Conn, br *bufio.Reader, done <-chan struct{}) {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			log.add(req, "-")
			io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\n\r\nUnauthorized\n")
			<-done
		})
	}
}

// idleClosingApp is a net/http app that closes connections idle for 50 ms.
func idleClosingApp(log *appLog) func(*testing.T) string {
	return func(t *testing.T) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			log.add(r, digest(b))
			io.WriteString(w, "ok")
		}))
		srv.Config.IdleTimeout = 50 * time.Millisecond
		srv.Start()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
}
