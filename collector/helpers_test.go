package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/forward"
	"github.com/hopscope/hopscope/collector/logformat"
)

// consumeLine hands one log line of format to c as its tailer does: parsed
// (empty lines skipped), received under source, named file:n.
func consumeLine(c *Collector, format, source, file string, n int64, line string) {
	if line == "" {
		return
	}
	rec, err := logformat.Parser{HAProxyLoc: time.UTC}.Parse(format, line)
	in := consumer.Input{Source: source, Where: fmt.Sprintf("%s:%d", file, n), Err: err}
	if err == nil {
		in.Record = rec
	}
	_ = c.Consume(context.Background(), in)
}

// consumeForward hands forwarded events to c as the forward receiver does.
func consumeForward(c *Collector, events []forward.Event) {
	for _, ev := range events {
		_ = c.Consume(context.Background(), forward.Input(logformat.Parser{HAProxyLoc: time.UTC}, ev))
	}
}
