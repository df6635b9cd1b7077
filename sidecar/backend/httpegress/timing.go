package httpegress

import (
	"crypto/tls"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// epoch is the monotonic origin of the timings.
var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// timing collects one attempt's httptrace events as nanoseconds since
// base (0: did not happen). The hooks may run on the transport's dialing
// goroutines, even after the call ended (a dial the call started but did
// not use), hence the atomics, and quiet. A timing is pooled with its
// exchange, its hooks bound once.
type timing struct {
	base atomic.Int64 // monotonic() at the attempt's start

	dnsStart, dnsDone   atomic.Int64
	connStart, connDone atomic.Int64
	tlsStart, tlsDone   atomic.Int64
	gotConn, firstByte  atomic.Int64
	reused              atomic.Bool

	trace httptrace.ClientTrace
}

func (t *timing) init() {
	t.trace = httptrace.ClientTrace{
		DNSStart:             t.onDNSStart,
		DNSDone:              t.onDNSDone,
		ConnectStart:         t.onConnectStart,
		ConnectDone:          t.onConnectDone,
		TLSHandshakeStart:    t.onTLSStart,
		TLSHandshakeDone:     t.onTLSDone,
		GotConn:              t.onGotConn,
		GotFirstResponseByte: t.onFirstByte,
	}
}

// reset starts an attempt.
func (t *timing) reset() {
	t.base.Store(monotonic())
	for _, v := range []*atomic.Int64{&t.dnsStart, &t.dnsDone, &t.connStart, &t.connDone, &t.tlsStart, &t.tlsDone, &t.gotConn, &t.firstByte} {
		v.Store(0)
	}
	t.reused.Store(false)
}

func (t *timing) now() int64 { return max(monotonic()-t.base.Load(), 1) }

// quiet is whether no hook of this call can still fire: no dial was
// started, or the one started gave the call its connection. Only then may
// the timing be reused by another call.
func (t *timing) quiet() bool {
	dns, conn, tls := t.dnsStart.Load(), t.connStart.Load(), t.tlsStart.Load()
	if dns == 0 && conn == 0 && tls == 0 {
		return true
	}
	done := (dns == 0 || t.dnsDone.Load() != 0) && (conn == 0 || t.connDone.Load() != 0) && (tls == 0 || t.tlsDone.Load() != 0)
	return done && t.gotConn.Load() != 0 && !t.reused.Load()
}

func (t *timing) onDNSStart(httptrace.DNSStartInfo) { t.dnsStart.CompareAndSwap(0, t.now()) }
func (t *timing) onDNSDone(httptrace.DNSDoneInfo)   { t.dnsDone.Store(t.now()) }
func (t *timing) onConnectStart(_, _ string)        { t.connStart.CompareAndSwap(0, t.now()) }
func (t *timing) onConnectDone(_, _ string, _ error) {
	t.connDone.Store(t.now())
}
func (t *timing) onTLSStart()                          { t.tlsStart.Store(t.now()) }
func (t *timing) onTLSDone(tls.ConnectionState, error) { t.tlsDone.Store(t.now()) }
func (t *timing) onFirstByte()                         { t.firstByte.CompareAndSwap(0, t.now()) }
func (t *timing) onGotConn(info httptrace.GotConnInfo) {
	t.gotConn.Store(t.now())
	t.reused.Store(info.Reused)
}
func span(start, end *atomic.Int64) float64 { return spanOf(start.Load(), end.Load()) }
func spanOf(s, e int64) float64 {
	if s == 0 || e < s {
		return 0
	}
	return float64(e-s) / 1e6
}

// phases are the attempt's durations in milliseconds: DNS, connect, TLS,
// and time to first byte from having the connection (writing the request
// and the target's think time). They do not overlap, so their sum with the
// body time stays within the call.
func (t *timing) phases() (dns, connect, tlsMs, ttfb float64) {
	return span(&t.dnsStart, &t.dnsDone), span(&t.connStart, &t.connDone),
		span(&t.tlsStart, &t.tlsDone), span(&t.gotConn, &t.firstByte)
}
