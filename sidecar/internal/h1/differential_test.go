package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
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

// Documented differences (see the top of the file).
const (
	diffUpgrade = 1 << iota
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
		{name: "request trailers", steps: []step{{method: "POST", path: "/trailer", body: small, chunked: true, trailer: trailer, status: 200}}},
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
