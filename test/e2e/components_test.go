//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
)

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	p, err := realcomp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitHTTP polls url until it answers 200 or the deadline passes.
func waitHTTP(t *testing.T, what, url string, within time.Duration) {
	t.Helper()
	var last string
	testkit.Eventually(t, what+" ready at "+url, within, func() bool {
		res, err := http.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		res.Body.Close()
		last = res.Status
		return res.StatusCode == 200
	}, func() string { return "last answer: " + last })
}

var buildOnce sync.Map // tool → path

// toolBinary returns the path of a tool pinned in one of the tools
// modules: from env when set (CI builds each once), else tools/bin/<name>
// as tools/build makes it (Go relinks only when it changed).
func toolBinary(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if v, ok := buildOnce.Load(name); ok {
		return v.(string)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	tools := filepath.Join("..", "..", "tools")
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(tools, "build"), name)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s with tools/build (set %s to skip): %v\n%s", name, env, err, b)
	}
	out, _ := filepath.Abs(filepath.Join(tools, "bin", name))
	buildOnce.Store(name, out)
	return out
}

// jaeger is a running Jaeger v2 with memory storage.
type jaeger struct {
	otlpHTTP, query string
}

func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := toolBinary(t, "HOPSCOPE_JAEGER_BIN", "jaeger")
	ports := map[string]int{}
	var env []string
	for _, k := range []string{"JAEGER_HEALTH_PORT", "JAEGER_QUERY_HTTP_PORT", "JAEGER_QUERY_GRPC_PORT", "JAEGER_OTLP_GRPC_PORT", "JAEGER_OTLP_HTTP_PORT"} {
		ports[k] = freePort(t)
		env = append(env, k+"="+strconv.Itoa(ports[k]))
	}
	cfg, _ := filepath.Abs(filepath.Join("testdata", "jaeger.yaml"))
	start(t, "jaeger", env, bin, "--config", cfg)
	waitHTTP(t, "jaeger", fmt.Sprintf("http://127.0.0.1:%d/status", ports["JAEGER_HEALTH_PORT"]), 60*time.Second)
	return &jaeger{otlpHTTP: fmt.Sprintf("http://127.0.0.1:%d", ports["JAEGER_OTLP_HTTP_PORT"]),
		query: fmt.Sprintf("http://127.0.0.1:%d", ports["JAEGER_QUERY_HTTP_PORT"])}
}

// jaegerTrace is the part of Jaeger's /api/traces/{id} answer tests read.
type jaegerTrace struct {
	Spans []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// trace fetches a trace from Jaeger's query API (nil while unknown).
func (j *jaeger) trace(t *testing.T, id string) *jaegerTrace {
	res, err := http.Get(j.query + "/api/traces/" + id)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return nil
	}
	b, _ := io.ReadAll(res.Body)
	var out struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Data) == 0 {
		return nil
	}
	return &out.Data[0]
}
