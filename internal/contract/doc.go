// Package contract holds the names hopscope's parts share on the wire and
// in Prometheus: the span attribute keys the sidecar writes and the
// collector reads (attributes.go), the keys of the sidecar's access-log
// record (accesslog.go), every metric and label name the sidecar, its
// backend proxies and the collector expose (metrics.go), and the hop names
// of a breakdown (hops.go).
//
// docs/design.md describes the contract; this package is its one spelling
// in Go. The sidecar, the collector, correlate, the dashboards and the
// rules use these constants instead of literals, so a name changes in one
// place and the parts cannot drift apart. Changing a value here changes
// the wire format: dashboards, alerts, stored traces and log pipelines
// read these names.
//
// The package imports nothing of the project (and nothing outside the
// standard library), so every part may import it; internal/depcheck keeps
// the layering so.
package contract
