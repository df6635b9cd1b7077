//go:build race

package correlate

// The race detector's instrumentation moves values to the heap that
// escape analysis keeps on the stack without it, so allocation counts
// mean nothing under it.
func init() { raceEnabled = true }
