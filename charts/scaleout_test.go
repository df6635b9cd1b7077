package charts

import (
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

const (
	gatewayName  = "hopscope-gateway"
	headlessName = "hopscope-collector-headless"
)

// gatewayConfig is the part of the gateway's OpenTelemetry Collector
// configuration the chart must get right.
type gatewayConfig struct {
	Receivers struct {
		OTLP struct {
			Protocols map[string]struct {
				Endpoint string `yaml:"endpoint"`
			} `yaml:"protocols"`
		} `yaml:"otlp"`
	} `yaml:"receivers"`
	Exporters struct {
		LoadBalancing struct {
			RoutingKey string `yaml:"routing_key"`
			Resolver   struct {
				K8s *struct {
					Service string  `yaml:"service"`
					Ports   []int32 `yaml:"ports"`
				} `yaml:"k8s"`
				DNS *struct {
					Hostname string `yaml:"hostname"`
					Port     string `yaml:"port"`
				} `yaml:"dns"`
			} `yaml:"resolver"`
		} `yaml:"load_balancing"`
	} `yaml:"exporters"`
	Service struct {
		Pipelines map[string]struct {
			Receivers  []string `yaml:"receivers"`
			Processors []string `yaml:"processors"`
			Exporters  []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

func parseGatewayConfig(t *testing.T, objs []object) gatewayConfig {
	t.Helper()
	cm := typed[*corev1.ConfigMap](t, objs, "ConfigMap", gatewayName)
	var cfg gatewayConfig
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("gateway config.yaml: %v\n%s", err, cm.Data["config.yaml"])
	}
	return cfg
}

// checkScaleOut: collector.replicas 3 renders the gateway (an
// OpenTelemetry Collector routing spans by trace id through its
// load_balancing exporter), the headless Service its k8s resolver
// watches, a Role for exactly that, and points the sidecars at the
// gateway.
func checkScaleOut(t *testing.T, objs []object) {
	col := typed[*appsv1.Deployment](t, objs, "Deployment", collectorName)
	if col.Spec.Replicas == nil || *col.Spec.Replicas != 3 {
		t.Errorf("collector replicas = %v, want 3", col.Spec.Replicas)
	}
	gw := typed[*appsv1.Deployment](t, objs, "Deployment", gatewayName)
	if gw.Spec.Replicas == nil || *gw.Spec.Replicas != 2 {
		t.Errorf("gateway replicas = %v, want 2", gw.Spec.Replicas)
	}
	c := container(t, gw, "gateway")
	if want := "ghcr.io/hopscope/gateway:" + chartAppVersion(t); c.Image != want {
		t.Errorf("gateway image = %q, want %q", c.Image, want)
	}
	wantArgs(t, "gateway", c.Args, "--config=/etc/hopscope-gateway/config.yaml")
	if !mountsConfigMap(gw.Spec.Template.Spec, c, "/etc/hopscope-gateway", gatewayName) {
		t.Error("the gateway does not mount its ConfigMap at /etc/hopscope-gateway")
	}
	for _, p := range []struct {
		name string
		port int32
	}{{"otlp-grpc", 4317}, {"otlp-http", 4318}, {"metrics", 8888}, {"health", 13133}} {
		if !hasContainerPort(c, p.name, p.port) {
			t.Errorf("the gateway has no port %s %d", p.name, p.port)
		}
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Port.StrVal != "health" {
		t.Errorf("gateway readiness probe = %+v, want GET on the health port", c.ReadinessProbe)
	}

	cfg := parseGatewayConfig(t, objs)
	lb := cfg.Exporters.LoadBalancing
	if lb.RoutingKey != "traceID" {
		t.Errorf("load_balancing routing_key = %q, want traceID", lb.RoutingKey)
	}
	if k := lb.Resolver.K8s; k == nil || k.Service != headlessName+"."+releaseNamespace || !slices.Equal(k.Ports, []int32{4317}) {
		t.Errorf("load_balancing resolver.k8s = %+v, want service %s.%s port 4317", k, headlessName, releaseNamespace)
	}
	// Traces only: the replicas relay their records as spans, since the
	// load_balancing exporter hashes a log record's trace id otherwise
	// than a span's (collector/relay).
	if p, ok := cfg.Service.Pipelines["traces"]; !ok || len(cfg.Service.Pipelines) != 1 || !slices.Equal(p.Receivers, []string{"otlp"}) ||
		!slices.Equal(p.Exporters, []string{"load_balancing"}) || !slices.Contains(p.Processors, "memory_limiter") {
		t.Errorf("gateway pipelines = %+v, want only traces: otlp → memory_limiter → load_balancing", cfg.Service.Pipelines)
	}
	for _, proto := range []string{"grpc", "http"} {
		if ep := cfg.Receivers.OTLP.Protocols[proto].Endpoint; ep == "" {
			t.Errorf("gateway otlp %s receiver has no endpoint (the Collector's default is localhost only)", proto)
		}
	}

	hl := typed[*corev1.Service](t, objs, "Service", headlessName)
	if hl.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("%s clusterIP = %q, want None", headlessName, hl.Spec.ClusterIP)
	}
	if !selects(hl.Spec.Selector, col.Spec.Template.Labels) {
		t.Errorf("%s does not select the collector pods", headlessName)
	}
	if len(hl.Spec.Ports) != 2 || hl.Spec.Ports[0].Port != 4317 || hl.Spec.Ports[1].Port != 8088 {
		t.Errorf("%s ports = %+v, want 4317 (the gateway) and 8088 (the replicas' API)", headlessName, hl.Spec.Ports)
	}
	wantArgs(t, "collector", container(t, col, "collector").Args, "--peers=dns+"+headlessName+"."+releaseNamespace+".svc:8088",
		"--gateway-endpoint=http://"+gatewayName+"."+releaseNamespace+".svc:4318")

	role := typed[*rbacv1.Role](t, objs, "Role", gatewayName)
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Resources, []string{"endpointslices"}) ||
		!slices.Equal(role.Rules[0].APIGroups, []string{"discovery.k8s.io"}) || slices.Contains(role.Rules[0].Verbs, "create") {
		t.Errorf("gateway Role rules = %+v, want get/list/watch of endpointslices only", role.Rules)
	}
	rb := typed[*rbacv1.RoleBinding](t, objs, "RoleBinding", gatewayName)
	if rb.RoleRef.Name != gatewayName || len(rb.Subjects) != 1 || rb.Subjects[0].Name != gw.Spec.Template.Spec.ServiceAccountName {
		t.Errorf("gateway RoleBinding = %+v, want its Role to the gateway's ServiceAccount", rb)
	}

	tmpl, ok := sidecarTemplate(t, objs)
	if !ok {
		t.Fatal("no sidecar template")
	}
	if got, want := envValue(tmpl.Container, "HOPSCOPE_OTLP_ENDPOINT"), "http://"+gatewayName+"."+releaseNamespace+".svc:4318"; got != want {
		t.Errorf("sidecar HOPSCOPE_OTLP_ENDPOINT = %q, want the gateway %q", got, want)
	}
	if got := envValue(tmpl.Container, "HOPSCOPE_TRACE_ID_FROM_REQUEST_ID"); got != "true" {
		t.Errorf("sidecar HOPSCOPE_TRACE_ID_FROM_REQUEST_ID = %q, want true when scaled out (sidecar.traceIDFromRequestID auto)", got)
	}
}

// TestGatewayDNSResolver: with collector.gateway.resolver dns the gateway
// polls the headless Service's records and gets no API access.
func TestGatewayDNSResolver(t *testing.T) {
	objs := decodeAll(t, mustTemplate(t, "--set", "collector.replicas=2", "--set", "collector.gateway.resolver=dns"))
	cfg := parseGatewayConfig(t, objs)
	d := cfg.Exporters.LoadBalancing.Resolver.DNS
	if d == nil || d.Hostname != headlessName+"."+releaseNamespace+".svc" || d.Port != "4317" || cfg.Exporters.LoadBalancing.Resolver.K8s != nil {
		t.Errorf("resolver = %+v, want dns %s.%s.svc port 4317 only", cfg.Exporters.LoadBalancing.Resolver, headlessName, releaseNamespace)
	}
	if has(objs, "Role", gatewayName) || has(objs, "RoleBinding", gatewayName) {
		t.Error("the dns resolver needs no Role")
	}
	gw := typed[*appsv1.Deployment](t, objs, "Deployment", gatewayName)
	if a := gw.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("automountServiceAccountToken = %v, want false", a)
	}
}

// TestOneReplicaHasNoGateway: the default single collector gets no
// gateway, headless Service, Role, --peers or --gateway-endpoint, and the
// sidecars send to it and keep their own trace ids.
func TestOneReplicaHasNoGateway(t *testing.T) {
	objs := decodeAll(t, mustTemplate(t))
	for _, kind := range []string{"Deployment", "ConfigMap", "Service", "Role", "NetworkPolicy"} {
		if has(objs, kind, gatewayName) {
			t.Errorf("%s/%s rendered with one collector replica", kind, gatewayName)
		}
	}
	if has(objs, "Service", headlessName) {
		t.Errorf("Service/%s rendered with one collector replica", headlessName)
	}
	noArgPrefix(t, "collector", container(t, typed[*appsv1.Deployment](t, objs, "Deployment", collectorName), "collector").Args, "--peers")
	noArgPrefix(t, "collector", container(t, typed[*appsv1.Deployment](t, objs, "Deployment", collectorName), "collector").Args, "--gateway-endpoint")
	tmpl, ok := sidecarTemplate(t, objs)
	if !ok {
		t.Fatal("no sidecar template")
	}
	if got := envValue(tmpl.Container, "HOPSCOPE_TRACE_ID_FROM_REQUEST_ID"); got != "" {
		t.Errorf("sidecar HOPSCOPE_TRACE_ID_FROM_REQUEST_ID = %q with one collector (auto: off)", got)
	}
}

// TestGatewayAuth: with auth.enabled the gateway asks senders for a token
// of the collector's list (bearertokenauth over the same Secret key) and
// sends the sender token to the replicas, which send it to the gateway
// with the records they relay (--gateway-token-file): scaling out opens
// no door that auth.enabled closed.
func TestGatewayAuth(t *testing.T) {
	objs := decodeAll(t, mustTemplate(t, "--set", "collector.replicas=3", "--set", "auth.enabled=true"))
	cm := typed[*corev1.ConfigMap](t, objs, "ConfigMap", gatewayName)
	var cfg struct {
		Extensions map[string]struct {
			Filename string `yaml:"filename"`
		} `yaml:"extensions"`
		Receivers struct {
			OTLP struct {
				Protocols map[string]struct {
					Auth struct {
						Authenticator string `yaml:"authenticator"`
					} `yaml:"auth"`
				} `yaml:"protocols"`
			} `yaml:"otlp"`
		} `yaml:"receivers"`
		Exporters struct {
			LoadBalancing struct {
				Protocol struct {
					OTLP struct {
						Headers map[string]string `yaml:"headers"`
					} `yaml:"otlp"`
				} `yaml:"protocol"`
			} `yaml:"load_balancing"`
		} `yaml:"exporters"`
		Service struct {
			Extensions []string `yaml:"extensions"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if f := cfg.Extensions["bearertokenauth"].Filename; f != "/etc/hopscope/auth/tokens" || !slices.Contains(cfg.Service.Extensions, "bearertokenauth") {
		t.Errorf("bearertokenauth filename %q, service extensions %v", f, cfg.Service.Extensions)
	}
	for _, p := range []string{"grpc", "http"} {
		if a := cfg.Receivers.OTLP.Protocols[p].Auth.Authenticator; a != "bearertokenauth" {
			t.Errorf("otlp %s receiver authenticator %q, want bearertokenauth", p, a)
		}
	}
	if h := cfg.Exporters.LoadBalancing.Protocol.OTLP.Headers["authorization"]; h != "Bearer ${env:HOPSCOPE_AUTH_TOKEN}" {
		t.Errorf("exporter authorization header %q", h)
	}
	gw := typed[*appsv1.Deployment](t, objs, "Deployment", gatewayName)
	c := container(t, gw, "gateway")
	var fromSecret bool
	for _, e := range c.Env {
		if e.Name == "HOPSCOPE_AUTH_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			fromSecret = e.ValueFrom.SecretKeyRef.Name == "hopscope-auth" && e.ValueFrom.SecretKeyRef.Key == "token"
		}
	}
	if !fromSecret {
		t.Errorf("the gateway's HOPSCOPE_AUTH_TOKEN is not the Secret's sender token: %+v", c.Env)
	}
	if !mountsSecretKeys(gw.Spec.Template.Spec, c, "/etc/hopscope/auth", "hopscope-auth", "tokens") {
		t.Error("the gateway does not mount the collector's token list at /etc/hopscope/auth")
	}
	col := typed[*appsv1.Deployment](t, objs, "Deployment", collectorName)
	cc := container(t, col, "collector")
	wantArgs(t, "collector", cc.Args, "--gateway-token-file=/etc/hopscope/auth/token", "--auth-token-file=/etc/hopscope/auth/tokens")
	if !mountsSecretKeys(col.Spec.Template.Spec, cc, "/etc/hopscope/auth", "hopscope-auth", "tokens", "token") {
		t.Error("the collector does not mount its token list and the sender token at /etc/hopscope/auth")
	}
}

// mountsSecretKeys reports whether c mounts, at path, a volume of secret
// holding exactly keys.
func mountsSecretKeys(spec corev1.PodSpec, c corev1.Container, path, secret string, keys ...string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil || v.Secret.SecretName != secret {
				continue
			}
			var got []string
			for _, it := range v.Secret.Items {
				got = append(got, it.Key)
			}
			return slices.Equal(got, keys)
		}
	}
	return false
}
