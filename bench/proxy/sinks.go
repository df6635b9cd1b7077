package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// otlpSink is the tiny OTLP/HTTP receiver the sidecar exports spans to. It
// reads each body, counts bytes and spans (a protobuf wire walk, no generated
// code) and answers 200 with an empty ExportTraceServiceResponse.
type otlpSink struct {
	srv       *http.Server
	addr      string
	posts     atomic.Int64
	bytes     atomic.Int64
	spans     atomic.Int64
	badBodies atomic.Int64
}

func startOTLPSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", s.traces)
	// Metrics or logs, should the sidecar ever send them: accepted, not counted.
	mux.HandleFunc("POST /v1/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// bodyBufs are the sink's request buffers, reused: the sink shares the
// load CPU with the open-loop generator, and garbage from a 200 KB body
// per export would make this process's collector take that CPU from it.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *otlpSink) traces(w http.ResponseWriter, r *http.Request) {
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer bodyBufs.Put(buf)
	buf.Reset()
	_, err := buf.ReadFrom(r.Body)
	body := buf.Bytes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.posts.Add(1)
	s.bytes.Add(int64(len(body)))
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			s.badBodies.Add(1)
			body = nil
		}
	}
	if ct := r.Header.Get("Content-Type"); body != nil && strings.HasPrefix(ct, "application/x-protobuf") {
		n, err := countOTLPSpans(body)
		if err != nil {
			s.badBodies.Add(1)
		}
		s.spans.Add(int64(n))
	} else if body != nil {
		s.badBodies.Add(1) // JSON encoding: bytes counted, spans not
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK) // zero bytes = an empty ExportTraceServiceResponse
}

func (s *otlpSink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// countOTLPSpans counts the spans of an ExportTraceServiceRequest:
// resource_spans = 1 → scope_spans = 2 → spans = 2.
func countOTLPSpans(b []byte) (int, error) {
	n := 0
	err := eachField(b, 1, func(rs []byte) error {
		return eachField(rs, 2, func(ss []byte) error {
			return eachField(ss, 2, func([]byte) error { n++; return nil })
		})
	})
	return n, err
}

// eachField calls fn with the payload of every length-delimited field number
// want in the protobuf message b, skipping all other fields.
func eachField(b []byte, want uint64, fn func([]byte) error) error {
	for len(b) > 0 {
		key, k := uvarint(b)
		if k <= 0 {
			return errors.New("bad protobuf tag")
		}
		b = b[k:]
		num, typ := key>>3, key&7
		switch typ {
		case 0: // varint
			_, k := uvarint(b)
			if k <= 0 {
				return errors.New("bad protobuf varint")
			}
			b = b[k:]
		case 1: // fixed64
			if len(b) < 8 {
				return errors.New("short fixed64")
			}
			b = b[8:]
		case 5: // fixed32
			if len(b) < 4 {
				return errors.New("short fixed32")
			}
			b = b[4:]
		case 2: // length-delimited
			l, k := uvarint(b)
			if k <= 0 || uint64(len(b)-k) < l {
				return errors.New("bad protobuf length")
			}
			payload := b[k : k+int(l)]
			b = b[k+int(l):]
			if num == want {
				if err := fn(payload); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unsupported protobuf wire type %d", typ)
		}
	}
	return nil
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}

// tcpSink stands in for Fluent Bit's forward input: it accepts connections,
// reads and discards everything and never acknowledges.
type tcpSink struct {
	ln    net.Listener
	addr  string
	bytes atomic.Int64
	conns atomic.Int64
	mu    sync.Mutex
	open  map[net.Conn]struct{}
}

func startTCPSink() (*tcpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &tcpSink{ln: ln, addr: ln.Addr().String(), open: map[net.Conn]struct{}{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open[c] = struct{}{}
			s.mu.Unlock()
			go func() {
				defer func() {
					s.mu.Lock()
					delete(s.open, c)
					s.mu.Unlock()
					c.Close()
				}()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					s.bytes.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return s, nil
}

func (s *tcpSink) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
}
