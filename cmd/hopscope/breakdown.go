package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/cli"
	"github.com/hopscope/hopscope/internal/cliconfig"
)

// runBreakdown fetches one trace's breakdown from the collector and prints
// its waterfall: one bar per hop, laid end to end on one time axis, and the
// backend calls under the app at their own offsets.
func runBreakdown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hopscope breakdown", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("collector", "http://127.0.0.1:8088", "collector internal API base URL")
	width := fs.Int("width", 60, "bar width in characters")
	color := fs.String("color", "auto", "auto, always or never")
	tokenFile := fs.String("token-file", "", "file whose first token is sent as Authorization: Bearer (a collector with --auth-token-file)")
	// Flags may come before or after the trace id; HOPSCOPE_COLLECTOR,
	// HOPSCOPE_WIDTH and HOPSCOPE_COLOR stand for flags not given.
	var pos []string
	rest := args
	for {
		if err := cliconfig.Load(fs, rest, cliconfig.Options{}); err != nil {
			if err == flag.ErrHelp {
				return err
			}
			if strings.HasPrefix(err.Error(), "unexpected argument") {
				pos = append(pos, fs.Arg(0))
				rest = fs.Args()[1:]
				continue
			}
			return cli.UsageError{Err: err}
		}
		break
	}
	if len(pos) != 1 {
		return cli.UsageError{Err: fmt.Errorf("want exactly one TRACE_ID (32 hex characters), got %d arguments", len(pos))}
	}
	// A bad value is named as it was given: flag or variable.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	name := func(flag string) string {
		if _, env := os.LookupEnv(cliconfig.EnvName(flag)); env && !given[flag] {
			return cliconfig.EnvName(flag)
		}
		return "--" + flag
	}
	if *width < 10 || *width > 400 {
		return cli.UsageError{Err: fmt.Errorf("%s: must be between 10 and 400", name("width"))}
	}
	useColor := false
	switch *color {
	case "always":
		useColor = true
	case "never":
	case "auto":
		if f, ok := stdout.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				useColor = true
			}
		}
	default:
		return cli.UsageError{Err: fmt.Errorf("%s: must be auto, always or never", name("color"))}
	}
	u, err := url.Parse(*base)
	if err != nil || u.Host == "" {
		return cli.UsageError{Err: fmt.Errorf("%s: want a URL like http://127.0.0.1:8088, got %q", name("collector"), *base)}
	}
	var token string
	if *tokenFile != "" {
		data, err := os.ReadFile(*tokenFile)
		if err != nil {
			return cli.UsageError{Err: fmt.Errorf("%s: %w", name("token-file"), err)}
		}
		toks, err := bearer.Parse(data)
		if err != nil {
			return cli.UsageError{Err: fmt.Errorf("%s: %w", name("token-file"), err)}
		}
		token = toks[0]
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*base, "/")+"/api/v1/traces/"+url.PathEscape(pos[0])+"/breakdown", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking the collector: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if res.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		if res.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("collector answered %s: it wants a token; pass --token-file (or HOPSCOPE_TOKEN_FILE)", res.Status)
		}
		return fmt.Errorf("collector answered %s: %s", res.Status, e.Error)
	}
	var b collector.BreakdownResponse
	if err := json.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("decoding the breakdown: %w", err)
	}
	printWaterfall(stdout, b, *width, useColor)
	return nil
}

func printWaterfall(w io.Writer, b collector.BreakdownResponse, width int, useColor bool) {
	paint := func(hop, s string) string {
		if !useColor {
			return s
		}
		r, g, bl := hexRGB(collector.HopColor(hop))
		return fmt.Sprintf("\x1b[38;2;%d;%d;%dm%s\x1b[0m", r, g, bl, s)
	}
	fmt.Fprintf(w, "trace %s  %s %s %s", b.TraceID, b.Service, b.Method, b.Route)
	if b.Status != 0 {
		fmt.Fprintf(w, " → %d", b.Status)
	}
	fmt.Fprintf(w, "\ntotal %.3f ms (from %s)", b.TotalMS, b.TotalSource)
	if b.Complete {
		fmt.Fprint(w, ", every hop measured")
	} else if len(b.Missing) > 0 {
		fmt.Fprintf(w, ", not measured: %s", strings.Join(b.Missing, ", "))
	}
	fmt.Fprintln(w)
	total := b.TotalMS
	if total <= 0 {
		total = 1
	}
	scale := float64(width) / total
	fmt.Fprintf(w, "%-16s %10s  |%s|\n", "hop", "ms", center("exclusive times, stacked", width))
	var at float64
	for _, h := range b.Hops {
		start := int(math.Round(at * scale))
		n := int(math.Round((at+math.Max(h.MS, 0))*scale)) - start
		if n == 0 && h.MS > 0 {
			n = 1
		}
		bar := strings.Repeat(" ", clampInt(start, 0, width)) + paint(h.Hop, strings.Repeat("█", clampInt(n, 0, width-clampInt(start, 0, width))))
		fmt.Fprintf(w, "%-16s %10.3f  |%s%s|  %s\n", h.Hop, h.MS, bar, strings.Repeat(" ", clampInt(width-start-n, 0, width)), h.Source)
		at += math.Max(h.MS, 0)
	}
	// The calls on their own axis: when each began and how long it took,
	// from the start of the request (the hop rows above stack exclusive
	// times, which are not a timeline).
	if len(b.Backends) > 0 {
		fmt.Fprintf(w, "%-16s %10s  |%s|\n", "backend calls", "ms", center("from the request's start", width))
		for _, c := range b.Backends {
			s := int(math.Round(c.StartOffsetMS * scale))
			n := int(math.Max(1, math.Round(c.MS*scale)))
			s = clampInt(s, 0, width-1)
			n = clampInt(n, 1, width-s)
			label := "  " + c.Kind
			if c.Operation != "" {
				label += " " + c.Operation
			}
			fmt.Fprintf(w, "%-16s %10.3f  |%s%s%s|  %s %s\n", truncate(label, 16), c.MS, strings.Repeat(" ", s),
				paint(c.Kind, strings.Repeat("▒", n)), strings.Repeat(" ", width-s-n), c.Attribution, c.Target)
		}
	}
	if len(b.Tries) > 1 {
		var tries []string
		for _, t := range b.Tries {
			tries = append(tries, fmt.Sprintf("%s → %d in %.3f ms", t.Addr, t.Status, t.MS))
		}
		fmt.Fprintf(w, "ingress tries: %s\n", strings.Join(tries, "; "))
	}
	if b.JaegerURL != "" {
		fmt.Fprintf(w, "jaeger: %s\n", b.JaegerURL)
	}
}

// center is s centred in width columns (cut to fit).
func center(s string, width int) string {
	if len(s) > width {
		s = s[:width]
	}
	left := (width - len(s)) / 2
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", width-len(s)-left)
}

func clampInt(v, lo, hi int) int {
	if hi < lo {
		return lo
	}
	return min(max(v, lo), hi)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func hexRGB(h string) (int, int, int) {
	v, _ := strconv.ParseUint(strings.TrimPrefix(h, "#"), 16, 32)
	return int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)
}
