package rum

import (
	"container/list"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter is a token bucket per client, with a bounded set of buckets:
// when full, the least recently used bucket is reused for the new client.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*list.Element
	lru     list.List // of *bucket, most recently used at the front
}

type bucket struct {
	key    netip.Addr
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst, max int, now func() time.Time) *limiter {
	return &limiter{
		rate:    rate,
		burst:   float64(burst),
		max:     max,
		now:     now,
		buckets: make(map[netip.Addr]*list.Element),
	}
}

// allow takes a token from key's bucket. When it is empty, allow returns
// false and the time until a token will be there.
func (l *limiter) allow(key netip.Addr) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e, ok := l.buckets[key]; ok {
		l.lru.MoveToFront(e)
		b = e.Value.(*bucket)
		if now.After(b.last) { // a clock that goes back refills nothing
			b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
			b.last = now
		}
	} else if len(l.buckets) < l.max {
		b = &bucket{key: key, tokens: l.burst, last: now}
		l.buckets[key] = l.lru.PushFront(b)
	} else {
		// Full: forget the least recently seen client. It is the likeliest
		// to have refilled its bucket anyway.
		e := l.lru.Back()
		b = e.Value.(*bucket)
		delete(l.buckets, b.key)
		*b = bucket{key: key, tokens: l.burst, last: now}
		l.buckets[key] = e
		l.lru.MoveToFront(e)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// len returns the number of clients tracked.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// clientKey is the rate limiter's key for addr: the address itself for
// IPv4 (IPv4-mapped IPv6 included), its /64 for IPv6, since one client
// usually holds a whole /64.
func clientKey(addr netip.Addr) netip.Addr {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return addr
}

// parseAddr reads an address written with or without a port
// ("192.0.2.1", "192.0.2.1:5678", "2001:db8::1", "[2001:db8::1]",
// "[2001:db8::1]:443").
func parseAddr(s string) (netip.Addr, bool) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}
