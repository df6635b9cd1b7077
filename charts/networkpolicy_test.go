package charts

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// peer is a pod that opens a connection: its namespace (name and labels)
// and its own labels.
type peer struct {
	namespace string
	nsLabels  map[string]string
	podLabels map[string]string
}

func pod(namespace string, podLabels map[string]string) peer {
	return peer{namespace: namespace, nsLabels: map[string]string{"kubernetes.io/metadata.name": namespace}, podLabels: podLabels}
}

// allows says whether np lets p reach port on the pods it selects, as the
// NetworkPolicy API defines it: a rule matches when one of its ports does
// (no ports: every port) and one of its peers does (no peers: every
// source); a peer with no namespaceSelector means the policy's namespace,
// with no podSelector every pod of the namespaces selected.
func allows(t *testing.T, np *networkingv1.NetworkPolicy, p peer, port int) bool {
	t.Helper()
	match := func(sel *metav1.LabelSelector, l map[string]string) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatalf("%s: %v", np.Name, err)
		}
		return s.Matches(labels.Set(l))
	}
	for _, r := range np.Spec.Ingress {
		portOK := len(r.Ports) == 0
		for _, pp := range r.Ports {
			if (pp.Protocol == nil || *pp.Protocol == corev1.ProtocolTCP) && pp.Port != nil && pp.Port.IntValue() == port {
				portOK = true
			}
		}
		if !portOK {
			continue
		}
		if len(r.From) == 0 {
			return true
		}
		for _, f := range r.From {
			if f.IPBlock != nil {
				continue
			}
			nsOK := p.namespace == np.Namespace
			if f.NamespaceSelector != nil {
				nsOK = match(f.NamespaceSelector, p.nsLabels)
			}
			if nsOK && (f.PodSelector == nil || match(f.PodSelector, p.podLabels)) {
				return true
			}
		}
	}
	return false
}

// TestNetworkPolicyLeastPrivilege: with the default values each collector
// port takes only the sources that send to it, plus the release's own
// namespace (the helm test pod); the injector's webhook stays open (the
// API server's address is unknown) and its metrics are for Prometheus.
func TestNetworkPolicyLeastPrivilege(t *testing.T) {
	var (
		sidecar    = pod("shop", map[string]string{"hopscope.io/sidecar": "injected", "app": "shop"})
		plainApp   = pod("shop", map[string]string{"app": "shop"})
		fluentBit  = pod("logging", map[string]string{"app.kubernetes.io/name": "fluent-bit"})
		prometheus = pod("monitoring", map[string]string{"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"})
		grafana    = pod("monitoring", map[string]string{"app.kubernetes.io/name": "grafana"})
		selftest   = pod(releaseNamespace, map[string]string{"app.kubernetes.io/component": "test"})
		ingress    = pod("ingress-nginx", map[string]string{"app.kubernetes.io/name": "ingress-nginx"})
		stranger   = pod("attacker", map[string]string{"app": "curl"})
		gateway    = pod(releaseNamespace, map[string]string{"app.kubernetes.io/component": "gateway"})
		replica    = pod(releaseNamespace, map[string]string{"app.kubernetes.io/name": "hopscope", "app.kubernetes.io/instance": releaseName, "app.kubernetes.io/component": "collector"})
	)
	type want struct {
		who  string
		p    peer
		port int
		ok   bool
	}
	for _, tc := range []struct {
		variant string
		policy  string
		cases   []want
	}{
		{"default", collectorName, []want{
			{"injected sidecar, OTLP/gRPC", sidecar, 4317, true},
			{"injected sidecar, OTLP/HTTP", sidecar, 4318, true},
			{"pod without the sidecar, OTLP", plainApp, 4318, false},
			{"stranger, OTLP", stranger, 4317, false},
			{"Fluent Bit, forward", fluentBit, 24224, true},
			{"injected sidecar, forward", sidecar, 24224, false},
			{"stranger, forward", stranger, 24224, false},
			{"Fluent Bit, OTLP", fluentBit, 4317, false},
			{"Prometheus, API and metrics", prometheus, 8088, true},
			{"Grafana, API", grafana, 8088, true},
			{"helm test pod, API", selftest, 8088, true},
			{"helm test pod, OTLP", selftest, 4318, true},
			{"stranger, API", stranger, 8088, false},
			{"injected sidecar, API", sidecar, 8088, false},
			{"RUM port is not served", ingress, 8089, false},
		}},
		{"rum-ingress", collectorName, []want{
			{"ingress controller, RUM", ingress, 8089, true},
			{"anyone, RUM (public by design)", stranger, 8089, true},
			{"stranger, OTLP", stranger, 4318, false},
		}},
		{"scale-out", gatewayName, []want{
			{"injected sidecar, OTLP/HTTP", sidecar, 4318, true},
			{"injected sidecar, OTLP/gRPC", sidecar, 4317, true},
			{"stranger, OTLP", stranger, 4317, false},
			{"Prometheus, gateway metrics", prometheus, 8888, true},
			{"stranger, gateway metrics", stranger, 8888, false},
			{"a collector replica relaying records, OTLP/HTTP", replica, 4318, true},
		}},
		{"scale-out", collectorName, []want{
			{"the gateway (release namespace), OTLP/gRPC", gateway, 4317, true},
			{"stranger, OTLP", stranger, 4317, false},
		}},
		{"default", injectorName, []want{
			{"API server (any source), webhook", stranger, 8443, true},
			{"Prometheus, injector metrics", prometheus, 9090, true},
			{"stranger, injector metrics", stranger, 9090, false},
		}},
	} {
		t.Run(tc.variant+"/"+tc.policy, func(t *testing.T) {
			np := typed[*networkingv1.NetworkPolicy](t, decodeAll(t, renderCI(t, tc.variant)), "NetworkPolicy", tc.policy)
			if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
				t.Errorf("policyTypes = %v, want [Ingress]", np.Spec.PolicyTypes)
			}
			for _, c := range tc.cases {
				if got := allows(t, np, c.p, c.port); got != c.ok {
					t.Errorf("%s (port %d): allowed = %v, want %v", c.who, c.port, got, c.ok)
				}
			}
		})
	}
}

// TestNetworkPolicyValues: each source list is a value; an empty list
// opens its port to any source.
func TestNetworkPolicyValues(t *testing.T) {
	stranger := pod("attacker", map[string]string{"app": "curl"})
	otel := pod("otel", map[string]string{"app.kubernetes.io/name": "opentelemetry-collector"})
	for _, tc := range []struct {
		name string
		set  []string // --set values, or "--set-json" then its value
		p    peer
		port int
		ok   bool
	}{
		{"extraOTLPFrom adds a source", []string{"networkPolicy.extraOTLPFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=otel"}, otel, 4317, true},
		{"extraOTLPFrom keeps the sidecars", []string{"networkPolicy.extraOTLPFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=otel"},
			pod("shop", map[string]string{"hopscope.io/sidecar": "injected"}), 4317, true},
		{"otlpFrom empty opens OTLP", []string{"--set-json", "networkPolicy.otlpFrom=[]"}, stranger, 4317, true},
		{"otlpFrom null opens OTLP", []string{"networkPolicy.otlpFrom=null"}, stranger, 4317, true},
		{"forwardFrom empty opens forward", []string{"--set-json", "networkPolicy.forwardFrom=[]"}, stranger, 24224, true},
		{"collectorAPIFrom empty opens the API", []string{"--set-json", "networkPolicy.collectorAPIFrom=[]"}, stranger, 8088, true},
		{"rumFrom restricts RUM", []string{"collector.rum.enabled=true", "collector.rum.allowedOrigins[0]=https://shop.example.com",
			"networkPolicy.rumFrom[0].podSelector.matchLabels.app=edge"}, stranger, 8089, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", releaseName, chartDir, "-n", releaseNamespace, "--kube-version", defaultKubeVersion,
				"--show-only", "templates/networkpolicy.yaml"}
			for i := 0; i < len(tc.set); i++ {
				if tc.set[i] == "--set-json" {
					args = append(args, "--set-json", tc.set[i+1])
					i++
					continue
				}
				args = append(args, "--set", tc.set[i])
			}
			out, stderr, err := runHelm(t, args...)
			if err != nil {
				t.Fatalf("helm %v: %v\n%s", args, err, stderr)
			}
			np := typed[*networkingv1.NetworkPolicy](t, decodeAll(t, out), "NetworkPolicy", collectorName)
			if got := allows(t, np, tc.p, tc.port); got != tc.ok {
				t.Errorf("port %d: allowed = %v, want %v\n%s", tc.port, got, tc.ok, out)
			}
		})
	}
}
