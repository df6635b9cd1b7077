// Package xray parses and formats the AWS X-Ray trace header
// X-Amzn-Trace-Id.
//
// The header is a list of key=value fields separated by ';', for example
//
//	Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1
//
// An AWS Application Load Balancer that receives a request without the
// header adds one with only a Root; when the request already carries a
// Root it may prepend a Self field:
//
//	Root=1-67891233-abcdef012345678912345678
//	Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678
//
// The trace id is the concatenation of Root's two hex parts (8 hex digits of
// epoch seconds and 24 random hex digits), which is how X-Ray trace ids map
// onto 128-bit W3C trace ids.
//
// The field list is parsed here; the Root and the hex ids inside it are
// checked and decoded by internal/tracectx, the one parser of trace ids
// the sidecar, the log parsers and this package share.
//
// The package is pure: it performs no I/O, keeps no state and never reads
// the clock.
package xray
