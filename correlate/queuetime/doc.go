// Package queuetime reads the request queueing start time that a front proxy
// stamps into X-Request-Start or X-Queue-Start, and turns it into the time
// the request spent between that proxy and the reader.
//
// The accepted values are the ones New Relic and Datadog agents accept: an
// optional "t=" prefix followed by a Unix timestamp in seconds (optionally
// with a fraction, as nginx's $msec writes it), milliseconds (Heroku),
// microseconds (Apache's %t) or nanoseconds. See Parse for how the unit is
// chosen and which values are rejected.
//
// The package is pure: it performs no I/O, keeps no state and never reads
// the clock; the caller passes the current time.
package queuetime
