package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
)

// FreePort asks the kernel for an unused loopback port that this
// program has not been handed before (realcomp.FreePort).
func FreePort() (int, error) { return realcomp.FreePort() }

// FreePorts returns n distinct unused loopback ports, none handed out
// before in this program; another program could still take one before
// the child binds it, which the child then reports as "address already
// in use".
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		p, err := realcomp.FreePort()
		if err != nil {
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// Ready is what WaitReady waits for.
type Ready struct {
	URL     string        // answers GET with 200
	Body    string        // and this body, unless ""
	Timeout time.Duration // at most this long
	Every   time.Duration // asked this often
}

// WaitReady polls r.URL until it answers 200 (with r.Body, if set), the
// process p exits, or r.Timeout passes. p may be nil: a server this
// program does not run.
func WaitReady(ctx context.Context, p *Proc, r Ready) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(r.Timeout)
	last := "no answer yet"
	for {
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited before it was ready (%v)%s", p.name, p.err, p.LogTail(20))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && (r.Body == "" || string(body) == r.Body) {
				return nil
			}
			last = fmt.Sprintf("status %d, body %q", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			name, tail := "server", ""
			if p != nil {
				name, tail = p.name, p.LogTail(20)
			}
			return fmt.Errorf("%s not ready at %s after %v: %s%s", name, r.URL, r.Timeout, last, tail)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.Every):
		}
	}
}
