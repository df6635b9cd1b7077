package main

import (
	"flag"
	"io"

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
// variable or key; --help returns flag.ErrHelp.
func loadConfig(name string, cfg component, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hopscope "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configFile string
	fs.StringVar(&configFile, cliconfig.ConfigFlag, "", "YAML file with any of these flags as keys")
	cfg.RegisterFlags(fs)
	var opts cliconfig.Options
	if st, ok := cfg.(interface{ Structured() map[string]any }); ok {
		opts.Structured = st.Structured()
	}
	if err := cliconfig.Load(fs, args, opts); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
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
