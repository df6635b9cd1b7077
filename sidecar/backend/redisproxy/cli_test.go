package redisproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
)

// redisCLI runs redis-cli against addr and returns what it printed.
func redisCLI(t *testing.T, addr string, stdin string, args ...string) string {
	t.Helper()
	bin, err := realcomp.Lookup("redis-cli")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("redis-cli %v: %v", args, ctx.Err())
	}
	if err != nil {
		return fmt.Sprintf("%s(exit: %v)", out, err)
	}
	return string(out)
}

func TestRedisCLIMatchesDirect(t *testing.T) {
	addr := redisServer(t)
	r := newRig(t, addr)
	proxy := startProxy(t, r, nil)
	session := [][]string{
		{"SET", "cli:a", "1"},
		{"GET", "cli:a"},
		{"INCR", "cli:a"},
		{"LPUSH", "cli:a", "x"},
		{"HSET", "cli:h", "f", "v", "g", "w"},
		{"HGETALL", "cli:h"},
		{"-3", "HGETALL", "cli:h"},
		{"RPUSH", "cli:l", "a", "b", "c"},
		{"LRANGE", "cli:l", "0", "-1"},
		{"ZADD", "cli:z", "1.5", "m"},
		{"-3", "ZRANGE", "cli:z", "0", "-1", "WITHSCORES"},
		{"-3", "ZSCORE", "cli:z", "m"},
		{"PING"},
		{"NOSUCHCOMMAND"},
	}
	run := func(addr string) string {
		redisCLI(t, redisServer(t), "", "DEL", "cli:a", "cli:h", "cli:l", "cli:z")
		var b strings.Builder
		for _, args := range session {
			fmt.Fprintf(&b, "> %v\n%s", args, redisCLI(t, addr, "", args...))
		}
		return b.String()
	}
	direct := run(addr)
	proxied := run(proxy)
	if proxied != direct {
		t.Errorf("through the proxy:\n%s\ndirect:\n%s", proxied, direct)
	}
	if !strings.Contains(direct, "WRONGTYPE") || !strings.Contains(direct, "1.5") {
		t.Fatalf("the session did not run as meant:\n%s", direct)
	}
	// Each redis-cli is a connection of its own, and the proxy relays a
	// reply before it counts its call: wait for every count.
	wants := map[string]uint64{"SET/ok": 1, "GET/ok": 1, "INCR/ok": 1, "LPUSH/error": 1, "HGETALL/ok": 2, "HELLO/ok": 3, "PING/ok": 1, "ZSCORE/ok": 1, "OTHER/error": 1}
	for k, n := range wants {
		op, outcome, _ := strings.Cut(k, "/")
		r.waitFor(t, op, outcome, n)
	}
	obs := r.observations()
	for k, n := range wants {
		if obs[k] != n {
			t.Errorf("%s: %d observations, want %d (all %v)", k, obs[k], n, obs)
		}
	}
	if e := r.decodeErrors(); e != 0 {
		t.Errorf("%v decode errors", e)
	}
}

func TestRedisCLIPipe(t *testing.T) {
	addr := redisServer(t)
	r := newRig(t, addr)
	proxy := startProxy(t, r, nil)
	// Inline and multibulk commands mixed, as mass-insertion files are.
	var in strings.Builder
	const n = 1000
	for i := range n {
		fmt.Fprintf(&in, "SET pipe:%d \"value %d\"\r\n", i, i)
		fmt.Fprintf(&in, "*2\r\n$4\r\nINCR\r\n$10\r\npipe:count\r\n")
	}
	in.WriteString("*3\r\n$4\r\nHSET\r\n$6\r\npipe:h\r\n$1\r\nf\r\n") // one error: wrong arity
	direct := redisCLI(t, addr, in.String(), "--pipe")
	proxied := redisCLI(t, proxy, in.String(), "--pipe")
	if proxied != direct {
		t.Errorf("--pipe through the proxy:\n%s\ndirect:\n%s", proxied, direct)
	}
	if want := fmt.Sprintf("errors: 1, replies: %d", 2*n+1); !strings.Contains(direct, want) {
		t.Fatalf("--pipe output %q, want %q", direct, want)
	}
	r.waitFor(t, "ECHO", "ok", 1) // redis-cli --pipe ends with an ECHO of a random mark
	obs := r.observations()
	if obs["SET/ok"] != n || obs["INCR/ok"] != n || obs["HSET/error"] != 1 {
		t.Errorf("observations %v, want %d SET, %d INCR, 1 HSET error", obs, n, n)
	}
	if e := r.decodeErrors(); e != 0 {
		t.Errorf("%v decode errors", e)
	}
}

func TestRedisCLIMonitor(t *testing.T) {
	addr := redisServer(t)
	r := newRig(t, addr)
	proxy := startProxy(t, r, nil)
	bin, err := realcomp.Lookup("redis-cli")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(proxy)
	var out realcomp.Buffer
	cmd := exec.Command(bin, "-h", host, "-p", port, "MONITOR")
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := realcomp.Start("redis-cli MONITOR", cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	testkit.Eventually(t, "MONITOR's OK", 5*time.Second, func() bool { return strings.HasPrefix(out.String(), "OK") })

	ctx := context.Background()
	c := newClient(t, proxy, 2, "")
	if err := c.Set(ctx, "monitored:key", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, "monitored:key").Val(); v != "v" {
		t.Fatalf("GET %q", v)
	}
	testkit.Eventually(t, "the monitor stream", 5*time.Second, func() bool {
		return strings.Count(strings.ToLower(out.String()), `"monitored:key"`) == 2
	})
	r.waitFor(t, "GET", "ok", 1)
	obs := r.observations()
	if obs["MONITOR/ok"] != 1 || obs["SET/ok"] != 1 || obs["GET/ok"] != 1 {
		t.Errorf("observations %v: want MONITOR, and the other client's SET and GET", obs)
	}
	if r.gauge("relayed") != 1 || r.gauge("decoded") < 1 {
		t.Errorf("connections relayed=%v decoded=%v; want the monitor relayed, the client decoded", r.gauge("relayed"), r.gauge("decoded"))
	}
	if e := r.decodeErrors(); e != 0 {
		t.Errorf("MONITOR counted as %v decode errors", e)
	}
}

// rawExchange writes in on a fresh connection to addr and reads until the
// bytes read end with end.
func rawExchange(t *testing.T, addr, in, end string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, in); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for !bytes.HasSuffix(got.Bytes(), []byte(end)) {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("after %q: %v", got.String(), err)
		}
	}
	return got.String()
}

func TestClientReplyOffRelays(t *testing.T) {
	addr := redisServer(t)
	r := newRig(t, addr)
	proxy := startProxy(t, r, nil)
	in := "GET cro\r\nCLIENT REPLY OFF\r\nSET cro 1\r\nCLIENT REPLY SKIP\r\nSET cro 2\r\nCLIENT REPLY ON\r\nGET cro\r\n"
	rawExchange(t, addr, "DEL cro\r\n", "\r\n")
	want := rawExchange(t, addr, in, "$1\r\n2\r\n")
	rawExchange(t, addr, "DEL cro\r\n", "\r\n")
	got := rawExchange(t, proxy, in, "$1\r\n2\r\n")
	if got != want || want != "$-1\r\n+OK\r\n$1\r\n2\r\n" {
		t.Errorf("through the proxy %q, direct %q", got, want)
	}
	r.waitFor(t, "GET", "ok", 1)
	if e := r.decodeErrors(); e != 1 {
		t.Errorf("%v decode errors, want 1", e)
	}
	if obs := r.observations(); obs["GET/ok"] != 1 || len(obs) != 1 {
		t.Errorf("observations %v: want the GET before CLIENT REPLY OFF only", obs)
	}
}

// TestEveryRESP3Type has the server send each type through DEBUG
// PROTOCOL: attributes, pushes, big numbers, verbatim strings…
func TestEveryRESP3Type(t *testing.T) {
	addr := startRedis(t, "--enable-debug-command", "yes")
	types := []string{"string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push", "verbatim", "true", "false"}
	for _, protocol := range []string{"2", "3"} {
		t.Run("RESP"+protocol, func(t *testing.T) {
			r := newRig(t, addr)
			proxy := startProxy(t, r, nil)
			in := "HELLO " + protocol + "\r\n"
			for _, ty := range types {
				in += "DEBUG PROTOCOL " + ty + "\r\n"
			}
			in += "PING\r\n"
			// HELLO's reply carries the connection id: compare from its
			// last field on.
			after := func(s string) string { return s[strings.Index(s, "modules"):] }
			want := after(rawExchange(t, addr, in, "+PONG\r\n"))
			got := after(rawExchange(t, proxy, in, "+PONG\r\n"))
			if got != want {
				t.Errorf("through the proxy %q, direct %q", got, want)
			}
			if protocol == "3" && (!strings.Contains(want, "|1\r\n") || !strings.Contains(want, ">2\r\n") || !strings.Contains(want, "(") || !strings.Contains(want, "=")) {
				t.Errorf("the server did not send RESP3 types: %q", want)
			}
			r.waitFor(t, "PING", "ok", 1)
			// RESP2 has no push: that DEBUG PROTOCOL is an error.
			obs := r.observations()
			if obs["DEBUG/ok"]+obs["DEBUG/error"] != uint64(len(types)) || (protocol == "3" && obs["DEBUG/error"] != 0) || obs["HELLO/ok"] != 1 {
				t.Errorf("observations %v, want HELLO, %d DEBUG, PING", obs, len(types))
			}
			if e := r.decodeErrors(); e != 0 {
				t.Errorf("%v decode errors", e)
			}
		})
	}
}
