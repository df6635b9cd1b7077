package harness

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// Main runs a bench program: on an error it prints it after the program's
// name ("bench/proxy: ...") and exits 1, an interruption said as such.
// flag.ErrHelp is no error: the usage has been printed.
func Main(prog string, run func(args []string) error) {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted; every process stopped")
		}
		fmt.Fprintln(os.Stderr, prog+":", err)
		os.Exit(1)
	}
}

// ParseFlags parses args with fs, whose usage message is
// "usage: go run ./bench/NAME [flags]", about and the flags' defaults.
// Arguments that are not flags are an error.
func ParseFlags(fs *flag.FlagSet, args []string, about string) error {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/%s [flags]\n\n%s\n\n", fs.Name(), about)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// SignalContext is cancelled by the first SIGINT or SIGTERM; a second one
// kills the program outright (Pdeathsig then takes the children).
func SignalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// Header is what every report starts with: when it ran, on what machine
// (HostInfo), the versions of what it ran ("go" and the tools) and its
// settings. Embedded in a report, its fields stay at the top of the JSON.
type Header struct {
	Time     time.Time         `json:"time"`
	Host     map[string]string `json:"host"`
	Versions map[string]string `json:"versions"`
	Config   map[string]any    `json:"config"`
}

// NewHeader is the Header of a run starting now, with config.
func NewHeader(config map[string]any) Header {
	return Header{
		Time:     time.Now().UTC(),
		Host:     HostInfo(),
		Versions: map[string]string{"go": runtime.Version()},
		Config:   config,
	}
}

// Session is one run's scratch directory and the processes started for it.
type Session struct {
	Dir   string // configs and logs
	keep  bool
	procs []*Proc
}

// NewSession makes a temporary directory whose name starts with prefix.
// Close removes it, unless keep.
func NewSession(prefix string, keep bool) (*Session, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	return &Session{Dir: dir, keep: keep}, nil
}

// Start is StartProc, the process then stopped by Close if it is still
// running.
func (s *Session) Start(ctx context.Context, name string, env []string, stdout, stderr string, argv ...string) (*Proc, error) {
	p, err := StartProc(ctx, name, env, stdout, stderr, argv...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	return p, nil
}

// Close stops the processes, the last started first, then removes the
// directory or, if it is kept, prints its path.
func (s *Session) Close() {
	for _, p := range slices.Backward(s.procs) {
		p.Stop(5 * time.Second)
	}
	if s.keep {
		fmt.Fprintf(os.Stderr, "kept %s\n", s.Dir)
	} else {
		os.RemoveAll(s.Dir)
	}
}

// WriteJSON writes v as indented JSON to path, making its directory, and
// says so on stderr.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	return nil
}
