package k8smeta

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Cache watches EndpointSlices, Pods and Nodes and answers Lookup.
type Cache struct {
	cfg       Config
	client    kubernetes.Interface
	now       func() time.Time
	idx       *index
	factories []informers.SharedInformerFactory
	lookups   *prometheus.CounterVec
	found     prometheus.Counter // lookups{result="found"}, resolved once
	unknown   prometheus.Counter
	stop      chan struct{}
	wg        sync.WaitGroup
}

// New makes a cache on client; its metrics (sizes, untracked addresses)
// go to reg when not nil. now is the clock of the history (time.Now when
// nil).
func New(client kubernetes.Interface, cfg Config, reg prometheus.Registerer, now func() time.Time) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	c := &Cache{cfg: cfg, client: client, now: now, idx: newIndex(cfg),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hopscope_collector_kube_lookups_total",
			Help: "Upstream addresses looked up, by result: found (pod, node and zone known) or unknown."}, []string{"result"})}
	c.found, c.unknown = c.lookups.WithLabelValues("found"), c.lookups.WithLabelValues("unknown")
	if reg != nil {
		for _, col := range []prometheus.Collector{c.lookups,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hopscope_collector_kube_addresses",
				Help: "Pod addresses whose pod, node and zone the collector knows (now or within --kube-metadata-history)."},
				func() float64 { a, _ := c.idx.size(); return float64(a) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hopscope_collector_kube_changes",
				Help: "Endpoint state changes held in the history, over all addresses."},
				func() float64 { _, n := c.idx.size(); return float64(n) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hopscope_collector_kube_untracked_total",
				Help: "Endpoint addresses not tracked because --kube-metadata-max-addresses was reached."},
				func() float64 { c.idx.mu.RLock(); defer c.idx.mu.RUnlock(); return float64(c.idx.untracked) }),
		} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("k8smeta: registering metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Lookup is the state of address (an IP, or IP:port) now; false when no
// EndpointSlice or Pod lists it.
func (c *Cache) Lookup(address string) (Endpoint, bool) { return c.idx.lookup(address, time.Time{}) }

// LookupAt is the state address had at time at, within History: an
// endpoint gone since is reported as it last was (terminating, usually).
func (c *Cache) LookupAt(address string, at time.Time) (Endpoint, bool) {
	if at.IsZero() {
		at = c.now()
	}
	ep, ok := c.idx.lookup(address, at)
	if ok {
		c.found.Inc()
	} else {
		c.unknown.Inc()
	}
	return ep, ok
}

// Start lists and watches the three resources and returns once the first
// lists are in (or ctx ends).
func (c *Cache) Start(ctx context.Context) error {
	c.stop = make(chan struct{})
	nodes := informers.NewSharedInformerFactoryWithOptions(c.client, c.cfg.Resync)
	ni := nodes.Core().V1().Nodes().Informer()
	if err := ni.SetTransform(stripNode); err != nil {
		return fmt.Errorf("k8smeta: %w", err)
	}
	if _, err := ni.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { c.node(o, false) },
		UpdateFunc: func(_, o any) { c.node(o, false) },
		DeleteFunc: func(o any) { c.node(o, true) },
	}); err != nil {
		return fmt.Errorf("k8smeta: %w", err)
	}
	c.factories = append(c.factories, nodes)
	namespaces := c.cfg.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		f := informers.NewSharedInformerFactoryWithOptions(c.client, c.cfg.Resync, informers.WithNamespace(ns))
		si := f.Discovery().V1().EndpointSlices().Informer()
		pi := f.Core().V1().Pods().Informer()
		for _, err := range []error{si.SetTransform(stripSlice), pi.SetTransform(stripPod)} {
			if err != nil {
				return fmt.Errorf("k8smeta: %w", err)
			}
		}
		if _, err := si.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.slice(o, false) },
			UpdateFunc: func(_, o any) { c.slice(o, false) },
			DeleteFunc: func(o any) { c.slice(o, true) },
		}); err != nil {
			return fmt.Errorf("k8smeta: %w", err)
		}
		if _, err := pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.pod(o, false) },
			UpdateFunc: func(_, o any) { c.pod(o, false) },
			DeleteFunc: func(o any) { c.pod(o, true) },
		}); err != nil {
			return fmt.Errorf("k8smeta: %w", err)
		}
		c.factories = append(c.factories, f)
	}
	for _, f := range c.factories {
		f.Start(c.stop)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.SyncTimeout,
		fmt.Errorf("not within %s: API server out of reach, or no get/list/watch on endpointslices, pods, nodes", c.cfg.SyncTimeout))
	defer cancel()
	for _, f := range c.factories {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				c.shutdown()
				return fmt.Errorf("k8smeta: listing %v did not complete: %w", typ, context.Cause(ctx))
			}
		}
	}
	stop := c.stop
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(min(c.cfg.History/4, time.Minute))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				c.idx.expire(c.now())
			}
		}
	}()
	return nil
}

// Shutdown stops the watches and waits for them.
func (c *Cache) Shutdown(context.Context) error {
	c.shutdown()
	return nil
}

func (c *Cache) shutdown() {
	if c.stop == nil {
		return
	}
	close(c.stop)
	c.stop = nil
	for _, f := range c.factories {
		f.Shutdown()
	}
	c.wg.Wait()
}

// unwrap takes the object out of a delete event's tombstone.
func unwrap(o any) any {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return o
}

func (c *Cache) node(o any, deleted bool) {
	n, ok := unwrap(o).(*corev1.Node)
	if !ok {
		return
	}
	zone := n.Labels[ZoneLabel]
	if deleted {
		zone = ""
	}
	c.idx.setNode(n.Name, zone)
}

func (c *Cache) slice(o any, deleted bool) {
	s, ok := unwrap(o).(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	key := "slice/" + s.Namespace + "/" + s.Name
	if deleted {
		c.idx.setSource(c.now(), key, nil)
		return
	}
	c.idx.setSource(c.now(), key, sliceEndpoints(s))
}

// sliceEndpoints is what an EndpointSlice says of each of its addresses.
func sliceEndpoints(s *discoveryv1.EndpointSlice) map[string]Endpoint {
	eps := make(map[string]Endpoint, len(s.Endpoints))
	for _, e := range s.Endpoints {
		var ep Endpoint
		if r := e.TargetRef; r != nil && r.Kind == "Pod" {
			ep.Pod, ep.Namespace = r.Name, r.Namespace
			if ep.Namespace == "" {
				ep.Namespace = s.Namespace
			}
		}
		if e.NodeName != nil {
			ep.Node = *e.NodeName
		}
		if e.Zone != nil {
			ep.Zone = *e.Zone
		}
		ep.Terminating = e.Conditions.Terminating != nil && *e.Conditions.Terminating
		for _, a := range e.Addresses {
			eps[a] = ep
		}
	}
	return eps
}

func (c *Cache) pod(o any, deleted bool) {
	p, ok := unwrap(o).(*corev1.Pod)
	if !ok {
		return
	}
	key := "pod/" + p.Namespace + "/" + p.Name
	if deleted || p.Spec.HostNetwork {
		// A host-network pod's address is its node's, shared by many.
		c.idx.setSource(c.now(), key, nil)
		return
	}
	eps := make(map[string]Endpoint, len(p.Status.PodIPs))
	ep := Endpoint{Pod: p.Name, Namespace: p.Namespace, Node: p.Spec.NodeName, Terminating: p.DeletionTimestamp != nil}
	for _, ip := range p.Status.PodIPs {
		eps[ip.IP] = ep
	}
	if len(eps) == 0 && p.Status.PodIP != "" {
		eps[p.Status.PodIP] = ep
	}
	c.idx.setSource(c.now(), key, eps)
}

// The transforms keep, of each object the informers hold, only what the
// handlers read: the informers' own stores stay small.

func stripNode(o any) (any, error) {
	n, ok := o.(*corev1.Node)
	if !ok {
		return o, nil
	}
	out := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Namespace: n.Namespace, ResourceVersion: n.ResourceVersion, UID: n.UID}}
	if z, ok := n.Labels[ZoneLabel]; ok {
		out.Labels = map[string]string{ZoneLabel: z}
	}
	return out, nil
}

func stripPod(o any) (any, error) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return o, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, ResourceVersion: p.ResourceVersion, UID: p.UID, DeletionTimestamp: p.DeletionTimestamp},
		Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork},
		Status:     corev1.PodStatus{PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}, nil
}

func stripSlice(o any) (any, error) {
	s, ok := o.(*discoveryv1.EndpointSlice)
	if !ok {
		return o, nil
	}
	s.ManagedFields, s.Annotations = nil, nil
	for i := range s.Endpoints {
		s.Endpoints[i].Hints, s.Endpoints[i].DeprecatedTopology = nil, nil
	}
	return s, nil
}
