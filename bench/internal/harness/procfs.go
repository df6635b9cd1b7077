package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// clockTicks is USER_HZ, 100 on every Linux architecture Go runs on.
const clockTicks = 100

// ProcTree is pid and its direct children (nginx's master and workers).
func ProcTree(pid int) []int {
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
	sys   int64 // stime alone
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
	return statFields{ppid: ppid, ticks: ut + st, sys: st}, nil
}

// TreeCPU is the CPU time, in seconds, used so far by pid and its children.
func TreeCPU(pid int) float64 { return treeTicks(pid, func(st statFields) int64 { return st.ticks }) }

// TreeSysCPU is the part of TreeCPU spent in the kernel (system time):
// syscalls, and the network stack's work done on their behalf.
func TreeSysCPU(pid int) float64 { return treeTicks(pid, func(st statFields) int64 { return st.sys }) }

// treeTicks sums of(stat) over pid and its children, in seconds.
func treeTicks(pid int, of func(statFields) int64) float64 {
	var t int64
	for _, p := range ProcTree(pid) {
		if st, err := readStat(p); err == nil {
			t += of(st)
		}
	}
	return float64(t) / clockTicks
}

// SelfCPU is the CPU time, in seconds, this program has used so far.
func SelfCPU() float64 {
	st, err := readStat(os.Getpid())
	if err != nil {
		return 0
	}
	return float64(st.ticks) / clockTicks
}

// TreeMem sums VmRSS and VmHWM (peak RSS), in KiB, over pid and its children.
func TreeMem(pid int) (rssKiB, hwmKiB int64) {
	for _, p := range ProcTree(pid) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		r, h := parseStatusMem(string(data))
		rssKiB += r
		hwmKiB += h
	}
	return rssKiB, hwmKiB
}

// parseStatusMem reads VmRSS and VmHWM, in KiB, from /proc/PID/status.
func parseStatusMem(status string) (rssKiB, hwmKiB int64) {
	for _, line := range strings.Split(status, "\n") {
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
	return rssKiB, hwmKiB
}

// PinSelf moves every thread of this process to cpu; threads the runtime
// starts later inherit the mask. The bench program's own work (sinks,
// scraping, polling) then stays off the core under test.
func PinSelf(cpu int) error {
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

// CheckCPUs says whether this process may use both the load CPU and the
// CPU the contender under test is pinned to.
func CheckCPUs(load, target int) error {
	if n := runtime.NumCPU(); n < 2 || target >= n || load >= n {
		return fmt.Errorf("needs CPUs %d and %d, this process may use %d CPU(s)", load, target, n)
	}
	return nil
}

// PinTool checks, for --pin, that this process may use both CPUs and
// returns taskset's path; the errors say to run with --pin=false instead.
func PinTool(load, target int) (string, error) {
	if err := CheckCPUs(load, target); err != nil {
		return "", fmt.Errorf("%w (or run with --pin=false)", err)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return "", fmt.Errorf("taskset (util-linux) is not installed: %w (or run with --pin=false)", err)
	}
	return taskset, nil
}

// CPUBusy returns, per CPU, the seconds spent running anything (user, nice,
// system, irq, softirq, plus steal by the hypervisor) since boot, from
// /proc/stat. Without CONFIG_IRQ_TIME_ACCOUNTING a tick spent in softirq is
// also charged to the interrupted task, so a process's own CPU time and these
// totals agree; with it, loopback softirq work shows up here as "other".
func CPUBusy() map[int]float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return map[int]float64{}
	}
	return parseCPUBusy(string(data))
}

func parseCPUBusy(stat string) map[int]float64 {
	out := map[int]float64{}
	for _, line := range strings.Split(stat, "\n") {
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

// LoadAvg is the first three fields of /proc/loadavg ("0.52 0.40 0.31"),
// or "?".
func LoadAvg() string {
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

// WaitQuiet waits until the given CPUs were each less than 10% busy over
// half a second: on a shared machine, a compile elsewhere ruins a run.
// Between runs nothing of a benchmark is working, so all of it is noise.
// It says on stderr when it has to wait, and returns ctx's error or, after
// limit, an error saying how busy the CPUs still are.
func WaitQuiet(ctx context.Context, cpus []int, limit time.Duration) error {
	const sample = 500 * time.Millisecond
	deadline := time.Now().Add(limit)
	for first := true; ; first = false {
		before := CPUBusy()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sample):
		}
		after := CPUBusy()
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
			return fmt.Errorf("CPUs still %.0f%% busy with other work after %v", 100*worst, limit)
		}
	}
}

// TreeSwitches is the number of context switches (voluntary and not) of
// every thread of pid and its children so far: each is a trip through the
// kernel's scheduler, which costs most where waking a thread is dear (a
// paravirtualised guest).
func TreeSwitches(pid int) int64 {
	var n int64
	for _, p := range ProcTree(pid) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		if err != nil {
			continue
		}
		for _, t := range tasks {
			if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", p, t.Name())); err == nil {
				n += parseStatusSwitches(string(data))
			}
		}
	}
	return n
}

// parseStatusSwitches sums voluntary_ctxt_switches and
// nonvoluntary_ctxt_switches of a /proc/PID/task/TID/status.
func parseStatusSwitches(status string) int64 {
	var n int64
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
			x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			n += x
		}
	}
	return n
}
