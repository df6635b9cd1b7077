package k8smeta

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hopscope/hopscope/internal/kubetest"
	"github.com/hopscope/hopscope/internal/testkit"
)

// Fixture creates, through a real API server, what a cluster with two
// zones has: Nodes with their zone label, Pods, and an EndpointSlice of a
// Service listing the pods.
type Fixture struct {
	Client kubernetes.Interface
	NS     string
}

func ptr[T any](v T) *T { return &v }

func (f Fixture) node(t *testing.T, name, zone string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneLabel: zone}}}
	if _, err := f.Client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (f Fixture) pod(t *testing.T, name, node, ip string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.NS},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	p, err := f.Client.CoreV1().Pods(f.NS).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	if _, err := f.Client.CoreV1().Pods(f.NS).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// endpoint is one endpoint of a slice; zone "" leaves the slice's zone
// unset (the Node's label then says it).
type endpoint struct {
	ip, pod, node, zone string
	terminating         bool
}

func (f Fixture) slice(t *testing.T, name string, eps ...endpoint) {
	t.Helper()
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.NS,
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}, AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}}}
	for _, e := range eps {
		ep := discoveryv1.Endpoint{Addresses: []string{e.ip}, NodeName: ptr(e.node),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: e.pod, Namespace: f.NS},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(!e.terminating), Terminating: ptr(e.terminating)}}
		if e.zone != "" {
			ep.Zone = ptr(e.zone)
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	ctx := context.Background()
	old, err := f.Client.DiscoveryV1().EndpointSlices(f.NS).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		s.ResourceVersion = old.ResourceVersion
		_, err = f.Client.DiscoveryV1().EndpointSlices(f.NS).Update(ctx, s, metav1.UpdateOptions{})
	} else {
		_, err = f.Client.DiscoveryV1().EndpointSlices(f.NS).Create(ctx, s, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// NewFixture makes namespace ns and two nodes, node-a in zone-a and
// node-b in zone-b.
func NewFixture(t *testing.T, client kubernetes.Interface, ns string) Fixture {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f := Fixture{Client: client, NS: ns}
	f.node(t, "node-a", "zone-a")
	f.node(t, "node-b", "zone-b")
	return f
}

// TestCacheOnRealAPIServer: addresses map to pod, node and zone (the
// slice's zone, else the Node's label; a Pod no slice lists from the Pod),
// and an endpoint marked terminating, then deleted, is still reported
// terminating for a time while it was.
func TestCacheOnRealAPIServer(t *testing.T) {
	cfg := kubetest.Start(t)
	client := kubernetes.NewForConfigOrDie(cfg)
	f := NewFixture(t, client, "shop")
	f.pod(t, "web-1", "node-a", "10.1.0.1")
	f.pod(t, "web-2", "node-b", "10.1.0.2")
	f.pod(t, "lone", "node-b", "10.1.0.9")
	f.slice(t, "web-abc",
		endpoint{ip: "10.1.0.1", pod: "web-1", node: "node-a", zone: "zone-a"},
		endpoint{ip: "10.1.0.2", pod: "web-2", node: "node-b"}) // zone from the Node

	c, err := New(client, DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())

	for _, tc := range []struct {
		addr string
		want Endpoint
		ok   bool
	}{
		{"10.1.0.1:8080", Endpoint{Pod: "web-1", Namespace: "shop", Node: "node-a", Zone: "zone-a"}, true},
		{"10.1.0.2:8080", Endpoint{Pod: "web-2", Namespace: "shop", Node: "node-b", Zone: "zone-b"}, true},
		{"10.1.0.2", Endpoint{Pod: "web-2", Namespace: "shop", Node: "node-b", Zone: "zone-b"}, true},
		{"10.1.0.9:80", Endpoint{Pod: "lone", Namespace: "shop", Node: "node-b", Zone: "zone-b"}, true},
		{"10.9.9.9:80", Endpoint{}, false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			testkit.Eventually(t, "lookup "+tc.addr, 30*time.Second, func() bool {
				got, ok := c.Lookup(tc.addr)
				return ok == tc.ok && got == tc.want
			}, func() string {
				got, ok := c.Lookup(tc.addr)
				return fmt.Sprintf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			})
		})
	}

	// web-2 starts terminating, then leaves the slice and is deleted.
	before := time.Now()
	f.slice(t, "web-abc",
		endpoint{ip: "10.1.0.1", pod: "web-1", node: "node-a", zone: "zone-a"},
		endpoint{ip: "10.1.0.2", pod: "web-2", node: "node-b", terminating: true})
	testkit.Eventually(t, "web-2 terminating", 30*time.Second, func() bool {
		ep, _ := c.Lookup("10.1.0.2:8080")
		return ep.Terminating
	})
	during := time.Now()
	f.slice(t, "web-abc", endpoint{ip: "10.1.0.1", pod: "web-1", node: "node-a", zone: "zone-a"})
	if err := client.CoreV1().Pods("shop").Delete(context.Background(), "web-2", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "web-2 gone", 30*time.Second, func() bool {
		_, ok := c.Lookup("10.1.0.2:8080")
		return !ok
	})
	for _, tc := range []struct {
		name string
		at   time.Time
		term bool
	}{
		{"before it terminated", before, false},
		{"while it terminated", during, true},
		{"after it was gone", time.Now(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, ok := c.LookupAt("10.1.0.2:8080", tc.at)
			if !ok || ep.Pod != "web-2" || ep.Zone != "zone-b" || ep.Terminating != tc.term {
				t.Errorf("LookupAt %s = %+v %v, want web-2 in zone-b, terminating %v", tc.name, ep, ok, tc.term)
			}
		})
	}
}

// TestStartFailsWithoutAPIServer: an API server out of reach fails Start
// within SyncTimeout, saying why, instead of hanging the collector's
// start.
func TestStartFailsWithoutAPIServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := DefaultConfig()
	cfg.SyncTimeout = 500 * time.Millisecond
	c, err := New(kubernetes.NewForConfigOrDie(&rest.Config{Host: "http://" + addr}), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(context.Background())
	if err == nil {
		c.Shutdown(context.Background())
		t.Fatal("Start succeeded without an API server")
	}
	if !strings.Contains(err.Error(), "out of reach") {
		t.Errorf("Start: %v, want the reason", err)
	}
}
