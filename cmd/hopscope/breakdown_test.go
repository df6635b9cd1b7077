package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// serveFile answers every request with a fixed status and body on loopback.
func serveFile(t *testing.T, status int, body []byte) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestBreakdownWaterfallGolden(t *testing.T) {
	for _, name := range []string{"full_path", "ingress_retries", "no_rum"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("..", "..", "correlate", "testdata", "breakdown", name+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			url := serveFile(t, 200, body)
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"breakdown", "--collector", url, "--color", "never", "4bf92f3577b34da6a3ce929d0e0e4736"}, &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden := filepath.Join("testdata", "breakdown_"+name+".txt")
			if *update {
				os.WriteFile(golden, out.Bytes(), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if out.String() != string(want) {
				t.Errorf("waterfall differs from %s:\n%s", golden, out.String())
			}
		})
	}
}

func TestBreakdownColorAndErrors(t *testing.T) {
	body, _ := os.ReadFile(filepath.Join("..", "..", "correlate", "testdata", "breakdown", "full_path.golden.json"))
	url := serveFile(t, 200, body)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"breakdown", "--color", "always", "--collector", url, "4bf92f3577b34da6a3ce929d0e0e4736"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	// The postgres bar in the shared palette's colour (#336791).
	if !strings.Contains(out.String(), "\x1b[38;2;51;103;145m") {
		t.Errorf("no hop colours in --color always output")
	}
	missing := serveFile(t, 404, []byte(`{"error":"trace 4bf92f3577b34da6a3ce929d0e0e4736 not found (unknown, or older than --window)"}`))
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"breakdown", "--collector", missing, "4bf92f3577b34da6a3ce929d0e0e4736"}, 1, "not found"},
		{[]string{"breakdown", "--collector", url}, 2, "exactly one TRACE_ID"},
		{[]string{"breakdown", "--collector", "nope", "x"}, 2, "--collector"},
		{[]string{"breakdown", "--color", "pink", "x"}, 2, "--color"},
		{[]string{"breakdown", "--collector", "http://127.0.0.1:1", "x"}, 1, "asking the collector"},
	} {
		var o, e bytes.Buffer
		if code := run(context.Background(), tt.args, &o, &e); code != tt.code || !strings.Contains(e.String(), tt.want) {
			t.Errorf("%v: exit %d, %q", tt.args, code, e.String())
		}
	}
}
