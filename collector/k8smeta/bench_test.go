package k8smeta

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkLookupAt: one try's lookup, as the collector makes per ingress
// record, in a table of 10,000 addresses with a few changes each.
func BenchmarkLookupAt(b *testing.B) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c, err := New(nil, DefaultConfig(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for s := range 100 {
		for step := range 3 {
			eps := map[string]Endpoint{}
			for i := range 100 {
				eps[fmt.Sprintf("10.%d.%d.1", s, i)] = Endpoint{Pod: fmt.Sprintf("web-%d-%d", s, i), Namespace: "shop",
					Node: "node-a", Zone: "zone-a", Terminating: step == 2}
			}
			c.idx.setSource(t0.Add(time.Duration(step)*time.Minute), fmt.Sprintf("slice/shop/web-%d", s), eps)
		}
	}
	at := t0.Add(90 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.LookupAt("10.42.17.1:8080", at); !ok {
			b.Fatal("not found")
		}
	}
}

// BenchmarkIndexMemory reports the heap the index holds per address (one
// EndpointSlice endpoint with one change), for sizing
// --kube-metadata-max-addresses.
func BenchmarkIndexMemory(b *testing.B) {
	const n = 20_000
	eps := make(map[string]Endpoint, 100)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		x := newIndex(DefaultConfig())
		for s := range n / 100 {
			clear(eps)
			for i := range 100 {
				eps[fmt.Sprintf("10.%d.%d.%d", s/256, s%256, i)] = Endpoint{Pod: fmt.Sprintf("web-%d-%d", s, i), Namespace: "shop", Node: "node-a", Zone: "zone-a"}
			}
			x.setSource(time.Now(), fmt.Sprintf("slice/shop/web-%d", s), eps)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/address")
		runtime.KeepAlive(x)
	}
}
