package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// client is a client-go clientset with the admin kubeconfig.
func (k *cluster) client() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return kubernetes.NewForConfig(cfg)
}

// kubectl runs the kubectl tools/ builds, with stdin when given.
func (k *cluster) kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bins["kubectl"], append([]string{"--kubeconfig", k.kubeconfig()}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// apply is `kubectl apply -f -` of manifests.
func (k *cluster) apply(ctx context.Context, manifests string) error {
	_, err := k.kubectl(ctx, manifests, "apply", "-f", "-")
	return err
}

// addons waits for the node to be Ready, installs CoreDNS and waits for it
// and for the default ServiceAccount (the controller-manager makes it;
// pods are refused until it exists).
func (k *cluster) addons(ctx context.Context) error {
	cs, err := k.client()
	if err != nil {
		return err
	}
	if err := k.waitFor(ctx, "node "+k.nodeName()+" Ready", "kubelet", 120*time.Second, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, k.nodeName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("Ready=%s: %s", c.Status, c.Message)
			}
		}
		return fmt.Errorf("no Ready condition yet")
	}); err != nil {
		return err
	}
	if err := k.waitFor(ctx, "the default ServiceAccount", "kube-controller-manager", 60*time.Second, func() error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	if err := k.apply(ctx, k.corednsManifests()); err != nil {
		return err
	}
	return k.waitReady(ctx, cs, "kube-system", "k8s-app=kube-dns", 1, 120*time.Second)
}

// waitReady waits until n pods matching selector are Running and Ready.
// When they are not, the error ends with the last log lines of each
// container that is not ready (of its previous run when it crashed).
func (k *cluster) waitReady(ctx context.Context, cs kubernetes.Interface, ns, selector string, n int, within time.Duration) error {
	err := k.waitForPods(ctx, cs, ns, selector, n, within)
	if err == nil {
		return nil
	}
	pods, lerr := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if lerr != nil {
		return err
	}
	var logs []string
	for _, p := range pods.Items {
		for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if st.Ready {
				continue
			}
			tail := int64(15)
			b, gerr := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: st.Name, TailLines: &tail, Previous: st.RestartCount > 0}).DoRaw(ctx)
			if gerr == nil {
				logs = append(logs, fmt.Sprintf("%s/%s's log ends:\n%s", p.Name, st.Name, b))
			}
		}
	}
	if len(logs) == 0 {
		return err
	}
	return fmt.Errorf("%w\n%s", err, strings.Join(logs, "\n"))
}

func (k *cluster) waitForPods(ctx context.Context, cs kubernetes.Interface, ns, selector string, n int, within time.Duration) error {
	return k.waitFor(ctx, fmt.Sprintf("%d pod(s) %s in %s Ready", n, selector, ns), "kubelet", within, func() error {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		ready := 0
		var why []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			ok := p.Status.Phase == corev1.PodRunning
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
					ok = false
				}
			}
			if ok {
				ready++
				continue
			}
			why = append(why, podProblem(&p))
		}
		if ready >= n {
			return nil
		}
		return fmt.Errorf("%d of %d ready; %s", ready, n, strings.Join(why, "; "))
	})
}

// podProblem says why a pod is not ready, from its container states.
func podProblem(p *corev1.Pod) string {
	s := fmt.Sprintf("%s: %s", p.Name, p.Status.Phase)
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil:
			s += fmt.Sprintf(", %s waiting (%s: %s)", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil:
			s += fmt.Sprintf(", %s terminated (%s, exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		case !cs.Ready:
			s += fmt.Sprintf(", %s not ready", cs.Name)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			s += fmt.Sprintf(", %s: %s", c.Type, c.Message)
		}
	}
	return s
}

// corednsManifests is CoreDNS as a Deployment serving cluster.local behind
// the kube-dns Service at the Service range's tenth address. It listens on
// 1053 (no capability needed) and forwards nothing: no upstream resolver
// is reachable from here.
func (k *cluster) corednsManifests() string {
	return fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }
        cache 30
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: coredns
          image: %s
          imagePullPolicy: Never
          args: ["-conf", "/etc/coredns/Corefile"]
          ports:
            - {name: dns, containerPort: 1053, protocol: UDP}
            - {name: dns-tcp, containerPort: 1053, protocol: TCP}
          readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
          livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10}
          resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 128Mi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: %s
  selector: {k8s-app: kube-dns}
  ports:
    - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
    - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
`, imageCoreDNS, k.cfg.DNSServiceIP())
}
