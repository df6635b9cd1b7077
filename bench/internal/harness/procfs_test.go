package harness

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// The command name holds spaces and a parenthesis.
	line := "4242 (jaeger (x) y) S 4200 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 12 0 100 0 0"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 4200 || st.ticks != 1234+567 || st.sys != 567 {
		t.Errorf("got %+v", st)
	}
	for _, bad := range []string{"4242 (x) S 1", "4242 x S", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 eleven 12 13"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReadStatSelf(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("ppid %d, want %d", st.ppid, os.Getppid())
	}
	if st.ticks < 0 || SelfCPU() < 0 || TreeCPU(os.Getpid()) < SelfCPU() || TreeSysCPU(os.Getpid()) > TreeCPU(os.Getpid()) {
		t.Errorf("ticks %d, SelfCPU %v, TreeCPU %v", st.ticks, SelfCPU(), TreeCPU(os.Getpid()))
	}
	if tree := ProcTree(os.Getppid()); len(tree) < 2 || tree[0] != os.Getppid() || !contains(tree, os.Getpid()) {
		t.Errorf("ProcTree(parent) = %v, lacks this process %d", tree, os.Getpid())
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestTreeMemSelf(t *testing.T) {
	rss, hwm := TreeMem(os.Getpid())
	if rss <= 0 || hwm < rss {
		t.Errorf("VmRSS %d KiB, VmHWM %d KiB", rss, hwm)
	}
	if rss, hwm := TreeMem(-1); rss != 0 || hwm != 0 {
		t.Errorf("no such process: %d, %d", rss, hwm)
	}
}

// TestTreeSwitches: sleeping switches this process's thread out, so the
// count grows; a process that does not exist has none.
func TestTreeSwitches(t *testing.T) {
	before := TreeSwitches(os.Getpid())
	for range 5 {
		time.Sleep(time.Millisecond)
	}
	if after := TreeSwitches(os.Getpid()); before <= 0 || after < before+5 {
		t.Errorf("context switches %d → %d across five sleeps", before, after)
	}
	if n := TreeSwitches(-1); n != 0 {
		t.Errorf("no such process: %d", n)
	}
	if n := parseStatusSwitches("Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n"); n != 15 {
		t.Errorf("parseStatusSwitches = %d, want 15", n)
	}
}

func TestParseStatusMem(t *testing.T) {
	status := "Name:\tnginx\nVmPeak:\t   20000 kB\nVmHWM:\t    4096 kB\nVmRSS:\t    3072 kB\nThreads:\t1\n"
	if rss, hwm := parseStatusMem(status); rss != 3072 || hwm != 4096 {
		t.Errorf("got %d, %d", rss, hwm)
	}
}

func TestCPUBusy(t *testing.T) {
	stat := "cpu  10 20 30 1000 5 6 7 8 0 0\n" +
		"cpu0 100 0 50 9000 3 10 20 5 0 0\n" +
		"cpu1 1 1 1 1 1 1 1 1 0 0\n" +
		"intr 12345\n"
	got := parseCPUBusy(stat)
	// user+nice+system+irq+softirq+steal, not idle nor iowait.
	if len(got) != 2 || got[0] != 1.85 || got[1] != 0.06 {
		t.Errorf("got %v", got)
	}
	if busy := CPUBusy(); len(busy) == 0 || busy[0] <= 0 {
		t.Errorf("this machine's /proc/stat: %v", busy)
	}
}

func TestLoadAvg(t *testing.T) {
	if f := strings.Fields(LoadAvg()); len(f) != 3 {
		t.Errorf("LoadAvg() = %q", LoadAvg())
	}
}

func TestCheckCPUs(t *testing.T) {
	n := runtime.NumCPU()
	if err := CheckCPUs(0, n); err == nil {
		t.Errorf("CPU %d of %d accepted", n, n)
	}
	if n >= 2 {
		if err := CheckCPUs(0, 1); err != nil {
			t.Error(err)
		}
	}
}
