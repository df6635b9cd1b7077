//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/gatewaycfg"
	"github.com/hopscope/hopscope/internal/testkit"
)

// recordedTraceHex and recordedRoot are the trace id of every recorded
// scenario, in W3C and X-Ray form; recordedReqID its X-Request-ID.
const (
	recordedTraceHex = "67891233abcdef012345678912345678"
	recordedRoot     = "1-67891233-abcdef012345678912345678"
	recordedReqID    = "req-7"
)

// scenarioInputs are one recorded scenario's inputs under a new trace id
// and request id: the OTLP/JSON spans, the ingress-nginx line and the
// beacon ("" when the scenario has none).
type scenarioInputs struct {
	id           string
	spans        []byte
	nSpans       int
	ingress, rum string
	scenario     string
}

// reidentify writes a recorded scenario's inputs under trace id id and
// request id reqID (times unchanged).
func reidentify(t *testing.T, dir string, spans map[string]any, id, reqID string) scenarioInputs {
	t.Helper()
	root := "1-" + id[:8] + "-" + id[8:]
	swap := func(s string) string {
		s = strings.ReplaceAll(s, recordedRoot, root)
		s = strings.ReplaceAll(s, recordedTraceHex, id)
		return strings.ReplaceAll(s, `"`+recordedReqID+`"`, `"`+reqID+`"`)
	}
	body, n := retrace(t, spans, id, 0)
	in := scenarioInputs{id: id, spans: []byte(swap(string(body))), nSpans: n, scenario: filepath.Base(dir)}
	if b, err := os.ReadFile(filepath.Join(dir, "ingress.log")); err == nil {
		in.ingress = swap(string(b))
		if !strings.HasSuffix(in.ingress, "\n") {
			in.ingress += "\n"
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "beacon.json")); err == nil {
		in.rum = swap(string(b))
	}
	return in
}

// TestScaleOutRecords: the sources that carry no OTLP trace id reach the
// replica that owns their trace. Three collector replicas behind the
// gateway each tail their own ingress-nginx log and serve their own RUM
// endpoint, with --gateway-endpoint; each recorded trace's spans go to the
// gateway, its ingress line to one replica's log and its beacon to
// another replica (round robin), as a DaemonSet's log shipper and the RUM
// Service would spread them. A single reference collector gets the same
// spans (the gateway's mirror), lines and beacons. The replicas relay
// their records as spans of the trace (collector/relay): this test found
// that the gateway routes OTLP log records by another hash than spans. Every trace's breakdown
// — ingress hop, upstream tries, browser hops — on its owner equals the
// single collector's, no other replica holds it (no partial traces where
// lines were read), and the replicas count every line and beacon as
// relayed and sent.
func TestScaleOutRecords(t *testing.T) {
	bin := hopscopeBinary(t)
	gw := toolBinary(t, "HOPSCOPE_GATEWAY_BIN", "gateway")
	dirs, _ := filepath.Glob(filepath.Join("..", "..", "collector", "testdata", "recorded", "*"))
	type scenario struct {
		dir   string
		spans map[string]any
	}
	var scenarios []scenario
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "spans.json"))
		if err != nil {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		scenarios = append(scenarios, scenario{d, m})
	}
	if len(scenarios) < 7 {
		t.Fatalf("%d recorded scenarios", len(scenarios))
	}

	work := t.TempDir()
	rumFlags := []string{"--rum-allowed-origins=*", "--rum-rate=100000", "--rum-burst=100000", "--rum-global-rate=100000"}
	logOf := func(name string) string {
		p := filepath.Join(work, name+"-ingress.log")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	startWithRUM := func(name string, extra ...string) (*collectorProc, string, int) {
		log, rum := logOf(name), freePort(t)
		args := append([]string{"--tail=ingress-nginx-json:" + log, fmt.Sprintf("--rum-listen=127.0.0.1:%d", rum)}, rumFlags...)
		c := startCollectorProc(t, bin, name, freePort(t), freePort(t), freePort(t), append(args, extra...)...)
		return c, log, rum
	}
	single, singleLog, singleRUM := startWithRUM("single")

	// The gateway first: the replicas relay to it from their start.
	gwHTTP, gwMetrics := freePort(t), freePort(t)
	grpcPorts := make([]int, scaleReplicas)
	var hosts []string
	for i := range grpcPorts {
		grpcPorts[i] = freePort(t)
		hosts = append(hosts, fmt.Sprintf("127.0.0.1:%d", grpcPorts[i]))
	}
	cfgPath := filepath.Join(work, "gateway.yaml")
	cfg := gatewaycfg.YAML(gatewaycfg.Config{HTTP: fmt.Sprintf("127.0.0.1:%d", gwHTTP), MetricsPort: gwMetrics,
		Replicas: hosts, Mirror: fmt.Sprintf("127.0.0.1:%d", single.grpc), MemoryLimitMiB: 512,
		Timeout: 5 * time.Second, RetryFor: 30 * time.Second, QueueSize: 20000, LogLevel: "warn"})
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	gwProc := startOwnProcess(t, "gateway", gw, "--config="+cfgPath)
	waitHTTP(t, "gateway metrics", fmt.Sprintf("http://127.0.0.1:%d/metrics", gwMetrics), 60*time.Second)
	defer func() {
		if t.Failed() {
			t.Log(gwProc.outputs())
		}
	}()
	replicas := make([]*collectorProc, scaleReplicas)
	logs := make([]string, scaleReplicas)
	rums := make([]int, scaleReplicas)
	for i := range replicas {
		log, rum := logOf(fmt.Sprintf("replica-%d", i)), freePort(t)
		args := append([]string{"--tail=ingress-nginx-json:" + log, fmt.Sprintf("--rum-listen=127.0.0.1:%d", rum),
			fmt.Sprintf("--gateway-endpoint=http://127.0.0.1:%d", gwHTTP)}, rumFlags...)
		replicas[i] = startCollectorProc(t, bin, fmt.Sprintf("replica-%d", i), grpcPorts[i], freePort(t), freePort(t), args...)
		logs[i], rums[i] = log, rum
	}

	// The inputs: n traces, each a recorded scenario under a new id.
	const n = 600
	inputs := make([]scenarioInputs, n)
	for i := range inputs {
		var raw [16]byte
		_, _ = rand.Read(raw[:])
		sc := scenarios[i%len(scenarios)]
		inputs[i] = reidentify(t, sc.dir, sc.spans, hex.EncodeToString(raw[:]), fmt.Sprintf("req-%d", i))
	}
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(url, ct string, body []byte, origin string) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
	// Spans first, through the gateway, four senders at once.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", gwHTTP), "application/json", inputs[i].spans, ""); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range inputs {
		next <- i
	}
	close(next)
	wg.Wait()
	// Then the lines and beacons: each line to one replica's log and the
	// single's, each beacon to another replica and the single.
	lines := make([]strings.Builder, scaleReplicas)
	var singleLines strings.Builder
	lineCount, beaconCount := 0, 0
	for i, in := range inputs {
		if in.ingress != "" {
			lines[i%scaleReplicas].WriteString(in.ingress)
			singleLines.WriteString(in.ingress)
			lineCount++
		}
		if in.rum != "" {
			beaconCount++
			for _, port := range []int{rums[(i+1)%scaleReplicas], singleRUM} {
				if err := post(fmt.Sprintf("http://127.0.0.1:%d/v1/rum", port), "text/plain", []byte(in.rum), "https://shop.example"); err != nil {
					errs <- err
				}
			}
		}
	}
	close(errs)
	for err := range errs {
		t.Fatalf("feeding: %v", err)
	}
	appendTo := func(path, text string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
	}
	for i := range logs {
		appendTo(logs[i], lines[i].String())
	}
	appendTo(singleLog, singleLines.String())

	// Every line and beacon is relayed and sent; the single collector has
	// read them all.
	relayedSent := func() float64 {
		var sum float64
		for _, r := range replicas {
			sum += metric(scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", r.api)), "hopscope_collector_relayed_total", `outcome="sent"`)
		}
		return sum
	}
	testkit.Eventually(t, "every line and beacon relayed", 60*time.Second, func() bool {
		return relayedSent() == float64(lineCount+beaconCount)
	}, func() string {
		return fmt.Sprintf("%v of %d lines and %d beacons sent", relayedSent(), lineCount, beaconCount)
	})
	want := func(page string) float64 {
		return metric(page, "hopscope_collector_received_total", `source="ingress"`) + metric(page, "hopscope_collector_received_total", `source="rum"`)
	}
	// The single collector reads every line and beacon itself, and gets
	// each once more as the relayed span the gateway mirrors to it with
	// the trace's other spans: joined twice, counted twice, the same
	// breakdown (a trace has one ingress line and one page load).
	testkit.Eventually(t, "the single collector read every line and beacon", 60*time.Second, func() bool {
		return want(scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", single.api))) == float64(2*(lineCount+beaconCount))
	}, func() string { return "single collector behind" })
	// ... and the owners received them: the replicas' received counts
	// add up to exactly one each (none joined where it was read).
	testkit.Eventually(t, "the owners received every relayed record", 60*time.Second, func() bool {
		var sum float64
		for _, r := range replicas {
			sum += want(scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", r.api)))
		}
		return sum == float64(lineCount+beaconCount)
	}, func() string { return "owners behind" })
	for _, r := range replicas {
		page := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", r.api))
		for _, o := range []string{"unroutable", "queue_full", "failed"} {
			if v := metric(page, "hopscope_collector_relayed_total", `outcome="`+o+`"`); v != 0 {
				t.Errorf("%s: %v records %s", r.name, v, o)
			}
		}
	}

	// Identity: each trace, on exactly one replica, equals the single's.
	owned := make([]int, scaleReplicas)
	var withIngress, withBrowser int
	for _, in := range inputs {
		var ref, got collector.BreakdownResponse
		testkit.Eventually(t, "the single collector has "+in.id, 30*time.Second, func() bool {
			var ok bool
			ref, ok = single.breakdown(t, in.id)
			return ok
		}, func() string { return in.scenario })
		var found []int
		for i, r := range replicas {
			b, ok := r.breakdown(t, in.id)
			if !ok {
				continue
			}
			found = append(found, i)
			got = b
		}
		if len(found) != 1 {
			t.Errorf("trace %s (%s) is on replicas %v, want exactly one", in.id, in.scenario, found)
			continue
		}
		owned[found[0]]++
		if !reflect.DeepEqual(got.Breakdown, ref.Breakdown) {
			g, _ := json.Marshal(got.Breakdown)
			w, _ := json.Marshal(ref.Breakdown)
			t.Errorf("trace %s (%s) on %s differs from the single collector's:\n got %s\nwant %s", in.id, in.scenario, replicas[found[0]].name, g, w)
		}
		for _, h := range ref.Hops {
			switch h.Hop {
			case "ingress":
				withIngress++
			case "dns":
				withBrowser++
			}
		}
	}
	if withIngress < n/2 || withBrowser < n/2 {
		t.Errorf("only %d breakdowns with an ingress hop and %d with browser hops of %d", withIngress, withBrowser, n)
	}
	t.Logf("%d traces (%d ingress lines, %d beacons relayed): owned %v; %d with an ingress hop, %d with browser hops, all equal to the single collector's",
		n, lineCount, beaconCount, owned, withIngress, withBrowser)
}
