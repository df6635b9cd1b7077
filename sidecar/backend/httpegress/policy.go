package httpegress

import (
	"sync"
	"time"
)

// limiter is a token bucket: Burst tokens, refilled at PerSecond.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: perSecond, burst: float64(burst), tokens: float64(burst)}
}

// allow takes one token if there is one.
func (l *limiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		if d := now.Sub(l.last); d > 0 {
			l.tokens = min(l.burst, l.tokens+d.Seconds()*l.rate)
		}
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// Circuit breaker states, as hopscope_backend_circuit_state exports them.
const (
	breakerClosed   = 0
	breakerHalfOpen = 1
	breakerOpen     = 2
)

// verdict is what one attempt says about the target's health.
type verdict int

const (
	verdictNone    verdict = iota // no verdict: the client went away first
	verdictSuccess                // an answer below 500
	verdictFailure                // a connection error, a timeout or a 5xx
)

// breaker opens after threshold consecutive failures, refuses calls for
// openFor, then lets one trial call through (half-open): its success closes
// the circuit, its failure opens it again.
type breaker struct {
	threshold int
	openFor   time.Duration
	export    func(state int)

	mu       sync.Mutex
	state    int
	failures int
	openedAt time.Time
	trial    bool // the half-open trial is in flight
}

func newBreaker(failures int, openFor time.Duration, export func(int)) *breaker {
	br := &breaker{threshold: failures, openFor: openFor, export: export}
	export(breakerClosed)
	return br
}

// allow says whether a call may go to the target now; trial is true for
// the one call a half-open circuit lets through, whose verdict must be
// reported.
func (br *breaker) allow(now time.Time) (ok, trial bool) {
	br.mu.Lock()
	defer br.mu.Unlock()
	switch br.state {
	case breakerClosed:
		return true, false
	case breakerOpen:
		if now.Sub(br.openedAt) < br.openFor {
			return false, false
		}
		br.setState(breakerHalfOpen)
	}
	if br.trial {
		return false, false
	}
	br.trial = true
	return true, true
}

// report records the verdict of a call allow let through.
func (br *breaker) report(now time.Time, trial bool, v verdict) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if trial {
		br.trial = false
		switch v {
		case verdictSuccess:
			br.failures = 0
			br.setState(breakerClosed)
		case verdictFailure:
			br.openedAt = now
			br.setState(breakerOpen)
		}
		return
	}
	if br.state != breakerClosed {
		return // a call that began before the circuit opened
	}
	switch v {
	case verdictSuccess:
		br.failures = 0
	case verdictFailure:
		br.failures++
		if br.failures >= br.threshold {
			br.openedAt = now
			br.setState(breakerOpen)
		}
	}
}

func (br *breaker) setState(s int) {
	if br.state != s {
		br.state = s
		br.export(s)
	}
}

// budgetWindow is the retry budget's sliding window, in one-second buckets.
const budgetWindow = 10

// budgetMinRetries are retries allowed in every window on top of the
// ratio, so a backend called a few times a minute still gets one.
const budgetMinRetries = 2

// retryBudget allows retries while they stay within ratio × requests over
// the last budgetWindow seconds (plus budgetMinRetries), so retries cannot
// multiply the load of an outage.
type retryBudget struct {
	ratio float64

	mu      sync.Mutex
	buckets [budgetWindow]struct {
		sec               int64
		requests, retries int
	}
}

func (rb *retryBudget) bucket(now time.Time) int {
	sec := now.Unix()
	i := int(sec % budgetWindow)
	if rb.buckets[i].sec != sec {
		rb.buckets[i].sec, rb.buckets[i].requests, rb.buckets[i].retries = sec, 0, 0
	}
	return i
}

// request counts one request (a call, not its attempts).
func (rb *retryBudget) request(now time.Time) {
	rb.mu.Lock()
	rb.buckets[rb.bucket(now)].requests++
	rb.mu.Unlock()
}

// tryRetry takes one retry from the budget if it allows one.
func (rb *retryBudget) tryRetry(now time.Time) bool {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	i := rb.bucket(now)
	sec := now.Unix()
	var requests, retries int
	for _, b := range rb.buckets {
		if sec-b.sec < budgetWindow {
			requests += b.requests
			retries += b.retries
		}
	}
	if float64(retries+1) > rb.ratio*float64(requests)+budgetMinRetries {
		return false
	}
	rb.buckets[i].retries++
	return true
}
