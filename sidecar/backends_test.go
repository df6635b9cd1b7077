package sidecar

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
)

// TestBackendCallAttributedToInboundRequest: the app, while serving a
// request through the sidecar, calls its backend through the sidecar's
// backend proxy (a tcp one here); the call's span is a child of the
// sidecar's server span, attributed "inferred", and the relay changed no
// byte.
func TestBackendCallAttributedToInboundRequest(t *testing.T) {
	echo := backendtest.Echo(t)
	backendAddr := make(chan string, 1)
	app, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := net.Dial("tcp", <-backendAddr)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(c, "ping")
		c.(*net.TCPConn).CloseWrite()
		got, _ := io.ReadAll(c)
		c.Close()
		w.Write(got)
	}))
	sink := newOTLPSink(t)
	h := startSidecar(t, app, func(c *Config) {
		c.OTLPEndpoint = sink.url
		c.Backends = []backend.Config{{Name: "echo", Kind: backend.KindTCP, Listen: "127.0.0.1:0", Target: echo}}
	})
	backendAddr <- h.sc.BackendAddrs()["echo"].String()
	res, err := http.Get(h.url + "/orders/7")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "ping" {
		t.Fatalf("app answered %q through the relay", body)
	}
	var server, client map[string]string
	var serverID, clientParent, serverTrace, clientTrace string
	testkit.Eventually(t, "the request's span and the backend's", 10*time.Second, func() bool {
		h.sc.tp.ForceFlush(t.Context())
		for _, sp := range sink.Spans() {
			a := attrs(sp)
			switch {
			case strings.HasPrefix(sp.Name, "GET "):
				server, serverID, serverTrace = a, hex.EncodeToString(sp.SpanId), hex.EncodeToString(sp.TraceId)
			case sp.Name == "connection echo":
				client, clientParent, clientTrace = a, hex.EncodeToString(sp.ParentSpanId), hex.EncodeToString(sp.TraceId)
			}
		}
		return server != nil && client != nil
	}, func() string { return fmt.Sprint(sink.Spans()) })
	if clientTrace != serverTrace || clientParent != serverID {
		t.Errorf("backend span in trace %s under %s; the request's span is %s in %s", clientTrace, clientParent, serverID, serverTrace)
	}
	if client[backend.AttrAttribution] != "inferred" || client[backend.AttrBackend] != "echo" || client["hopscope.network.io.sent_bytes"] != "4" {
		t.Errorf("backend span attributes %v", client)
	}
	if n := h.sc.backends.tracker.InFlight(); n != 0 {
		t.Errorf("%d requests still tracked after the response", n)
	}
}

func TestBackendsConfigErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backends = []backend.Config{{Name: "db", Kind: "mysql", Listen: "0.0.0.0:3306", Target: "db:3306"}}
	cfg.EgressListen = "0.0.0.0:15081"
	err := cfg.Validate()
	for _, want := range []string{"backends[0].kind", "backends[0].listen", "--egress-listen"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestEgressForwardProxyContinuesTheTrace: an app that honours
// HTTP_PROXY calls an external API through the sidecar's forward proxy;
// the API receives a traceparent in the inbound request's trace whose
// parent is the sidecar's client span for the call.
func TestEgressForwardProxyContinuesTheTrace(t *testing.T) {
	gotTP := make(chan string, 1)
	api, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTP <- r.Header.Get("traceparent")
		io.WriteString(w, "quote 42")
	}))
	proxyAddr := make(chan string, 1)
	app, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pu, _ := url.Parse("http://" + <-proxyAddr)
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
		res, err := client.Get(api + "/quote")
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer res.Body.Close()
		io.Copy(w, res.Body)
	}))
	sink := newOTLPSink(t)
	h := startSidecar(t, app, func(c *Config) {
		c.OTLPEndpoint = sink.url
		c.EgressListen = "127.0.0.1:0"
	})
	proxyAddr <- h.sc.BackendAddrs()[EgressBackend].String()
	res, err := http.Get(h.url + "/checkout")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "quote 42" {
		t.Fatalf("app answered %q", body)
	}
	tp := <-gotTP
	parts := strings.Split(tp, "-")
	if len(parts) != 4 {
		t.Fatalf("the API got traceparent %q", tp)
	}
	var serverTrace, clientID, clientTrace string
	var client map[string]string
	testkit.Eventually(t, "the egress span", 10*time.Second, func() bool {
		h.sc.tp.ForceFlush(t.Context())
		for _, sp := range sink.Spans() {
			switch {
			case strings.HasPrefix(sp.Name, "GET /checkout"):
				serverTrace = hex.EncodeToString(sp.TraceId)
			case sp.Name == "HTTP GET egress":
				client, clientID, clientTrace = attrs(sp), hex.EncodeToString(sp.SpanId), hex.EncodeToString(sp.TraceId)
			}
		}
		return client != nil && serverTrace != ""
	}, func() string { return fmt.Sprint(sink.Spans()) })
	if parts[1] != serverTrace || parts[1] != clientTrace || parts[2] != clientID {
		t.Errorf("traceparent %s; inbound trace %s, egress span %s in %s", tp, serverTrace, clientID, clientTrace)
	}
	if client[backend.AttrAttribution] != "inferred" || client["http.request.method"] != "GET" {
		t.Errorf("egress span attributes %v", client)
	}
}
