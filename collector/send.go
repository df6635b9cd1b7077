package collector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hopscope/hopscope/internal/otlpwire"
)

// Export requests are split so that none comes near the 4 MiB a gRPC
// server accepts by default (Jaeger's and the OpenTelemetry Collector's
// OTLP receivers): at most maxExportBytes encoded, a quarter of it, and at
// most maxExportSpans spans, the OpenTelemetry Collector batch
// processor's default batch; whichever comes first. A span bigger than
// maxExportBytes on its own goes alone.
const (
	maxExportBytes = 1 << 20
	maxExportSpans = 8192
)

// exportWarnEvery rate-limits the warning logged for failed exports.
const exportWarnEvery = 10 * time.Second

// exportTimeout bounds one export request, its retries included.
const exportTimeout = 10 * time.Second

// Retries: a failure the OTLP specification calls retryable is tried
// again after about 100ms, 200ms, 400ms, ... up to 2s between attempts
// (±25% jitter), or after the delay the backend asked for (HTTP
// Retry-After, gRPC RetryInfo), for as long as exportTimeout leaves room.
const (
	exportBackoffInitial = 100 * time.Millisecond
	exportBackoffMax     = 2 * time.Second
)

// send makes one export request, retrying it while retryable says so and
// the request's exportTimeout allows. The end of ctx ends it at once.
func (e *emitter) send(parent context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(parent, exportTimeout)
	defer cancel()
	backoff := exportBackoffInitial
	for {
		err := e.sink.Export(ctx, body)
		if err == nil {
			return nil
		}
		again, wait := retryable(err)
		if !again || ctx.Err() != nil {
			return err
		}
		if wait <= 0 {
			wait = jitter(backoff)
			backoff = min(2*backoff, exportBackoffMax)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return fmt.Errorf("%w (a retry in %v would pass the %v export timeout)", err, wait.Round(time.Millisecond), exportTimeout)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%w while waiting to retry)", err, context.Cause(ctx))
		}
	}
}

// retryable reports whether a failed export may succeed if sent again, as
// the OTLP specification lists them: HTTP 429, 502, 503 and 504; gRPC
// CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and
// DATA_LOSS, and RESOURCE_EXHAUSTED only when the status carries RetryInfo
// (the server says it will recover). wait is the delay the backend asked
// for (Retry-After, RetryInfo's retry_delay); 0 when it named none.
// Transport errors over HTTP (refused, reset) are not retried: the rest of
// the flush is given up instead (endpointDown).
func retryable(err error) (again bool, wait time.Duration) {
	var se *exportStatusError
	if errors.As(err, &se) {
		switch se.code {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true, se.retryAfter
		}
		return false, 0
	}
	st, ok := status.FromError(err)
	if !ok {
		return false, 0
	}
	var info bool
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			info, wait = true, ri.GetRetryDelay().AsDuration()
		}
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return true, wait
	case codes.ResourceExhausted:
		return info, wait
	}
	return false, 0
}

// parseRetryAfter reads an HTTP Retry-After: delay-seconds or an HTTP
// date (against now); 0 if absent or bad, at most a day.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(min(max(s, 0), 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(0, t.Sub(now)), 24*time.Hour)
	}
	return 0
}

// jitter spreads d over [0.75d, 1.25d).
func jitter(d time.Duration) time.Duration {
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2))
}

// export sends spans in requests of bounded size; each failed request is
// counted (and logged, rate-limited) on its own. The end of ctx ends the
// request in flight and fails those not yet sent.
func (e *emitter) export(ctx context.Context, spans []otlpwire.Held) {
	if e.sink == nil || len(spans) == 0 {
		return
	}
	parent := ctx
	batches := splitExport(spans, maxExportBytes, maxExportSpans)
	for i, batch := range batches {
		if err := parent.Err(); err != nil {
			e.exportFailed(fmt.Errorf("not sent, shutting down: %w", err), len(batch), 0)
			e.m.exportDropped.WithLabelValues("export_failed").Add(float64(len(batch)))
			continue
		}
		body := otlpwire.AppendRequest(nil, batch)
		if err := e.send(parent, body); err != nil {
			e.exportFailed(err, len(batch), len(body))
			e.m.exportDropped.WithLabelValues("export_failed").Add(float64(len(batch)))
			if !endpointDown(err) {
				continue // this request's own fault (too large, say)
			}
			// The endpoint is down or a black hole: the rest of this
			// flush is given up at once rather than each request waiting
			// its own timeout (the spans would wait, and new ones be
			// refused, for batches × exportTimeout).
			var rest int
			for _, b := range batches[i+1:] {
				rest += len(b)
			}
			if rest > 0 {
				e.m.exportDropped.WithLabelValues("export_failed").Add(float64(rest))
				e.exportFailed(fmt.Errorf("%d more requests not sent after: %w", len(batches)-i-1, err), rest, 0)
			}
			return
		}
		e.m.exported.Add(float64(len(batch)))
	}
}

// endpointDown reports whether an export error says the endpoint as a
// whole is unreachable or not answering (timeouts, refused connections,
// gRPC Unavailable or DeadlineExceeded, a retryable answer that outlasted
// the retries), rather than refusing one request.
func endpointDown(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.As(err, &ne) && ne.Timeout():
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	// A retryable refusal still there when the retries ran out of time
	// (a 503 or 429 for exportTimeout): the next request would wait as long.
	again, _ := retryable(err)
	return again
}

// exportFailed counts a failed request and logs it at Warn at most once
// per exportWarnEvery, with the number of failures since the last line.
func (e *emitter) exportFailed(err error, spans, bytes int) {
	e.m.exportErrors.Inc()
	e.warnMu.Lock()
	e.failures++
	now := e.clock()
	if !e.warnAt.IsZero() && now.Sub(e.warnAt) < exportWarnEvery {
		e.warnMu.Unlock()
		return
	}
	n := e.failures
	e.failures, e.warnAt = 0, now
	e.warnMu.Unlock()
	e.log.Warn("OTLP span export failed", zap.Int("failures", n), zap.Duration("log_interval", exportWarnEvery),
		zap.Int("spans", spans), zap.Int("bytes", bytes), zap.Error(err))
}

// splitExport cuts spans into batches whose ExportTraceServiceRequest is
// at most maxBytes (estimated from above: each span's and each new
// resource and scope group's bytes with their framing) and at most
// maxSpans long.
func splitExport(spans []otlpwire.Held, maxBytes, maxSpans int) [][]otlpwire.Held {
	var out [][]otlpwire.Held
	start, size := 0, 0
	groups := map[string]map[string]bool{} // resource → scopes in the batch
	for i, h := range spans {
		n := 1 + protowire.SizeBytes(len(h.Span))
		scopes, ok := groups[string(h.Resource)]
		if !ok {
			// ResourceSpans framing (up to 1+5 bytes), the resource and
			// its schema URL.
			n += 6 + protowire.SizeBytes(len(h.Resource)) + protowire.SizeBytes(len(h.ResourceSchema)) + 2
		}
		if !scopes[string(h.Scope)] {
			n += 6 + protowire.SizeBytes(len(h.Scope)) + protowire.SizeBytes(len(h.ScopeSchema)) + 2
		}
		if i > start && (size+n > maxBytes || i-start >= maxSpans) {
			out = append(out, spans[start:i:i])
			start, size = i, 0
			clear(groups)
			n = 1 + protowire.SizeBytes(len(h.Span)) +
				6 + protowire.SizeBytes(len(h.Resource)) + protowire.SizeBytes(len(h.ResourceSchema)) + 2 +
				6 + protowire.SizeBytes(len(h.Scope)) + protowire.SizeBytes(len(h.ScopeSchema)) + 2
			scopes = nil
		}
		if scopes == nil {
			scopes = map[string]bool{}
			groups[string(h.Resource)] = scopes
		}
		scopes[string(h.Scope)] = true
		size += n
	}
	if start < len(spans) {
		out = append(out, spans[start:])
	}
	return out
}
