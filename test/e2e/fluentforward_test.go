//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/accesslog"
)

// TestSidecarLogsReachIndependentForwardReceiver runs the hopscope binary
// as a sidecar shipping its access log to the OpenTelemetry Collector's
// fluentforward receiver (tools/fluentforward, a Fluent forward
// implementation hopscope did not write) in its own process. Every record
// the sidecar printed on stdout must reach the receiver once, with the
// sidecar's tag, the same time, every key with the same value, and the
// types sidecar/accesslog documents (integers as Int, milliseconds as
// Double, the rest as Str); no secret sent in a header or a redacted query
// parameter may appear in either log, and the kube-probe health check in
// neither.
func TestSidecarLogsReachIndependentForwardReceiver(t *testing.T) {
	peerBin := toolBinary(t, "HOPSCOPE_FLUENTFORWARD_BIN", "fluentforward")
	hopscope := hopscopeBinary(t)

	peer := startOwnProcess(t, "fluentforward", peerBin, "--listen", "127.0.0.1:0")
	var peerAddr string
	testkit.Eventually(t, "fluentforward to print its address", 30*time.Second, func() bool {
		for l := range strings.Lines(peer.stderr.String()) {
			if a, ok := strings.CutPrefix(strings.TrimSpace(l), "listening "); ok {
				peerAddr = a
				return true
			}
		}
		return peer.exited()
	}, peer.outputs)
	if peerAddr == "" {
		t.Fatalf("fluentforward exited before listening\n%s", peer.outputs())
	}

	// The secrets: in headers the sidecar forwards to the app, and in query
	// parameters it must redact.
	const (
		secretAuth    = "Sekr1t-bearer-5a9f0c"
		secretCookie  = "Sekr1t-cookie-77e1d2"
		secretToken   = "Sekr1t-token-0b3c4d"
		secretAPIKey  = "Sekr1t-apikey-9e8f7a"
		secretSession = "Sekr1t-session-1c2d3e"
		probeID       = "probe-must-not-be-logged"
	)
	secrets := []string{secretAuth, secretCookie, secretToken, secretAPIKey, secretSession}

	var appMu sync.Mutex
	var appSawAuth int
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.Contains(r.Header.Get("Authorization"), secretAuth) {
			appMu.Lock()
			appSawAuth++
			appMu.Unlock()
		}
		time.Sleep(time.Millisecond) // the app's own time
		status, body := appAnswer(r.URL.Path)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(app.Close)

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	sc := startOwnProcess(t, "hopscope sidecar", hopscope, "sidecar",
		"--listen", listen, "--admin-listen", admin, "--upstream", app.URL,
		"--service", "fwd-e2e", "--access-log", "stdout",
		"--fluent-address", peerAddr,
		"--routes", "/orders/{id}",
		"--redact-query-params", "token,api_key,session",
		"--shutdown-grace", "100ms", "--drain-timeout", "5s")
	waitHTTP(t, "sidecar", "http://"+admin+"/readyz", 30*time.Second)

	// ~20 requests: with and without traceparent, X-Request-ID,
	// X-Request-Start; GET and POST; 200, 404 and 500; secrets in
	// Authorization, Cookie and redacted query parameters.
	type sent struct {
		method, path, rawQuery, traceID, requestID, ua string
		bodyLen, status                                int
		queued                                         bool
	}
	var all []sent
	client := &http.Client{Timeout: 10 * time.Second}
	began := time.Now()
	for i := range 20 {
		s := sent{method: "GET", path: fmt.Sprintf("/orders/%d", 100+i), ua: fmt.Sprintf("fwd-e2e/1.0 (#%d)", i)}
		switch i % 7 {
		case 3:
			s.path = "/missing"
		case 5:
			s.path = "/fail"
		}
		switch i % 4 {
		case 0:
			s.rawQuery = fmt.Sprintf("token=%s&page=%d", secretToken, i)
		case 2:
			s.rawQuery = fmt.Sprintf("session=%s&API_KEY=%s&lang=de", secretSession, secretAPIKey)
		}
		var body io.Reader
		if i%5 == 4 {
			s.method, s.bodyLen = "POST", 100+i
			body = strings.NewReader(strings.Repeat("b", s.bodyLen))
		}
		target := "http://" + listen + s.path
		if s.rawQuery != "" {
			target += "?" + s.rawQuery
		}
		req, err := http.NewRequest(s.method, target, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", s.ua)
		req.Header.Set("Authorization", "Bearer "+secretAuth)
		if i%3 == 0 {
			s.traceID = fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e47%02x", i)
			req.Header.Set("traceparent", fmt.Sprintf("00-%s-00f067aa0ba902%02x-01", s.traceID, i))
		}
		if i%2 == 0 {
			s.requestID = fmt.Sprintf("fwd-req-%02d", i)
			req.Header.Set("X-Request-ID", s.requestID)
		} else {
			req.Header.Set("Cookie", "session="+secretCookie)
		}
		if i%5 == 1 {
			s.queued = true
			req.Header.Set("X-Request-Start", fmt.Sprintf("t=%.3f", float64(time.Now().Add(-10*time.Millisecond).UnixMilli())/1000))
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d %s %s: %v", i, s.method, target, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		s.status = res.StatusCode
		if want, _ := appAnswer(s.path); s.status != want {
			t.Fatalf("request %d %s: status %d, want %d", i, target, s.status, want)
		}
		if s.requestID == "" {
			// The sidecar sets X-Request-ID to the trace id and says which
			// trace in Server-Timing.
			m := regexp.MustCompile(`traceparent;desc="00-([0-9a-f]{32})-`).FindStringSubmatch(res.Header.Get("Server-Timing"))
			if m == nil {
				t.Fatalf("request %d: no traceparent in Server-Timing %q", i, res.Header.Get("Server-Timing"))
			}
			s.requestID = m[1]
		}
		all = append(all, s)
	}
	// A kube-probe health check: proxied, never logged.
	probe, _ := http.NewRequest("GET", "http://"+listen+"/healthz?token="+secretToken, nil)
	probe.Header.Set("User-Agent", "kube-probe/1.34")
	probe.Header.Set("X-Request-ID", probeID)
	probe.Header.Set("Authorization", "Bearer "+secretAuth)
	if res, err := client.Do(probe); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	end := time.Now()
	appMu.Lock()
	if appSawAuth != len(all)+1 {
		t.Errorf("the app saw the Authorization secret in %d requests, want %d: the secrets below were not really sent", appSawAuth, len(all)+1)
	}
	appMu.Unlock()

	// SIGTERM: the sidecar drains, flushes its stdout log and its Fluent
	// queue, and exits 0.
	if err := sc.terminate(30 * time.Second); err != nil {
		t.Fatalf("sidecar after SIGTERM: %v\n%s", err, sc.outputs())
	}
	sidecarLines := parseJSONLines(t, "sidecar stdout", sc.stdout.String())
	if len(sidecarLines) != len(all) {
		t.Errorf("sidecar printed %d access-log lines, want %d (one per request, none for the probe)", len(sidecarLines), len(all))
	}
	testkit.Eventually(t, fmt.Sprintf("%d records at fluentforward", len(sidecarLines)), 15*time.Second, func() bool {
		return strings.Count(peer.stdout.String(), "\n") >= len(sidecarLines)
	}, peer.outputs)
	time.Sleep(300 * time.Millisecond) // so that a duplicate would show
	if err := peer.terminate(10 * time.Second); err != nil {
		t.Errorf("fluentforward after SIGTERM: %v\n%s", err, peer.outputs())
	}
	peerLines := parseJSONLines(t, "fluentforward stdout", peer.stdout.String())

	// The sidecar's own log: one line per request with what was sent.
	ownByID := map[string]map[string]any{}
	for _, l := range sidecarLines {
		id, _ := l[accesslog.KeyRequestID].(string)
		if _, dup := ownByID[id]; dup {
			t.Errorf("sidecar logged request_id %q twice", id)
		}
		ownByID[id] = l
	}
	hex32, hex16 := regexp.MustCompile(`^[0-9a-f]{32}$`), regexp.MustCompile(`^[0-9a-f]{16}$`)
	for i, s := range all {
		l, ok := ownByID[s.requestID]
		if !ok {
			t.Errorf("request %d (%s %s, request_id %s): no line in the sidecar's stdout", i, s.method, s.path, s.requestID)
			continue
		}
		want := map[string]any{
			accesslog.KeyService: "fwd-e2e", accesslog.KeyMethod: s.method, accesslog.KeyPath: s.path,
			accesslog.KeyProto: "HTTP/1.1", accesslog.KeyStatus: json.Number(strconv.Itoa(s.status)),
			accesslog.KeyBytesIn:    json.Number(strconv.Itoa(s.bodyLen)),
			accesslog.KeyBytesOut:   json.Number(strconv.Itoa(len(second(appAnswer(s.path))))),
			accesslog.KeyClientAddr: "127.0.0.1", accesslog.KeyUserAgent: s.ua,
			accesslog.KeyRoute: map[bool]string{true: "/orders/{id}", false: s.path}[strings.HasPrefix(s.path, "/orders/")],
		}
		if s.rawQuery != "" {
			want[accesslog.KeyQuery] = redactedQuery(s.rawQuery)
		}
		for k, v := range want {
			if !reflect.DeepEqual(l[k], v) {
				t.Errorf("request %d (request_id %s): sidecar logged %s = %#v, want %#v", i, s.requestID, k, l[k], v)
			}
		}
		if _, has := l[accesslog.KeyQuery]; has && s.rawQuery == "" {
			t.Errorf("request %d: query %v logged for a request without one", i, l[accesslog.KeyQuery])
		}
		tid, _ := l[accesslog.KeyTraceID].(string)
		sid, _ := l[accesslog.KeySpanID].(string)
		switch {
		case !hex32.MatchString(tid) || !hex16.MatchString(sid):
			t.Errorf("request %d: trace_id %q / span_id %q are not 32 / 16 hex digits", i, tid, sid)
		case s.traceID != "" && tid != s.traceID:
			t.Errorf("request %d: trace_id %s, want the inbound traceparent's %s", i, tid, s.traceID)
		case s.traceID != "" && sid == fmt.Sprintf("00f067aa0ba902%02x", i):
			t.Errorf("request %d: span_id %s is the inbound parent's, not the sidecar's own", i, sid)
		case s.traceID == "" && i%2 == 1 && s.requestID != tid:
			t.Errorf("request %d: request_id %s, want the trace id %s (no X-Request-ID sent)", i, s.requestID, tid)
		}
		for _, k := range []string{accesslog.KeyDurationMS, accesslog.KeyAppMS, accesslog.KeyOverheadMS} {
			if v, ok := l[k].(json.Number); !ok {
				t.Errorf("request %d: %s = %#v, want a number", i, k, l[k])
			} else if f, _ := v.Float64(); f < 0 || (k != accesslog.KeyOverheadMS && f <= 0) {
				t.Errorf("request %d: %s = %v", i, k, f)
			}
		}
		if _, has := l[accesslog.KeyQueueMS]; has != s.queued {
			t.Errorf("request %d: queue_ms present = %v, want %v (X-Request-Start sent: %v)", i, has, s.queued, s.queued)
		}
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l[accesslog.KeyTime]))
		if err != nil || ts.Before(began.Add(-time.Second)) || ts.After(end.Add(time.Second)) {
			t.Errorf("request %d: time %v is not an RFC 3339 time during the test (%v)", i, l[accesslog.KeyTime], err)
		}
	}

	// The receiver's records against the sidecar's lines, key by key.
	peerByID := map[string]map[string]any{}
	typeErrs := map[string]int{} // one line per kind of mismatch
	for n, pl := range peerLines {
		attrs, _ := pl["attributes"].(map[string]any)
		id, _ := attrs[accesslog.KeyRequestID].(string)
		if _, dup := peerByID[id]; dup {
			t.Errorf("fluentforward received request_id %q twice", id)
		}
		peerByID[id] = pl
		if pl["tag"] != accesslog.DefaultFluentTag || attrs["fluent.tag"] != accesslog.DefaultFluentTag {
			t.Errorf("fluentforward record %d (request_id %s): tag %#v, attribute fluent.tag %#v, want %q", n, id, pl["tag"], attrs["fluent.tag"], accesslog.DefaultFluentTag)
		}
		// The types the package comment of sidecar/accesslog promises,
		// which JSON numbers cannot show (a whole double prints as 5).
		types, _ := pl["types"].(map[string]any)
		for k := range attrs {
			want := "Str"
			switch k {
			case accesslog.KeyStatus, accesslog.KeyBytesIn, accesslog.KeyBytesOut:
				want = "Int"
			case accesslog.KeyDurationMS, accesslog.KeyAppMS, accesslog.KeyOverheadMS, accesslog.KeyQueueMS:
				want = "Double"
			}
			if types[k] != want {
				typeErrs[fmt.Sprintf("%s arrived as %v, want %s", k, types[k], want)]++
			}
		}
		if pl["body"] != nil {
			t.Errorf("fluentforward record %d (request_id %s): body %#v, want none (the record has no message or log key)", n, id, pl["body"])
		}
	}
	for _, e := range slices.Sorted(maps.Keys(typeErrs)) {
		t.Errorf("fluentforward: %s (in %d of %d records)", e, typeErrs[e], len(peerLines))
	}
	if missing, extra := keyDiff(ownByID, peerByID); len(missing)+len(extra) > 0 {
		t.Errorf("request ids: in the sidecar's stdout but not at fluentforward: %v; at fluentforward but not in the sidecar's stdout: %v", missing, extra)
	}
	differing := 0
	for _, id := range slices.Sorted(maps.Keys(ownByID)) {
		own := ownByID[id]
		pl, ok := peerByID[id]
		if !ok {
			continue
		}
		attrs, _ := pl["attributes"].(map[string]any)
		d := recordDiff(own, attrs)
		if pl["time"] != own[accesslog.KeyTime] {
			d += fmt.Sprintf("  %-12s sidecar: %v  fluentforward's event time: %v\n", "(time)", own[accesslog.KeyTime], pl["time"])
		}
		if d == "" {
			continue
		}
		if differing++; differing <= 3 {
			t.Errorf("request_id %s: fluentforward's record differs from the sidecar's stdout line:\n%s", id, d)
		}
	}
	if differing > 3 {
		t.Errorf("... and %d more records differ (%d of %d)", differing-3, differing, len(ownByID))
	}

	// Nothing secret anywhere, and no health check.
	for what, text := range map[string]string{"sidecar stdout": sc.stdout.String(), "sidecar stderr": sc.stderr.String(), "fluentforward stdout": peer.stdout.String()} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains the secret %q", what, s)
			}
		}
		if strings.Contains(text, probeID) || strings.Contains(text, "kube-probe") || strings.Contains(text, "/healthz") {
			t.Errorf("%s mentions the kube-probe health check", what)
		}
	}
	if t.Failed() {
		t.Logf("sidecar stdout:\n%s\nfluentforward stdout:\n%s", tail(sc.stdout.String(), 6000), tail(peer.stdout.String(), 6000))
	}
	t.Logf("%d requests logged by the sidecar, %d records at fluentforward; e.g. %s", len(sidecarLines), len(peerLines), strings.SplitN(peer.stdout.String(), "\n", 2)[0])
}

// appAnswer is the status and body the test's app answers path with.
func appAnswer(path string) (int, string) {
	switch path {
	case "/missing":
		return http.StatusNotFound, "no such thing\n"
	case "/fail":
		return http.StatusInternalServerError, "failed\n"
	}
	return http.StatusOK, fmt.Sprintf(`{"order":%q,"items":[1,2,3]}`, path)
}

func second[A, B any](_ A, b B) B { return b }

// redactedQuery is rawQuery with the values of token, api_key and session
// (any case) replaced by REDACTED, as the sidecar was configured.
func redactedQuery(rawQuery string) string {
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if slices.Contains([]string{"token", "api_key", "session"}, strings.ToLower(k)) {
			parts[i] = k + "=REDACTED"
		}
	}
	return strings.Join(parts, "&")
}

// parseJSONLines decodes one JSON object per line, numbers as json.Number.
func parseJSONLines(t *testing.T, what, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: line %q is not a JSON object: %v", what, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// keyDiff returns the keys only in a and only in b, sorted.
func keyDiff[V any](a, b map[string]V) (onlyA, onlyB []string) {
	for k := range a {
		if _, ok := b[k]; !ok {
			onlyA = append(onlyA, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			onlyB = append(onlyB, k)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}

// recordDiff compares the sidecar's JSON line with the attributes the
// receiver made of the shipped record (less its fluent.tag): every key,
// its value and its JSON type. Numbers are equal when they are the same
// float64, whatever their spelling.
func recordDiff(own, attrs map[string]any) string {
	var b strings.Builder
	keys := slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{"fluent.tag": true}
		for _, m := range []map[string]any{own, attrs} {
			for k := range m {
				if !seen[k] {
					seen[k] = true
					if !yield(k) {
						return
					}
				}
			}
		}
	})
	for _, k := range keys {
		o, inOwn := own[k]
		a, inAttrs := attrs[k]
		switch {
		case !inOwn:
			fmt.Fprintf(&b, "  %-12s sidecar: (absent)  fluentforward: %#v\n", k, a)
		case !inAttrs:
			fmt.Fprintf(&b, "  %-12s sidecar: %#v  fluentforward: (absent)\n", k, o)
		case !sameJSON(o, a):
			fmt.Fprintf(&b, "  %-12s sidecar: %#v  fluentforward: %#v\n", k, o, a)
		}
	}
	return b.String()
}

func sameJSON(a, b any) bool {
	na, aNum := a.(json.Number)
	nb, bNum := b.(json.Number)
	if aNum || bNum {
		if !aNum || !bNum {
			return false
		}
		fa, errA := na.Float64()
		fb, errB := nb.Float64()
		return errA == nil && errB == nil && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

// ownProcess is a program the test runs in its own process group with
// stdout and stderr kept apart, and whose exit status the test checks.
type ownProcess struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr realcomp.Buffer
	done           chan struct{}
	err            error
}

// startOwnProcess starts bin with HOPSCOPE_* and OTEL_* variables removed
// from its environment; it is killed at cleanup if still running.
func startOwnProcess(t *testing.T, name, bin string, args ...string) *ownProcess {
	t.Helper()
	p := &ownProcess{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOPSCOPE_") && !strings.HasPrefix(kv, "OTEL_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s stderr:\n%s", name, tail(p.stderr.String(), 4000))
		}
	})
	return p
}

func (p *ownProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *ownProcess) outputs() string {
	return fmt.Sprintf("--- %s stdout:\n%s\n--- %s stderr:\n%s", p.name, tail(p.stdout.String(), 3000), p.name, tail(p.stderr.String(), 3000))
}

// terminate sends SIGTERM to the process (not its group) and returns its
// exit error; an error too when it is still running after within.
func (p *ownProcess) terminate(within time.Duration) error {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("still running %s after SIGTERM; killed", within)
	}
}

// hopscopeBinary builds ./cmd/hopscope into the test's temporary
// directory (Go's build cache makes that a link once the packages are
// compiled).
func hopscopeBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hopscope")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/hopscope/hopscope/cmd/hopscope")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hopscope: %v\n%s", err, b)
	}
	return out
}
