package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/realcomp"
)

func TestUsageErrorsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	cfgFile := dir + "/sidecar.yaml"
	os.WriteFile(cfgFile, []byte("upstream-timeout: soon\n"), 0o600)
	badKind, typo := dir+"/kind.yaml", dir+"/typo.yaml"
	os.WriteFile(badKind, []byte("backends:\n  - {name: db, kind: postgress, listen: 127.0.0.1:15432, target: db:5432}\n"), 0o600)
	os.WriteFile(typo, []byte("backends:\n  - {name: db, kind: postgres, lisen: 127.0.0.1:15432, target: db:5432}\n"), 0o600)
	logLevelFile := dir + "/log-level.yaml"
	os.WriteFile(logLevelFile, []byte("log-level: loud\n"), 0o600)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "Usage"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"sidecar", "--upstream", "ftp://x"}, 2, "--upstream"},
		{[]string{"sidecar", "--access-log", "file"}, 2, "--access-log"},
		{[]string{"sidecar", "--drain-timeout", "x"}, 2, "drain-timeout"},
		{[]string{"sidecar", "--config", cfgFile}, 2, `key "upstream-timeout"`},
		{[]string{"sidecar", "--propagators", "w3c"}, 2, "--propagators"},
		{[]string{"sidecar", "--help"}, 0, ""},
		{[]string{"sidecar", "--config", badKind}, 2, "backends[0].kind"},
		{[]string{"sidecar", "--config", typo}, 2, "lisen"},
		{[]string{"sidecar", "--egress-listen", "0.0.0.0:15081"}, 2, "--egress-listen"},
		{[]string{"collector", "--tail", "nginx:/var/log/x"}, 2, "--tail"},
		{[]string{"collector", "--window", "1s", "--export-delay", "5s"}, 2, "--export-delay"},
		{[]string{"collector", "--rum-allowed-origins", "shop.example"}, 2, "--rum-allowed-origins"},
		{[]string{"collector", "--log-level", "verbose"}, 2, `flag -log-level: want debug, info, warn or error, got "verbose"`},
		{[]string{"sidecar", "--log-level", "trace"}, 2, "flag -log-level"},
		{[]string{"sidecar", "--config", logLevelFile}, 2, `key "log-level"`},
		{[]string{"injector", "--namespace", "observability", "--listen", "x"}, 2, "--listen"},
		{[]string{"injector", "--namespace", "observability", "--template", dir + "/missing.yaml"}, 2, "--template"},
		{[]string{"injector"}, 2, "--namespace"},
		{[]string{"selftest", "--collector", "ftp://x", "--otlp", "http://x:4318"}, 2, "--collector"},
		{[]string{"selftest", "--collector", "http://x:8088", "--otlp", "http://x:4318", "--injector", "http://x"}, 2, "--injector"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(errb.String()+out.String(), tt.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want it to mention %q)", tt.args, code, tt.code, errb.String(), tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "hopscope dev") {
		t.Fatalf("exit %d, %q", code, out.String())
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

// TestSidecarDrainsOnSIGTERM sends the process a real SIGTERM while
// clients keep requests in flight. Clients behave like an endpoints
// controller: they stop starting requests once /readyz fails. Every request
// started must succeed, and the command must exit 0.
func TestSidecarDrainsOnSIGTERM(t *testing.T) {
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "ok")
	})}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(aln)
	defer app.Close()

	listen, admin := freeAddr(t), freeAddr(t)
	var stdout, stderr syncBuf
	exit := make(chan int, 1)
	go func() {
		exit <- run(context.Background(), []string{"sidecar", "--listen", listen, "--admin-listen", admin,
			"--upstream", "http://" + aln.Addr().String(), "--shutdown-grace", "400ms", "--drain-timeout", "5s",
			"--service", "drain-test"}, &stdout, &stderr)
	}()
	ready := func() bool {
		r, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatalf("sidecar never became ready: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	var stop atomic.Bool
	var ok, failed atomic.Int32
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				res, err := client.Get("http://" + listen + "/work")
				if err != nil {
					failed.Add(1)
					t.Logf("request failed: %v", err)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The "endpoints controller": stop sending once readiness fails.
	deadline = time.Now().Add(5 * time.Second)
	for ready() {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still succeeds after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sidecar did not exit after SIGTERM")
	}
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed during the drain (%d succeeded)", failed.Load(), ok.Load())
	}
	if ok.Load() < 16 {
		t.Fatalf("only %d requests ran", ok.Load())
	}
	if lines := strings.Count(stdout.String(), "\n"); lines != int(ok.Load()) {
		t.Errorf("%d access lines for %d requests: logs not flushed on exit", lines, ok.Load())
	}
	if _, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		t.Error("listener still open after exit")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
			var out, errb syncBuf
			args := append([]string{"demo", "--duration", "6s", "--rps", "40", "--slow-every", "4", "--http-listen", freeAddr(t)}, tc.args...)
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

// TestCollectorStopsOnSIGTERM: the collector serves, and a real SIGTERM
// makes it flush and exit 0.
func TestCollectorStopsOnSIGTERM(t *testing.T) {
	api := freeAddr(t)
	var stderr syncBuf
	exit := make(chan int, 1)
	go func() {
		exit <- run(context.Background(), []string{"collector", "--http-listen", api, "--otlp-grpc-listen", freeAddr(t),
			"--otlp-http-listen", freeAddr(t), "--forward-listen", freeAddr(t), "--rum-listen", ""}, io.Discard, &stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := http.Get("http://" + api + "/healthz")
		if err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector never served: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("collector did not stop on SIGTERM")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop logged: %s", stderr.String())
	}
}

// TestBackendsFromEnv: the injector hands a pod's hopscope.io/backends to
// the sidecar as HOPSCOPE_BACKENDS; a bad entry stops the sidecar at start
// naming the key.
func TestBackendsFromEnv(t *testing.T) {
	t.Setenv("HOPSCOPE_BACKENDS", "[{name: db, kind: mysql, listen: '127.0.0.1:15432', target: 'db:5432'}]")
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"sidecar"}, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "backends[0].kind") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestLogLevel: --log-level (HOPSCOPE_LOG_LEVEL, YAML log-level) sets the
// least severe level the sidecar and the collector log; a bad value from
// the environment is refused naming the variable.
func TestLogLevel(t *testing.T) {
	dir := t.TempDir()
	yamlFile := dir + "/c.yaml"
	os.WriteFile(yamlFile, []byte("log-level: error\n"), 0o600)
	t.Setenv("HOPSCOPE_LOG_LEVEL", "") // restored after the test
	for _, tt := range []struct {
		args []string
		env  string
		want zapcore.Level
	}{
		{nil, "", zapcore.InfoLevel},
		{[]string{"--log-level", "debug"}, "", zapcore.DebugLevel},
		{[]string{"--log-level", "WARN"}, "", zapcore.WarnLevel},
		{nil, "error", zapcore.ErrorLevel},
		{[]string{"--log-level", "debug"}, "error", zapcore.DebugLevel}, // the flag wins
		{[]string{"--config", yamlFile}, "", zapcore.ErrorLevel},
		{[]string{"--config", yamlFile}, "warn", zapcore.WarnLevel}, // env wins over the file
	} {
		if tt.env != "" {
			t.Setenv("HOPSCOPE_LOG_LEVEL", tt.env)
		} else {
			os.Unsetenv("HOPSCOPE_LOG_LEVEL")
		}
		cfg := collector.DefaultConfig()
		level := zapcore.InfoLevel
		if err := loadConfig("collector", &cfg, tt.args, io.Discard, logLevelFlag(&level)); err != nil || level != tt.want {
			t.Errorf("%v, HOPSCOPE_LOG_LEVEL=%q: level %v (%v), want %v", tt.args, tt.env, level, err, tt.want)
		}
	}
	t.Setenv("HOPSCOPE_LOG_LEVEL", "loud")
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"collector"}, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "HOPSCOPE_LOG_LEVEL") {
		t.Errorf("HOPSCOPE_LOG_LEVEL=loud: exit %d, %q", code, errb.String())
	}

	var out bytes.Buffer
	log := newDiagnosticLogger(&out, zapcore.WarnLevel)
	log.Info("quiet")
	log.Warn("input rejected")
	if s := out.String(); strings.Contains(s, "quiet") || !strings.Contains(s, `"level":"warn"`) {
		t.Errorf("at warn: %s", s)
	}
	out.Reset()
	newDiagnosticLogger(&out, zapcore.DebugLevel).Debug("detail")
	if !strings.Contains(out.String(), "detail") {
		t.Errorf("at debug: %q", out.String())
	}
}
