package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a child process in its own process group, so that stopping it
// also stops anything it forked (nginx's worker), and the terminal's Ctrl-C
// reaches only the bench program, which then stops everything in order.
type Proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // Wait's result, valid once done is closed
	stopped bool
	logs    []string
}

// StartProc starts argv with stdout and stderr appended to files (either
// may be "": discarded; both may be the same file). env nil is this
// program's environment. The context kills the whole process group;
// Pdeathsig makes the kernel send SIGTERM should the bench program itself
// die without cleaning up.
func StartProc(ctx context.Context, name string, env []string, stdout, stderr string, argv ...string) (*Proc, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if env != nil {
		cmd.Env = env
	}
	p := &Proc{name: name, cmd: cmd, done: make(chan struct{})}
	for i, path := range []string{stdout, stderr} {
		if path == "" {
			continue
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the child has its own descriptor after Start
		if i == 0 {
			cmd.Stdout = f
		} else {
			cmd.Stderr = f
		}
		p.AddLog(path)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Name is the name the process was started with, for messages.
func (p *Proc) Name() string { return p.name }

// PID is the process's id, which is also its process group's.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited and been waited for.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the process's exit status as Wait returned it: nil for a clean
// exit, and nil while it still runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// AddLog adds a file the process writes (nginx's error log) to those
// LogTail shows.
func (p *Proc) AddLog(path string) {
	if !slices.Contains(p.logs, path) {
		p.logs = append(p.logs, path)
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after a grace
// period. It reports whether the process had exited by itself on SIGTERM.
// Stopping a nil or already stopped process does nothing.
func (p *Proc) Stop(grace time.Duration) (clean bool) {
	if p == nil || p.cmd.Process == nil || p.stopped {
		return false
	}
	p.stopped = true
	pgid := p.PID()
	if !p.Exited() {
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
			clean = true
		case <-time.After(grace):
		}
	}
	// Also after the leader exited: anything left behind in the group dies here.
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	return clean
}

// LogTail returns the last lines of the process's log files, for error
// messages.
func (p *Proc) LogTail(lines int) string {
	var b strings.Builder
	for _, path := range p.logs {
		b.WriteString(FileTail(path, lines))
	}
	return b.String()
}

// FileTail returns the last lines of a file under a heading line, or ""
// if the file is missing or blank: for appending to an error message.
func FileTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return fmt.Sprintf("\n--- last lines of %s ---\n%s", path, strings.Join(ls, "\n"))
}

// Command is exec.CommandContext for a command the bench program waits for
// (wrk, telemetrygen): in its own process group, which the context kills
// whole, and killed by the kernel should the bench program die first.
func Command(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd
}

// Pinned is argv run by taskset on one CPU: taskset -c cpu argv...
func Pinned(taskset string, cpu int, argv ...string) []string {
	return append([]string{taskset, "-c", strconv.Itoa(cpu)}, argv...)
}

// CPUSeconds is the user plus system time of a process that has exited.
func CPUSeconds(ps *os.ProcessState) float64 {
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// CleanEnv is this environment without anything that would configure a
// child or its Go runtime behind the flags' back (HOPSCOPE_*, OTEL_*,
// GOMAXPROCS, GOGC, GOMEMLIMIT, GODEBUG), plus extra.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HOPSCOPE_") || strings.HasPrefix(k, "OTEL_") ||
			slices.Contains([]string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"}, k) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
