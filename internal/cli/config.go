package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap/zapcore"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hopscope/hopscope/internal/cliconfig"
)

// Component is a configuration a command loads: it binds its fields to
// flags and validates them.
type Component interface {
	RegisterFlags(*flag.FlagSet)
	Validate() error
}

// LoadConfig fills cfg from flags, HOPSCOPE_* variables and the --config
// file, then validates it. Errors are usage errors (exit 2) naming the flag,
// variable or key; --help returns flag.ErrHelp. extra registers the
// subcommand's own flags beside cfg's (e.g. --log-level).
// name is the command as the user typed it ("hopscope sidecar",
// "hopscope-sidecar"), for --help.
func LoadConfig(name string, cfg Component, args []string, stderr io.Writer, extra ...func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configFile string
	fs.StringVar(&configFile, cliconfig.ConfigFlag, "", "YAML file with any of these flags as keys")
	cfg.RegisterFlags(fs)
	for _, register := range extra {
		register(fs)
	}
	opts := cliconfig.Options{Origins: cliconfig.Origins{}}
	if st, ok := cfg.(interface{ Structured() map[string]any }); ok {
		opts.Structured = st.Structured()
	}
	if err := cliconfig.Load(fs, args, opts); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return UsageError{err}
	}
	// Validate names flags; a value that came from a variable or the file
	// is named with its source: "--access-log (from HOPSCOPE_ACCESS_LOG): …".
	if err := cfg.Validate(); err != nil {
		return UsageError{opts.Origins.Annotate(err)}
	}
	return nil
}

// ProcessRegistry is a registry with the Go and process collectors, as
// every long-running subcommand serves on /metrics.
func ProcessRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// LogLevelFlag registers --log-level (HOPSCOPE_LOG_LEVEL, YAML log-level):
// the least severe diagnostic log level written, debug, info, warn or
// error. A bad value is refused naming the flag, variable or key.
func LogLevelFlag(level *zapcore.Level) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.Var(logLevelValue{level}, "log-level", "diagnostic log level: debug, info, warn or error")
	}
}

type logLevelValue struct{ l *zapcore.Level }

func (v logLevelValue) String() string {
	if v.l == nil {
		return zapcore.InfoLevel.String()
	}
	return v.l.String()
}

func (v logLevelValue) Set(s string) error {
	switch l := strings.ToLower(strings.TrimSpace(s)); l {
	case "debug", "info", "warn", "error":
		return v.l.Set(l)
	}
	return fmt.Errorf("want debug, info, warn or error, got %q", s)
}
