package main

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// exportSink is the collector's export endpoint: an OTLP/HTTP receiver
// that reads each request and answers 200 at once, so that the
// collector's export costs it what a fast backend would.
type exportSink struct {
	srv      *http.Server
	requests atomic.Int64
	bytes    atomic.Int64
}

// empty is an ExportTraceServiceResponse with no field set.
var empty []byte

func startSink(ln net.Listener) *exportSink {
	s := &exportSink{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.requests.Add(1)
		s.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(empty)
	})
	s.srv = &http.Server{Handler: mux}
	go func() { _ = s.srv.Serve(ln) }()
	return s
}
