package redisproxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestConnectionSetup: against redis-server with requirepass, go-redis's
// connection setup (HELLO with AUTH in RESP3; AUTH in RESP2; SELECT for
// a database; CLIENT SETINFO/SETNAME) is timed command by command, each
// span marked hopscope.db.connection_setup=true, and the commands after
// it are not (an AUTH sent after a GET is not setup); the password is
// nowhere in the spans, the metrics or the logs.
func TestConnectionSetup(t *testing.T) {
	const password = "Setup-pw-sekrit"
	addr := startRedis(t, "--requirepass", password)
	for _, tc := range []struct {
		protocol  int
		wantSetup []string // setup commands, in the order sent
	}{
		// go-redis v9 authenticates with HELLO in both protocols.
		{3, []string{"HELLO", "SELECT", "CLIENT"}},
		{2, []string{"HELLO", "SELECT", "CLIENT"}},
	} {
		t.Run(fmt.Sprintf("RESP%d", tc.protocol), func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, addr)
			log, logs := observedLogger()
			proxy := startProxy(t, r, log)
			c := redis.NewClient(&redis.Options{Addr: proxy, Protocol: tc.protocol, Password: password, DB: 2, ClientName: "setup-test",
				MaxRetries: -1, PoolSize: 1, DisableIdentity: false})
			defer c.Close()
			if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			// On the same (only) connection: a GET, then an AUTH that is not setup.
			if err := c.Get(ctx, "k").Err(); err != nil {
				t.Fatal(err)
			}
			if err := c.Do(ctx, "AUTH", password).Err(); err != nil {
				t.Fatal(err)
			}
			r.waitFor(t, "AUTH", "ok", 1)
			checkSetup(t, r, logs, tc.wantSetup, password)
		})
	}

	// A client that authenticates with AUTH (redis-cli -a, older
	// clients): AUTH and SELECT are setup, the AUTH after a GET is not.
	t.Run("AUTH then SELECT, raw", func(t *testing.T) {
		r := newRig(t, addr)
		log, logs := observedLogger()
		proxy := startProxy(t, r, log)
		conn, err := net.DialTimeout("tcp", proxy, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		for _, tc := range []struct{ cmd, want string }{
			{"AUTH " + password, "+OK"}, {"SELECT 2", "+OK"}, {"SET k v", "+OK"}, {"GET k", "$1"}, {"AUTH " + password, "+OK"},
		} {
			if _, err := fmt.Fprintf(conn, "%s\r\n", tc.cmd); err != nil {
				t.Fatal(err)
			}
			line, err := br.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != tc.want {
				t.Fatalf("%s: %q %v, want %s", strings.Fields(tc.cmd)[0], line, err, tc.want)
			}
			if tc.want == "$1" {
				br.ReadString('\n')
			}
		}
		r.waitFor(t, "AUTH", "ok", 2)
		checkSetup(t, r, logs, []string{"AUTH", "SELECT"}, password)
	})
}

// checkSetup checks the spans: the setup commands marked (in order, a
// command repeated counted once), SET GET AUTH after them not, every
// one with a duration, and the password nowhere.
func checkSetup(t *testing.T, r *rig, logs func() string, wantSetup []string, password string) {
	t.Helper()
	var setup, after []string
	for _, s := range r.spans.Ended() {
		op, marked := "", ""
		for _, a := range s.Attributes() {
			switch string(a.Key) {
			case "db.operation.name":
				op = a.Value.AsString()
			case AttrConnectionSetup:
				marked = a.Value.Emit()
			}
		}
		switch marked {
		case "true":
			setup = append(setup, op)
		case "":
			after = append(after, op)
		default:
			t.Errorf("%s: %s=%q", op, AttrConnectionSetup, marked)
		}
		if d := s.EndTime().Sub(s.StartTime()); d <= 0 {
			t.Errorf("%s took %s", op, d)
		}
	}
	// CLIENT may come once (SETNAME) or more (SETINFO lib-name, lib-ver).
	if strings.Join(dedupe(setup), " ") != strings.Join(wantSetup, " ") {
		t.Errorf("setup commands %v, want %v", setup, wantSetup)
	}
	if strings.Join(after, " ") != "SET GET AUTH" {
		t.Errorf("commands after the setup %v, want SET GET AUTH", after)
	}
	if strings.Contains(r.everything(), password) || strings.Contains(logs(), password) {
		t.Errorf("the password is in the telemetry:\n%s\n%s", r.everything(), logs())
	}
}

// dedupe drops a name repeated right after itself.
func dedupe(ops []string) []string {
	var out []string
	for _, op := range ops {
		if len(out) == 0 || out[len(out)-1] != op {
			out = append(out, op)
		}
	}
	return out
}
