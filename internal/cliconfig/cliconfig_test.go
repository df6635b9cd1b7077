package cliconfig

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	listen  string
	timeout time.Duration
	workers int
	routes  []string
	config  string
}

func newFlags(c *testConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.config, ConfigFlag, "", "")
	fs.StringVar(&c.listen, "listen", ":15080", "")
	fs.DurationVar(&c.timeout, "upstream-timeout", time.Minute, "")
	fs.IntVar(&c.workers, "workers", 4, "")
	c.routes = []string{"/default"}
	fs.Var(NewStringList(&c.routes), "routes", "")
	return fs
}

func TestLoadPrecedence(t *testing.T) {
	files := map[string]string{
		"all.yaml":         "listen: \":1000\"\nupstream-timeout: 3s\nworkers: 9\nroutes:\n  - /orders/{id}\n  - /users/{id}\n",
		"bad-key.yaml":     "listn: \":1\"\n",
		"bad-value.yaml":   "upstream-timeout: soon\n",
		"not-map.yaml":     "- a\n- b\n",
		"list-scalar.yaml": "workers: [1, 2]\n",
		"empty.yaml":       "",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    testConfig
		wantErr string
	}{
		{name: "defaults", want: testConfig{listen: ":15080", timeout: time.Minute, workers: 4, routes: []string{"/default"}}},
		{name: "file only", args: []string{"--config", "all.yaml"},
			want: testConfig{listen: ":1000", timeout: 3 * time.Second, workers: 9, routes: []string{"/orders/{id}", "/users/{id}"}, config: "all.yaml"}},
		{name: "env beats file", args: []string{"--config", "all.yaml"}, env: map[string]string{"HOPSCOPE_WORKERS": "7", "HOPSCOPE_ROUTES": "/a,/b"},
			want: testConfig{listen: ":1000", timeout: 3 * time.Second, workers: 7, routes: []string{"/a", "/b"}, config: "all.yaml"}},
		{name: "flag beats env and file", args: []string{"--config", "all.yaml", "--workers", "5", "--routes", "/x", "--routes", "/y"}, env: map[string]string{"HOPSCOPE_WORKERS": "7"},
			want: testConfig{listen: ":1000", timeout: 3 * time.Second, workers: 5, routes: []string{"/x", "/y"}, config: "all.yaml"}},
		{name: "config from env", env: map[string]string{"HOPSCOPE_CONFIG": "all.yaml"},
			want: testConfig{listen: ":1000", timeout: 3 * time.Second, workers: 9, routes: []string{"/orders/{id}", "/users/{id}"}, config: "all.yaml"}},
		{name: "empty file", args: []string{"--config", "empty.yaml"}, want: testConfig{listen: ":15080", timeout: time.Minute, workers: 4, routes: []string{"/default"}, config: "empty.yaml"}},
		{name: "bad flag value", args: []string{"--upstream-timeout", "soon"}, wantErr: "upstream-timeout"},
		{name: "bad env value", env: map[string]string{"HOPSCOPE_UPSTREAM_TIMEOUT": "soon"}, wantErr: "HOPSCOPE_UPSTREAM_TIMEOUT"},
		{name: "unknown key", args: []string{"--config", "bad-key.yaml"}, wantErr: `key "listn"`},
		{name: "bad key value", args: []string{"--config", "bad-value.yaml"}, wantErr: `key "upstream-timeout"`},
		{name: "not a mapping", args: []string{"--config", "not-map.yaml"}, wantErr: "top level must be a mapping"},
		{name: "list for scalar", args: []string{"--config", "list-scalar.yaml"}, wantErr: `key "workers"`},
		{name: "missing file", args: []string{"--config", "nope.yaml"}, wantErr: "--config"},
		{name: "stray argument", args: []string{"oops"}, wantErr: `unexpected argument "oops"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c testConfig
			fs := newFlags(&c)
			err := Load(fs, tt.args, Options{
				LookupEnv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok },
				ReadFile:  read,
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Errorf("got %+v, want %+v", c, tt.want)
			}
		})
	}
}

func TestLoadStructured(t *testing.T) {
	type backend struct {
		Name string `yaml:"name"`
		Kind string `yaml:"kind"`
	}
	var c testConfig
	var backends []backend
	read := func(string) ([]byte, error) {
		return []byte("backends:\n  - {name: db, kind: postgres}\n"), nil
	}
	err := Load(newFlags(&c), []string{"--config", "f"}, Options{ReadFile: read, LookupEnv: func(string) (string, bool) { return "", false },
		Structured: map[string]any{"backends": &backends}})
	if err != nil {
		t.Fatal(err)
	}
	if len(backends) != 1 || backends[0] != (backend{"db", "postgres"}) {
		t.Fatalf("backends = %+v", backends)
	}
	read = func(string) ([]byte, error) { return []byte("backends:\n  - {name: db, kynd: postgres}\n"), nil }
	err = Load(newFlags(&c), []string{"--config", "f"}, Options{ReadFile: read, LookupEnv: func(string) (string, bool) { return "", false },
		Structured: map[string]any{"backends": &backends}})
	if err == nil || !strings.Contains(err.Error(), "kynd") {
		t.Fatalf("typo in structured key not reported: %v", err)
	}

	// The variable wins over the file, and is decoded as strictly.
	read = func(string) ([]byte, error) { return []byte("backends:\n  - {name: db, kind: postgres}\n"), nil }
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == "HOPSCOPE_BACKENDS" }
	}
	backends = nil
	err = Load(newFlags(&c), []string{"--config", "f"}, Options{ReadFile: read, LookupEnv: env("[{name: cache, kind: redis}]"),
		Structured: map[string]any{"backends": &backends}})
	if err != nil || len(backends) != 1 || backends[0] != (backend{"cache", "redis"}) {
		t.Fatalf("from HOPSCOPE_BACKENDS: %+v, %v", backends, err)
	}
	for v, want := range map[string]string{"[{name: cache, kinds: redis}]": "kinds", "[{": "HOPSCOPE_BACKENDS: not YAML"} {
		err = Load(newFlags(&c), nil, Options{LookupEnv: env(v), Structured: map[string]any{"backends": &backends}})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "HOPSCOPE_BACKENDS") {
			t.Errorf("HOPSCOPE_BACKENDS=%s: %v, want an error naming it and %q", v, err, want)
		}
	}
}

func TestHelp(t *testing.T) {
	var c testConfig
	if err := Load(newFlags(&c), []string{"--help"}, Options{}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("upstream-timeout"); got != "HOPSCOPE_UPSTREAM_TIMEOUT" {
		t.Fatal(got)
	}
}

// TestOriginsAnnotate: Load remembers which variable or file key set each
// flag, and Annotate names it in the errors a later Validate returns.
func TestOriginsAnnotate(t *testing.T) {
	files := map[string]string{"sidecar.yaml": "listen: \":1000\"\nworkers: 9\nbackends:\n  - {name: db}\n"}
	env := map[string]string{"HOPSCOPE_UPSTREAM_TIMEOUT": "5s"}
	var c testConfig
	var backends []struct {
		Name string `yaml:"name"`
	}
	origins := Origins{}
	err := Load(newFlags(&c), []string{"--config", "sidecar.yaml", "--routes", "/x"}, Options{
		LookupEnv:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		ReadFile:   func(p string) ([]byte, error) { return []byte(files[p]), nil },
		Structured: map[string]any{"backends": &backends},
		Origins:    origins,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantOrigins := Origins{
		"listen":           {File: "sidecar.yaml", Key: "listen", Line: 1},
		"workers":          {File: "sidecar.yaml", Key: "workers", Line: 2},
		"backends":         {File: "sidecar.yaml", Key: "backends", Line: 3},
		"upstream-timeout": {Env: "HOPSCOPE_UPSTREAM_TIMEOUT"},
	}
	if !reflect.DeepEqual(origins, wantOrigins) {
		t.Fatalf("origins = %+v, want %+v", origins, wantOrigins)
	}

	sentinel := errors.New("must be positive")
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"from env", fmt.Errorf("--upstream-timeout: %w", sentinel),
			"--upstream-timeout (from HOPSCOPE_UPSTREAM_TIMEOUT): must be positive"},
		{"from file", errors.New(`--listen: must be [host]:port: missing port in address`),
			`--listen (from config file sidecar.yaml, key "listen", line 1): must be [host]:port: missing port in address`},
		{"from the command line: as it was", errors.New("--routes: must start with /"), "--routes: must start with /"},
		{"default: as it was", errors.New("--config: x"), "--config: x"},
		{"structured key", errors.New("backends[0].kind: must be postgres, redis, http or tcp"),
			`backends[0].kind (from config file sidecar.yaml, key "backends", line 3): must be postgres, redis, http or tcp`},
		{"joined, each line on its own",
			errors.Join(errors.New("--workers: must be at least 1"), errors.New("--routes: bad"), errors.Join(errors.New("--listen: bad"))),
			"--workers (from config file sidecar.yaml, key \"workers\", line 2): must be at least 1\n--routes: bad\n" +
				"--listen (from config file sidecar.yaml, key \"listen\", line 1): bad"},
		{"not about a flag", errors.New("something else: entirely"), "something else: entirely"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := origins.Annotate(tt.err)
			if got.Error() != tt.want {
				t.Errorf("Annotate = %q\n want %q", got.Error(), tt.want)
			}
			if errors.Is(tt.err, sentinel) && !errors.Is(got, sentinel) {
				t.Errorf("the annotated error no longer wraps the original")
			}
		})
	}
	if Origins(nil).Annotate(nil) != nil {
		t.Error("Annotate(nil) != nil")
	}
	// HOPSCOPE_CONFIG names the file: a missing one is reported under the variable.
	o := Origins{}
	err = Load(newFlags(&c), nil, Options{LookupEnv: func(k string) (string, bool) { return "nope.yaml", k == "HOPSCOPE_CONFIG" },
		ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }, Origins: o})
	if err == nil || !strings.HasPrefix(err.Error(), "--config (from HOPSCOPE_CONFIG): ") {
		t.Errorf("missing file named by HOPSCOPE_CONFIG: %v", err)
	}
}

// TestParseErrorsAreOneLine: a bad command line is one line naming --flag
// with a hint to --help; nothing else is printed. --help prints the flags
// with two dashes.
func TestParseErrorsAreOneLine(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--upstream-timeout", "soon"}, `--upstream-timeout: invalid value "soon": want a duration such as 500ms, 5s or 1m30s (see --help)`},
		{[]string{"-workers=many"}, `--workers: invalid value "many": want a whole number (see --help)`},
		{[]string{"--upstream-timeot", "5s"}, "unknown flag --upstream-timeot (see --help)"},
		{[]string{"--listen"}, "--listen: needs a value (see --help)"},
	} {
		var c testConfig
		fs := newFlags(&c)
		var out bytes.Buffer
		fs.SetOutput(&out)
		err := Load(fs, tt.args, Options{LookupEnv: func(string) (string, bool) { return "", false }})
		if err == nil || err.Error() != tt.want {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: printed %q besides the error", tt.args, out.String())
		}
	}
	// A bad value from a variable says what the flag takes, too.
	var c testConfig
	err := Load(newFlags(&c), nil, Options{LookupEnv: func(k string) (string, bool) { return "soon", k == "HOPSCOPE_UPSTREAM_TIMEOUT" }})
	if err == nil || err.Error() != `HOPSCOPE_UPSTREAM_TIMEOUT: invalid value "soon": want a duration such as 500ms, 5s or 1m30s` {
		t.Errorf("env: %v", err)
	}

	fs := newFlags(&c)
	var out bytes.Buffer
	fs.SetOutput(&out)
	if err := Load(fs, []string{"--help"}, Options{}); err != flag.ErrHelp {
		t.Fatalf("--help: %v", err)
	}
	if s := out.String(); !strings.Contains(s, "\n  --upstream-timeout duration\n") || strings.Contains(s, "\n  -upstream") || !strings.Contains(s, "HOPSCOPE_") {
		t.Errorf("usage:\n%s", s)
	}
}
