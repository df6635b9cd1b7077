// Package hugeheap asks Linux to back the Go heap with transparent huge
// pages as it grows: madvise(MADV_HUGEPAGE) over the heap's mappings.
//
// A collector's heap is mostly a store that grows and stays: every 4 KiB
// of it costs a page fault the first time it is written. On a host whose
// transparent huge pages are "madvise" (the default of Debian, Ubuntu and
// most cloud node images) the Go runtime asks for none, and those faults
// were a quarter of the collector's CPU in bench/collector on this
// machine's virtualised CPU; with 2 MiB pages there are 512 times fewer.
// Under "always" the kernel does it already, under "never" it cannot:
// the Advisor then does nothing.
//
// The heap's mappings are told apart from the runtime's other anonymous
// mappings by address: those within a terabyte of a heap object, where
// the runtime's arena hints place the heap (its metadata lives in the
// mmap area, far from it). The Advisor looks again whenever the runtime's
// mapped memory has grown, every Interval while it grows. The runtime
// starts using what it maps at once, so part of each new mapping is
// touched, in 4 KiB pages, before it is advised: about half of the heap
// ends up in huge pages in bench/collector.
package hugeheap
