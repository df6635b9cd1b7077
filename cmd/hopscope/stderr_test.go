package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestSidecarStderrIsJSON: with Fluent Bit down, the failed shipping is
// on the sidecar's stderr as JSON, like every other line there (issue 19,
// item 15: the Fluent client the sidecar used printed plain text, about
// ten lines a second).
func TestSidecarStderrIsJSON(t *testing.T) {
	orig := os.Stderr
	p := startSidecarCmd(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}),
		"--shutdown-grace", "0s", "--fluent-address", deadTCPAddr(t), "--access-log", "off")
	// A request per poll, so that there are records to ship.
	testkit.Eventually(t, "a line about the failed shipping", 15*time.Second, func() bool {
		res, err := http.Get("http://" + p.listen + "/x")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return strings.Contains(p.stderr.String(), "access log shipping failed")
	}, p.stderr.String)
	sigterm(t)
	if code := p.waitExit(t, 15*time.Second); code != 0 {
		t.Errorf("exit %d: %s", code, p.stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(p.stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not JSON on stderr: %q", line)
		}
	}
	if os.Stderr != orig {
		t.Error("os.Stderr not restored")
	}
}
