// Package k8smeta maps an ingress upstream address (a pod IP, with or
// without its port) to the pod, node and zone behind it, from the
// Kubernetes API: EndpointSlices (discovery.k8s.io/v1) give each endpoint's
// targetRef, nodeName, zone and conditions.terminating; Nodes give the
// topology.kubernetes.io/zone label when an endpoint carries no zone; Pods
// answer for a pod IP no EndpointSlice lists (an ingress sending to a pod
// directly). It needs only get, list and watch on the three resources.
//
// The state of an address is kept as a short history of changes (bounded
// in age and in entries per address, and in addresses overall), so that a
// log line read late still gets the state at its own time: an endpoint that
// was terminating when the request was made and is gone when the line is
// read is reported terminating.
package k8smeta
