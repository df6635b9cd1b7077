package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestRelayStderr: lines printed to the captured stderr become Warn
// entries without the library's own time prefix, cut to 200 bytes, the
// same text at most once per stderrEvery with the count of lines since,
// and what the rate limit held back is logged when the capture ends.
func TestRelayStderr(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var advance []time.Duration
	now := func() time.Time {
		if len(advance) > 0 {
			clock = clock.Add(advance[0])
			advance = advance[1:]
		}
		return clock
	}
	advance = []time.Duration{0, time.Second, time.Second, stderrEvery, 0, 0, 0}
	done := make(chan struct{})
	go relayStderr(r, zap.New(core), done, now)
	const msg = "Unable to send logs to fluentd, reconnecting..."
	for i := 0; i < 4; i++ { // at 0 s, 1 s, 2 s, 12 s
		fmt.Fprintf(w, "[2026-12-06T10:00:0%dZ] %s\n", i, msg)
	}
	fmt.Fprintf(w, "%s\n", strings.Repeat("é", 5000)) // longer than the read buffer
	fmt.Fprintf(w, "\n[2026-12-06T10:00:09Z] Discarding queued events...\n")
	fmt.Fprintf(w, "[2026-12-06T10:00:10Z] Discarding queued events...\n") // held back, logged at the end
	w.Close()
	<-done
	var got []string
	for _, e := range logs.All() {
		if e.Level != zapcore.WarnLevel || e.Message != "library output on stderr" {
			t.Errorf("entry %v", e)
		}
		f := e.ContextMap()
		got = append(got, fmt.Sprintf("%.20s×%d", f["text"], f["count"]))
		if n := len(f["text"].(string)); n > 200 {
			t.Errorf("text of %d bytes", n)
		}
	}
	want := []string{msg[:20] + "×1", msg[:20] + "×3", strings.Repeat("é", 20) + "×1", "Discarding queued ev×1", "Discarding queued ev×1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// TestSidecarStderrIsJSON: with Fluent Bit down, the failed shipping is
// on the sidecar's stderr as JSON, like every other line there (issue 19,
// item 15: the Fluent client the sidecar used printed plain text, about
// ten lines a second).
func TestSidecarStderrIsJSON(t *testing.T) {
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
	if os.Stderr != stderrCapture.orig && stderrCapture.orig != nil {
		t.Error("os.Stderr not restored")
	}
}
