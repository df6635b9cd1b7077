// Package backend is what the sidecar's backend proxies share: the
// `backends:` configuration, the attribution of a backend call to the
// inbound request it served, and the Recorder that turns each measured
// call into a client span and the hopscope_backend_* metrics.
//
// An app that cannot be changed is pointed at a local listener of the
// sidecar (127.0.0.1:15432 for PostgreSQL, say) instead of its backend;
// the protocol proxy (sub-packages pgproxy, redisproxy, httpegress, and a
// plain TCP relay here) forwards every byte unchanged and times each query,
// command or request as it passes. Telemetry never changes the traffic:
// a decoding failure turns the connection into a plain relay, counted.
package backend
