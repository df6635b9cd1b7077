// Command profiled is `hopscope collector` with Go's profiler served on a
// second loopback listener, for `go run ./bench/collector --profile DIR`:
// the same collector package, New/Start/Shutdown as cmd/hopscope calls
// them, the same flags (the collector's own, from its Config), the same
// Prometheus registry (Go and process collectors), plus
//
//	--pprof-listen 127.0.0.1:PORT   net/http/pprof's handlers under /debug/pprof/
//
// It is a benchmark tool, not the product: the product's binary serves no
// profiler. Run as the benchmark runs hopscope:
//
//	go build -o /tmp/profiled ./bench/collector/profiled
//	/tmp/profiled collector --pprof-listen 127.0.0.1:6060 --forward-listen '' --rum-listen ''
//	go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=20'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/collector"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: profiled collector [flags] | profiled version")
	}
	switch args[0] {
	case "version":
		v := "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok {
			v = bi.Main.Version
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					v += " " + s.Value
				}
			}
		}
		fmt.Println("hopscope collector, profiled build (bench/collector/profiled)", v)
		return nil
	case "collector":
	default:
		return fmt.Errorf("unknown subcommand %q: want collector or version", args[0])
	}

	cfg := collector.DefaultConfig()
	fs := flag.NewFlagSet("profiled collector", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	pprofListen := fs.String("pprof-listen", "127.0.0.1:0", "address net/http/pprof is served on (loopback)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey, enc.EncodeTime = "time", zapcore.RFC3339NanoTimeEncoder
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(os.Stderr), zapcore.InfoLevel)).
		With(zap.String("component", "collector"))
	defer func() { _ = logger.Sync() }()

	ln, err := net.Listen("tcp", *pprofListen)
	if err != nil {
		return fmt.Errorf("--pprof-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	logger.Info("pprof listening", zap.String("addr", ln.Addr().String()))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c, err := collector.New(cfg, collector.Options{Registerer: reg, Gatherer: reg, Logger: logger})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
