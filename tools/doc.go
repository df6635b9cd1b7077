// Package tools pins the real components hopscope's tests and benchmarks
// build from the Go module proxy — Jaeger v2 and telemetrygen — in a module
// of their own, so their dependencies never enter hopscope's go.mod.
//
//	go build -o bin/ tool    # or: go tool jaeger …
package tools
