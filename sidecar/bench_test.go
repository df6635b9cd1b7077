package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// cannedServer answers every HTTP/1.1 request on a keep-alive connection
// with a fixed response, allocating nothing per request, so that benchmarks
// measure the sidecar and not the test upstream.
func cannedServer(b testing.TB, response string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReaderSize(c, 64<<10)
				for {
					clen := 0
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
						if len(line) > 16 && strings.EqualFold(string(line[:15]), "content-length:") {
							clen, _ = strconv.Atoi(strings.TrimSpace(string(line[15:])))
						}
					}
					if clen > 0 {
						if _, err := br.Discard(clen); err != nil {
							return
						}
					}
					if _, err := io.WriteString(c, response); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

const cannedOK = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
const cannedOTLP = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkProxy measures the whole inbound path (extract, span, rewrite,
// round trip to a loopback app, Server-Timing, metrics, span export, access
// log) per request.
//
// full-root and full-ratio start the trace (no traceparent in): with the
// default sampler, and with parentbased_traceidratio at 1, whose sampled
// root spans carry ot=th:0 in their tracestate (what sampling costs a
// sampled request); full-unsampled is the ratio sampler at 0.
func BenchmarkProxy(b *testing.B) {
	for _, mode := range []string{"bare", "full", "full-root", "full-ratio", "full-unsampled"} {
		b.Run(mode, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
			cfg.Upstream = cannedServer(b, cannedOK)
			cfg.Routes = []string{"/orders/{id}"}
			out := io.Discard
			if mode == "bare" {
				cfg.AccessLog = "off"
			} else {
				cfg.OTLPEndpoint = cannedServer(b, cannedOTLP)
			}
			switch mode {
			case "full-ratio":
				cfg.TracesSampler, cfg.TracesSamplerArg = SamplerParentBasedTraceIDRatio, "1"
			case "full-unsampled":
				cfg.TracesSampler, cfg.TracesSamplerArg = SamplerParentBasedTraceIDRatio, "0"
			}
			reg := prometheus.NewRegistry()
			sc, err := New(cfg, Options{Registerer: reg, Gatherer: reg, AccessLogWriter: out})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cfg.ShutdownGrace = 0
				sc.cfg.ShutdownGrace = 0
				_ = sc.Shutdown(ctx)
			})
			req, _ := http.NewRequest("GET", "http://shop.example/orders/42?page=1", nil)
			req.RemoteAddr = "10.0.0.1:5555"
			if mode == "bare" || mode == "full" {
				req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			}
			req.Header.Set("User-Agent", "bench/1.0")
			req.Header.Set("X-Request-Start", "t="+strconv.FormatInt(time.Now().UnixMilli(), 10))
			h := sc.Handler()
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkProxyPost is BenchmarkProxy/bare with a 1 KiB request body: the
// body path (its writer goroutine) per request.
func BenchmarkProxyPost(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Upstream = cannedServer(b, cannedOK)
	cfg.AccessLog = "off"
	reg := prometheus.NewRegistry()
	sc, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sc.cfg.ShutdownGrace = 0
		_ = sc.Shutdown(ctx)
	})
	payload := bytes.Repeat([]byte("x"), 1<<10)
	body := &rewindBody{}
	req, _ := http.NewRequest("POST", "http://shop.example/orders", nil)
	req.Body, req.ContentLength = body, int64(len(payload))
	req.RemoteAddr = "10.0.0.1:5555"
	req.Header.Set("User-Agent", "bench/1.0")
	h := sc.Handler()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		body.Reset(payload)
		h.ServeHTTP(w, req)
	}
}

type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }
