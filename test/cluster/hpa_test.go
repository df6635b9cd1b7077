//go:build cluster

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
)

const nsAdapter = "custom-metrics"

// adapterManifests run prometheus-adapter (tools/promadapter's build, the
// image hopscope.local/prometheus-adapter) as the prometheus-community
// chart does: its ServiceAccount allowed to delegate authentication and
// authorization to the API server and to read the objects it maps series
// to, its rules in a ConfigMap, registered as the custom.metrics.k8s.io
// APIService (with its self-signed serving certificate, the chart's
// default insecureSkipTLSVerify). %[1]s is the image, %[2]s Prometheus's
// URL, %[3]s the rules file.
const adapterManifests = `apiVersion: v1
kind: Namespace
metadata: {name: custom-metrics}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus-adapter, namespace: custom-metrics}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-adapter:system:auth-delegator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}
subjects: [{kind: ServiceAccount, name: prometheus-adapter, namespace: custom-metrics}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: prometheus-adapter-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: prometheus-adapter, namespace: custom-metrics}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: prometheus-adapter-resource-reader}
rules:
  - apiGroups: [""]
    resources: [namespaces, pods, services, nodes, configmaps]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-adapter-resource-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: prometheus-adapter-resource-reader}
subjects: [{kind: ServiceAccount, name: prometheus-adapter, namespace: custom-metrics}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus-adapter, namespace: custom-metrics}
data:
  config.yaml: |
%[3]s
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus-adapter, namespace: custom-metrics, labels: {app.kubernetes.io/name: prometheus-adapter}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: prometheus-adapter}}
  template:
    metadata: {labels: {app.kubernetes.io/name: prometheus-adapter}}
    spec:
      serviceAccountName: prometheus-adapter
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: prometheus-adapter
          image: %[1]s
          imagePullPolicy: Never
          args: ["--secure-port=6443", "--cert-dir=/tmp/cert", "--prometheus-url=%[2]s",
                 "--metrics-relist-interval=10s", "--config=/etc/adapter/config.yaml", "--v=2"]
          ports: [{name: https, containerPort: 6443}]
          readinessProbe: {httpGet: {path: /readyz, port: https, scheme: HTTPS}, periodSeconds: 2}
          resources: {requests: {cpu: 20m, memory: 64Mi}, limits: {memory: 256Mi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: config, mountPath: /etc/adapter, readOnly: true}, {name: tmp, mountPath: /tmp}]
      volumes: [{name: config, configMap: {name: prometheus-adapter}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: prometheus-adapter, namespace: custom-metrics}
spec:
  selector: {app.kubernetes.io/name: prometheus-adapter}
  ports: [{name: https, port: 443, targetPort: https}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.custom.metrics.k8s.io}
spec:
  service: {name: prometheus-adapter, namespace: custom-metrics}
  group: custom.metrics.k8s.io
  version: v1beta1
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
`

// hpaManifest scales the shop on hopscope_requests_per_second, the
// chart's adapter rule over the sidecars' inbound request counter: one
// replica per hpaTarget requests a second, 1 to 4 replicas. Scale-down
// waits 20 s of lower recommendations instead of the default 5 min (CI
// time; the algorithm is the same).
const hpaManifest = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: shop, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: shop}
  minReplicas: 1
  maxReplicas: 4
  metrics:
    - type: Pods
      pods:
        metric: {name: hopscope_requests_per_second}
        target: {type: AverageValue, averageValue: "%d"}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0}
    scaleDown: {stabilizationWindowSeconds: 20}
`

const (
	hpaTarget  = 4  // requests a second per replica
	hpaHighRPS = 20 // the load: 5 replicas' worth, capped at 4
	hpaLowRPS  = 1  // the trickle while it scales back down
)

// adapterConfig is prometheus-adapter's configuration file made of the
// chart's values (prometheusAdapter.rules), which users copy into the
// prometheus-adapter chart.
func adapterConfig(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "charts", "hopscope", "values.yaml"))
	if err != nil {
		return "", err
	}
	var values struct {
		PrometheusAdapter struct {
			Rules []map[string]any `json:"rules"`
		} `json:"prometheusAdapter"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		return "", fmt.Errorf("charts/hopscope/values.yaml: %w", err)
	}
	if len(values.PrometheusAdapter.Rules) == 0 {
		return "", fmt.Errorf("charts/hopscope/values.yaml has no prometheusAdapter.rules")
	}
	out, err := yaml.Marshal(map[string]any{"rules": values.PrometheusAdapter.Rules})
	return string(out), err
}

// checkHPA: an autoscaling/v2 HorizontalPodAutoscaler on the hopscope
// metric, served by prometheus-adapter through the aggregation layer,
// scales the shop from 1 to at least 3 replicas under load and back to 1
// when the load falls to a trickle, and no user request fails during
// either. The replica count over time is logged (and kept in
// $HOPSCOPE_ARTIFACTS/hpa-replicas.txt).
func checkHPA(t *testing.T, ctx context.Context, k *cluster, cs kubernetes.Interface, res *Result) {
	rules, err := adapterConfig(k.root)
	if err != nil {
		t.Fatal(err)
	}
	prom := fmt.Sprintf("http://%s:%d/", k.cfg.NodeIP(), k.cfg.PrometheusPort)
	if err := k.apply(ctx, fmt.Sprintf(adapterManifests, imageAdapter, prom, realcomp.Indent(strings.TrimRight(rules, "\n"), "    "))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The APIService first: one whose server is gone makes API
		// discovery fail for every client.
		for _, args := range [][]string{
			{"delete", "apiservice", "v1beta1.custom.metrics.k8s.io", "--ignore-not-found"},
			{"delete", "namespace", nsAdapter, "--ignore-not-found", "--wait=false"},
			{"delete", "clusterrolebinding", "prometheus-adapter:system:auth-delegator", "prometheus-adapter-resource-reader", "--ignore-not-found"},
			{"delete", "clusterrole", "prometheus-adapter-resource-reader", "--ignore-not-found"},
			{"delete", "rolebinding", "-n", "kube-system", "prometheus-adapter-auth-reader", "--ignore-not-found"},
			{"delete", "hpa", "-n", nsShop, "shop", "--ignore-not-found"},
			{"scale", "-n", nsShop, "deployment/shop", "--replicas=1"},
		} {
			if out, err := k.kubectl(context.Background(), "", args...); err != nil {
				t.Errorf("cleanup: kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
	if err := k.waitReady(ctx, cs, nsAdapter, "app.kubernetes.io/name=prometheus-adapter", 1, 120*time.Second); err != nil {
		t.Fatal(err)
	}

	// The load starts at a trickle: the shop's series are in Prometheus
	// and the adapter lists them before the HPA exists.
	var rps atomic.Int64
	rps.Store(hpaLowRPS)
	stop := make(chan struct{})
	sent, failed, errs, wait := pacedLoad(res.Edge+"/api/orders/5", &rps, stop)
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wait()
		}
	}
	defer stopLoad()

	// The aggregation layer serves the metric: the API server proxies to
	// the adapter, which asks Prometheus.
	// It waits for the trickle alone to be the shop's rate (below the
	// HPA's target): the scale-up below must be this test's load's, not
	// the rate an earlier subtest's load left in the [2m] window.
	metricPath := "/apis/custom.metrics.k8s.io/v1beta1/namespaces/" + nsShop + "/pods/*/hopscope_requests_per_second"
	var last string
	testkit.Eventually(t, "custom.metrics.k8s.io to serve hopscope_requests_per_second for the shop's pod, below the target", 240*time.Second, func() bool {
		body, err := cs.CoreV1().RESTClient().Get().AbsPath(metricPath).DoRaw(ctx)
		last = string(body)
		if err != nil {
			last = err.Error() + " " + last
			return false
		}
		var list struct {
			Items []struct {
				DescribedObject struct{ Name string } `json:"describedObject"`
				Value           resource.Quantity     `json:"value"`
			} `json:"items"`
		}
		if json.Unmarshal(body, &list) != nil || len(list.Items) == 0 {
			return false
		}
		for _, it := range list.Items {
			if it.Value.Cmp(resource.MustParse(fmt.Sprint(hpaTarget))) >= 0 {
				return false
			}
		}
		return true
	}, func() string {
		out, _ := k.kubectl(ctx, "", "-n", nsAdapter, "logs", "deployment/prometheus-adapter", "--tail=20")
		return "last answer: " + last + "\nadapter log:\n" + out
	})
	t.Logf("custom.metrics.k8s.io: %s", strings.TrimSpace(last))

	if err := k.apply(ctx, fmt.Sprintf(hpaManifest, hpaTarget)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	rec := &replicaRecorder{}
	watchStop := make(chan struct{})
	var watchDone sync.WaitGroup
	watchDone.Go(func() { rec.run(ctx, cs, t0, watchStop) })
	defer func() {
		close(watchStop)
		watchDone.Wait()
		tl := rec.timeline()
		t.Logf("shop replicas over time (HPA target %d req/s per pod; load %d req/s, then %d):\n%s", hpaTarget, hpaHighRPS, hpaLowRPS, tl)
		if dir := os.Getenv("HOPSCOPE_ARTIFACTS"); dir != "" {
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(filepath.Join(dir, "hpa-replicas.txt"), []byte(tl), 0o644)
		}
	}()

	// Up: the load of five replicas; at least three ready.
	rps.Store(hpaHighRPS)
	testkit.Eventually(t, "the HPA to scale the shop to at least 3 ready replicas", 4*time.Minute, func() bool {
		return rec.lastReady() >= 3
	}, rec.timeline)
	upAt := time.Since(t0)
	time.Sleep(10 * time.Second) // the load on the scaled-out shop
	// Down: a trickle, one replica's worth; back to one pod, the others
	// gone (drained, not only unready).
	rps.Store(hpaLowRPS)
	downFrom := time.Since(t0)
	testkit.Eventually(t, "the HPA to scale the shop back to 1 replica", 5*time.Minute, func() bool {
		pods, err := cs.CoreV1().Pods(nsShop).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=shop"})
		return err == nil && len(pods.Items) == 1 && rec.lastSpec() == 1
	}, rec.timeline)
	downAt := time.Since(t0)
	time.Sleep(3 * time.Second) // the trickle on the last pod
	stopLoad()
	t.Logf("scaled up to >=3 ready in %s; back to 1 in %s after the load fell; %d requests, %d failed %v",
		upAt.Round(time.Second), (downAt - downFrom).Round(time.Second), sent.Load(), failed.Load(), errs())
	if rec.maxReady() < 3 {
		t.Errorf("the shop never had 3 ready replicas: %d", rec.maxReady())
	}
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed while the HPA scaled: %v", failed.Load(), sent.Load(), errs())
	}
}

// pacedLoad sends GET url at *rps requests a second (read at every
// request, so the rate can change), each on its own goroutine (an open
// loop: a slow answer does not slow the arrivals), until stop closes;
// wait returns when every request has ended.
func pacedLoad(url string, rps *atomic.Int64, stop <-chan struct{}) (sent, failed *atomic.Int64, errs func() []string, wait func()) {
	tally := &loadTally{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	wg.Go(func() {
		next := time.Now()
		for {
			next = next.Add(time.Second / time.Duration(max(rps.Load(), 1)))
			select {
			case <-stop:
				return
			case <-time.After(time.Until(next)):
			}
			wg.Go(func() { tally.get(client, url) })
		}
	})
	return &tally.sent, &tally.failed, tally.errs, wg.Wait
}

// replicaRecorder polls the shop's Deployment and HPA and keeps every
// change of the desired and ready replica counts.
type replicaRecorder struct {
	mu     sync.Mutex
	points []replicaPoint
}

type replicaPoint struct {
	at            time.Duration
	spec, ready   int32
	current, want string // the HPA's observed metric and its desired replicas
}

func (r *replicaRecorder) run(ctx context.Context, cs kubernetes.Interface, t0 time.Time, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		d, err := cs.AppsV1().Deployments(nsShop).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			continue
		}
		p := replicaPoint{at: time.Since(t0), ready: d.Status.ReadyReplicas}
		if d.Spec.Replicas != nil {
			p.spec = *d.Spec.Replicas
		}
		if h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(nsShop).Get(ctx, "shop", metav1.GetOptions{}); err == nil {
			p.want = fmt.Sprint(h.Status.DesiredReplicas)
			for _, m := range h.Status.CurrentMetrics {
				if m.Pods != nil && m.Pods.Current.AverageValue != nil {
					p.current = m.Pods.Current.AverageValue.String()
				}
			}
		}
		r.mu.Lock()
		if n := len(r.points); n == 0 || r.points[n-1].spec != p.spec || r.points[n-1].ready != p.ready || r.points[n-1].want != p.want {
			r.points = append(r.points, p)
		}
		r.mu.Unlock()
	}
}

func (r *replicaRecorder) last() replicaPoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.points) == 0 {
		return replicaPoint{}
	}
	return r.points[len(r.points)-1]
}

func (r *replicaRecorder) lastReady() int32 { return r.last().ready }
func (r *replicaRecorder) lastSpec() int32  { return r.last().spec }

func (r *replicaRecorder) maxReady() int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m int32
	for _, p := range r.points {
		m = max(m, p.ready)
	}
	return m
}

// timeline is one line per change: seconds since the HPA was made, the
// Deployment's replicas, the ready ones, the HPA's metric per pod and the
// replicas it wants.
func (r *replicaRecorder) timeline() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString("   t  replicas  ready  hopscope_requests_per_second/pod  HPA wants\n")
	for _, p := range r.points {
		fmt.Fprintf(&b, "%4.0fs  %8d  %5d  %32s  %9s\n", p.at.Seconds(), p.spec, p.ready, p.current, p.want)
	}
	return b.String()
}
