// Package harness is what the benchmark programs under bench/ share: child
// processes started in their own process group (pinned with taskset) and
// stopped as a group, the CPU time and memory of a process tree and the busy
// time of each CPU read from /proc, waiting for quiet CPUs, free loopback
// ports, readiness polling, a description of the machine and the tools'
// versions, and the helpers their text reports are formatted with.
//
// It is Linux-only, as the benchmarks are.
package harness
