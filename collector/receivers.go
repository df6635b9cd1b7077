package collector

import (
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/hopscope/hopscope/collector/albdir"
	"github.com/hopscope/hopscope/collector/albs3"
	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/forward"
	"github.com/hopscope/hopscope/collector/logformat"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/collector/relay"
	"github.com/hopscope/hopscope/collector/rum"
	"github.com/hopscope/hopscope/collector/tail"
)

// addReceivers makes the receivers the configuration turns on. Each takes
// the collector as its consumer.Consumer (Collector.Consume) and reads its
// own format.
func (c *Collector) addReceivers() error {
	var next consumer.Consumer = consumer.Func(c.Consume)
	// Spans reach the replica that owns their trace through the gateway;
	// with --gateway-endpoint the other receivers' records are sent there
	// too (collector/relay). The relay starts before the receivers and is
	// shut down after them.
	otlpNext := next
	cfg := c.cfg
	if cfg.GatewayEndpoint != "" {
		rcfg := relay.DefaultConfig()
		rcfg.Endpoint, rcfg.TokenFile = cfg.GatewayEndpoint, cfg.GatewayTokenFile
		r, err := relay.New(rcfg, next, c.relayM, func(err error) { c.log.Warn("relay", zap.Error(err)) })
		if err != nil {
			return err
		}
		c.starts = append(c.starts, r)
		next = r
	}
	loc, _ := time.LoadLocation(cfg.HAProxyTimezone) // checked by Validate
	if cfg.OTLPGRPCListen != "" || cfg.OTLPHTTPListen != "" {
		ocfg := otlp.DefaultConfig()
		c.limitOTLP(&ocfg)
		ocfg.Tokens = c.tokens
		ocfg.GRPCListen, ocfg.HTTPListen = cfg.OTLPGRPCListen, cfg.OTLPHTTPListen
		ocfg.OnReject = func(reason string) { c.reject(SrcOTLP, reason, "", 1, nil) }
		ocfg.ErrorLog = httpErrorLog(c.log)
		var err error
		if c.otlp, err = otlp.New(ocfg, otlpNext); err != nil {
			return err
		}
		c.starts = append(c.starts, c.otlp)
	}
	if cfg.ForwardListen != "" {
		fcfg := forward.ServerConfig{Listen: cfg.ForwardListen, Limits: forward.DefaultLimits(), HAProxyLoc: loc,
			OnReject: func(peer net.Addr, err error) {
				where := ""
				if peer != nil {
					where = "peer " + peer.String()
				}
				c.reject(SrcForward, "malformed", where, 1, err)
			},
			// Connections refused (conn_limit), evicted while silent
			// (evicted_silent) or timed out (idle_timeout, read_timeout).
			OnConnClosed: func(reason string) { c.reject(SrcForward, reason, "", 1, nil) }}
		c.limitForward(&fcfg)
		c.forward = forward.NewServer(fcfg, next)
		c.starts = append(c.starts, c.forward)
	}
	if err := c.addTails(next, loc); err != nil {
		return err
	}
	if cfg.ALBLogs != "" {
		acfg := albdir.DefaultConfig()
		acfg.Dir = cfg.ALBLogs
		acfg.StateDir = cfg.StateDir
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
		r, err := albdir.New(acfg, next)
		if err != nil {
			return fmt.Errorf("--alb-logs: %w", err)
		}
		c.starts = append(c.starts, r)
	}
	if cfg.ALBS3URL != "" {
		acfg := cfg.albS3Config()
		acfg.OnError = func(where string, err error) {
			c.m.rejected.WithLabelValues(SrcALB, "read_error").Inc()
			c.log.Warn("ALB logs in S3", zap.String("where", where), zap.Error(err))
		}
		acfg.OnObject = func(_ string, failed bool) {
			outcome := "read"
			if failed {
				outcome = "failed"
			}
			c.m.albObjects.WithLabelValues(outcome).Inc()
		}
		acfg.Pause = c.refuser()
		acfg.OnPause = func(where string) { c.reject(SrcALB, reasonMemoryLimit, where, 1, nil) }
		c.m.albObjects.WithLabelValues("read")
		c.m.albObjects.WithLabelValues("failed")
		r, err := albs3.New(acfg, next)
		if err != nil {
			return fmt.Errorf("--alb-s3-url: %w", err)
		}
		c.starts = append(c.starts, r)
	}
	return c.addRUM(next)
}

// addTails makes one tailer per --tail, sharing the offsets kept in
// --state-dir.
func (c *Collector) addTails(next consumer.Consumer, loc *time.Location) error {
	var offsets *tail.OffsetFile
	if c.cfg.StateDir != "" && len(c.cfg.Tail) > 0 {
		var err error
		if offsets, err = tail.LoadOffsetFile(c.cfg.StateDir); err != nil {
			return err
		}
	}
	for _, spec := range c.cfg.Tail {
		ts, _ := ParseTail(spec) // checked by Validate
		tcfg := tail.DefaultConfig()
		tcfg.Path, tcfg.Format, tcfg.HAProxyLoc = ts.Path, ts.Format, loc
		if c.opts.TailPollInterval > 0 {
			tcfg.PollInterval = c.opts.TailPollInterval
		}
		if offsets != nil {
			tcfg.Offsets = offsets
		}
		source := logformat.Source(ts.Format)
		tcfg.OnError = func(path string, err error) {
			c.m.rejected.WithLabelValues(source, "read_error").Inc()
			c.log.Warn("tail", zap.String("path", path), zap.Error(err))
		}
		c.limitTail(&tcfg, source)
		t, err := tail.New(tcfg, next)
		if err != nil {
			return fmt.Errorf("--tail %s: %w", spec, err)
		}
		c.tails = append(c.tails, t)
		c.starts = append(c.starts, t)
	}
	return nil
}

// addRUM serves the public RUM endpoint when --rum-listen is set.
func (c *Collector) addRUM(next consumer.Consumer) error {
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
	rcfg.OnEntries = func(result string, n int, first error) { c.reject(SrcRUM, result, "beacon", n, first) }
	rcfg.Consume = next
	h, err := rum.New(rcfg)
	if err != nil {
		return fmt.Errorf("RUM endpoint: %w", err)
	}
	c.rum = newRUMServer(c.cfg.RUMListen, h)
	c.rum.srv.ErrorLog = httpErrorLog(c.log)
	c.starts = append(c.starts, c.rum)
	return nil
}
