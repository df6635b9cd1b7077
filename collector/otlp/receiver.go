package otlp

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed gRPC
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/cliconfig"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// Source is the source label of what the OTLP receiver takes in.
const Source = "otlp"

// consumeFunc receives one export request as ExportTraceServiceRequest
// protobuf bytes (OTLP/JSON is converted first); the bytes are the
// consumer's during the call only (the receiver reads the next request
// into them). It returns an error wrapping otlpwire.ErrMalformed
// for a request it cannot decode (refused for good), any other error when
// the request must be refused for now (the sender may retry).
type consumeFunc func(ctx context.Context, body []byte) error

// Config configures both receivers.
type Config struct {
	// GRPCListen is the OTLP/gRPC address; empty disables it.
	GRPCListen string
	// HTTPListen is the OTLP/HTTP address; empty disables it.
	HTTPListen string
	// MaxRequestBytes bounds one request body (after decompression).
	MaxRequestBytes int64
	// MaxJSONElements bounds the objects and arrays of one OTLP/JSON
	// request, counted before it is decoded: each costs the decoder a
	// message or a slice, a hundred bytes and more, so a body of empty
	// elements would otherwise cost a hundred times its size.
	MaxJSONElements int
	// MaxHTTPConnections bounds the OTLP/HTTP connections open at once;
	// one accepted beyond it is closed at once (OnReject "conn_limit"),
	// so slow clients cannot take every file descriptor of the process.
	MaxHTTPConnections int
	// HTTPReadTimeout bounds the reading of one OTLP/HTTP request, headers
	// and body (OnReject "read_timeout" when a body is cut off);
	// HTTPReadHeaderTimeout its headers; HTTPIdleTimeout a kept-alive
	// connection between requests. Zero fields take DefaultConfig's.
	HTTPReadTimeout, HTTPReadHeaderTimeout, HTTPIdleTimeout time.Duration
	// ErrorLog receives net/http's own errors of the OTLP/HTTP server
	// (accept errors); nil: the log package's standard logger.
	ErrorLog *log.Logger
	// Tokens, when set, are the bearer tokens a request must carry
	// (OnReject "unauthenticated" for one without): OTLP/HTTP answers 401,
	// OTLP/gRPC Unauthenticated.
	Tokens *bearer.Tokens
	// Refuse, when set, is asked before a request's body or message is
	// read (after the token check), and again before the request is handed
	// to the consumer; while it reports true (the memory limiter is past
	// its soft limit) every request is refused (OnReject "memory_limit",
	// once) with the answer OTLP senders retry after a delay: OTLP/HTTP
	// 429 with Retry-After, OTLP/gRPC RESOURCE_EXHAUSTED with RetryInfo,
	// both of RefuseRetryAfter. A request read while refusing began is
	// dropped rather than held. It must be cheap: an atomic load.
	Refuse func() bool
	// MaxInFlightBytes bounds the bytes of the requests being read and
	// handed to the consumer at once: an OTLP/HTTP request counts its
	// Content-Length (64 KiB when unknown) while its body is read, then
	// the body's size; an OTLP/gRPC message its size once received. A
	// request that would pass it while others are under way is refused as
	// by Refuse (memory_limit), so that a burst of requests let in
	// together — every sender's retry at the moment refusing ends — takes
	// no more than this before the memory limiter sees it in the heap. 0:
	// unbounded.
	MaxInFlightBytes int64
	// OnReject is called with a reason for every refused request
	// (bad_content_type, too_large, too_many_elements, malformed,
	// consumer, read_timeout, read_error, unauthenticated, memory_limit)
	// and every OTLP/HTTP connection refused (conn_limit).
	OnReject func(reason string)
}

// RefuseRetryAfter is the delay a refused sender is asked to wait
// (Config.Refuse): the memory limiter checks every 100 ms, and a GC it
// forces frees the heap in well under a second.
const RefuseRetryAfter = time.Second

// DefaultConfig returns the contract's ports (DESIGN.md).
func DefaultConfig() Config {
	return Config{GRPCListen: ":4317", HTTPListen: ":4318", MaxRequestBytes: 16 << 20, MaxJSONElements: DefaultMaxJSONElements,
		MaxHTTPConnections: DefaultMaxHTTPConnections, HTTPReadTimeout: 30 * time.Second,
		HTTPReadHeaderTimeout: 10 * time.Second, HTTPIdleTimeout: time.Minute}
}

// DefaultMaxHTTPConnections: each OTLP/HTTP sender keeps one or a few
// connections; under a 1024 file-descriptor limit the other receivers and
// the internal API keep room.
const DefaultMaxHTTPConnections = 512

// limitListener closes, as soon as they are accepted, the connections
// beyond max open at once, calling refused for each.
type limitListener struct {
	net.Listener
	sem     chan struct{}
	refused func()
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			_ = c.Close()
			l.refused()
		}
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Validate names the bad field.
func (c Config) Validate() error {
	var errs []error
	for _, err := range []error{cliconfig.ListenAddr("otlp-grpc-listen", c.GRPCListen, true),
		cliconfig.ListenAddr("otlp-http-listen", c.HTTPListen, true)} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxRequestBytes < 1024 {
		errs = append(errs, errors.New("MaxRequestBytes: must be at least 1024"))
	}
	if c.MaxJSONElements < 1 {
		errs = append(errs, errors.New("MaxJSONElements: must be at least 1"))
	}
	if c.MaxHTTPConnections < 0 {
		errs = append(errs, errors.New("MaxHTTPConnections: must not be negative"))
	}
	if c.MaxInFlightBytes < 0 {
		errs = append(errs, errors.New("MaxInFlightBytes: must not be negative"))
	}
	if c.HTTPReadTimeout < 0 || c.HTTPReadHeaderTimeout < 0 || c.HTTPIdleTimeout < 0 {
		errs = append(errs, errors.New("HTTPReadTimeout, HTTPReadHeaderTimeout, HTTPIdleTimeout: must not be negative"))
	}
	return errors.Join(errs...)
}

// Receiver runs the OTLP/gRPC and OTLP/HTTP servers.
type Receiver struct {
	cfg      Config
	consume  consumeFunc
	inFlight *inFlight

	grpc      *grpc.Server
	http      *http.Server
	gln, hln  net.Listener
	wg        sync.WaitGroup
	startOnce sync.Once
}

// New returns a receiver that hands each export request to next as an
// Input's OTLP bytes (ExportTraceServiceRequest protobuf; OTLP/JSON is
// converted first), valid during the call only: next copies what it
// keeps. next returns an error
// wrapping otlpwire.ErrMalformed for a request it cannot decode (refused
// for good), any other error when the request must be refused for now
// (the sender may retry).
func New(cfg Config, next consumer.Consumer) (*Receiver, error) {
	return newReceiver(cfg, func(ctx context.Context, body []byte) error {
		return next.Consume(ctx, consumer.Input{Source: Source, OTLP: body})
	})
}

// newReceiver is New with the requests handed to consume.
func newReceiver(cfg Config, consume consumeFunc) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.OnReject == nil {
		cfg.OnReject = func(string) {}
	}
	if cfg.Refuse == nil {
		cfg.Refuse = func() bool { return false }
	}
	def := DefaultConfig()
	if cfg.MaxHTTPConnections == 0 {
		cfg.MaxHTTPConnections = def.MaxHTTPConnections
	}
	if cfg.HTTPReadTimeout == 0 {
		cfg.HTTPReadTimeout = def.HTTPReadTimeout
	}
	if cfg.HTTPReadHeaderTimeout == 0 {
		cfg.HTTPReadHeaderTimeout = def.HTTPReadHeaderTimeout
	}
	if cfg.HTTPIdleTimeout == 0 {
		cfg.HTTPIdleTimeout = def.HTTPIdleTimeout
	}
	return &Receiver{cfg: cfg, consume: consume, inFlight: &inFlight{max: cfg.MaxInFlightBytes}}, nil
}

// Start listens on the configured addresses.
func (r *Receiver) Start(context.Context) error {
	if r.cfg.GRPCListen != "" {
		ln, err := net.Listen("tcp", r.cfg.GRPCListen)
		if err != nil {
			return fmt.Errorf("--otlp-grpc-listen %s: %w", r.cfg.GRPCListen, err)
		}
		r.gln = ln
		// The request's bytes go to the consumer undecoded (it walks them
		// with otlpwire): a raw codec instead of protobuf unmarshalling.
		r.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(int(r.cfg.MaxRequestBytes)), grpc.ForceServerCodecV2(RawCodec{}),
			grpc.UnknownServiceHandler(unknownService))
		r.grpc.RegisterService(&traceServiceDesc, r)
		r.wg.Add(1)
		go func() { defer r.wg.Done(); _ = r.grpc.Serve(ln) }()
	}
	if r.cfg.HTTPListen != "" {
		ln, err := net.Listen("tcp", r.cfg.HTTPListen)
		if err != nil {
			if r.grpc != nil {
				r.grpc.Stop()
			}
			return fmt.Errorf("--otlp-http-listen %s: %w", r.cfg.HTTPListen, err)
		}
		r.hln = ln
		mux := http.NewServeMux()
		mux.Handle("POST /v1/traces", bearer.Handler(r.cfg.Tokens, http.HandlerFunc(r.serveHTTP), func() { r.cfg.OnReject("unauthenticated") }))
		for _, path := range otherSignalPaths {
			mux.HandleFunc(path, serveOtherSignal)
		}
		r.http = &http.Server{Handler: mux, ReadTimeout: r.cfg.HTTPReadTimeout, ReadHeaderTimeout: r.cfg.HTTPReadHeaderTimeout,
			IdleTimeout: r.cfg.HTTPIdleTimeout, ErrorLog: r.cfg.ErrorLog}
		lln := &limitListener{Listener: ln, sem: make(chan struct{}, r.cfg.MaxHTTPConnections),
			refused: func() { r.cfg.OnReject("conn_limit") }}
		r.wg.Add(1)
		go func() { defer r.wg.Done(); _ = r.http.Serve(lln) }()
	}
	return nil
}

// GRPCAddr and HTTPAddr return the bound addresses (nil when disabled).
func (r *Receiver) GRPCAddr() net.Addr { return addr(r.gln) }

// HTTPAddr returns the OTLP/HTTP listener's address.
func (r *Receiver) HTTPAddr() net.Addr { return addr(r.hln) }

func addr(l net.Listener) net.Addr {
	if l == nil {
		return nil
	}
	return l.Addr()
}

// Shutdown stops accepting and waits for in-flight requests within ctx.
func (r *Receiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.http != nil {
		if err := r.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("OTLP/HTTP: %w", err))
		}
	}
	if r.grpc != nil {
		done := make(chan struct{})
		go func() { r.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			r.grpc.Stop()
			errs = append(errs, fmt.Errorf("OTLP/gRPC: %w", ctx.Err()))
		}
	}
	return errors.Join(errs...)
}

// An SDK or Collector configured with one OTLP endpoint for every signal
// sends its logs and metrics here too. They are not taken (hopscope makes
// breakdowns of spans; its access logs come by Fluent forward), and the
// answer says what is, so that the sender's error log tells the operator
// what to change: the default 404 or "unknown service" would not.
const acceptsOnly = "hopscope's collector accepts OTLP traces only: POST /v1/traces (OTLP/HTTP), " +
	traceServiceName + "/Export (OTLP/gRPC)"

// otherSignalPaths are the OTLP/HTTP paths of the signals not taken.
var otherSignalPaths = []string{"/v1/logs", "/v1/metrics"}

// serveOtherSignal answers an OTLP/HTTP request for another signal (any
// method) with 404 and what the receiver takes, without reading its body.
func serveOtherSignal(w http.ResponseWriter, req *http.Request) {
	httpError(w, http.StatusNotFound, "%s is not served: %s", req.URL.Path, acceptsOnly)
}

// unknownService answers a gRPC call of a service or method the receiver
// does not serve (LogsService, MetricsService, ProfilesService, ...), as
// grpc-go would, Unimplemented, and names what the receiver takes.
func unknownService(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	return status.Errorf(codes.Unimplemented, "%s is not served: %s", strings.TrimPrefix(method, "/"), acceptsOnly)
}

const traceServiceName = "opentelemetry.proto.collector.trace.v1.TraceService"

// traceServiceDesc is opentelemetry.proto.collector.trace.v1.TraceService
// with its request kept as bytes.
var traceServiceDesc = grpc.ServiceDesc{
	ServiceName: traceServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Export",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			// The token is checked before the message is read: an
			// unauthenticated sender costs no decompression.
			if err := bearer.CheckIncoming(ctx, srv.(*Receiver).cfg.Tokens); err != nil {
				srv.(*Receiver).cfg.OnReject("unauthenticated")
				return nil, err
			}
			// So is the memory limit: a refused message is left unread.
			if srv.(*Receiver).cfg.Refuse() {
				srv.(*Receiver).cfg.OnReject("memory_limit")
				return nil, errRefusedGRPC
			}
			in := new(RawMessage)
			// The body is read into a recycled buffer (RawCodec), given
			// back once consumed.
			defer func() { putBuf(in.B) }()
			if err := dec(in); err != nil {
				// gRPC refused the message before it reached us: larger
				// than MaxRequestBytes, before or after decompression (a
				// gzip bomb), or not decompressible.
				srv.(*Receiver).cfg.OnReject(grpcRecvReason(err))
				return nil, err
			}
			return srv.(*Receiver).exportGRPC(ctx, in.B)
		},
	}},
	Metadata: "opentelemetry/proto/collector/trace/v1/trace_service.proto",
}

// errRefusedGRPC is the answer to a request refused by Config.Refuse:
// RESOURCE_EXHAUSTED, which OTLP senders retry only when it carries
// RetryInfo (the OpenTelemetry SDKs wait its delay).
var errRefusedGRPC = func() error {
	st := status.New(codes.ResourceExhausted, "collector over its memory limit: retry later")
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RefuseRetryAfter)}); err == nil {
		st = d
	}
	return st.Err()
}()

// grpcRecvReason is the rejection reason of a message gRPC could not
// receive.
func grpcRecvReason(err error) string {
	switch status.Code(err) {
	case codes.ResourceExhausted:
		return "too_large"
	case codes.Canceled, codes.DeadlineExceeded, codes.Unavailable:
		return "read_error"
	}
	return "malformed"
}

func (r *Receiver) exportGRPC(ctx context.Context, body []byte) (*RawMessage, error) {
	if int64(len(body)) > r.cfg.MaxRequestBytes {
		r.cfg.OnReject("too_large")
		return nil, status.Errorf(codes.ResourceExhausted, "request larger than %d bytes", r.cfg.MaxRequestBytes)
	}
	// Refusing began while the message was read, or too many are being
	// handled: dropped, not held.
	n := int64(len(body))
	if r.cfg.Refuse() || !r.inFlight.acquire(n) {
		r.cfg.OnReject("memory_limit")
		return nil, errRefusedGRPC
	}
	defer r.inFlight.release(n)
	if err := r.consume(ctx, body); err != nil {
		if errors.Is(err, otlpwire.ErrMalformed) {
			r.cfg.OnReject("malformed")
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		r.cfg.OnReject("consumer")
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &RawMessage{}, nil // an empty ExportTraceServiceResponse
}

// RawMessage is a gRPC message kept as its protobuf bytes.
type RawMessage struct{ B []byte }

// RawCodec passes RawMessage bytes through and marshals other messages
// with protobuf, under the "proto" name gRPC peers expect.
type RawCodec struct{}

// Marshal implements encoding.CodecV2.
func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *RawMessage:
		return mem.BufferSlice{mem.SliceBuffer(m.B)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		return mem.BufferSlice{mem.SliceBuffer(b)}, err
	}
	return nil, fmt.Errorf("otlp: cannot marshal %T", v)
}

// Unmarshal implements encoding.CodecV2; it copies the bytes out of gRPC's
// pooled buffers, into a RawMessage's from getBuf: the Export handler
// gives them back (putBuf) once they are consumed.
func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *RawMessage:
		m.B = getBuf(data.Len())
		data.CopyTo(m.B)
		return nil
	case proto.Message:
		return proto.Unmarshal(data.Materialize(), m)
	}
	return fmt.Errorf("otlp: cannot unmarshal into %T", v)
}

// Name implements encoding.CodecV2.
func (RawCodec) Name() string { return "proto" }

// serveHTTP implements OTLP/HTTP: binary protobuf or JSON, optionally
// gzip-encoded; the response uses the request's encoding.
func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if r.cfg.Refuse() {
		// Before the body is read: a refusal costs no memory. net/http
		// then discards a body of less than 256 KiB through a small
		// pooled buffer, keeping the connection for the sender's retry
		// (no new handshake under overload), and closes the connection
		// of a larger one without reading it.
		r.refuseHTTP(w)
		return
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	isJSON := ct == "application/json"
	if ct != "application/x-protobuf" && !isJSON {
		r.cfg.OnReject("bad_content_type")
		httpError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/x-protobuf or application/json, got %q", ct)
		return
	}
	// The body's bytes count against MaxInFlightBytes from now until the
	// consumer has them.
	reserved := int64(64 << 10)
	if req.ContentLength > 0 {
		reserved = min(req.ContentLength, r.cfg.MaxRequestBytes)
	}
	if !r.inFlight.acquire(reserved) {
		r.refuseHTTP(w)
		return
	}
	defer func() { r.inFlight.release(reserved) }()
	var body io.Reader = http.MaxBytesReader(w, req.Body, r.cfg.MaxRequestBytes)
	gzipped := strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip")
	if gzipped {
		zr, err := gzip.NewReader(body)
		if err != nil {
			r.cfg.OnReject("malformed")
			httpError(w, http.StatusBadRequest, "gzip body: %v", err)
			return
		}
		defer zr.Close()
		body = io.LimitReader(zr, r.cfg.MaxRequestBytes+1)
	}
	hint := int64(512)
	if req.ContentLength > 0 && req.ContentLength <= r.cfg.MaxRequestBytes && req.Header.Get("Content-Encoding") == "" {
		hint = req.ContentLength
	}
	data, err := readAll(body, int(hint))
	// The body's buffer is recycled once the request is answered: nothing
	// reads it after consume returns.
	defer func() { putBuf(data[:0]) }()
	var ne net.Error
	var mbe *http.MaxBytesError
	switch {
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		r.cfg.OnReject("read_timeout")
		httpError(w, http.StatusRequestTimeout, "body not received within %v", r.cfg.HTTPReadTimeout)
		return
	case err != nil && !errors.As(err, &mbe) && gzipped:
		r.cfg.OnReject("malformed")
		httpError(w, http.StatusBadRequest, "gzip body: %v", err)
		return
	case err != nil && !errors.As(err, &mbe):
		// The client went away or sent a broken chunked body.
		r.cfg.OnReject("read_error")
		httpError(w, http.StatusBadRequest, "reading the body: %v", err)
		return
	}
	if err != nil || int64(len(data)) > r.cfg.MaxRequestBytes {
		r.cfg.OnReject("too_large")
		httpError(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes or unreadable: %v", r.cfg.MaxRequestBytes, err)
		return
	}
	if isJSON {
		msg := &coltracepb.ExportTraceServiceRequest{}
		if err = unmarshalJSON(data, msg, r.cfg.MaxJSONElements); err == nil {
			putBuf(data)
			data, err = proto.Marshal(msg)
		}
		if errors.Is(err, ErrTooManyElements) {
			r.cfg.OnReject("too_many_elements")
			httpError(w, http.StatusRequestEntityTooLarge, "OTLP/JSON body: %v (send smaller batches, or protobuf)", err)
			return
		}
		if err != nil {
			r.cfg.OnReject("malformed")
			httpError(w, http.StatusBadRequest, "decoding ExportTraceServiceRequest: %v", err)
			return
		}
	}
	if r.cfg.Refuse() {
		// Refusing began while the body was read: it is dropped now,
		// garbage at once, rather than handed to the consumer, which
		// holds spans for seconds.
		r.refuseHTTP(w)
		return
	}
	if n := int64(len(data)); n > reserved {
		r.inFlight.grow(n - reserved)
		reserved = n
	}
	if err := r.consume(req.Context(), data); err != nil {
		if errors.Is(err, otlpwire.ErrMalformed) {
			r.cfg.OnReject("malformed")
			httpError(w, http.StatusBadRequest, "decoding ExportTraceServiceRequest: %v", err)
			return
		}
		r.cfg.OnReject("consumer")
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	var out []byte
	if isJSON {
		out = []byte("{}")
		w.Header().Set("Content-Type", "application/json")
	} else {
		out, _ = proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	_, _ = w.Write(out)
}

// refuseHTTP answers a request refused by Config.Refuse.
func (r *Receiver) refuseHTTP(w http.ResponseWriter) {
	r.cfg.OnReject("memory_limit")
	w.Header().Set("Retry-After", strconv.Itoa(int(RefuseRetryAfter/time.Second)))
	httpError(w, http.StatusTooManyRequests, "collector over its memory limit: retry after %v", RefuseRetryAfter)
}

// readAll is io.ReadAll for a body whose Content-Length is hint: the
// buffer starts at up to 1 MiB and, once that much has come, is grown to
// hint at once, so a body of the announced size costs little more than its
// size (io.ReadAll's doublings cost up to twice again) and a sender that
// announces 16 MiB and sends nothing costs 1 MiB.
func readAll(r io.Reader, hint int) ([]byte, error) {
	b := getBuf(min(hint, 1<<20) + 1)[:0] // +1: the read that returns io.EOF needs room
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			size := 2 * cap(b)
			if hint >= cap(b) {
				size = hint + 1
			}
			nb := getBuf(size)[:len(b)]
			copy(nb, b)
			putBuf(b)
			b = nb
		}
	}
}

func httpError(w http.ResponseWriter, code int, format string, a ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]any{"code": code, "message": fmt.Sprintf(format, a...)})
	_, _ = w.Write(b)
}
