// Command attribution measures how well the sidecar ties the backend calls
// of an uninstrumented app to the inbound requests that made them, at 1,
// 4, 16 and 64 requests in flight.
//
// The shop example runs in-process without any OpenTelemetry (no
// traceparent forwarded, no sqlcommenter: shop.Config.NoTelemetry) behind
// the sidecar, its PostgreSQL and Redis calls through the sidecar's
// backend proxies to a real PostgreSQL and Redis (internal/realcomp). The
// ground truth comes from the app: each handler writes which calls it made
// (shop.Config.CallLog) to a file the sidecar never reads. The sidecar
// exports its spans over OTLP/HTTP to a receiver in this program; once the
// run is over the spans are joined with the truth. See bench/README.md.
package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	collpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/bench/internal/harness"
	"github.com/hopscope/hopscope/examples/shop/shop"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/sidecar"
	"github.com/hopscope/hopscope/sidecar/backend"
)

func main() { harness.Main("bench/attribution", run) }

type options struct {
	levels   []int
	duration time.Duration
	orders   int
	keep     bool
	seed     uint64
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("attribution", flag.ContinueOnError)
	o := options{}
	levels := fs.String("levels", "1,4,16,64", "requests in flight, one measured phase each")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "length of each phase")
	fs.IntVar(&o.orders, "orders", 5000, "orders in the table; request ids are drawn uniformly from 1..orders")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (the call log, PostgreSQL's data)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the route and id choices")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, f := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return o, fmt.Errorf("--levels: want positive integers separated by commas, got %q", *levels)
		}
		o.levels = append(o.levels, n)
	}
	if o.duration <= 0 {
		return o, fmt.Errorf("--duration: want > 0, got %s", o.duration)
	}
	if o.orders < 10 {
		return o, fmt.Errorf("--orders: want at least 10, got %d", o.orders)
	}
	return o, nil
}

var backends = []string{"postgres", "redis"}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := harness.SignalContext()
	defer stop()
	sess, err := harness.NewSession("attribution-", o.keep)
	if err != nil {
		return err
	}
	defer sess.Close()

	dbURL, stopPG, err := realcomp.Postgres(sess.Dir)
	if err != nil {
		return fmt.Errorf("starting PostgreSQL: %w", err)
	}
	defer stopPG()
	redisAddr, stopRedis, err := realcomp.Redis()
	if err != nil {
		return fmt.Errorf("starting Redis: %w", err)
	}
	defer stopRedis()
	if err := seed(ctx, dbURL, o.orders); err != nil {
		return err
	}

	// The receiver of the sidecar's spans.
	rcv := &receiver{}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rsrv := &http.Server{Handler: rcv}
	go rsrv.Serve(rln)
	defer rsrv.Close()

	// The payments API, directly (not through the sidecar: not measured).
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	psrv := &http.Server{Handler: shop.PaymentsStub{}}
	go psrv.Serve(pln)
	defer psrv.Close()

	// The app's listener first: the sidecar needs its address, the app the
	// sidecar's proxies'.
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var appHandler atomic.Value
	asrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appHandler.Load().(http.Handler).ServeHTTP(w, r)
	})}

	pgTarget, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	cfg := sidecar.DefaultConfig()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Upstream = "http://" + aln.Addr().String()
	cfg.Service = "shop"
	cfg.OTLPEndpoint = "http://" + rln.Addr().String()
	cfg.AccessLog = "off"
	cfg.ShutdownGrace = 0
	cfg.SpanQueueSize, cfg.SpanQueueBytes = 1<<20, 1<<30
	cfg.Backends = []backend.Config{
		{Name: "postgres", Kind: backend.KindPostgres, Listen: "127.0.0.1:0", Target: pgTarget.Host},
		{Name: "redis", Kind: backend.KindRedis, Listen: "127.0.0.1:0", Target: redisAddr},
	}
	reg := prometheus.NewRegistry()
	sc, err := sidecar.New(cfg, sidecar.Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		return fmt.Errorf("sidecar: %w", err)
	}
	if err := sc.Start(ctx); err != nil {
		return fmt.Errorf("sidecar: %w", err)
	}
	sidecarDone := false
	defer func() {
		if !sidecarDone {
			_ = sc.Close()
		}
	}()
	addrs := sc.BackendAddrs()
	appDB := *pgTarget
	appDB.Host = addrs["postgres"].String()

	logPath := filepath.Join(sess.Dir, "calls.jsonl")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logW := bufio.NewWriterSize(logFile, 1<<20)
	app, err := shop.New(shop.Config{
		NoTelemetry: true,
		DatabaseURL: appDB.String(),
		RedisAddr:   addrs["redis"].String(),
		PaymentsURL: "http://" + pln.Addr().String(),
		CallLog:     logW,
	}, shop.Deps{})
	if err != nil {
		return err
	}
	defer app.Close()
	appHandler.Store(app.Handler())
	go asrv.Serve(aln)
	defer asrv.Close()

	base := "http://" + sc.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	rng := rand.New(rand.NewPCG(o.seed, 0x5eed))
	var rngMu sync.Mutex
	pick := func() string {
		rngMu.Lock()
		defer rngMu.Unlock()
		id := 1 + rng.IntN(o.orders)
		switch r := rng.IntN(10); {
		case r < 4:
			return "/api/orders/" + strconv.Itoa(id)
		case r < 8:
			return "/api/items/" + strconv.Itoa(id)
		default:
			return "/api/featured"
		}
	}

	fmt.Printf("shop (no OpenTelemetry) behind the sidecar, PostgreSQL %s and Redis %s through its proxies; %d orders, routes 40%% /api/orders/{id}, 40%% /api/items/{id}, 20%% /api/featured\n",
		pgTarget.Host, redisAddr, o.orders)
	// Warm-up: pools, prepared statements, caches. Not scored.
	if _, err := drive(ctx, client, base, "warm", 16, time.Second, pick); err != nil {
		return err
	}
	calls := map[int]map[string]int{}
	for _, lv := range o.levels {
		before, err := backendCalls(reg)
		if err != nil {
			return err
		}
		n, err := drive(ctx, client, base, "L"+strconv.Itoa(lv), lv, o.duration, pick)
		if err != nil {
			return err
		}
		// A proxy times a call once it has relayed the answer, so the
		// last calls of the phase may be counted a moment after their
		// requests ended: let them land before reading the counts.
		settle(reg, 2*time.Second)
		after, err := backendCalls(reg)
		if err != nil {
			return err
		}
		calls[lv] = map[string]int{}
		for _, b := range backends {
			calls[lv][b] = after[b] - before[b]
		}
		fmt.Printf("  %2d in flight: %d requests in %s\n", lv, n, o.duration)
	}

	// Flush the sidecar's spans, then read both sides.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = sc.Shutdown(sctx)
	cancel()
	sidecarDone = true
	if err != nil {
		return fmt.Errorf("sidecar shutdown: %w", err)
	}
	if err := logW.Flush(); err != nil {
		return err
	}
	truth, err := readTruth(logPath)
	if err != nil {
		return err
	}
	spans := rcv.all()
	cells := score(spans, truth, func(id string) (int, bool) {
		l, _, ok := strings.Cut(id, "-")
		if !ok || !strings.HasPrefix(l, "L") {
			return 0, false
		}
		n, err := strconv.Atoi(l[1:])
		return n, err == nil
	})
	for lv, m := range calls {
		for b, n := range m {
			if cells[lv] == nil {
				cells[lv] = map[string]*cell{}
			}
			if cells[lv][b] == nil {
				cells[lv][b] = &cell{byHow: map[string][2]int{}}
			}
			cells[lv][b].calls = n
		}
	}
	fmt.Println()
	report(os.Stdout, o.levels, backends, cells)
	return nil
}

// seed makes the orders table (shop.Migrate) and fills it to n orders,
// directly, not through the sidecar.
func seed(ctx context.Context, dbURL string, n int) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := shop.Migrate(ctx, pool); err != nil {
		return err
	}
	_, err = pool.Exec(ctx, `INSERT INTO orders (id, item, amount_cents)
		SELECT g, 'item ' || g, 100 + g % 9000 FROM generate_series(11, $1::int) g ON CONFLICT (id) DO NOTHING`, n)
	if err != nil {
		return fmt.Errorf("seeding orders: %w", err)
	}
	return nil
}

// drive keeps inFlight requests going for d, each with its own
// X-Request-ID prefix-N, and waits for the last one.
func drive(ctx context.Context, client *http.Client, base, prefix string, inFlight int, d time.Duration, pick func() string) (int, error) {
	var seq atomic.Int64
	var firstErr error
	var errOnce sync.Once
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+pick(), nil)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				req.Header.Set("X-Request-ID", prefix+"-"+strconv.FormatInt(seq.Add(1), 10))
				resp, err := client.Do(req)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errOnce.Do(func() { firstErr = fmt.Errorf("%s: %s", req.URL.Path, resp.Status) })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return int(seq.Load()), firstErr
}

// settle waits until the backend call counts stop moving (or within).
func settle(g prometheus.Gatherer, within time.Duration) {
	prev, _ := backendCalls(g)
	for end := time.Now().Add(within); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		cur, _ := backendCalls(g)
		if fmt.Sprint(cur) == fmt.Sprint(prev) {
			return
		}
		prev = cur
	}
}

// backendCalls is the number of calls each backend proxy timed so far.
func backendCalls(g prometheus.Gatherer) (map[string]int, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != contract.MetricBackendDuration {
			continue
		}
		for _, m := range mf.GetMetric() {
			backend, connect := "", false
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case contract.LabelBackend:
					backend = l.GetValue()
				case contract.LabelOperation:
					connect = l.GetValue() == contract.OpConnect
				}
			}
			if backend != "" && !connect { // a connection's setup is no handler's call
				out[backend] += int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out, nil
}

func readTruth(path string) ([]shop.CallRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []shop.CallRecord
	dec := json.NewDecoder(f)
	for {
		var r shop.CallRecord
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
}

// receiver is an OTLP/HTTP traces endpoint keeping what score needs.
type receiver struct {
	mu    sync.Mutex
	spans []span
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []span
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, convert(s))
			}
		}
	}
	rc.mu.Lock()
	rc.spans = append(rc.spans, got...)
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collpb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func (rc *receiver) all() []span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.spans
}

func convert(s *tracepb.Span) span {
	out := span{
		spanID:   hex.EncodeToString(s.GetSpanId()),
		parentID: hex.EncodeToString(s.GetParentSpanId()),
		server:   s.GetKind() == tracepb.Span_SPAN_KIND_SERVER,
		start:    int64(s.GetStartTimeUnixNano()),
		end:      int64(s.GetEndTimeUnixNano()),
	}
	for _, kv := range s.GetAttributes() {
		v := kv.GetValue().GetStringValue()
		switch kv.GetKey() {
		case contract.AttrRequestID:
			out.requestID = v
		case contract.AttrBackend:
			out.backend = v
		case contract.AttrAttribution:
			out.attribution = v
		case contract.AttrAttributionReason:
			out.how = v
		case contract.AttrDBOperationName:
			out.op = v
		}
	}
	return out
}
