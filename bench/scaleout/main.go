// Command scaleout measures what the scale-out gateway adds before a
// trace's breakdown is ready (issue 13, docs/scaling.md): one trace at a
// time, a sidecar span is posted over OTLP/HTTP either straight to a
// hopscope collector or to the gateway (tools/gateway, the chart's
// configuration with a static resolver) in front of three collectors,
// and the collector's API is asked for the trace's breakdown every
// 200 µs from the moment the post returns 200. It prints, for each path,
// the time from the post's start to the first 200 of the API, and the
// difference: the gateway's added latency.
//
//	go run ./bench/scaleout [--traces 300]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
	"github.com/hopscope/hopscope/internal/gatewaycfg"
)

func main() { harness.Main("bench/scaleout", run) }

type options struct {
	traces     int
	gatewayBin string
	keep       bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("scaleout", flag.ContinueOnError)
	fs.IntVar(&o.traces, "traces", 300, "traces sent on each path, one at a time")
	fs.StringVar(&o.gatewayBin, "gateway", "", "the scale-out gateway binary (default: tools/bin/gateway)")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory (configs, logs)")
	if err := harness.ParseFlags(fs, args, "Time to a trace's breakdown, straight to a collector and through the scale-out gateway."); err != nil {
		return o, err
	}
	if o.traces < 10 {
		return o, fmt.Errorf("--traces %d: at least 10", o.traces)
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := harness.SignalContext()
	defer stop()
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	gw := o.gatewayBin
	if gw == "" {
		gw = filepath.Join(root, "tools", "bin", "gateway")
	}
	if _, err := os.Stat(gw); err != nil {
		return fmt.Errorf("the gateway: %w (build it with `tools/build gateway`, or pass --gateway)", err)
	}
	sess, err := harness.NewSession("hopscope-bench-scaleout-", o.keep)
	if err != nil {
		return err
	}
	defer sess.Close()
	hs := filepath.Join(sess.Dir, "hopscope")
	if err := harness.BuildHopscope(ctx, root, hs, ""); err != nil {
		return err
	}

	// collector starts one hopscope collector; it returns its OTLP/gRPC
	// and OTLP/HTTP addresses and its API's base URL.
	collector := func(name string) (grpc, httpAddr, api string, err error) {
		ports, err := harness.FreePorts(3)
		if err != nil {
			return "", "", "", err
		}
		grpc, httpAddr, api = addr(ports[0]), addr(ports[1]), "http://"+addr(ports[2])
		p, err := sess.Start(ctx, name, harness.CleanEnv(), filepath.Join(sess.Dir, name+".out"), filepath.Join(sess.Dir, name+".err"),
			hs, "collector", "--otlp-grpc-listen", grpc, "--otlp-http-listen", httpAddr, "--http-listen", addr(ports[2]),
			"--forward-listen", "", "--rum-listen", "")
		if err != nil {
			return "", "", "", err
		}
		return grpc, httpAddr, api, harness.WaitReady(ctx, p, harness.Ready{URL: api + "/healthz", Timeout: 30 * time.Second, Every: 50 * time.Millisecond})
	}
	_, directHTTP, directAPI, err := collector("direct")
	if err != nil {
		return err
	}
	var replicas, replicaAPIs []string
	for i := range 3 {
		g, _, api, err := collector(fmt.Sprintf("replica%d", i))
		if err != nil {
			return err
		}
		replicas, replicaAPIs = append(replicas, g), append(replicaAPIs, api)
	}
	ports, err := harness.FreePorts(3)
	if err != nil {
		return err
	}
	conf := filepath.Join(sess.Dir, "gateway.yaml")
	if err := os.WriteFile(conf, []byte(gatewaycfg.YAML(gatewaycfg.Config{HTTP: addr(ports[0]), HealthPort: ports[1], MetricsPort: ports[2],
		Replicas: replicas, MemoryLimitMiB: 512, Timeout: 5 * time.Second, RetryFor: 15 * time.Second, QueueSize: 5000})), 0o644); err != nil {
		return err
	}
	p, err := sess.Start(ctx, "gateway", harness.CleanEnv(), filepath.Join(sess.Dir, "gateway.out"), filepath.Join(sess.Dir, "gateway.err"), gw, "--config", conf)
	if err != nil {
		return err
	}
	if err := harness.WaitReady(ctx, p, harness.Ready{URL: "http://" + addr(ports[1]) + "/", Timeout: 60 * time.Second, Every: 100 * time.Millisecond}); err != nil {
		return err
	}
	paths := []path{
		{name: "straight to a collector", otlp: "http://" + directHTTP, apis: []string{directAPI}},
		// The owner is not known to the client: every replica is asked
		// (each answers for its own traces only, ?local=1).
		{name: "through the gateway", otlp: "http://" + addr(ports[0]), apis: replicaAPIs},
	}
	client := &http.Client{Timeout: 5 * time.Second}
	// A warm-up trace on each path (connections, the gateway's first
	// export), then the paths taken in turn, trace by trace.
	if err := measure(ctx, client, paths, 5); err != nil {
		return err
	}
	for i := range paths {
		paths[i].times = nil
	}
	if err := measure(ctx, client, paths, o.traces); err != nil {
		return err
	}
	fmt.Printf("time from posting a trace's span to its breakdown in the API (%d traces each, one at a time, load average %s)\n\n", o.traces, harness.LoadAvg())
	fmt.Printf("| path | p50 | p90 | p99 | max |\n|---|---|---|---|---|\n")
	for _, p := range paths {
		fmt.Printf("| %s | %s | %s | %s | %s |\n", p.name, ms(pct(p.times, 50)), ms(pct(p.times, 90)), ms(pct(p.times, 99)), ms(p.times[len(p.times)-1]))
	}
	fmt.Printf("\nthe gateway adds: p50 %s ms, p99 %s ms\n", ms(pct(paths[1].times, 50)-pct(paths[0].times, 50)), ms(pct(paths[1].times, 99)-pct(paths[0].times, 99)))
	return nil
}

// path is one way a span goes to the collectors.
type path struct {
	name  string
	otlp  string   // OTLP/HTTP base URL
	apis  []string // the APIs asked for the breakdown
	times []time.Duration
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// measure sends n traces on each path, the paths in turn, one trace at a
// time, and records on each path the time from the post's start to the
// first 200 from any of its APIs (asked every 200 µs); each path's times
// end sorted.
func measure(ctx context.Context, client *http.Client, paths []path, n int) error {
	for range n {
		for i := range paths {
			d, err := one(ctx, client, &paths[i])
			if err != nil {
				return fmt.Errorf("%s: %w", paths[i].name, err)
			}
			paths[i].times = append(paths[i].times, d)
		}
	}
	for i := range paths {
		slices.Sort(paths[i].times)
	}
	return nil
}

func one(ctx context.Context, client *http.Client, p *path) (time.Duration, error) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	body := span(id)
	t0 := time.Now()
	resp, err := client.Post(p.otlp+"/v1/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("post: %s", resp.Status)
	}
	for {
		for _, api := range p.apis {
			r, err := client.Get(api + "/api/v1/traces/" + id + "/breakdown?local=1")
			if err != nil {
				return 0, err
			}
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		if time.Since(t0) > 10*time.Second {
			return 0, fmt.Errorf("trace %s: no breakdown within 10 s", id)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// span is an OTLP/JSON request with one sidecar server span of trace id.
func span(id string) []byte {
	now := time.Now()
	return []byte(fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}},{"key":"hopscope.component","value":{"stringValue":"sidecar"}}]},"scopeSpans":[{"scope":{"name":"github.com/hopscope/hopscope/sidecar"},"spans":[{"traceId":"%s","spanId":"00f067aa0ba902b7","name":"GET /orders/{id}","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}},{"key":"http.response.status_code","value":{"intValue":"200"}}]}]}]}]}`,
		id, now.Add(-10*time.Millisecond).UnixNano(), now.UnixNano()))
}
