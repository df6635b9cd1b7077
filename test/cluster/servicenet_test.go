//go:build cluster

package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// checkServiceNetwork turns the collector's --kube-metadata on as a user
// would (collector.kubeMetadata in the chart: informers on EndpointSlices,
// Pods and Nodes through a read-only ClusterRole) and sends requests the
// ingress passes straight to the shop's pod addresses, as ingress-nginx
// does: each breakdown's try names the pod, its namespace, node and zone,
// and says cross_zone, the node being in zone-a and the ingress declared
// in zone-b (issue 18 item 4).
func checkServiceNetwork(t *testing.T, ctx context.Context, k *cluster, cs kubernetes.Interface, res *Result) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v (%d)", err, len(nodes.Items))
	}
	node := nodes.Items[0].Name
	if out, err := k.kubectl(ctx, "", "label", "node", node, "topology.kubernetes.io/zone=zone-a", "--overwrite"); err != nil {
		t.Fatalf("labelling the node's zone: %v\n%s", err, out)
	}
	if out, err := k.helm(ctx, "upgrade", "hopscope", filepath.Join(k.root, "charts", "hopscope"), "-n", nsHopscope, "--reuse-values",
		"--set", "collector.kubeMetadata.enabled=true", "--set", "collector.kubeMetadata.ingressZone=zone-b",
		"--wait", "--timeout", "3m"); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	if err := k.waitReady(ctx, cs, nsHopscope, "app.kubernetes.io/component=collector", 1, 180*time.Second); err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods(nsShop).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=shop"})
	if err != nil {
		t.Fatal(err)
	}
	byIP := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			byIP[p.Status.PodIP] = p.Name
		}
	}

	// The collector's API may answer before its informers listed
	// everything; a few requests, the last one checked.
	var id string
	for i := range 5 {
		if id, err = get(fmt.Sprintf("%s/endpoints/api/orders/%d", res.Edge, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	b := fetchBreakdown(t, res, id, []string{"loadbalancer", "ingress", "service", "sidecar", "app"})
	if len(b.Tries) != 1 {
		t.Fatalf("trace %s: tries %+v, want one", id, b.Tries)
	}
	tr := b.Tries[0]
	host := tr.Addr
	if h, _, err := net.SplitHostPort(tr.Addr); err == nil {
		host = h
	}
	if want, ok := byIP[host]; !ok || tr.Pod != want || tr.Namespace != nsShop || tr.Node != node || tr.Zone != "zone-a" || !tr.CrossZone || tr.Terminating {
		t.Errorf("trace %s: try %+v, want pod %q of %s on node %s in zone-a, cross_zone (pods by address %v)", id, tr, want, nsShop, node, byIP)
	}
	t.Logf("trace %s: the service try %s is pod %s/%s on node %s, zone %s, cross_zone %v", id, tr.Addr, tr.Namespace, tr.Pod, tr.Node, tr.Zone, tr.CrossZone)
}
