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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// proc is a child process in its own process group, so that stopping it
// also stops anything it forked, and the terminal's Ctrl-C reaches only the
// bench program, which then stops everything in order.
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
		if !slices.Contains(p.logs, path) {
			p.logs = append(p.logs, path)
		}
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

// stop sends SIGTERM to the process group, then SIGKILL after a grace
// period. It reports whether the process had exited by itself on SIGTERM.
func (p *proc) stop(grace time.Duration) (clean bool) {
	if p == nil || p.cmd.Process == nil || p.stopped {
		return false
	}
	p.stopped = true
	pgid := p.pid()
	if !p.exited() {
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

// logTail returns the last lines of the process's log files, for error messages.
func (p *proc) logTail(lines int) string {
	var b strings.Builder
	for _, path := range p.logs {
		b.WriteString(fileTail(path, lines))
	}
	return b.String()
}

func fileTail(path string, lines int) string {
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

// freePorts asks the kernel for n distinct unused loopback ports. All
// listeners stay open until every port is chosen, so none is handed out
// twice; another program could still take one before the child binds it,
// which the child then reports as "address already in use".
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitReady polls url until it answers 200, the process exits, or the
// timeout passes.
func waitReady(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v)%s", p.name, p.err, p.logTail(20))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
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
			return fmt.Errorf("%s not ready at %s after %v: %s%s", p.name, url, timeout, last, p.logTail(20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// procTree is pid and its direct children.
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
	return parseStat(string(data))
}

// parseStat reads ppid, utime and stime from a /proc/PID/stat line.
func parseStat(s string) (statFields, error) {
	// The command name is in parentheses and may hold spaces: split after it.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return statFields{}, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return statFields{}, errors.New("short stat")
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	st, err3 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return statFields{}, fmt.Errorf("bad stat: %w", err)
	}
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

func selfCPU() float64 {
	st, err := readStat(os.Getpid())
	if err != nil {
		return 0
	}
	return float64(st.ticks) / clockTicks
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
// starts later inherit the mask. Scraping and polling then stay off the
// receiver's core.
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

// cpuBusy returns, per CPU, the seconds spent running anything (user, nice,
// system, irq, softirq, plus steal by the hypervisor) since boot, from
// /proc/stat.
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

// loadAvg is the first three fields of /proc/loadavg ("0.52 0.40 0.31").
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// waitQuiet waits until the given CPUs were each less than 10% busy over
// half a second: on a shared machine, a compile elsewhere ruins a run.
// Between runs nothing of this benchmark is working, so all of it is noise.
func waitQuiet(ctx context.Context, cpus []int, limit time.Duration) error {
	const sample = 500 * time.Millisecond
	deadline := time.Now().Add(limit)
	for first := true; ; first = false {
		before := cpuBusy()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sample):
		}
		after := cpuBusy()
		worst := 0.0
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
			return fmt.Errorf("CPUs still %.0f%% busy with other work after %v (load average %s)", 100*worst, limit, loadAvg())
		}
	}
}

// cleanEnv is this environment without anything that would configure a
// child or its Go runtime behind the flags' back (HOPSCOPE_*, OTEL_*,
// GOMAXPROCS, GOGC, GOMEMLIMIT, GODEBUG), plus extra.
func cleanEnv(extra ...string) []string {
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

// moduleRoot is the directory of the hopscope module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v (is Go installed?)", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the hopscope module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// lookTool finds a required binary: the flag's value, else the first of
// candidates that exists, else PATH.
func lookTool(name, flagVal string, candidates []string, howTo string) (string, error) {
	if flagVal != "" {
		st, err := os.Stat(flagVal)
		if err != nil {
			return "", fmt.Errorf("%s: %v", name, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s: %s is not an executable file", name, flagVal)
		}
		return filepath.Abs(flagVal)
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	where := strings.Join(append(slices.Clone(candidates), "PATH"), ", ")
	return "", fmt.Errorf("%s not found (looked in %s): %s", name, where, howTo)
}
