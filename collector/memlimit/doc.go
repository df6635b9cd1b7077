// Package memlimit keeps the collector's heap under a limit, as the
// OpenTelemetry Collector's memory_limiter processor does: every
// CheckInterval it reads the heap in use (runtime/metrics
// "/memory/classes/heap/objects:bytes", the bytes of heap objects live or
// not yet swept: what runtime.MemStats.HeapAlloc reports, read without
// stopping the world). From the soft limit (LimitBytes − SpikeBytes) on, the
// Limiter refuses: Refusing reports true, and the receivers answer with
// their protocol's back-pressure (OTLP/HTTP 429, OTLP/gRPC
// RESOURCE_EXHAUSTED, a paused Fluent forward connection) before they read
// a request. At the hard limit (LimitBytes) it also forces a garbage
// collection, at most every HardGCInterval (the heap may be live data: the
// requests taken in before refusing began, which more GCs would only keep
// from being processed); between the two, one when refusing starts and
// then at most every SoftGCInterval, so that a heap of garbage no longer
// growing (nothing comes in while refusing) is collected and input resumes.
// It accepts again as soon as a check finds the heap under the soft limit:
// no restart.
//
// SpikeBytes is the room for what arrives between two checks and for the
// requests already being read when refusing starts.
package memlimit
