package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The differential test sends the same requests through Client and through
// net/http's http.Transport to the same app and compares what the app saw
// and what the caller got. They differ by design in these ways, each
// asserted where it shows (the table's diff column):
//
//   - diffUA: http.Transport sends User-Agent: Go-http-client/1.1 when the
//     request has none, and Accept-Encoding: gzip (then decompresses the
//     answer); Client sends neither: the bytes pass through as the app
//     wrote them, and ReverseProxy has already set the client's headers.
//     Every case checks this.
//   - diffReqTrailer: Client ends a chunked request body with no trailer
//     section; http.Transport sends req.Trailer.
//   - diffUpgrade: Client does not carry upgrades (Handles is false; the
//     sidecar sends them through http.Transport, whose 101 and the echo
//     after it are checked).
//   - diffEarlyClose: an app that answers before reading a large body and
//     closes the connection: Client relays the answer every time;
//     http.Transport relays it or, when its write loop's error reaches
//     persistConn.roundTrip before the response does, returns that error
//     (the test logs it when it happens).
//
// Each step also names the answer both must get, so that the two cannot
// agree on being wrong.

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

// got is what the caller got.
type got struct {
	Status           int
	Header           http.Header // without Date
	ContentLength    int64
	TransferEncoding []string
	Body             string // digest
	Trailer          http.Header
	Err              string // errClass; "" when a response came
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d:%x", len(b), sum[:8])
}

// errClass sorts errors into what the sidecar's error handler tells apart.
func errClass(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "error"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(n, c, bufio.NewReader(c), done)
			}()
		}
	}()
	return ln.Addr().String()
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

// Documented differences (see the top of the file).
const (
	diffReqTrailer = 1 << iota
	diffUpgrade
	diffEarlyClose
)

// step is one request of a case.
type step struct {
	method, path string
	body         []byte // nil: none
	chunked      bool   // sent with unknown length
	hdr          http.Header
	trailer      http.Header
	pause        time.Duration // before the request
	// status is the answer both must get; 0: an error of class errc.
	status int
	errc   string
	// within bounds how long the client may take (0: the test's bound).
	within time.Duration
}

var (
	small     = bytes.Repeat([]byte("s"), 1<<10)
	large     = bytes.Repeat([]byte("0123456789abcdef"), 4<<10)   // 64 KiB: > smallBody
	huge      = bytes.Repeat([]byte("0123456789abcdef"), 512<<10) // 8 MiB: more than the socket buffers take
	expect100 = http.Header{"Expect": {"100-continue"}}
)

func (s step) request(ctx context.Context, addr string) *http.Request {
	var body io.Reader
	if s.body != nil {
		body = bytes.NewReader(s.body)
		if s.chunked {
			body = io.MultiReader(body) // hides the length
		}
	}
	req, err := http.NewRequestWithContext(ctx, s.method, "http://"+addr+s.path, body)
	if err != nil {
		panic(err)
	}
	if s.chunked {
		req.ContentLength = -1
	}
	for k, v := range s.hdr {
		req.Header[k] = v
	}
	if s.trailer != nil {
		req.Trailer = s.trailer.Clone()
	}
	return req
}

// run sends the steps through rt and returns what the caller got and what
// the app saw for each.
// strict: each answer is checked against its step's status (http.Transport
// is not, in diffEarlyClose).
func run(t *testing.T, rt http.RoundTripper, addr string, log *appLog, steps []step, strict bool) ([]got, [][]seen) {
	t.Helper()
	var gots []got
	var seens [][]seen
	for i, s := range steps {
		time.Sleep(s.pause)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		res, err := rt.RoundTrip(s.request(ctx, addr))
		if took := time.Since(start); strict && s.within > 0 && took > s.within {
			t.Errorf("%T: request %d took %v, want at most %v", rt, i, took, s.within)
		}
		var g got
		if err != nil {
			g.Err = errClass(err)
		} else {
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				g.Err = "body: " + errClass(err)
			}
			h := res.Header.Clone()
			h.Del("Date")
			g = got{Status: res.StatusCode, Header: h, ContentLength: res.ContentLength,
				TransferEncoding: res.TransferEncoding, Body: digest(b), Trailer: res.Trailer, Err: g.Err}
			if len(g.Trailer) == 0 {
				g.Trailer = nil
			}
		}
		cancel()
		if strict && (g.Status != s.status || (s.status == 0 && g.Err != s.errc)) {
			t.Errorf("%T: request %d: %d %q, want %d %q", rt, i, g.Status, g.Err, s.status, s.errc)
		}
		gots = append(gots, g)
		s := log.take()
		for i := range s {
			if s[i].Host == addr {
				s[i].Host = "<the app>" // each client has an app of its own
			}
		}
		seens = append(seens, s)
	}
	return gots, seens
}

// stdTransport is http.Transport configured as the sidecar's, but for
// compression: left on, so that diffUA shows.
func stdTransport() *http.Transport {
	tr := &http.Transport{
		Proxy:                 nil,
		MaxIdleConnsPerHost:   4,
		ResponseHeaderTimeout: 5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	return tr
}

func TestDifferentialAgainstHTTPTransport(t *testing.T) {
	trailer := http.Header{"X-Sum": {"abc"}}
	for _, tc := range []struct {
		name  string
		app   func(*appLog) func(*testing.T) string // nil: goApp
		steps []step
		diff  int
		check func(t *testing.T, ours, std []got) // more, on top of the comparison
	}{
		{name: "GET", steps: []step{{method: "GET", path: "/echo?q=1&r=%2F", status: 200}}},
		{name: "HEAD", steps: []step{{method: "HEAD", path: "/head", status: 200}}},
		{name: "204", steps: []step{{method: "GET", path: "/204", status: 204}}},
		{name: "304", steps: []step{{method: "GET", path: "/304", hdr: http.Header{"If-None-Match": {`"v1"`}}, status: 304}}},
		{name: "POST without a body", steps: []step{{method: "POST", path: "/echo", status: 200}}},
		{name: "content-length body, small", steps: []step{{method: "POST", path: "/echo", body: small, status: 200}}},
		{name: "content-length body, large", steps: []step{{method: "PUT", path: "/echo", body: large, status: 200}}},
		{name: "chunked request body", steps: []step{{method: "POST", path: "/echo", body: large, chunked: true, status: 200}}},
		{name: "chunked request body, small", steps: []step{{method: "POST", path: "/echo", body: small, chunked: true, status: 200}}},
		{name: "chunked response", steps: []step{{method: "GET", path: "/chunked", status: 200}},
			check: func(t *testing.T, ours, _ []got) {
				if !slices.Equal(ours[0].TransferEncoding, []string{"chunked"}) || ours[0].ContentLength != -1 {
					t.Errorf("not chunked: %+v", ours[0])
				}
			}},
		{name: "large response", steps: []step{{method: "GET", path: "/big", status: 200}}},
		{name: "keep-alive sequence", steps: []step{
			{method: "GET", path: "/echo", status: 200}, {method: "POST", path: "/echo", body: large, status: 200},
			{method: "POST", path: "/echo", body: small, status: 200}, {method: "GET", path: "/chunked", status: 200}, {method: "HEAD", path: "/head", status: 200}}},
		{name: "100-continue, app accepts", steps: []step{
			{method: "POST", path: "/echo", body: small, hdr: expect100, status: 200},
			{method: "POST", path: "/echo", body: large, hdr: expect100, status: 200}}},
		{name: "100-continue, app declines", steps: []step{
			{method: "POST", path: "/decline", body: small, hdr: expect100, status: 413, within: 900 * time.Millisecond},
			{method: "POST", path: "/decline", body: huge, hdr: expect100, status: 413, within: 900 * time.Millisecond}}},
		{name: "response trailers", steps: []step{{method: "POST", path: "/trailer", body: small, status: 200}},
			check: func(t *testing.T, ours, _ []got) {
				if ours[0].Trailer.Get("X-Checksum") != digest(small) {
					t.Errorf("trailer %v", ours[0].Trailer)
				}
			}},
		{name: "request trailers", steps: []step{{method: "POST", path: "/trailer", body: small, chunked: true, trailer: trailer, status: 200}},
			diff: diffReqTrailer},
		{name: "early answer, app closes", steps: []step{{method: "POST", path: "/decline", body: huge, status: 413, within: 3 * time.Second}},
			diff: diffEarlyClose},
		{name: "early answer, app stops reading", app: stopsReadingApp, steps: []step{{method: "POST", path: "/upload", body: huge, status: 401, within: 3 * time.Second}}},
		{name: "early answer, app stops reading, chunked", app: stopsReadingApp, steps: []step{{method: "POST", path: "/upload", body: huge, chunked: true, status: 401, within: 3 * time.Second}}},
		{name: "stale connection, GET retried", app: staleApp, steps: []step{
			{method: "GET", path: "/1", status: 200}, {method: "GET", path: "/2", status: 200}}},
		{name: "stale connection, POST with Idempotency-Key retried", app: staleApp, steps: []step{
			{method: "GET", path: "/1", status: 200}, {method: "POST", path: "/2", hdr: http.Header{"Idempotency-Key": {"k1"}}, status: 200}}},
		{name: "stale connection, POST not retried", app: staleApp, steps: []step{
			{method: "GET", path: "/1", status: 200}, {method: "POST", path: "/2", body: small, errc: "eof"}}},
		{name: "connection closed while idle", app: idleClosingApp, steps: []step{
			{method: "GET", path: "/1", status: 200}, {method: "POST", path: "/2", body: small, pause: 150 * time.Millisecond, status: 200},
			{method: "POST", path: "/3", body: large, pause: 150 * time.Millisecond, status: 200}}},
		{name: "upgrade", steps: []step{{method: "GET", path: "/upgrade", hdr: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo"}}, status: 101}},
			diff: diffUpgrade},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &appLog{}
			app := func(t *testing.T) string { return goApp(t, log) }
			if tc.app != nil {
				app = tc.app(log)
			}
			if tc.diff&diffUpgrade != 0 {
				checkUpgrade(t, app(t), log, tc.steps[0])
				return
			}
			// One app per client: the raw apps' behaviour depends on the
			// connection count.
			ours := New(Config{Addr: app(t), HeaderTimeout: 5 * time.Second, MaxIdle: 4})
			defer ours.CloseIdleConnections()
			std := stdTransport()
			defer std.CloseIdleConnections()
			start := time.Now()
			og, os := run(t, ours, ours.addr, log, tc.steps, true)
			oursTook := time.Since(start)
			sg, ss := run(t, std, app(t), log, tc.steps, tc.diff&diffEarlyClose == 0)
			compare(t, tc.diff, og, sg, os, ss)
			if tc.check != nil {
				tc.check(t, og, sg)
			}
			if oursTook > 5*time.Second {
				t.Errorf("the client took %v", oursTook)
			}
		})
	}
}

// compare asserts that ours and std got and saw the same, but for the
// documented differences, which it asserts instead.
func compare(t *testing.T, diff int, og, sg []got, os, ss [][]seen) {
	t.Helper()
	for i := range og {
		for j, s := range os[i] {
			if s.UserAgent != "" || s.AcceptEnc != "" {
				t.Errorf("request %d: the client sent User-Agent %q, Accept-Encoding %q: want none (diffUA)", i, s.UserAgent, s.AcceptEnc)
			}
			os[i][j].UserAgent, os[i][j].AcceptEnc = "", ""
		}
		for j, s := range ss[i] {
			if s.UserAgent != "Go-http-client/1.1" || (s.AcceptEnc != "gzip" && s.Method != "HEAD") {
				t.Errorf("request %d: http.Transport sent User-Agent %q, Accept-Encoding %q: the test's premise (diffUA) is gone", i, s.UserAgent, s.AcceptEnc)
			}
			ss[i][j].UserAgent, ss[i][j].AcceptEnc = "", ""
		}
		if diff&diffEarlyClose != 0 {
			// Ours relays the answer; http.Transport either relays it or
			// reports the failed write.
			if og[i].Status != http.StatusRequestEntityTooLarge || og[i].Err != "" {
				t.Errorf("request %d: the client got %+v, want the app's 413", i, og[i])
			}
			if sg[i].Err == "" && !reflect.DeepEqual(og[i], sg[i]) {
				t.Errorf("request %d: got\n%+v\nhttp.Transport got\n%+v", i, og[i], sg[i])
			}
			if sg[i].Err != "" {
				t.Logf("request %d: http.Transport reported the write error (%s) instead of the answer", i, sg[i].Err)
			}
		} else if !reflect.DeepEqual(og[i], sg[i]) {
			t.Errorf("request %d: the caller got\n%+v\nthrough http.Transport\n%+v", i, og[i], sg[i])
		}
		o, s := os[i], ss[i]
		if diff&diffReqTrailer != 0 {
			for j := range o {
				if o[j].Trailer != nil {
					t.Errorf("request %d: the app saw request trailers %v from the client: diffReqTrailer is gone", i, o[j].Trailer)
				}
			}
			for j := range s {
				if s[j].Trailer == nil {
					t.Errorf("request %d: the app saw no request trailers from http.Transport", i)
				}
				s[j].Trailer = nil
			}
		}
		if !reflect.DeepEqual(o, s) {
			t.Errorf("request %d: the app saw\n%+v\nthrough http.Transport\n%+v", i, o, s)
		}
	}
}

// checkUpgrade: http.Transport carries the upgrade and the echo after it;
// Client does not take it (diffUpgrade).
func checkUpgrade(t *testing.T, addr string, log *appLog, s step) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := s.request(ctx, addr)
	if New(Config{Addr: addr}).Handles(req) {
		t.Fatal("the client takes upgrades: diffUpgrade is gone")
	}
	std := stdTransport()
	defer std.CloseIdleConnections()
	res, err := std.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rw, ok := res.Body.(io.ReadWriter)
	if res.StatusCode != http.StatusSwitchingProtocols || !ok {
		t.Fatalf("%d %T", res.StatusCode, res.Body)
	}
	io.WriteString(rw, "hello\n")
	line, err := bufio.NewReader(rw).ReadString('\n')
	if line != "echo: hello\n" {
		t.Fatalf("after the upgrade: %q %v", line, err)
	}
	if seen := log.take(); len(seen) != 1 || seen[0].Header.Get("Upgrade") != "echo" {
		t.Errorf("the app saw %+v", seen)
	}
}
