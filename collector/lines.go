package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hopscope/hopscope/collector/forward"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/alb"
	"github.com/hopscope/hopscope/correlate/haproxy"
	"github.com/hopscope/hopscope/correlate/ingressnginx"
	"github.com/hopscope/hopscope/internal/contract"
)

// lineParser turns a log line of a known format into a record.
type lineParser struct {
	haproxyLoc *time.Location
}

func (p *lineParser) parse(format, line string) (correlate.Record, error) {
	switch format {
	case FormatIngressNginx:
		r, err := ingressnginx.ParseText(line)
		return &r, err
	case FormatIngressNginxJSON:
		r, err := ingressnginx.ParseJSON(line)
		return &r, err
	case FormatHAProxy:
		r, err := haproxy.Parse(line, p.haproxyLoc)
		return &r, err
	case FormatALB:
		r, err := alb.Parse(line)
		return &r, err
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

// sniff guesses the format of a line that came without one (Fluent Bit's
// tail input forwards raw lines under "log").
func (p *lineParser) sniff(line, hint string) (correlate.Record, string, error) {
	order := []string{FormatIngressNginxJSON, FormatIngressNginx, FormatHAProxy, FormatALB}
	if strings.HasPrefix(strings.TrimSpace(line), "{") {
		order = []string{FormatIngressNginxJSON}
	}
	for _, f := range []string{FormatALB, FormatHAProxy, FormatIngressNginx} {
		if strings.Contains(hint, strings.Split(f, "-")[0]) {
			order = append([]string{f}, order...)
			break
		}
	}
	var errs []error
	for _, f := range order {
		rec, err := p.parse(f, line)
		if err == nil {
			return rec, f, nil
		}
		errs = append(errs, err)
	}
	return nil, "", errors.Join(errs...)
}

func sourceOfFormat(format string) string {
	switch format {
	case FormatALB:
		return SrcALB
	case FormatHAProxy:
		return SrcHAProxy
	default:
		return SrcIngress
	}
}

// consumeForward routes Fluent forward events by shape: a hopscope sidecar
// access-log record, ingress-nginx fields already parsed by Fluent Bit, or
// a raw log line under "log" or "message" whose format is sniffed (the tag
// is a hint: a tag containing "alb", "haproxy" or "ingress" is tried first).
// Whatever it carries, a forwarded record is received (and rejected) under
// the forward source: the receiver that took it in.
func (c *Collector) consumeForward(events []forward.Event) {
	for _, ev := range events {
		rec, shape, err := c.routeEvent(ev)
		where := "tag " + ev.Tag
		if shape != "" {
			where += " (" + shape + ")"
		}
		if err != nil {
			c.reject(SrcForward, "malformed", where, 1, err)
			continue
		}
		c.addRecord(SrcForward, where, rec)
	}
}

// routeEvent reads one forwarded record; shape says what it was taken
// for (a sidecar access log, ingress-nginx fields, a log line of a format),
// "" when nothing.
func (c *Collector) routeEvent(ev forward.Event) (rec correlate.Record, shape string, err error) {
	r := ev.Record
	if _, ok := r[contract.LogAppMS]; ok {
		if _, ok := r[contract.LogTraceID]; ok {
			rec, err := sidecarFromAccessLog(r, ev.Time)
			return rec, "sidecar access log", err
		}
	}
	if _, ok := r["request_time"]; ok {
		const shape = "ingress-nginx fields"
		b, err := json.Marshal(bytesToStrings(r))
		if err != nil {
			return nil, shape, err
		}
		rec, err := ingressnginx.ParseJSON(string(b))
		return &rec, shape, err
	}
	for _, k := range []string{"log", "message"} {
		if s, ok := r[k].(string); ok {
			rec, format, err := c.lines.sniff(strings.TrimRight(s, "\r\n"), ev.Tag)
			return rec, lineShape(k, format), err
		}
		if b, ok := r[k].([]byte); ok {
			rec, format, err := c.lines.sniff(strings.TrimRight(string(b), "\r\n"), ev.Tag)
			return rec, lineShape(k, format), err
		}
	}
	return nil, "", errors.New("forward record: not a sidecar access log, ingress-nginx fields or a log line")
}

func lineShape(key, format string) string {
	if format == "" {
		return key + ": no known log format"
	}
	return key + ": " + format
}

// sidecarFromAccessLog reads a sidecar access-log record (internal/contract
// keys) as the sidecar's span: what a pod sends when only its logs, not its
// spans, reach the collector.
func sidecarFromAccessLog(r map[string]any, at time.Time) (*correlate.SidecarSpan, error) {
	s := func(k string) string {
		switch v := r[k].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
	f := func(k string) (float64, bool) {
		switch v := r[k].(type) {
		case float64:
			return v, true
		case int64:
			return float64(v), true
		case uint64:
			return float64(v), true
		case string:
			x, err := strconv.ParseFloat(v, 64)
			return x, err == nil
		}
		return 0, false
	}
	tid := strings.ToLower(s(contract.LogTraceID))
	if len(tid) != 32 {
		return nil, fmt.Errorf("access log %s: want 32 hex characters, got %q", contract.LogTraceID, tid)
	}
	dur, ok := f(contract.LogDurationMS)
	if !ok {
		return nil, fmt.Errorf("access log %s: missing or not a number", contract.LogDurationMS)
	}
	app, _ := f(contract.LogAppMS)
	overhead, _ := f(contract.LogOverheadMS)
	status, _ := f(contract.LogStatus)
	start := at
	if ts := s(contract.LogTime); ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			start = t
		}
	}
	return &correlate.SidecarSpan{
		Keys:     correlate.Keys{TraceID: tid, RequestID: s(contract.LogRequestID)},
		SpanID:   s(contract.LogSpanID),
		Service:  s(contract.LogService),
		Method:   s(contract.LogMethod),
		Route:    s(contract.LogRoute),
		Status:   int(status),
		Start:    start,
		Duration: msDuration(dur),
		App:      msDuration(app),
		// The log has no forwarding instant: half the overhead is taken
		// as spent before forwarding.
		AppStart: msDuration(overhead / 2),
	}, nil
}

// offsetFile keeps tail offsets in StateDir/tail-offsets.json, shared by
// the collector's tailers.
type offsetFile struct {
	path string
	mu   sync.Mutex
	data map[string]offsetEntry
}

type offsetEntry struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// loadOffsetFile reads the offsets kept in dir; a missing file is empty, a
// corrupt one an error (it is never overwritten silently).
func loadOffsetFile(dir string) (*offsetFile, error) {
	o := &offsetFile{path: filepath.Join(dir, "tail-offsets.json"), data: map[string]offsetEntry{}}
	b, err := os.ReadFile(o.path)
	switch {
	case os.IsNotExist(err):
		return o, nil
	case err != nil:
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	if err := json.Unmarshal(b, &o.data); err != nil {
		return nil, fmt.Errorf("--state-dir: %s is not a tail offsets file (move it away to start over): %w", o.path, err)
	}
	return o, nil
}

func (o *offsetFile) Load(path string) (uint64, int64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.data[path]
	return e.Inode, e.Offset, ok
}

func (o *offsetFile) Save(path string, inode uint64, offset int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.data[path] = offsetEntry{Inode: inode, Offset: offset}
	b, err := json.Marshal(o.data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.path), 0o755); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.path), ".tail-offsets-*.tmp")
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--state-dir: writing %s: %w", o.path, err)
	}
	return os.Rename(tmp.Name(), o.path)
}

// bytesToStrings turns msgpack bin values ([]byte) into strings, so that
// encoding/json writes them as text and not base64.
func bytesToStrings(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = bytesToStrings(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = bytesToStrings(e)
		}
		return out
	}
	return v
}
