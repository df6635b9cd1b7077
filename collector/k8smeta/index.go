package k8smeta

import (
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// Endpoint is what the cluster says about one address.
type Endpoint struct {
	// Pod and Namespace name the pod behind the address (the
	// EndpointSlice endpoint's targetRef, or the Pod whose IP it is).
	Pod, Namespace string
	// Node is the node the pod runs on; Zone its zone (the endpoint's
	// zone, else the Node's topology.kubernetes.io/zone label).
	Node, Zone string
	// Terminating is the endpoint's conditions.terminating (or the
	// Pod's deletionTimestamp).
	Terminating bool
}

// ZoneLabel is the well-known label of a Node's zone.
const ZoneLabel = "topology.kubernetes.io/zone"

// change is the state of an address from at on; gone means no source
// lists it any more (ep is then the last state it had).
type change struct {
	at   time.Time
	ep   Endpoint
	gone bool
}

// addr is one address: its current sources and the history of its merged
// state, oldest first.
type addr struct {
	sources []source // usually one
	changes []change
}

// source is what one EndpointSlice or Pod says of an address.
type source struct {
	key string // "slice/NS/NAME" or "pod/NS/NAME"
	ep  Endpoint
}

// index is the address → state table the informers feed. It is safe for
// concurrent use.
type index struct {
	cfg Config

	mu        sync.RWMutex
	addrs     map[string]*addr
	nodeZone  map[string]string
	bySource  map[string][]string // source key → the addresses it listed
	changes   int                 // changes held, over all addresses
	untracked uint64              // addresses not tracked: MaxAddresses reached
}

func newIndex(cfg Config) *index {
	return &index{cfg: cfg, addrs: map[string]*addr{}, nodeZone: map[string]string{}, bySource: map[string][]string{}}
}

// setSource replaces what source key lists with eps (address → state) at
// now; an empty eps removes the source.
func (x *index) setSource(now time.Time, key string, eps map[string]Endpoint) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ip := range x.bySource[key] {
		if _, still := eps[ip]; still {
			continue
		}
		if a := x.addrs[ip]; a != nil {
			a.sources = slices.DeleteFunc(a.sources, func(s source) bool { return s.key == key })
			x.record(now, a)
		}
	}
	if len(eps) == 0 {
		delete(x.bySource, key)
		return
	}
	ips := make([]string, 0, len(eps))
	for ip, ep := range eps {
		a := x.addrs[ip]
		if a == nil {
			if len(x.addrs) >= x.cfg.MaxAddresses {
				x.untracked++
				continue
			}
			a = &addr{}
			x.addrs[ip] = a
		}
		if i := slices.IndexFunc(a.sources, func(s source) bool { return s.key == key }); i >= 0 {
			a.sources[i].ep = ep
		} else {
			a.sources = append(a.sources, source{key, ep})
		}
		x.record(now, a)
		ips = append(ips, ip)
	}
	x.bySource[key] = ips
}

// merged is an address's state from its sources: an EndpointSlice's
// before a Pod's (the first by key), terminating when any source says so.
func merged(a *addr) (Endpoint, bool) {
	if len(a.sources) == 0 {
		return Endpoint{}, false
	}
	best := 0
	term := false
	for i, s := range a.sources {
		term = term || s.ep.Terminating
		if before(s.key, a.sources[best].key) {
			best = i
		}
	}
	ep := a.sources[best].ep
	ep.Terminating = term
	return ep, true
}

// before orders source keys: EndpointSlices first, then by key.
func before(a, b string) bool {
	as, bs := strings.HasPrefix(a, "slice/"), strings.HasPrefix(b, "slice/")
	if as != bs {
		return as
	}
	return a < b
}

// record appends a change when the merged state of a differs from its
// last one, keeping at most MaxChanges.
func (x *index) record(now time.Time, a *addr) {
	ep, ok := merged(a)
	c := change{at: now, ep: ep, gone: !ok}
	if n := len(a.changes); n > 0 {
		last := a.changes[n-1]
		if c.gone {
			if last.gone {
				return
			}
			c.ep = last.ep
		} else if !last.gone && last.ep == ep {
			return
		}
	} else if c.gone {
		return
	}
	a.changes = append(a.changes, c)
	x.changes++
	if len(a.changes) > x.cfg.MaxChanges {
		a.changes = slices.Delete(a.changes, 0, 1)
		x.changes--
	}
}

// setNode records a node's zone ("" removes it).
func (x *index) setNode(name, zone string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if zone == "" {
		delete(x.nodeZone, name)
		return
	}
	x.nodeZone[name] = zone
}

// hostOf strips a port from addr ("10.0.0.1:8080", "[fd00::1]:80").
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
}

// lookup is the state of address at time at (zero: now, and only while
// some source still lists it).
func (x *index) lookup(address string, at time.Time) (Endpoint, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	a := x.addrs[hostOf(address)]
	if a == nil || len(a.changes) == 0 {
		return Endpoint{}, false
	}
	var c change
	if at.IsZero() {
		c = a.changes[len(a.changes)-1]
		if c.gone {
			return Endpoint{}, false
		}
	} else {
		// The last change at or before at; before the first one (the
		// cache started after the request), the first one.
		i, _ := slices.BinarySearchFunc(a.changes, at, func(c change, t time.Time) int {
			if c.at.After(t) {
				return 1
			}
			return -1
		})
		c = a.changes[max(i-1, 0)]
	}
	ep := c.ep
	if ep.Zone == "" && ep.Node != "" {
		ep.Zone = x.nodeZone[ep.Node]
	}
	return ep, true
}

// expire forgets addresses gone for longer than History and changes
// superseded more than History ago.
func (x *index) expire(now time.Time) {
	cutoff := now.Add(-x.cfg.History)
	x.mu.Lock()
	defer x.mu.Unlock()
	for ip, a := range x.addrs {
		n := len(a.changes)
		if n == 0 || a.changes[n-1].gone && a.changes[n-1].at.Before(cutoff) {
			x.changes -= n
			delete(x.addrs, ip)
			continue
		}
		drop := 0
		for drop+1 < n && a.changes[drop+1].at.Before(cutoff) {
			drop++
		}
		if drop > 0 {
			a.changes = slices.Delete(a.changes, 0, drop)
			x.changes -= drop
		}
	}
}

// size is the addresses and changes held.
func (x *index) size() (addresses, changes int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.addrs), x.changes
}
