package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// proc is a child process in its own process group, so that stopping it also
// stops what it forked (nginx's worker) and the terminal's Ctrl-C reaches only
// the bench program, which then stops everything in order.
type proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // Wait's result, valid once done is closed
	stopped bool
	logs    []string
}

// startProc starts argv with stdout and stderr appended to files. The
// context kills the whole process group; Pdeathsig makes the kernel send
// SIGTERM should the bench program itself die without cleaning up.
func startProc(ctx context.Context, name string, env []string, stdout, stderr string, argv ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if env != nil {
		cmd.Env = env
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
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
		p.logs = append(p.logs, path)
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

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after a grace period.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.cmd.Process == nil || p.stopped {
		return
	}
	p.stopped = true
	pgid := p.pid()
	if !p.exited() {
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	// Also after the leader exited: a worker left behind in the group dies here.
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
}

// logTail returns the last lines of the process's log files, for error messages.
func (p *proc) logTail(lines int) string {
	var b strings.Builder
	for _, path := range p.logs {
		data, err := os.ReadFile(path)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(ls) > lines {
			ls = ls[len(ls)-lines:]
		}
		fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", path, strings.Join(ls, "\n"))
	}
	return b.String()
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls url until it answers 200 with the wanted body (if any),
// the process exits, or the timeout passes.
func waitReady(ctx context.Context, p *proc, url, wantBody string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v)%s", p.name, p.err, p.logTail(20))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && (wantBody == "" || string(body) == wantBody) {
				return nil
			}
			last = fmt.Sprintf("status %d, body %q", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			name := "server"
			if p != nil {
				name = p.name
			}
			tail := ""
			if p != nil {
				tail = p.logTail(20)
			}
			return fmt.Errorf("%s not ready at %s after %v: %s%s", name, url, timeout, last, tail)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// procTree is pid and its direct children (nginx master + workers).
func procTree(pid int) []int {
	pids := []int{pid}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(child)
		if err == nil && st.ppid == pid {
			pids = append(pids, child)
		}
	}
	return pids
}

type statFields struct {
	ppid  int
	ticks int64 // utime + stime, in clock ticks
}

func readStat(pid int) (statFields, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return statFields{}, err
	}
	// The command name is in parentheses and may hold spaces: split after it.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return statFields{}, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return statFields{}, errors.New("short stat")
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return statFields{ppid: ppid, ticks: ut + st}, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go runs on.
const clockTicks = 100

// treeCPU is the CPU time, in seconds, used so far by pid and its children.
func treeCPU(pid int) float64 {
	var t int64
	for _, p := range procTree(pid) {
		if st, err := readStat(p); err == nil {
			t += st.ticks
		}
	}
	return float64(t) / clockTicks
}

// treeMem sums VmRSS and VmHWM (peak RSS), in KiB, over pid and its children.
func treeMem(pid int) (rssKiB, hwmKiB int64) {
	for _, p := range procTree(pid) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmRSS":
				rssKiB += n
			case "VmHWM":
				hwmKiB += n
			}
		}
	}
	return rssKiB, hwmKiB
}

// pinSelf moves every thread of this process to cpu; threads the runtime
// starts later inherit the mask. The bench program's own work (the telemetry
// sinks, polling) then stays off the proxy's core.
func pinSelf(cpu int) error {
	var mask [16]uint64
	mask[cpu/64] |= 1 << (cpu % 64)
	for range 2 { // a second pass catches threads started during the first
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
			if e != 0 && e != syscall.ESRCH {
				return e
			}
		}
	}
	return nil
}

// countLines counts newline-terminated lines in a file.
func countLines(path string) (lines, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		size += int64(n)
		if err == io.EOF {
			return lines, size, nil
		}
		if err != nil {
			return lines, size, err
		}
	}
}

// lookTool finds a required binary, also in the sbin directories a non-root
// PATH may lack.
func lookTool(name, flagVal, pkg string) (string, error) {
	if flagVal != "" {
		if _, err := os.Stat(flagVal); err != nil {
			return "", fmt.Errorf("%s: %v", name, err)
		}
		return flagVal, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin: install it (Debian: apt-get install -y --no-install-recommends %s)", name, pkg)
}

// cpuBusy returns, per CPU, the seconds spent running anything (user, nice,
// system, irq, softirq, plus steal by the hypervisor) since boot, from
// /proc/stat. Without CONFIG_IRQ_TIME_ACCOUNTING a tick spent in softirq is
// also charged to the interrupted task, so a process's own CPU time and these
// totals agree; with it, loopback softirq work shows up here as "other".
func cpuBusy() map[int]float64 {
	out := map[int]float64{}
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var t int64
		for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
			v, _ := strconv.ParseInt(f[i], 10, 64)
			t += v
		}
		out[n] = float64(t) / clockTicks
	}
	return out
}

// waitQuiet waits until the given CPUs were each less than 10% busy over
// half a second: on a shared machine, a compile elsewhere ruins a round.
// Between runs nothing of this benchmark is working, so all of it is noise.
func waitQuiet(ctx context.Context, cpus []int, limit time.Duration) error {
	const sample = 500 * time.Millisecond
	deadline := time.Now().Add(limit)
	worst := 0.0
	for first := true; ; first = false {
		before := cpuBusy()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sample):
		}
		after := cpuBusy()
		worst = 0
		for _, c := range cpus {
			worst = max(worst, (after[c]-before[c])/sample.Seconds())
		}
		if worst < 0.10 {
			return nil
		}
		if first {
			fmt.Fprintf(os.Stderr, "waiting for idle CPUs (%.0f%% busy with other work) ...\n", 100*worst)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CPUs still %.0f%% busy with other work after %v", 100*worst, limit)
		}
	}
}
