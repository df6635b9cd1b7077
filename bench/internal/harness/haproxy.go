package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
)

// TCPReference is HAProxy in TCP mode relaying to a backend: the
// reference for what the extra hop of any proxy costs, written in C by
// people who have tuned it for two decades. A proxy that decodes a
// protocol can at best match it.
type TCPReference struct {
	Addr string // host:port it listens on
	Proc *Proc
}

// StartTCPReference starts haproxyBin (one thread, TCP mode, no logging)
// on a free loopback port in front of target, under the session. When
// taskset is not "", it runs on cpu alone, as the proxy under test does.
func StartTCPReference(ctx context.Context, s *Session, haproxyBin, target, taskset string, cpu int) (*TCPReference, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := fmt.Sprintf(`global
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend relay
  bind %s
  default_backend target
backend target
  server t1 %s
`, addr, target)
	path := filepath.Join(s.Dir, "haproxy-tcp.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	argv := []string{haproxyBin, "-db", "-f", path}
	if taskset != "" {
		argv = Pinned(taskset, cpu, argv...)
	}
	logPath := filepath.Join(s.Dir, "haproxy-tcp.log")
	p, err := s.Start(ctx, "haproxy", CleanEnv(), logPath, logPath, argv...)
	if err != nil {
		return nil, err
	}
	if err := realcomp.WaitTCP("haproxy", addr, 10*time.Second); err != nil {
		return nil, fmt.Errorf("%w%s", err, p.LogTail(20))
	}
	return &TCPReference{Addr: addr, Proc: p}, nil
}
