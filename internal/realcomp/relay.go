package realcomp

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
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

// DelayRelay forwards TCP from a loopback port to target and holds every
// chunk travelling towards target for delay: a slow network link (between
// the ingress and the pod, say) on loopback, without privileges. Replies
// pass at once. It returns the relay's address and its stop function.
func DelayRelay(target string, delay time.Duration) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				relayConn(c, target, delay, track)
			}()
		}
	}()
	stop := func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	return ln.Addr().String(), stop, nil
}

func relayConn(c net.Conn, target string, delay time.Duration, track func(net.Conn, bool)) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	track(c, true)
	track(up, true)
	defer track(c, false)
	defer track(up, false)
	done := make(chan struct{})
	go func() { _, _ = io.Copy(c, up); c.Close(); close(done) }()
	type chunk struct {
		at time.Time
		b  []byte
	}
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				q <- chunk{time.Now(), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		waitUntil(ch.at.Add(delay))
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
