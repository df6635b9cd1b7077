package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestMain fails the package's run if its tests leave goroutines behind.
func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// TestUsage: the slim binary takes the sidecar's flags without a
// subcommand and answers a bad value, an unknown flag and --version as
// `hopscope sidecar` does, under its own name.
func TestUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stdout   string // prefix
		stderrIn string
	}{
		{name: "version", args: []string{"--version"}, code: 0, stdout: "hopscope-sidecar dev"},
		{name: "bad flag value", args: []string{"--access-log", "x"}, code: 2, stderrIn: `hopscope-sidecar: --access-log: must be stdout or off, got "x"`},
		{name: "bad variable", env: map[string]string{"HOPSCOPE_ACCESS_LOG": "x"}, code: 2, stderrIn: "--access-log (from HOPSCOPE_ACCESS_LOG)"},
		{name: "unknown flag", args: []string{"--no-such-flag"}, code: 2, stderrIn: "no-such-flag"},
		{name: "a subcommand is not a flag", args: []string{"sidecar"}, code: 2, stderrIn: "sidecar"},
		{name: "help", args: []string{"--help"}, code: 0, stderrIn: "-upstream-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != tt.code || !strings.HasPrefix(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.stderrIn) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q…, stderr with %q", code, out.String(), errOut.String(), tt.code, tt.stdout, tt.stderrIn)
			}
		})
	}
}

// TestProxiesAndStopsOnSIGTERM runs the slim binary in front of an app:
// the app gets a traceparent, the client a Server-Timing with the app's
// time, stdout an access line, and a real SIGTERM ends it with exit 0.
func TestProxiesAndStopsOnSIGTERM(t *testing.T) {
	gotTP := make(chan string, 1)
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case gotTP <- r.Header.Get("traceparent"):
		default:
		}
		io.WriteString(w, "hello")
	})}
	go app.Serve(aln)
	defer app.Close()
	listen, admin := testkit.ClosedAddr(t), testkit.ClosedAddr(t) // free ports
	var stdout, stderr testkit.SyncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(context.Background(), []string{"--listen", listen, "--admin-listen", admin, "--upstream", "http://" + aln.Addr().String(),
			"--service", "slim-test", "--shutdown-grace", "0s"}, &stdout, &stderr)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	testkit.Eventually(t, "the sidecar ready", 10*time.Second, func() bool {
		r, err := client.Get("http://" + admin + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	}, stderr.String)
	res, err := client.Get("http://" + listen + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "hello" || !strings.Contains(res.Header.Get("Server-Timing"), "app;dur=") {
		t.Errorf("status %d body %q Server-Timing %q", res.StatusCode, body, res.Header.Get("Server-Timing"))
	}
	if tp := <-gotTP; len(tp) != 55 {
		t.Errorf("the app got traceparent %q", tp)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit 15 s after SIGTERM: %s", stderr.String())
	}
	if !strings.Contains(stdout.String(), `"slim-test"`) {
		t.Errorf("no access line for the request on stdout: %q", stdout.String())
	}
}
