//go:build cluster

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopscope/hopscope/internal/testkit"
)

// checkScaleOut scales the collector out as a user would, `helm upgrade
// --set collector.replicas=3` (docs/scaling.md), with auth.enabled as
// installed: the chart's gateway (this machine's build of tools/gateway,
// its k8s resolver watching the collectors' EndpointSlices) in front of
// three replicas. After the shop's pods are re-injected (the sidecars
// send to the gateway and make a 32-hex X-Request-ID their trace id),
// requests through the edge give complete breakdowns through the
// Service (any replica answers for all), although the ingress and
// load balancer lines go, by the log shipper's one connection, to one
// replica, which relays them to the owner; the spans spread over the
// replicas. Then one replica is
// deleted under load: no user request fails, and once the gateway's
// resolver has seen the change, new traces are complete again.
func checkScaleOut(t *testing.T, ctx context.Context, k *cluster, cs kubernetes.Interface, res *Result) {
	repo, tag, _ := strings.Cut(imageGateway, ":")
	if out, err := k.helm(ctx, "upgrade", "hopscope", filepath.Join(k.root, "charts", "hopscope"), "-n", nsHopscope, "--reuse-values",
		"--set", "collector.replicas=3", "--set", "collector.gateway.replicas=1",
		"--set", "collector.gateway.image.repository="+repo, "--set", "collector.gateway.image.tag="+tag,
		"--set", "collector.gateway.resources.requests.cpu=10m", "--set", "collector.gateway.resources.requests.memory=64Mi",
		"--wait", "--timeout", "4m"); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	const colSel, gwSel = "app.kubernetes.io/component=collector", "app.kubernetes.io/component=gateway"
	for _, w := range []struct {
		sel string
		n   int
	}{{colSel, 3}, {gwSel, 1}} {
		if err := k.waitReady(ctx, cs, nsHopscope, w.sel, w.n, 180*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The sidecars take the gateway at injection.
	if _, err := k.kubectl(ctx, "", "-n", nsShop, "rollout", "restart", "deployment/shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.kubectl(ctx, "", "-n", nsShop, "rollout", "status", "deployment/shop", "--timeout=180s"); err != nil {
		t.Fatal(err)
	}
	pods := func() []string {
		t.Helper()
		l, err := cs.CoreV1().Pods(nsHopscope).List(ctx, metav1.ListOptions{LabelSelector: colSel})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				out = append(out, p.Name)
			}
		}
		return out
	}
	// podGet asks one collector pod's open endpoints (/metrics) through
	// the API server's pod proxy.
	podGet := func(pod, path string) (int, string) {
		r := cs.CoreV1().RESTClient().Get().Namespace(nsHopscope).Resource("pods").Name(pod + ":8088").SubResource("proxy").
			Suffix(path).Do(ctx)
		var code int
		r.StatusCode(&code)
		body, _ := r.Raw()
		return code, string(body)
	}
	// diagnose says, when a trace stays incomplete, what each replica
	// relayed and received and what the gateway failed or refused.
	diagnose := func() string {
		var b strings.Builder
		l, _ := cs.CoreV1().Pods(nsHopscope).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=hopscope"})
		for _, p := range l.Items {
			port := "8088"
			if strings.Contains(p.Name, "gateway") {
				port = "8888"
			} else if !strings.Contains(p.Name, "collector") {
				continue
			}
			raw, err := cs.CoreV1().RESTClient().Get().Namespace(nsHopscope).Resource("pods").Name(p.Name + ":" + port).SubResource("proxy").Suffix("/metrics").DoRaw(ctx)
			fmt.Fprintf(&b, "== %s (%v, ready %v)\n", p.Name, err, p.Status.Conditions)
			for _, line := range strings.Split(string(raw), "\n") {
				if strings.HasPrefix(line, "hopscope_collector_relayed_total") || strings.HasPrefix(line, "hopscope_collector_received_total") ||
					strings.HasPrefix(line, "hopscope_collector_rejected_total") || strings.HasPrefix(line, "otelcol_exporter_send_failed") ||
					strings.HasPrefix(line, "otelcol_exporter_sent_spans") || strings.HasPrefix(line, "otelcol_receiver_refused") ||
					strings.HasPrefix(line, "otelcol_receiver_accepted_spans") || strings.HasPrefix(line, "otelcol_loadbalancer") {
					b.WriteString(line + "\n")
				}
			}
		}
		return b.String()
	}
	want := []string{"ingress", "service", "sidecar", "app", "postgres"}
	// The rolling update of the collectors is over when only the three
	// new pods are left; until the gateway's resolver has seen that, a
	// trace's spans and its relayed lines can go to different replicas
	// (the loss a rolling update costs, docs/scaling.md). Five traces in
	// a row complete say the ring has settled.
	testkit.Eventually(t, "only the three new collector pods", 120*time.Second, func() bool {
		l, err := cs.CoreV1().Pods(nsHopscope).List(ctx, metav1.ListOptions{LabelSelector: colSel})
		return err == nil && len(l.Items) == 3 && len(pods()) == 3
	})
	settled := 0
	testkit.Eventually(t, "five traces in a row complete through the gateway", 180*time.Second, func() bool {
		id, err := get(res.Edge + "/api/orders/1")
		if err != nil || !eventuallyComplete(t, res, id, want, 15*time.Second) {
			settled = 0
			return false
		}
		settled++
		return settled == 5
	}, func() string { return fmt.Sprintf("%d in a row\n%s", settled, diagnose()) })
	traces := func(phase string, n int) []string {
		t.Helper()
		var ids []string
		for i := range n {
			id, err := get(fmt.Sprintf("%s/api/orders/%d", res.Edge, 1+i%5))
			if err != nil {
				t.Fatalf("%s: %v", phase, err)
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			// Through the Service: any replica answers.
			if !eventuallyComplete(t, res, id, want, 30*time.Second) {
				t.Fatalf("%s: trace %s incomplete after 30 s\n%s", phase, id, diagnose())
			}
		}
		return ids
	}

	// 1. Every trace complete through the Service (whichever replica
	// answers asks the others), the spans spread over the replicas and the
	// lines relayed. (Which replica holds which trace is asked in e2e's
	// TestScaleOut: the API wants the token, which the API server's pod
	// proxy does not pass on.)
	replicas := pods()
	metric := func(name string, want ...string) map[string]float64 {
		out := map[string]float64{}
		for _, p := range replicas {
			code, page := podGet(p, "/metrics")
			if code != 200 {
				t.Fatalf("%s /metrics: %d", p, code)
			}
			out[p] = promSum(page, name, want...)
		}
		return out
	}
	spansBefore := metric("hopscope_collector_received_total", `source="otlp"`)
	relayedBefore := metric("hopscope_collector_relayed_total", `outcome="sent"`)
	ids := traces("scaled out", 30)
	spans, relayed := metric("hopscope_collector_received_total", `source="otlp"`), metric("hopscope_collector_relayed_total", `outcome="sent"`)
	var spread, sent float64
	for _, p := range replicas {
		if spans[p] > spansBefore[p] {
			spread++
		}
		sent += relayed[p] - relayedBefore[p]
	}
	t.Logf("scaled out: %d traces complete; spans received per replica %v (before %v); %v records relayed to their owner", len(ids), spans, spansBefore, sent)
	if spread < 2 {
		t.Errorf("spans reached %v of %d replicas: the gateway does not spread them", spread, len(replicas))
	}
	if sent < float64(len(ids)) {
		t.Errorf("only %v records relayed for %d traces: the lines did not go through the gateway", sent, len(ids))
	}

	// 2. A replica deleted under load: no user request fails, and new
	// traces are complete once the gateway's resolver has dropped it.
	stop := make(chan struct{})
	lsent, failed, errs, wait := load(res.Edge+"/api/orders/2", stop)
	time.Sleep(2 * time.Second)
	victim := replicas[0]
	zero := int64(0)
	if err := cs.CoreV1().Pods(nsHopscope).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, victim+" replaced", 180*time.Second, func() bool {
		now := pods()
		return len(now) == 3 && !strings.Contains(strings.Join(now, ","), victim) && k.waitReady(ctx, cs, nsHopscope, colSel, 3, time.Second) == nil
	})
	time.Sleep(2 * time.Second)
	close(stop)
	wait()
	t.Logf("replica %s deleted under load: %d requests, %d failed %v", victim, lsent.Load(), failed.Load(), errs())
	if failed.Load() > 0 {
		t.Errorf("%d of %d user requests failed while a replica was replaced: %v", failed.Load(), lsent.Load(), errs())
	}
	traces("after the replacement", 10)
}

// promSum adds the samples of a metric whose labels contain every want.
func promSum(page, name string, want ...string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(m[1], w)
		}
		if v, err := strconv.ParseFloat(m[2], 64); ok && err == nil {
			sum += v
		}
	}
	return sum
}

// checkCollectorRollingUpdate measures what a rolling update of the
// scaled-out collectors costs (docs/scaling.md): under a steady load
// through the edge, `kubectl rollout restart` of the collector Deployment
// replaces every replica one by one. No user request may fail. Each
// request's trace is then looked up once through the Service: the traces
// whose spans and lines went to different replicas while the ring changed
// come out incomplete; their share is the figure the docs give. Traces
// begun after the rollout are all complete.
func checkCollectorRollingUpdate(t *testing.T, ctx context.Context, k *cluster, cs kubernetes.Interface, res *Result) {
	const colSel = "app.kubernetes.io/component=collector"
	old, err := cs.CoreV1().Pods(nsHopscope).List(ctx, metav1.ListOptions{LabelSelector: colSel})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ids []string
	var failed int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id, err := get(fmt.Sprintf("%s/api/orders/%d", res.Edge, 1+i%5))
			mu.Lock()
			if err != nil {
				failed++
			} else {
				ids = append(ids, id)
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(2 * time.Second)
	start := time.Now()
	if _, err := k.kubectl(ctx, "", "-n", nsHopscope, "rollout", "restart", "deployment/hopscope-collector"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.kubectl(ctx, "", "-n", nsHopscope, "rollout", "status", "deployment/hopscope-collector", "--timeout=240s"); err != nil {
		t.Fatal(err)
	}
	for _, p := range old.Items {
		testkit.Eventually(t, "the old collector pod "+p.Name+" gone", 120*time.Second, func() bool {
			_, err := cs.CoreV1().Pods(nsHopscope).Get(ctx, p.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	}
	took := time.Since(start)
	time.Sleep(3 * time.Second) // load after it
	close(stop)
	<-done
	if failed > 0 {
		t.Errorf("%d user requests failed during the collectors' rolling update", failed)
	}
	// After the export delay (2 s here) every trace that will be complete is.
	time.Sleep(5 * time.Second)
	// state is a trace's state through the Service: "complete", "partial"
	// (a replica holds part of it: split while the ring changed) or
	// "gone" (no replica holds it: it was held by a replaced one, which
	// exported it to Jaeger on SIGTERM but took its API view along).
	state := func(id string) string {
		resp, err := apiGet(t, res, "/api/v1/traces/"+id+"/breakdown")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b breakdown
		switch {
		case resp.StatusCode == 404:
			return "gone"
		case resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&b) != nil:
			return fmt.Sprintf("status %d", resp.StatusCode)
		}
		for _, h := range []string{"ingress", "service", "sidecar", "app"} {
			if _, ok := b.hop(h); !ok {
				return "partial"
			}
		}
		return "complete"
	}
	states := map[string]int{}
	for _, id := range ids {
		states[state(id)]++
	}
	pct := func(n int) float64 { return 100 * float64(n) / float64(max(1, len(ids))) }
	t.Logf("rolling update of 3 collectors under load: took %s, %d requests, %d failed; afterwards %d complete, %d partial (%.1f %%, split while the ring changed), %d gone with a replaced replica's API view (%.1f %%), other %v",
		took.Round(time.Second), len(ids), failed, states["complete"], states["partial"], pct(states["partial"]), states["gone"], pct(states["gone"]), states)
	if len(ids) < 50 {
		t.Fatalf("only %d requests during the rollout", len(ids))
	}
	for i := range 10 {
		id, err := get(fmt.Sprintf("%s/api/orders/%d", res.Edge, 1+i%5))
		if err != nil {
			t.Fatal(err)
		}
		fetchBreakdown(t, res, id, []string{"ingress", "service", "sidecar", "app"})
	}
}

// eventuallyComplete polls the collector (through the Service) until the
// trace's breakdown has every hop of want, for at most within.
func eventuallyComplete(t *testing.T, res *Result, id string, want []string, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := apiGet(t, res, "/api/v1/traces/"+id+"/breakdown")
		if err == nil {
			var b breakdown
			ok := resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&b) == nil
			resp.Body.Close()
			for _, h := range want {
				if _, has := b.hop(h); !has {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return false
}
