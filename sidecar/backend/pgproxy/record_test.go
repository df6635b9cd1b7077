package pgproxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestRecorder: calls queued are all recorded, in a burst, and the
// recorder's goroutine ends when there is nothing left; a full queue
// makes the session record its calls itself.
func TestRecorder(t *testing.T) {
	ts := newTestSession(t)
	var r recorder
	ts.rec = &r
	ts.feed([]step{{startupMsg("u", "d"), serverHello()}}, whole)
	for i := 0; i < 3; i++ {
		ts.feed([]step{{queryMsg("SELECT 1"), readyMsg()}}, whole)
	}
	if n := len(ts.spans.Ended()); n != 0 {
		t.Fatalf("%d spans recorded at once, want them queued", n)
	}
	// The startup's connect call and the three queries.
	testkit.Eventually(t, "4 spans recorded and the recorder idle", 5*time.Second, func() bool { return len(ts.spans.Ended()) >= 4 && !r.busy() },
		func() string {
			return fmt.Sprintf("%d spans recorded, recorder running %v", len(ts.spans.Ended()), r.busy())
		})
	if n := len(ts.spans.Ended()); n != 4 {
		t.Fatalf("%d spans, want 4", n)
	}

	r.mu.Lock()
	r.queue = make([]finished, maxQueued)
	r.running = true // no goroutine drains it: the queue stays full
	r.mu.Unlock()
	ts.feed([]step{{queryMsg("SELECT 2"), readyMsg()}}, whole)
	if n := len(ts.spans.Ended()); n != 5 {
		t.Fatalf("%d spans with the queue full, want the 5th recorded at once", n)
	}
}

func (r *recorder) busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}
