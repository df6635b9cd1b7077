package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// sample is the collector's state at one moment of the run.
type sample struct {
	At    float64 `json:"t_seconds"`
	Phase string  `json:"phase"`
	// RSSKiB is VmRSS from /proc/PID/status; AnonKiB its RssAnon part,
	// without the binary's pages (RssFile, some 37 MiB of hopscope's text,
	// which the kernel can drop and GOMEMLIMIT does not count).
	RSSKiB  int64 `json:"rss_kib"`
	AnonKiB int64 `json:"rss_anon_kib"`
	// Scraped from /metrics (-1: the scrape did not answer within its
	// timeout, the collector being busy): the heap in use the limiter
	// saw, whether it refuses, spans taken in, refusals counted.
	HeapBytes float64 `json:"heap_bytes"`
	Refusing  float64 `json:"refusing"`
	Received  float64 `json:"received_spans_total"`
	Rejected  float64 `json:"rejected_memory_limit_total"`
	// The generator's view: requests sent, answered 200, refused (429 or
	// 503), failed, skipped (every in-flight slot taken).
	Load outcomeSnap `json:"load"`
}

// metricsReader scrapes the series the report needs.
type metricsReader struct {
	url    string
	client *http.Client
}

// read returns heap, refusing, received and rejected; -1 each when the
// scrape fails.
func (m *metricsReader) read(ctx context.Context) (heap, refusing, received, rejected float64) {
	heap, refusing, received, rejected = -1, -1, -1, -1
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	res, err := m.client.Do(req)
	if err != nil {
		return
	}
	defer res.Body.Close()
	heap, refusing, received, rejected = 0, 0, 0, 0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			continue
		}
		switch {
		case series == "hopscope_collector_memory_heap_bytes":
			heap = v
		case series == "go_memstats_heap_alloc_bytes" && heap == 0:
			heap = v // no limiter: the Go collector's reading
		case series == "hopscope_collector_memory_refusing":
			refusing = v
		case series == `hopscope_collector_received_total{source="otlp"}`:
			received = v
		case strings.HasPrefix(series, "hopscope_collector_rejected_total{") &&
			strings.Contains(series, `reason="memory_limit"`) && strings.Contains(series, `source="otlp"`):
			rejected = v
		}
	}
	if sc.Err() != nil {
		return -1, -1, -1, -1
	}
	return
}

// sampler records a sample every interval until ctx ends.
type sampler struct {
	pid     int
	start   time.Time
	every   time.Duration
	metrics *metricsReader
	gen     *generator
	phase   func() string
	out     []sample
	// onSample, if set, sees each sample as it is taken (progress, the
	// RSS cap).
	onSample func(sample)
}

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		smp := sample{At: time.Since(s.start).Seconds(), Phase: s.phase(), Load: s.gen.out.snap()}
		smp.RSSKiB, smp.AnonKiB = procMem(s.pid)
		sctx, cancel := context.WithTimeout(ctx, s.every*8/10)
		smp.HeapBytes, smp.Refusing, smp.Received, smp.Rejected = s.metrics.read(sctx)
		cancel()
		s.out = append(s.out, smp)
		if s.onSample != nil {
			s.onSample(smp)
		}
	}
}

// procMem reads VmRSS and RssAnon of pid, in KiB (0 when gone).
func procMem(pid int) (rss, anon int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "RssAnon":
			anon = n
		}
	}
	return rss, anon
}

func fmtMetric(v, div float64, format string) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf(format, v/div)
}
