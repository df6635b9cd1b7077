package cliconfig

import (
	"errors"
	"flag"
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
