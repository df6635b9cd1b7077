package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// openLoopResult is one open-loop run: requests scheduled at a fixed rate
// whatever the proxy does, latency measured from each request's scheduled
// start (so a stall delays every request scheduled during it, as it would
// real users, instead of pausing the load the way a closed loop like wrk
// does — "coordinated omission").
type openLoopResult struct {
	// Rate is the scheduled rate, requests a second.
	Rate float64 `json:"rate"`
	// Scheduled is how many requests were scheduled, Completed how many
	// answered 200, Errors the rest (socket errors, other statuses).
	Scheduled int64 `json:"scheduled"`
	Completed int64 `json:"completed"`
	Errors    int64 `json:"errors"`
	// Achieved is Completed over the time from the first scheduled start
	// to the last answer.
	Achieved float64 `json:"achieved_req_per_sec"`
	// P50Ms, P99Ms, P999Ms and MaxMs: latency from the scheduled start to
	// the end of the answer, of the answered requests.
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
	// LateP99Ms is the generator's own lateness: the 99th percentile of
	// scheduled start to the request's first byte written, part of every
	// contender's latency alike (its noise floor).
	LateP99Ms float64 `json:"generator_late_p99_ms"`
}

// openLoop sends GET / to addr (host:port) at rate requests a second for
// d over conns keep-alive HTTP/1.1 connections, opened before the first
// request. A request waits for a free connection (counted in its latency);
// a connection that fails is counted as one error and redialled.
func openLoop(ctx context.Context, addr string, rate float64, d time.Duration, conns int) (openLoopResult, error) {
	res := openLoopResult{Rate: rate}
	n := int(rate * d.Seconds())
	if n < 1 || conns < 1 {
		return res, fmt.Errorf("open loop: %v req/s for %v over %d connections schedules nothing", rate, d, conns)
	}
	period := time.Duration(float64(time.Second) / rate)
	req := []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: hopscope-bench-openloop\r\n\r\n")

	clients := make([]*olConn, conns)
	for i := range clients {
		c, err := dialOL(ctx, addr)
		if err != nil {
			for _, c := range clients[:i] {
				c.close()
			}
			return res, fmt.Errorf("open loop: connection %d: %w", i+1, err)
		}
		clients[i] = c
	}
	// The dispatcher spins (yielding the CPU) to start requests on time;
	// the connections' goroutines need a second P to read answers
	// meanwhile, even on one CPU.
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}

	lat := make([]time.Duration, n)  // scheduled start → answer read; -1: failed
	late := make([]time.Duration, n) // scheduled start → written
	jobs := make(chan int, n)
	start := time.Now().Add(10 * time.Millisecond)
	at := func(i int) time.Time { return start.Add(time.Duration(i) * period) }
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			for i := range jobs {
				s := at(i)
				late[i] = time.Since(s)
				if err := c.do(ctx, addr, req); err != nil {
					lat[i] = -1
					continue
				}
				lat[i] = time.Since(s)
			}
		}()
	}
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := range n {
			if waitUntil(ctx, at(i)) != nil {
				break
			}
			jobs <- i
		}
		close(jobs)
	}()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	end := time.Now()

	res.Scheduled = int64(n)
	ok := make([]time.Duration, 0, n)
	for _, l := range lat {
		if l < 0 {
			res.Errors++
			continue
		}
		ok = append(ok, l)
	}
	res.Completed = int64(len(ok))
	if len(ok) == 0 {
		return res, fmt.Errorf("open loop: none of %d requests to %s answered 200", n, addr)
	}
	res.Achieved = float64(len(ok)) / end.Sub(start).Seconds()
	slices.Sort(ok)
	slices.Sort(late)
	res.P50Ms, res.P99Ms, res.P999Ms = ms(quantile(ok, 0.50)), ms(quantile(ok, 0.99)), ms(quantile(ok, 0.999))
	res.MaxMs = ms(ok[len(ok)-1])
	res.LateP99Ms = ms(quantile(late, 0.99))
	return res, nil
}

// quantile of sorted xs (nearest rank).
func quantile(xs []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(xs))+0.5) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// waitUntil returns at t: it sleeps while t is more than 2 ms away (Go's
// timers can be a millisecond late) and spins the rest, yielding the CPU to
// whatever else is runnable on it (the upstream, the answers' goroutines)
// at every turn, so requests start within microseconds of their schedule.
func waitUntil(ctx context.Context, t time.Time) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return ctx.Err()
		}
		if d > 2*time.Millisecond {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(d - time.Millisecond)
			continue
		}
		syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) // short: the P need not be handed off
	}
}

// olConn is one keep-alive connection of the open loop.
type olConn struct {
	nc net.Conn
	br *bufio.Reader
}

func dialOL(ctx context.Context, addr string) (*olConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &olConn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}, nil
}

func (c *olConn) close() {
	if c.nc != nil {
		c.nc.Close()
	}
}

// do sends one request and reads its whole answer. A connection that
// failed or that the proxy closed is redialled for the next request (which
// pays for the dial, as a real client would).
func (c *olConn) do(ctx context.Context, addr string, req []byte) error {
	if c.nc == nil {
		if err := c.redial(ctx, addr); err != nil {
			return err
		}
	}
	closed, err := c.roundTrip(req)
	if err != nil || closed {
		c.close()
		c.nc = nil
	}
	return err
}

func (c *olConn) redial(ctx context.Context, addr string) error {
	n, err := dialOL(ctx, addr)
	if err != nil {
		return err
	}
	*c = *n
	return nil
}

// roundTrip says whether the answer closed the connection.
func (c *olConn) roundTrip(req []byte) (closed bool, err error) {
	c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(req); err != nil {
		return true, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return true, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return true, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Close, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.Close, nil
}
