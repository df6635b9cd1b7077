package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
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
		r, err := albdir.New(acfg, func(l tail.Line) { c.consumeLine(FormatALB, SrcALB, l.Source, l.Number, string(l.Text)) })
		if err != nil {
			return fmt.Errorf("--alb-logs: %w", err)
		}
		c.starts = append(c.starts, r)
	}
	return c.addRUM()
}

// rumServer serves the public RUM endpoint on its own listener.
type rumServer struct {
	addr string
	srv  *http.Server
	ln   net.Listener
}

func (r *rumServer) Start(context.Context) error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("--rum-listen %s: %w", r.addr, err)
	}
	r.ln = ln
	go func() { _ = r.srv.Serve(ln) }()
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
	rcfg.TrustForwardedFor = c.cfg.RUMTrustForwardedFor
	rcfg.Now = c.now
	rcfg.OnResult = func(result string) {
		if result != rum.ResultAccepted {
			c.m.rejected.WithLabelValues(SrcRUM, result).Inc()
		}
	}
	rcfg.Consume = func(bt correlate.BrowserTiming) { c.addRecord(SrcRUM, &bt) }
	h, err := rum.New(rcfg)
	if err != nil {
		return fmt.Errorf("RUM endpoint: %w", err)
	}
	c.rum = &rumServer{addr: c.cfg.RUMListen, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}}
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
