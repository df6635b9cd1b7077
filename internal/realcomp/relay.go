package realcomp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func httpGet(url string) (int, error) {
	res, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// Relay forwards TCP from a loopback port to a target and holds every
// chunk travelling towards the target for a delay: a slow network link
// (between the ingress and the pod, say) on loopback, without privileges.
// Replies pass at once. The delay can be changed while it runs, so a test
// can measure the same path with and without it.
type Relay struct {
	ln    net.Listener
	delay atomic.Int64 // nanoseconds
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// DelayRelay starts a Relay to target on a free loopback port.
func DelayRelay(target string, delay time.Duration) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("relay listener: %w", err)
	}
	r := &Relay{ln: ln, conns: map[net.Conn]bool{}}
	r.delay.Store(int64(delay))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.relayConn(c, target)
			}()
		}
	}()
	return r, nil
}

// Addr is the relay's listening address.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// SetDelay changes the delay for chunks read from now on.
func (r *Relay) SetDelay(d time.Duration) { r.delay.Store(int64(d)) }

// Close stops accepting, closes every relayed connection and waits for
// the relay's goroutines.
func (r *Relay) Close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *Relay) track(c net.Conn, add bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if add {
		r.conns[c] = true
	} else {
		delete(r.conns, c)
	}
}

func (r *Relay) relayConn(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	r.track(c, true)
	r.track(up, true)
	defer r.track(c, false)
	defer r.track(up, false)
	done := make(chan struct{})
	go func() { _, _ = io.Copy(c, up); c.Close(); close(done) }()
	type chunk struct {
		due time.Time
		b   []byte
	}
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(time.Duration(r.delay.Load())), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		waitUntil(ch.due)
		if _, err := up.Write(ch.b); err != nil {
			break
		}
	}
	up.Close()
	<-done
}

// waitUntil sleeps until shortly before t and spins for the rest: a
// timer alone overshoots by up to a millisecond on a busy machine, which
// would show as error in the hop the relay stands for.
func waitUntil(t time.Time) {
	if d := time.Until(t) - time.Millisecond; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}
