package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/testkit"
)

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
	for _, name := range []string{"full_path", "ingress_retries", "no_rum", "tls"} {
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
			testkit.Golden(t, golden, out.Bytes())
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

// TestBreakdownFromEnv: like every subcommand, breakdown takes its flags
// from HOPSCOPE_* variables; a flag given wins, and a bad value is named
// as it was given.
func TestBreakdownFromEnv(t *testing.T) {
	body, _ := os.ReadFile(filepath.Join("..", "..", "correlate", "testdata", "breakdown", "full_path.golden.json"))
	url := serveFile(t, 200, body)
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"collector and color from env", map[string]string{"HOPSCOPE_COLLECTOR": url, "HOPSCOPE_COLOR": "always"}, []string{tid}, 0, "\x1b[38;2;"},
		{"flag wins over env", map[string]string{"HOPSCOPE_COLLECTOR": "http://127.0.0.1:1", "HOPSCOPE_COLOR": "always"}, []string{"--collector", url, "--color", "never", tid}, 0, "postgres"},
		{"bad env value named", map[string]string{"HOPSCOPE_COLLECTOR": url, "HOPSCOPE_WIDTH": "5"}, []string{tid}, 2, "HOPSCOPE_WIDTH: must be between"},
		{"bad env color named", map[string]string{"HOPSCOPE_COLLECTOR": url, "HOPSCOPE_COLOR": "pink"}, []string{tid}, 2, "HOPSCOPE_COLOR"},
		{"bad flag named as a flag", map[string]string{"HOPSCOPE_COLLECTOR": url}, []string{"--width", "5", tid}, 2, "--width"},
		{"unparsable env value", map[string]string{"HOPSCOPE_WIDTH": "wide"}, []string{tid}, 2, "HOPSCOPE_WIDTH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"breakdown"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Errorf("exit %d (want %d), stdout %q, stderr %q (want %q)", code, tt.code, out.String(), errb.String(), tt.want)
			}
			if tt.code == 0 && tt.name == "flag wins over env" && strings.Contains(out.String(), "\x1b[") {
				t.Errorf("--color never lost to HOPSCOPE_COLOR=always")
			}
		})
	}
}

// TestBreakdownTokenFile: against a collector with --auth-token-file,
// breakdown sends the first token of --token-file (or
// HOPSCOPE_TOKEN_FILE); without one it says what to pass.
func TestBreakdownTokenFile(t *testing.T) {
	const token = "cli-0123456789abcdef"
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	os.WriteFile(tokens, []byte("# rotated\n"+token+"\nold-0123456789abcdef\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	ccfg := collector.DefaultConfig()
	ccfg.OTLPGRPCListen, ccfg.OTLPHTTPListen, ccfg.ForwardListen, ccfg.RUMListen = "", "", "", ""
	ccfg.HTTPListen, ccfg.AuthTokenFile = "127.0.0.1:0", tokens
	col, err := collector.New(ccfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Shutdown(context.Background()) })
	base := "http://" + col.HTTPAddr().String()
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		// The collector knows the token: the trace is unknown (404), not 401.
		{"flag", nil, []string{"--token-file", tokens, tid}, 1, "404 Not Found"},
		{"env", map[string]string{"HOPSCOPE_TOKEN_FILE": tokens}, []string{tid}, 1, "404 Not Found"},
		{"none", nil, []string{tid}, 1, "pass --token-file"},
		{"missing file", nil, []string{"--token-file", filepath.Join(dir, "nope"), tid}, 2, "--token-file: open"},
		{"bad file", map[string]string{"HOPSCOPE_TOKEN_FILE": short}, []string{tid}, 2, "HOPSCOPE_TOKEN_FILE: line 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"breakdown", "--collector", base}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.code, errb.String(), tt.want)
			}
		})
	}
}
