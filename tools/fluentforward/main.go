// Command fluentforward is an independent Fluent forward server for
// hopscope's tests: the OpenTelemetry Collector's fluentforward receiver
// (github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver),
// run on its own in this process, with a consumer that prints every log
// record it receives as one JSON line on stdout:
//
//	{"tag":"hopscope.access","time":"2026-11-25T10:00:00.123456789Z","body":null,
//	 "attributes":{"fluent.tag":"hopscope.access","status":200,"app_ms":1.5,…},
//	 "types":{"fluent.tag":"Str","status":"Int","app_ms":"Double",…}}
//
// (on one line). tag is the receiver's fluent.tag attribute, time the
// record's timestamp (RFC 3339 with nanoseconds, UTC), body the record's
// body (the receiver puts a record's "message" or "log" key there; null
// when neither exists), attributes every attribute as the receiver set it
// (every other key of the record, and fluent.tag) and types the pdata type
// of each attribute, which JSON numbers do not show (5 may be Int or
// Double).
//
//	fluentforward --listen 127.0.0.1:24224   # or 127.0.0.1:0 for a free port
//
// It listens on loopback only (TCP, and UDP for heartbeats as the receiver
// does), prints "listening ADDR" on stderr when ready and stops on SIGTERM
// or SIGINT with exit code 0. It is a separate program because hopscope
// ships with fluent-logger-golang, and two Fluent msgpack libraries in one
// binary can panic at init (tools/README.md).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
)

// line is what is printed for one log record.
type line struct {
	Tag        any            `json:"tag"`
	Time       string         `json:"time"`
	Body       any            `json:"body"`
	Attributes map[string]any `json:"attributes"`
	// Types is each attribute's pdata type (Str, Int, Double, Bool, Map,
	// Slice, Bytes), which JSON numbers cannot tell apart.
	Types map[string]string `json:"types"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:24224", "loopback host:port to listen on (port 0: a free one)")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "fluentforward:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q: the host must be a loopback IP address", listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("--listen %q: bad port", listen)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	logs, err := consumer.NewLogs(printLogs)
	if err != nil {
		return err
	}
	factory := fluentforwardreceiver.NewFactory()
	set := receivertest.NewNopSettings(factory.Type())
	if set.Logger, err = zap.NewProduction(); err != nil { // JSON on stderr
		return err
	}

	// The receiver does not tell which port it got, and it binds TCP and
	// UDP to the address it is given: for port 0, pick a port free for
	// both, and try again if someone takes it before the receiver does.
	var rcv receiver.Logs
	var addr string
	for attempt := 0; ; attempt++ {
		addr = listen
		if port == "0" {
			if addr, err = freeAddr(host); err != nil {
				return err
			}
		}
		cfg := factory.CreateDefaultConfig().(*fluentforwardreceiver.Config)
		cfg.ListenAddress = addr
		if rcv, err = factory.CreateLogs(ctx, set, cfg, logs); err != nil {
			return err
		}
		err = rcv.Start(ctx, nopHost{})
		if err == nil {
			break
		}
		_ = rcv.Shutdown(context.Background())
		if port != "0" || attempt == 9 || !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("starting the fluentforward receiver on %s: %w", addr, err)
		}
	}
	fmt.Fprintln(os.Stderr, "listening", addr)

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rcv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

var stdoutMu sync.Mutex

// printLogs writes every log record of ld as one JSON line on stdout.
func printLogs(_ context.Context, ld plog.Logs) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // one line per Encode
	enc.SetEscapeHTML(false)
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				attrs := lr.Attributes().AsRaw()
				types := make(map[string]string, len(attrs))
				for k, v := range lr.Attributes().All() {
					types[k] = v.Type().String()
				}
				err := enc.Encode(line{
					Tag:        attrs["fluent.tag"],
					Time:       lr.Timestamp().AsTime().UTC().Format(time.RFC3339Nano),
					Body:       lr.Body().AsRaw(),
					Attributes: attrs,
					Types:      types,
				})
				if err != nil {
					return err
				}
			}
		}
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	_, err := os.Stdout.Write(b.Bytes())
	return err
}

// freeAddr returns host:port with a port free for both TCP and UDP.
func freeAddr(host string) (string, error) {
	var last error
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			last = err
			continue
		}
		pc.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no port free for TCP and UDP on %s: %w", host, last)
}

// nopHost is the component.Host the receiver is started with; it uses
// no extensions.
type nopHost struct{}

func (nopHost) GetExtensions() map[component.ID]component.Component { return nil }
