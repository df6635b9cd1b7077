package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
)

func TestDemoPrintsLiveTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		needs []string // binaries of the real components
		notes []string // what the demo says it runs
	}{
		{name: "stand-ins", notes: []string{"orders: stand-in for PostgreSQL", "cache: stand-in for Redis", "edge: stand-in"}},
		{name: "real", args: []string{"--real"}, needs: []string{"nginx", "initdb", "redis-server"},
			notes: []string{"orders: PostgreSQL (real)", "cache: Redis (real)", "edge: nginx (real)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, bin := range tc.needs {
				if _, err := realcomp.Lookup(bin); err != nil {
					t.Skip(err)
				}
			}
			var out, errb testkit.SyncBuffer
			// 10 s: on a loaded 2-core machine the real path (PostgreSQL, Redis,
			// nginx starting) joined nothing within 6 s once.
			args := append([]string{"--duration", "10s", "--rps", "40", "--slow-every", "4", "--http-listen", freeAddr(t)}, tc.args...)
			code := run(context.Background(), args, &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			text := out.String()
			for _, want := range append([]string{"/ui/", "p50 ms", "stopped"}, tc.notes...) {
				if !strings.Contains(text, want) {
					t.Fatalf("demo output lacks %q:\n%s", want, text)
				}
			}
			// The last table has a row for every hop of the path with a p50.
			last := text[strings.LastIndex(text, "p50 ms"):]
			for _, hop := range []string{"ingress", "service", "sidecar", "app", "postgres", "redis", "http_egress", "total"} {
				found := false
				for _, line := range strings.Split(last, "\n") {
					f := strings.Fields(line)
					if len(f) == 3 && f[0] == hop {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s row in the last table:\n%s", hop, last)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--rps", "0"}, 2, "hopscope demo: --rps: must be between 1 and 1000"},
		{[]string{"--slow-every", "0"}, 2, "hopscope demo: --slow-every: must be at least 1"},
		{[]string{"--duration", "-1s"}, 2, "hopscope demo: --duration: must not be negative"},
		{[]string{"--nope"}, 2, "hopscope demo: unknown flag --nope"},
		{[]string{"--help"}, 0, "-slow-every"},
	} {
		var out, errb testkit.SyncBuffer
		if code := run(context.Background(), tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d with %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
