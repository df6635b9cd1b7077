// Package injector is hopscope's mutating admission webhook: it adds the
// sidecar to pods that ask for it, without privileges.
//
// A pod asks with the annotation hopscope.io/inject: enabled, or by living
// in a namespace labelled so (the chart's webhook configuration tells the
// two apart by path). The sidecar is the container the Helm chart renders
// from its values (Template), added as a native sidecar (an init container
// with restartPolicy Always) or, before Kubernetes 1.29, as a regular
// container.
//
// Traffic is captured by port swap, not iptables: the app container's port
// named "http" (hopscope.io/port-name) is renamed and the sidecar's port
// takes its name, so every Service whose targetPort is that name reaches
// the sidecar, which forwards to the app's port number on localhost.
// Probes that named the port are rewritten to its number, so the kubelet
// keeps probing the app itself.
//
// Injection never blocks a deployment: a pod that cannot be patched is
// admitted unchanged, with an admission warning saying why.
package injector
