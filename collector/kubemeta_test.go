package collector

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/fixture"
	"github.com/hopscope/hopscope/internal/kubetest"
)

func ptrTo[T any](v T) *T { return &v }

// TestServiceHopKubeMetadata: with --kube-metadata on a real API server
// (Nodes in two zones and a Service's EndpointSlice created through the
// API), an ingress-nginx line whose upstream address is a pod's gets a
// breakdown whose service try names the pod, node and zone, cross_zone
// when the pod's zone is not --ingress-zone, terminating when the
// endpoint was.
func TestServiceHopKubeMetadata(t *testing.T) {
	rc := kubetest.Start(t)
	client := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, zone := range map[string]string{"node-a": "zone-a", "node-b": "zone-b"} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"topology.kubernetes.io/zone": zone}}}
		if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "shop",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}, AddressType: discoveryv1.AddressTypeIPv4}
	for _, e := range []struct {
		ip, pod, node string
		terminating   bool
	}{{"10.1.0.1", "web-1", "node-a", false}, {"10.1.0.2", "web-2", "node-b", false}, {"10.1.0.3", "web-3", "node-b", true},
		{"172.18.0.3", "whoami-1", "node-b", false}} { // the upstream of gateway/testdata/traefik-retry.json
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, NodeName: ptrTo(e.node),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: e.pod, Namespace: "shop"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(!e.terminating), Terminating: ptrTo(e.terminating)}})
	}
	if _, err := client.DiscoveryV1().EndpointSlices("shop").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen = "", "", "", ""
	cfg.HTTPListen, cfg.ExportDelay, cfg.Window = "127.0.0.1:0", time.Hour, 2*time.Hour
	cfg.KubeMetadata, cfg.IngressZone = true, "zone-a"
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, KubeConfig: rc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil { // returns once the first lists are in
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Shutdown(sctx)
	})

	for i, tc := range []struct {
		addr string
		want correlate.Try
	}{
		{"10.1.0.1:8080", correlate.Try{Pod: "web-1", Namespace: "shop", Node: "node-a", Zone: "zone-a"}},
		{"10.1.0.2:8080", correlate.Try{Pod: "web-2", Namespace: "shop", Node: "node-b", Zone: "zone-b", CrossZone: true}},
		{"10.1.0.3:8080", correlate.Try{Pod: "web-3", Namespace: "shop", Node: "node-b", Zone: "zone-b", CrossZone: true, Terminating: true}},
		{"10.9.9.9:8080", correlate.Try{}},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			root := fmt.Sprintf("1-67891233-abcdef01234567891234567%d", i)
			tid := fmt.Sprintf("67891233abcdef01234567891234567%d", i)
			line := fixture.Ingress{End: time.Now(), RequestTime: 5 * time.Millisecond, URI: "/api/orders/7", XRay: "Root=" + root,
				Tries: []fixture.Try{{Addr: tc.addr, Status: 200, Response: 4 * time.Millisecond}}}.Line()
			consumeLine(c, FormatIngressNginxJSON, SrcIngress, "ingress.log", int64(i+1), line)
			var b correlate.Breakdown
			if code := getJSON(t, "http://"+c.HTTPAddr().String()+"/api/v1/traces/"+tid+"/breakdown", &b); code != 200 {
				t.Fatalf("breakdown: %d", code)
			}
			if len(b.Tries) != 1 {
				t.Fatalf("tries %+v, want 1", b.Tries)
			}
			got := b.Tries[0]
			tc.want.Addr, tc.want.Status, tc.want.MS = tc.addr, 200, got.MS
			if got != tc.want {
				t.Errorf("service try\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}

	// A gateway's OTLP spans (Traefik's, recorded: TestGatewaySpansPlayIngress)
	// are enriched as log lines are.
	t.Run("gateway spans", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join("gateway", "testdata", "traefik-retry.json"))
		if err != nil {
			t.Fatal(err)
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := otlp.UnmarshalJSON(data, &req); err != nil {
			t.Fatal(err)
		}
		body, err := proto.Marshal(&req)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.consumeOTLP(ctx, body); err != nil {
			t.Fatal(err)
		}
		traceID, _ := hex.DecodeString("80f198ee56343ba864fe8b2a57d3eff7")
		b, ok := c.store.View(correlate.TraceID(traceID))
		if !ok || len(b.Tries) == 0 {
			t.Fatalf("no trace or no tries: %+v", b)
		}
		for _, tr := range b.Tries {
			if tr.Addr == "172.18.0.3:81" && (tr.Pod != "whoami-1" || tr.Zone != "zone-b" || !tr.CrossZone) {
				t.Errorf("gateway try %+v, want whoami-1 in zone-b, cross-zone", tr)
			}
		}
		if b.Tries[0].Addr != "172.18.0.3:81" {
			t.Errorf("tries %+v: the recording's first try was 172.18.0.3:81", b.Tries)
		}
	})
}

// TestKubeMetadataValidate: the --kube-metadata flags' errors name the
// flag.
func TestKubeMetadataValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"off", func(c *Config) {}, ""},
		{"on", func(c *Config) { c.KubeMetadata, c.IngressZone = true, "zone-a" }, ""},
		{"zone without metadata", func(c *Config) { c.IngressZone = "zone-a" }, "--ingress-zone"},
		{"no history", func(c *Config) { c.KubeMetadata, c.KubeMetadataHistory = true, 0 }, "--kube-metadata-history"},
		{"no addresses", func(c *Config) { c.KubeMetadata, c.KubeMetadataMaxAddresses = true, 0 }, "--kube-metadata-max-addresses"},
		{"empty namespace", func(c *Config) { c.KubeMetadata, c.KubeMetadataNamespaces = true, []string{""} }, "--kube-metadata-namespaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
