package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// state is the record of what `up` made, written after every step so that
// `down` (and `up` itself when a step fails) removes exactly that: the
// processes by pid, the sysctls put back to the values they had, the
// network namespaces that did not exist before.
type state struct {
	// Processes are the daemons started, in start order.
	Processes []process `json:"processes"`
	// Sysctls holds the value each changed sysctl had before.
	Sysctls map[string]string `json:"sysctls"`
	// NetNSBefore lists /var/run/netns before the cluster started.
	NetNSBefore []string `json:"netns_before"`
	// Bridge is set once the bridge exists.
	Bridge string `json:"bridge,omitempty"`
	// Guard is set once the FORWARD guard chain exists.
	Guard bool `json:"guard,omitempty"`
	// PostgresData is PostgreSQL's data directory once it runs.
	PostgresData string `json:"postgres_data,omitempty"`

	file string
}

// process is one daemon, identified by its pid and the binary it runs, so
// that a pid reused by another program is never signalled.
type process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Exe  string `json:"exe"`
}

func loadState(file string) (*state, error) {
	s := &state{Sysctls: map[string]string{}, file: file}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if s.Sysctls == nil {
		s.Sysctls = map[string]string{}
	}
	return s, nil
}

func (s *state) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.file), 0o755); err != nil {
		return err
	}
	tmp := s.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.file)
}

// setSysctl writes a sysctl, keeping its first old value for `down`.
func (s *state) setSysctl(key, value string) error {
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	old, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	if _, kept := s.Sysctls[key]; !kept {
		s.Sysctls[key] = strings.TrimSpace(string(old))
		if err := s.save(); err != nil {
			return err
		}
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// alive tells whether p still runs the binary it was started with.
func (p process) alive() bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(p.PID) + "/exe")
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if p.Exe != "" && exe != p.Exe {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
	if err != nil {
		return false
	}
	// A zombie has finished.
	if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return true
}

// stop ends p's process group: SIGTERM, then SIGKILL after grace.
func (p process) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	for i := 0; i < 50 && p.alive(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
}
