package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
)

// shipLogs stands in for the Fluent Bit DaemonSet of docs/ingress-nginx.md,
// which has no package here: it follows log files on the node and forwards
// every line, unchanged in the record's "log" key, to a Fluent forward
// address, as Fluent Bit's tail input (with the cri parser for container
// logs) and forward output do. Sources are TAG=GLOB; a file under the
// kubelet's pod log directory is read as CRI log lines (timestamp, stream,
// P/F flag, text), partial lines joined. Offsets are kept in the state
// directory, and a line is only passed once the collector took it, so a
// collector restart loses nothing that was written while it was away.
func shipLogs(ctx context.Context, cfg Config, args []string) error {
	fs := flag.NewFlagSet("ship-logs", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return fmt.Errorf("usage: ship-logs --state-dir DIR HOST:PORT TAG=GLOB...")
	}
	host, portStr, err := net.SplitHostPort(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("forward address %q: %w", fs.Arg(0), err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("forward address %q: %w", fs.Arg(0), err)
	}
	var sources []logSource
	for _, a := range fs.Args()[1:] {
		tag, glob, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("source %q: want TAG=GLOB", a)
		}
		sources = append(sources, logSource{tag: tag, glob: glob})
	}
	offsetsFile := filepath.Join(cfg.StateDir, "log-shipper.offsets.json")
	offsets := map[string]int64{}
	if b, err := os.ReadFile(offsetsFile); err == nil {
		_ = json.Unmarshal(b, &offsets)
	}
	var logger *fluent.Fluent
	defer func() {
		if logger != nil {
			logger.Close()
		}
	}()
	for {
		if logger == nil {
			logger, err = fluent.New(fluent.Config{FluentHost: host, FluentPort: port, Async: false, RequestAck: true,
				Timeout: 3 * time.Second, WriteTimeout: 3 * time.Second, MaxRetry: 1, SubSecondPrecision: true})
			if err != nil {
				logger = nil
			}
		}
		if logger != nil {
			for _, s := range sources {
				if err := s.ship(logger, offsets); err != nil {
					fmt.Fprintf(os.Stderr, "ship-logs: %s: %v\n", s.tag, err)
					logger.Close()
					logger = nil
					break
				}
			}
			if b, err := json.Marshal(offsets); err == nil {
				_ = os.WriteFile(offsetsFile, b, 0o600)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type logSource struct{ tag, glob string }

// ship posts the new whole lines of every file of s, advancing each file's
// offset past the lines the collector acknowledged.
func (s logSource) ship(logger *fluent.Fluent, offsets map[string]int64) error {
	files, _ := filepath.Glob(s.glob)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		off := offsets[f]
		if st, err := fh.Stat(); err == nil && st.Size() < off {
			off = 0 // truncated or replaced
		}
		if _, err := fh.Seek(off, io.SeekStart); err != nil {
			fh.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(fh, 4<<20))
		fh.Close()
		if err != nil {
			continue
		}
		cri := strings.Contains(f, "/pod-logs/")
		var partial strings.Builder
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			line := string(data[:i])
			data = data[i+1:]
			consumed := int64(i + 1)
			if cri {
				text, stream, full := parseCRILine(line)
				if stream == "stderr" {
					// The program's own messages, not its access log
					// (Fluent Bit's grep filter drops them likewise).
					off += consumed
					offsets[f] = off
					continue
				}
				partial.WriteString(text)
				if !full {
					off += consumed
					continue
				}
				line = partial.String()
				partial.Reset()
			}
			if line != "" {
				if err := logger.PostWithTime(s.tag, time.Now(), map[string]string{"log": line}); err != nil {
					return err
				}
			}
			off += consumed
			offsets[f] = off
		}
	}
	return nil
}

// parseCRILine splits a CRI log line "TIME STREAM P|F TEXT" into its text,
// its stream and whether it ends a line (F) or continues (P).
func parseCRILine(line string) (text, stream string, full bool) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) < 4 {
		return line, "stdout", true
	}
	return parts[3], parts[1], parts[2] != "P"
}
