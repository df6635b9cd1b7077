package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// down removes what up made, in an order that lets each step succeed: the
// kubelet first (it would restart pods), then every pod sandbox through
// the CRI (containerd stops the containers, runs the CNI's DEL and removes
// the network namespaces), then the other processes by pid, the
// containers' cgroups, the mounts under the state directory, the network
// and finally the state directory. It goes on past failures and reports
// them all.
func (k *cluster) down() error {
	st, err := loadState(k.cfg.path("state.json"))
	if err != nil {
		return err
	}
	k.st = st
	var errs []error
	byName := func(name string) (process, bool) {
		for _, p := range st.Processes {
			if p.Name == name {
				return p, true
			}
		}
		return process{}, false
	}
	if p, ok := byName("kubelet"); ok {
		p.stop(15 * time.Second)
	}
	if p, ok := byName("containerd"); ok && p.alive() {
		if err := k.removeSandboxes(); err != nil {
			errs = append(errs, err)
		}
	}
	procs := slices.Clone(st.Processes)
	slices.Reverse(procs)
	for _, p := range procs {
		p.stop(10 * time.Second)
	}
	if st.PostgresData != "" {
		_ = exec.Command("runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", st.PostgresData, "-m", "immediate", "-w", "stop").Run()
	}
	killLeftovers(k.cfg.StateDir)
	errs = append(errs, removePodCgroups()...)
	errs = append(errs, unmountUnder(k.cfg.StateDir, st.NetNSBefore)...)
	kubeProxy := toolBin(k.root, "kube-proxy")
	if _, err := os.Stat(kubeProxy); err != nil {
		kubeProxy = ""
	}
	errs = append(errs, teardownNetwork(st, k.cfg.Bridge, kubeProxy)...)
	if _, err := os.Stat(k.cfg.path("state.json")); err == nil {
		if err := os.RemoveAll(k.cfg.StateDir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		k.progress("down: nothing of the cluster is left")
	}
	return errors.Join(errs...)
}

// removeSandboxes stops and removes every pod sandbox through the CRI.
func (k *cluster) removeSandboxes() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+k.containerdSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	list, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stopping sandbox of %s/%s: %w", sb.Metadata.GetNamespace(), sb.Metadata.GetName(), err))
			continue
		}
		if _, err := rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("removing sandbox of %s/%s: %w", sb.Metadata.GetNamespace(), sb.Metadata.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// killLeftovers kills every process whose command line names the state
// directory (containerd's shims and what they run, when containerd was
// gone before its sandboxes could be removed).
func killLeftovers(stateDir string) {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(b), stateDir) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// removePodCgroups kills what is left in the kubelet's kubepods cgroups and
// removes them, deepest first, in every controller's hierarchy.
func removePodCgroups() []error {
	var errs []error
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods*")
	roots2, _ := filepath.Glob("/sys/fs/cgroup/kubepods*")
	for _, root := range append(roots, roots2...) {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if b, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			var err error
			for i := 0; i < 20; i++ {
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
			}
		}
	}
	return errs
}

// unmountUnder unmounts every mount under dir, and the named network
// namespaces that did not exist before up, deepest first.
func unmountUnder(dir string, netnsBefore []string) []error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []error{err}
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		switch {
		case mp == dir || strings.HasPrefix(mp, dir+"/"):
			points = append(points, mp)
		case strings.HasPrefix(mp, "/run/netns/cni-") || strings.HasPrefix(mp, "/var/run/netns/cni-"):
			if !slices.Contains(netnsBefore, filepath.Base(mp)) {
				points = append(points, mp)
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range slices.Compact(points) {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
		if strings.Contains(p, "/netns/cni-") {
			os.Remove(p)
		}
	}
	return errs
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
