package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopscope/hopscope/internal/realcomp"
)

// Where the workloads live.
const (
	nsHopscope = "hopscope"
	nsShop     = "shop"
	nsIngress  = "ingress-nginx"
	nsJaeger   = "observability"
	// ingressNodePort is the ingress Service's NodePort on the node IP,
	// where the load balancer sends.
	ingressNodePort = 30080
)

// installWorkloads installs, in order: PostgreSQL and Redis on the node;
// Jaeger v2; hopscope with helm install (collector and injector from the
// chart, images from this machine); the shop in a Pod Security
// "restricted" namespace labelled for injection, its backends reached
// through the sidecar's proxies by Service names; the ingress nginx; then
// on the node HAProxy in the load balancer's place, the log shipper and
// Prometheus.
func (k *cluster) installWorkloads(ctx context.Context) error {
	cs, err := k.client()
	if err != nil {
		return err
	}
	steps := []struct {
		what string
		do   func(context.Context, kubernetes.Interface) error
	}{
		{"PostgreSQL and Redis on the node", k.startBackends},
		{"Jaeger v2", k.installJaeger},
		{"helm install hopscope", k.helmInstall},
		{"the shop (injected, restricted)", k.installShop},
		{"the ingress nginx", k.installIngress},
		{"HAProxy, the log shipper and Prometheus on the node", k.startEdge},
	}
	for _, s := range steps {
		k.progress("  %s ...", s.what)
		if err := s.do(ctx, cs); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// asUser makes a daemon run as a user of this machine.
func asUser(name string) (func(*exec.Cmd), error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return func(c *exec.Cmd) {
		c.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}, nil
}

// startBackends runs PostgreSQL and Redis on the node IP, outside the
// cluster as RDS and ElastiCache are; pods reach them through Services
// without selectors whose EndpointSlices name the node.
func (k *cluster) startBackends(ctx context.Context, cs kubernetes.Interface) error {
	node := k.cfg.NodeIP().String()
	pgdir := k.cfg.path("postgres")
	if err := os.MkdirAll(pgdir, 0o700); err != nil {
		return err
	}
	pg, err := asUser("postgres")
	if err != nil {
		return fmt.Errorf("user postgres (apt-get install postgresql): %w", err)
	}
	u, _ := user.Lookup("postgres")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(pgdir, uid, gid); err != nil {
		return err
	}
	if err := realcomp.Traversable(pgdir); err != nil {
		return err
	}
	initdb := exec.Command("/usr/lib/postgresql/15/bin/initdb", "-D", pgdir, "-U", "postgres", "--auth=trust", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{}
	pg(initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	hba, err := os.OpenFile(filepath.Join(pgdir, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(hba, "host all all %s trust\n", k.cfg.PodCIDR)
	hba.Close()
	if err := k.daemon("postgres", "/usr/lib/postgresql/15/bin/postgres", []string{"-D", pgdir, "-h", node, "-p", "5432", "-k", pgdir, "-c", "fsync=off"}, pg); err != nil {
		return err
	}
	k.st.PostgresData = pgdir
	if err := k.st.save(); err != nil {
		return err
	}
	if err := k.daemon("redis", k.bins["redis-server"], []string{"--bind", node, "--port", "6379", "--save", "", "--appendonly", "no", "--protected-mode", "no"}); err != nil {
		return err
	}
	for _, a := range []string{node + ":5432", node + ":6379"} {
		if err := realcomp.WaitTCP(a, a, 30*time.Second); err != nil {
			return err
		}
	}
	if _, err := k.kubectl(ctx, "", "create", "namespace", nsShop); err != nil {
		return err
	}
	if _, err := k.kubectl(ctx, "", "label", "namespace", nsShop, "hopscope.io/inject=enabled",
		"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest"); err != nil {
		return err
	}
	return k.apply(ctx, nodeServices(node))
}

// nodeServices are the Services `postgres` and `redis` in the shop's
// namespace, without selectors: their EndpointSlices name the node, the
// way a cluster names a managed database outside it.
func nodeServices(node string) string {
	var b strings.Builder
	for _, s := range []struct {
		name string
		port int
	}{{"postgres", 5432}, {"redis", 6379}} {
		fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: shop}
spec:
  ports: [{name: %[1]s, port: %[2]d, targetPort: %[2]d, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-node
  namespace: shop
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
ports: [{name: %[1]s, port: %[2]d, protocol: TCP}]
endpoints: [{addresses: [%[3]q]}]
---
`, s.name, s.port, node)
	}
	return b.String()
}

// installJaeger runs Jaeger v2 (memory storage, OTLP in, query API) as a
// Deployment with its Service.
func (k *cluster) installJaeger(ctx context.Context, cs kubernetes.Interface) error {
	if err := k.apply(ctx, fmt.Sprintf(jaegerManifests, imageJaeger)); err != nil {
		return err
	}
	return k.waitReady(ctx, cs, nsJaeger, "app.kubernetes.io/name=jaeger", 1, 180*time.Second)
}

const jaegerManifests = `apiVersion: v1
kind: Namespace
metadata: {name: observability}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: jaeger, namespace: observability}
data:
  config.yaml: |
    service:
      extensions: [jaeger_storage, jaeger_query, healthcheckv2]
      pipelines:
        traces:
          receivers: [otlp]
          exporters: [jaeger_storage_exporter]
      telemetry:
        resource: {service.name: jaeger}
        metrics: {level: none}
        logs: {level: info}
    extensions:
      healthcheckv2:
        use_v2: true
        http: {endpoint: "0.0.0.0:13133"}
      jaeger_query:
        storage: {traces: memstore}
        http: {endpoint: "0.0.0.0:16686"}
        grpc: {endpoint: "0.0.0.0:16685"}
      jaeger_storage:
        backends:
          memstore:
            memory: {max_traces: 100000}
    receivers:
      otlp:
        protocols:
          grpc: {endpoint: "0.0.0.0:4317"}
          http: {endpoint: "0.0.0.0:4318"}
    exporters:
      jaeger_storage_exporter: {trace_storage: memstore}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: jaeger, namespace: observability, labels: {app.kubernetes.io/name: jaeger}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: jaeger}}
  template:
    metadata: {labels: {app.kubernetes.io/name: jaeger}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: jaeger
          image: %s
          imagePullPolicy: Never
          args: ["--config", "/etc/jaeger/config.yaml"]
          env: [{name: GOMAXPROCS, value: "1"}]
          ports:
            - {name: otlp-grpc, containerPort: 4317}
            - {name: otlp-http, containerPort: 4318}
            - {name: query, containerPort: 16686}
          readinessProbe: {httpGet: {path: /status, port: 13133}, periodSeconds: 2}
          resources: {requests: {cpu: 50m, memory: 128Mi}, limits: {memory: 1Gi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: config, mountPath: /etc/jaeger, readOnly: true}, {name: tmp, mountPath: /tmp}]
      volumes: [{name: config, configMap: {name: jaeger}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: jaeger, namespace: observability}
spec:
  selector: {app.kubernetes.io/name: jaeger}
  ports:
    - {name: otlp-grpc, port: 4317, targetPort: 4317}
    - {name: otlp-http, port: 4318, targetPort: 4318}
    - {name: query, port: 16686, targetPort: 16686}
`

// helm runs the Helm CLI tools/ builds, its home under the state dir.
func (k *cluster) helm(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	home := k.cfg.path("helm")
	cmd := exec.CommandContext(ctx, k.bins["helm"], append(args, "--kubeconfig", k.kubeconfig())...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// helmInstall installs charts/hopscope as a user would, with this
// machine's image and Jaeger in the cluster as the export endpoint.
func (k *cluster) helmInstall(ctx context.Context, cs kubernetes.Interface) error {
	// The chart's auth.enabled, as docs/helm.md says to set it up: a
	// token in the Secret hopscope-auth of the release namespace (the
	// collector's list and the helm test's token) and of the shop's (its
	// sidecars'). Kept in the state dir for the API's users.
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	token := hex.EncodeToString(raw)
	if err := os.WriteFile(k.cfg.path("api-token"), []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	if _, err := k.kubectl(ctx, "", "create", "namespace", nsHopscope); err != nil {
		return err
	}
	for _, ns := range []string{nsHopscope, nsShop} {
		args := []string{"-n", ns, "create", "secret", "generic", "hopscope-auth", "--from-literal=token=" + token}
		if ns == nsHopscope {
			args = append(args, "--from-literal=tokens="+token)
		}
		if _, err := k.kubectl(ctx, "", args...); err != nil {
			return err
		}
	}
	repo, tag, _ := strings.Cut(imageHopscope, ":")
	_, err := k.helm(ctx, "install", "hopscope", filepath.Join(k.root, "charts", "hopscope"), "-n", nsHopscope,
		"--set", "auth.enabled=true",
		"--set", "image.repository="+repo, "--set", "image.tag="+tag, "--set", "image.pullPolicy=Never",
		"--set", "collector.exportOTLPEndpoint=http://jaeger.observability.svc.cluster.local:4318",
		"--set", "collector.exportDelay=2s",
		"--set", "injector.replicas=1",
		"--set", "collector.resources.requests.cpu=50m", "--set", "injector.resources.requests.cpu=10m",
		"--wait", "--timeout", "4m")
	return err
}

// shopManifests is the shop with its backends through the sidecar's
// proxies (hopscope.io/backends), by the Services' DNS names. The app
// carries no OpenTelemetry of its own: every hop comes from the sidecar.
const shopManifests = `apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: shop, labels: {app.kubernetes.io/name: shop}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: shop}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: shop}
      annotations:
        hopscope.io/backends: |
          - {name: orders-db, kind: postgres, listen: "127.0.0.1:15432", target: "postgres.shop.svc.cluster.local:5432"}
          - {name: cache, kind: redis, listen: "127.0.0.1:16379", target: "redis.shop.svc.cluster.local:6379"}
    spec:
      terminationGracePeriodSeconds: 30
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: shop
          image: %s
          imagePullPolicy: Never
          args: ["--listen", ":8080", "--database-url", "postgres://postgres@127.0.0.1:15432/postgres?sslmode=disable",
                 "--redis-addr", "127.0.0.1:16379", "--payments-stub-listen", "127.0.0.1:9090"]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2}
          livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10}
          resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 256Mi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec:
  selector: {app.kubernetes.io/name: shop}
  ports: [{name: http, port: 80, targetPort: http}]
---
# The shop's pods by DNS (headless): the ingress's /endpoints/ location
# sends to them directly, as ingress-nginx sends to a Service's endpoints.
apiVersion: v1
kind: Service
metadata: {name: shop-endpoints, namespace: shop}
spec:
  clusterIP: None
  selector: {app.kubernetes.io/name: shop}
  ports: [{name: http, port: 80, targetPort: http}]
`

func (k *cluster) installShop(ctx context.Context, cs kubernetes.Interface) error {
	// helm --wait returns once the injector is Ready, but the API server
	// reaches it through its ClusterIP, which kube-proxy programs a moment
	// later; meanwhile failurePolicy Ignore admits pods without the
	// sidecar. A server-side dry run shows when injection really happens.
	if err := k.waitFor(ctx, "the injector answering the API server", "kube-proxy", 60*time.Second, func() error {
		return dryRunInjected(ctx, cs, nsShop)
	}); err != nil {
		return err
	}
	if err := k.apply(ctx, fmt.Sprintf(shopManifests, imageShop)); err != nil {
		return err
	}
	return k.waitReady(ctx, cs, nsShop, "app.kubernetes.io/name=shop", 1, 180*time.Second)
}

// sidecarPort is the injected sidecar's proxy port (proxyPort of
// charts/hopscope/templates/_sidecar.tpl), where the shop's pods take
// requests.
const sidecarPort = 15080

// ingressManifests is Debian's nginx configured as ingress-nginx: its JSON
// log format on standard output (the container log a Fluent Bit DaemonSet
// tails, docs/ingress-nginx.md), X-Request-ID and X-Request-Start, the shop
// Service by its DNS name (so the request crosses the ClusterIP), exposed
// on a NodePort.
const ingressManifests = `apiVersion: v1
kind: Namespace
metadata: {name: ingress-nginx}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ingress-nginx, namespace: ingress-nginx}
data:
  nginx.conf: |
    daemon off;
    worker_processes 1;
    pid /tmp/nginx.pid;
    error_log stderr warn;
    events { worker_connections 1024; }
    http {
      client_body_temp_path /tmp/client_body;
      proxy_temp_path /tmp/proxy;
      fastcgi_temp_path /tmp/fastcgi;
      uwsgi_temp_path /tmp/uwsgi;
      scgi_temp_path /tmp/scgi;
      log_format upstreaminfo %[1]s;
      access_log /dev/stdout upstreaminfo;
      upstream shop { server shop.shop.svc.cluster.local:80; keepalive 32; }
      server {
        listen 8080;
        location /healthz { access_log off; return 200 "ok"; }
        location / {
%[4]s
          proxy_pass http://shop;
        }
        # As ingress-nginx does: straight to the pods' addresses (the
        # headless shop-endpoints resolved through kube-dns at most 5 s
        # old), the upstream address a pod's, which the collector's
        # --kube-metadata maps to pod, node and zone (ServiceNetwork).
        location /endpoints/ {
%[4]s
          resolver %[5]s valid=5s ipv6=off;
          set $pods shop-endpoints.shop.svc.cluster.local;
          rewrite ^/endpoints(/.*)$ $1 break;
          proxy_pass http://$pods:%[6]d;
        }
      }
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx, labels: {app.kubernetes.io/name: ingress-nginx}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ingress-nginx}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: controller
          image: %[2]s
          imagePullPolicy: Never
          args: ["-e", "stderr", "-p", "/tmp/", "-c", "/etc/nginx-ingress/nginx.conf"]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2}
          resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 256Mi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: config, mountPath: /etc/nginx-ingress, readOnly: true}, {name: tmp, mountPath: /tmp}]
      volumes: [{name: config, configMap: {name: ingress-nginx}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  type: NodePort
  selector: {app.kubernetes.io/name: ingress-nginx}
  ports: [{name: http, port: 80, targetPort: http, nodePort: %[3]d}]
`

func (k *cluster) installIngress(ctx context.Context, cs kubernetes.Interface) error {
	if err := k.apply(ctx, fmt.Sprintf(ingressManifests, realcomp.IngressLogFormat, imageNginx, ingressNodePort,
		realcomp.Indent(realcomp.IngressProxyDirectives, "          "), k.cfg.DNSServiceIP(), sidecarPort)); err != nil {
		return err
	}
	return k.waitReady(ctx, cs, nsIngress, "app.kubernetes.io/name=ingress-nginx", 1, 120*time.Second)
}

// clusterIP is a Service's ClusterIP.
func clusterIP(ctx context.Context, cs kubernetes.Interface, ns, name string) (string, error) {
	svc, err := cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return svc.Spec.ClusterIP, nil
}

// haproxyConfig is the load balancer in the ALB's place: HTTP on the edge
// port with an ALB-style X-Amzn-Trace-Id Root and its HTTP log on standard
// output, to the ingress NodePort; and plain TCP fronts on 127.0.0.1 for
// the collector's API/UI and Jaeger's query API in the cluster.
func (k *cluster) haproxyConfig(collectorIP, jaegerIP string) string {
	c := k.cfg
	return realcomp.HAProxyEdgeConfig(fmt.Sprintf("127.0.0.1:%d", c.EdgePort), fmt.Sprintf("%s:%d", c.NodeIP(), ingressNodePort)) +
		fmt.Sprintf(`frontend collector
  mode tcp
  no log
  bind 127.0.0.1:%d
  default_backend collector
backend collector
  mode tcp
  server c %s:8088
frontend jaeger
  mode tcp
  no log
  bind 127.0.0.1:%d
  default_backend jaeger
backend jaeger
  mode tcp
  server j %s:16686
`, c.CollectorPort, collectorIP, c.JaegerPort, jaegerIP)
}

// startEdge starts, on the node, HAProxy, the log shipper (the Fluent Bit
// DaemonSet's place: it tails HAProxy's log and the ingress container's
// log and forwards each line to the collector's Fluent forward port) and
// Prometheus (pods found through the API server).
func (k *cluster) startEdge(ctx context.Context, cs kubernetes.Interface) error {
	collectorIP, err := clusterIP(ctx, cs, nsHopscope, "hopscope-collector")
	if err != nil {
		return err
	}
	jaegerIP, err := clusterIP(ctx, cs, nsJaeger, "jaeger")
	if err != nil {
		return err
	}
	conf := k.cfg.path("haproxy.cfg")
	if err := os.WriteFile(conf, []byte(k.haproxyConfig(collectorIP, jaegerIP)), 0o644); err != nil {
		return err
	}
	if err := k.daemon("haproxy", k.bins["haproxy"], []string{"-db", "-f", conf}, func(c *exec.Cmd) { c.Env = append(c.Env, "TZ=UTC") }); err != nil {
		return err
	}
	// The shipper is this program: copied into the state dir, since `go
	// run` removes its binary when `up` returns.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	shipper := k.cfg.path("bin", "cluster")
	data, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	if err := os.WriteFile(shipper, data, 0o755); err != nil {
		return err
	}
	if err := k.daemon("log-shipper", shipper, []string{"ship-logs", "--state-dir", k.cfg.StateDir,
		collectorIP + ":24224",
		"haproxy.access=" + k.cfg.path("logs", "haproxy.log"),
		"ingress-nginx.json=" + filepath.Join(k.podLogsDir(), nsIngress+"_ingress-nginx-controller-*", "controller", "*.log"),
	}); err != nil {
		return err
	}
	if err := k.startPrometheus(); err != nil {
		return err
	}
	for _, u := range []struct{ url, proc string }{
		{fmt.Sprintf("http://127.0.0.1:%d/healthz", k.cfg.CollectorPort), "haproxy"}, // the API wants the token
		{fmt.Sprintf("http://127.0.0.1:%d/api/services", k.cfg.JaegerPort), "haproxy"},
		{fmt.Sprintf("http://127.0.0.1:%d/-/ready", k.cfg.PrometheusPort), "prometheus"},
	} {
		if err := k.waitFor(ctx, u.url, u.proc, 60*time.Second, func() error { return httpOK(http.DefaultClient, u.url) }); err != nil {
			return err
		}
	}
	return k.waitFor(ctx, "the edge through the whole path", "haproxy", 60*time.Second, func() error {
		return httpOK(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/api/orders/1", k.cfg.EdgePort))
	})
}

// startPrometheus runs Prometheus (built by tools/build prometheus:
// Debian's is built without Kubernetes service discovery) on 127.0.0.1, finding pods
// through the API server (kubernetes_sd, role pod) and scraping every
// container port named hopscope-admin (the sidecars) and the collector's
// http port, with the namespace and pod labels prometheus-adapter maps.
func (k *cluster) startPrometheus() error {
	p := k.pki.path
	conf := fmt.Sprintf(`global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: hopscope-pods
    kubernetes_sd_configs:
      - role: pod
        api_server: %s
        tls_config: {ca_file: %s, cert_file: %s, key_file: %s}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component, __meta_kubernetes_pod_container_port_name]
        regex: "(.*;hopscope-admin)|(collector;http)"
        action: keep
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_container_name]
        target_label: container
`, k.apiURL(), p("ca.crt"), p("admin.crt"), p("admin.key"))
	file := k.cfg.path("prometheus.yml")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return err
	}
	return k.daemon("prometheus", k.bins["prometheus"], []string{"--config.file", file,
		"--web.listen-address", fmt.Sprintf("127.0.0.1:%d", k.cfg.PrometheusPort),
		// and on the node's address, for prometheus-adapter's pod.
		"--web.listen-address", fmt.Sprintf("%s:%d", k.cfg.NodeIP(), k.cfg.PrometheusPort),
		"--storage.tsdb.path", k.cfg.path("prometheus")})
}

// dryRunInjected creates a pod in ns as a server-side dry run and tells
// whether the injector added its sidecar.
func dryRunInjected(ctx context.Context, cs kubernetes.Interface, ns string) error {
	no, yes := false, true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "injection-probe", Labels: map[string]string{"app.kubernetes.io/name": "injection-probe"}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "app", Image: imageShop, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		},
	}
	got, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return err
	}
	for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
		if c.Name == "hopscope-sidecar" {
			return nil
		}
	}
	return fmt.Errorf("a dry-run pod in %s was admitted without the sidecar", ns)
}
