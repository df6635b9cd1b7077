// Package tools pins the real components hopscope's tests and benchmarks
// build from the Go module proxy in modules of their own, so their
// dependencies never enter hopscope's go.mod: Jaeger v2 here, telemetrygen
// in ./telemetrygen (the two need OpenTelemetry Collector versions that do
// not build together), Helm in ./helm, kube-apiserver in ./kube and the
// Collector's fluentforward receiver in ./fluentforward, Caddy (with its
// tracing module) in ./caddy, SeaweedFS (an S3-compatible server) in
// ./seaweedfs, prometheus-adapter in ./promadapter. tools/build builds
// them into bin/. See README.md.
//
//	go build -o bin/ github.com/jaegertracing/jaeger/cmd/jaeger      # or: go tool jaeger …
package tools
