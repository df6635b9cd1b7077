package main

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

// component is a configuration a subcommand loads: it binds its fields to
// flags and validates them.
type component interface {
	RegisterFlags(*flag.FlagSet)
	Validate() error
}

// loadConfig fills cfg from flags, HOPSCOPE_* variables and the --config
// file, then validates it. Errors are usage errors (exit 2) naming the flag,
// variable or key; --help returns flag.ErrHelp. extra registers the
// subcommand's own flags beside cfg's (e.g. --log-level).
func loadConfig(name string, cfg component, args []string, stderr io.Writer, extra ...func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet("hopscope "+name, flag.ContinueOnError)
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
		return usageError{err}
	}
	// Validate names flags; a value that came from a variable or the file
	// is named with its source: "--access-log (from HOPSCOPE_ACCESS_LOG): …".
	if err := cfg.Validate(); err != nil {
		return usageError{opts.Origins.Annotate(err)}
	}
	return nil
}

// processRegistry is a registry with the Go and process collectors, as
// every long-running subcommand serves on /metrics.
func processRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// logLevelFlag registers --log-level (HOPSCOPE_LOG_LEVEL, YAML log-level):
// the least severe diagnostic log level written, debug, info, warn or
// error. A bad value is refused naming the flag, variable or key.
func logLevelFlag(level *zapcore.Level) func(*flag.FlagSet) {
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
