package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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
