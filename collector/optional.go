package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hopscope/hopscope/collector/albdir"
	"github.com/hopscope/hopscope/collector/rum"
	"github.com/hopscope/hopscope/collector/tail"
	"github.com/hopscope/hopscope/correlate"
)

// addOptional wires the receivers that are off unless configured: the ALB
// log directory and the public RUM endpoint.
func (c *Collector) addOptional() error {
	if c.cfg.ALBLogs != "" {
		acfg := albdir.DefaultConfig()
		acfg.Dir = c.cfg.ALBLogs
		acfg.StateDir = c.cfg.StateDir
		if c.opts.ALBScanInterval > 0 {
			acfg.ScanInterval = c.opts.ALBScanInterval
		}
		if c.opts.ALBSettleTime > 0 {
			acfg.SettleTime = c.opts.ALBSettleTime
		}
		acfg.OnError = func(path string, err error) {
			c.m.rejected.WithLabelValues(SrcALB, "read_error").Inc()
			c.log.Warn("ALB logs", zap.String("path", path), zap.Error(err))
		}
		c.limitALB(&acfg)
		r, err := albdir.New(acfg, func(l tail.Line) { c.consumeLine(FormatALB, SrcALB, l.Source, l.Number, string(l.Text)) })
		if err != nil {
			return fmt.Errorf("--alb-logs: %w", err)
		}
		c.starts = append(c.starts, r)
	}
	return c.addRUM()
}

// Bounds of the public RUM endpoint, which faces the internet (a beacon is
// a few KiB sent at once; nothing legitimate needs longer).
const (
	// RUMReadHeaderTimeout and RUMReadTimeout bound reading a request's
	// headers and the whole request, body included: a client that sends
	// half a body and stalls is cut off.
	RUMReadHeaderTimeout = 5 * time.Second
	RUMReadTimeout       = 10 * time.Second
	// RUMWriteTimeout bounds a request from its headers to the end of the
	// response.
	RUMWriteTimeout = 15 * time.Second
	// RUMIdleTimeout closes a kept-alive connection with no request.
	RUMIdleTimeout = 30 * time.Second
	// RUMMaxConnections bounds the connections served at once; more wait
	// in the listen backlog until one closes.
	RUMMaxConnections = 1024
)

// rumServer serves the public RUM endpoint on its own listener.
type rumServer struct {
	addr     string
	srv      *http.Server
	maxConns int
	ln       net.Listener
}

func newRUMServer(addr string, h http.Handler) *rumServer {
	return &rumServer{addr: addr, maxConns: RUMMaxConnections, srv: &http.Server{Handler: h,
		ReadHeaderTimeout: RUMReadHeaderTimeout, ReadTimeout: RUMReadTimeout,
		WriteTimeout: RUMWriteTimeout, IdleTimeout: RUMIdleTimeout, MaxHeaderBytes: 16 << 10}}
}

func (r *rumServer) Start(context.Context) error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("--rum-listen %s: %w", r.addr, err)
	}
	r.ln = ln
	go func() { _ = r.srv.Serve(limitListener(ln, r.maxConns)) }()
	return nil
}

func (r *rumServer) Shutdown(ctx context.Context) error { return r.srv.Shutdown(ctx) }

func (c *Collector) addRUM() error {
	if c.cfg.RUMListen == "" {
		return nil
	}
	if len(c.cfg.RUMAllowedOrigins) == 0 {
		// No page may send beacons: serving the endpoint would only refuse.
		c.log.Warn("RUM endpoint off: set --rum-allowed-origins to the origins of the pages that include /rum.js")
		return nil
	}
	rcfg := rum.DefaultConfig()
	rcfg.AllowedOrigins = c.cfg.RUMAllowedOrigins
	rcfg.RatePerSecond, rcfg.Burst = c.cfg.RUMRatePerSecond, c.cfg.RUMBurst
	rcfg.TrustForwardedFor, rcfg.TrustedHops = c.cfg.RUMTrustForwardedFor, c.cfg.RUMTrustedHops
	rcfg.GlobalRatePerSecond = c.cfg.RUMGlobalRatePerSecond
	rcfg.Now = c.now
	rcfg.Refuse = c.refuser()
	rcfg.OnResult = func(result string) {
		if result != rum.ResultAccepted {
			c.reject(SrcRUM, result, "", 1, nil)
		}
	}
	rcfg.Consume = func(bt correlate.BrowserTiming) { c.addRecord(SrcRUM, "beacon", &bt) }
	h, err := rum.New(rcfg)
	if err != nil {
		return fmt.Errorf("RUM endpoint: %w", err)
	}
	c.rum = newRUMServer(c.cfg.RUMListen, h)
	c.rum.srv.ErrorLog = httpErrorLog(c.log)
	c.starts = append(c.starts, c.rum)
	return nil
}

// RUMAddr is the public RUM endpoint's address (nil when off).
func (c *Collector) RUMAddr() net.Addr {
	if c.rum == nil || c.rum.ln == nil {
		return nil
	}
	return c.rum.ln.Addr()
}

// limitListener accepts at most n connections at once: Accept waits for
// one of them to close (golang.org/x/net/netutil.LimitListener, which this
// module does not depend on directly).
func limitListener(l net.Listener, n int) net.Listener {
	return &limitedListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
