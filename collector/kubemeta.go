package collector

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hopscope/hopscope/collector/k8smeta"
	"github.com/hopscope/hopscope/correlate"
)

// addKubeMetadata starts the EndpointSlice/Pod/Node cache of
// --kube-metadata first of the components, so that lookups answer once
// the receivers take input.
func (c *Collector) addKubeMetadata() error {
	if !c.cfg.KubeMetadata {
		return nil
	}
	rc := c.opts.KubeConfig
	if rc == nil {
		var err error
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig(); err != nil {
			return fmt.Errorf("--kube-metadata: no in-cluster ServiceAccount nor $KUBECONFIG: %w", err)
		}
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("--kube-metadata: %w", err)
	}
	if c.kube, err = k8smeta.New(client, c.cfg.kubeConfig(), c.opts.Registerer, c.now); err != nil {
		return fmt.Errorf("--kube-metadata: %w", err)
	}
	c.starts = append(c.starts, c.kube)
	return nil
}

// enrich fills an ingress record's tries with the pod, node and zone of
// their address at the request's time, terminating and cross-zone, before
// the record is joined (correlate stays pure: the mapping arrives as
// data).
func (c *Collector) enrich(rec correlate.Record) {
	in, ok := rec.(*correlate.IngressLog)
	if !ok || c.kube == nil {
		return
	}
	for i := range in.Tries {
		t := &in.Tries[i]
		if t.Addr == "" {
			continue
		}
		ep, ok := c.kube.LookupAt(t.Addr, in.Start)
		if !ok {
			continue
		}
		t.Pod, t.Namespace, t.Node, t.Zone, t.Terminating = ep.Pod, ep.Namespace, ep.Node, ep.Zone, ep.Terminating
		t.CrossZone = c.cfg.IngressZone != "" && ep.Zone != "" && ep.Zone != c.cfg.IngressZone
	}
}
