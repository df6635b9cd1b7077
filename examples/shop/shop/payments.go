package shop

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
)

// HTTPPayments calls the payments API over HTTP(S). Every call is a client
// span (otelhttp) and carries its traceparent to the API.
type HTTPPayments struct {
	quote  *url.URL
	client *http.Client
}

// NewHTTPPayments makes a client for the API at baseURL. insecure accepts
// any server certificate (a self-signed one in tests).
func NewHTTPPayments(baseURL string, insecure bool, opts ...Option) (*HTTPPayments, error) {
	o := buildOptions(opts)
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("shop: payments URL: want http(s)://host[:port][/path], got %q", baseURL)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for, for tests
	}
	var rt http.RoundTripper = base
	if !o.untraced {
		rt = otelhttp.NewTransport(base,
			otelhttp.WithTracerProvider(o.tp),
			otelhttp.WithPropagators(propagation.TraceContext{}))
	}
	return &HTTPPayments{
		quote: u.JoinPath("quote"),
		client: &http.Client{
			Transport: rt,
			Timeout:   MaxDelay + 5*time.Second, // the longest delay the API may be asked for, and some
		},
	}, nil
}

// Quote asks the API for order's quote, passing the request's external
// delay as delay_ms.
func (p *HTTPPayments) Quote(ctx context.Context, orderID int) (Quote, error) {
	u := *p.quote
	u.RawQuery = url.Values{
		"order":    {strconv.Itoa(orderID)},
		"delay_ms": {strconv.FormatInt(DelaysFrom(ctx).Ext.Milliseconds(), 10)},
	}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Quote{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return Quote{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Quote{}, err
	}
	if resp.StatusCode != http.StatusOK {
		if len(body) > 200 {
			body = body[:200]
		}
		return Quote{}, fmt.Errorf("payments API: %s: %s", resp.Status, body)
	}
	var q Quote
	if err := json.Unmarshal(body, &q); err != nil {
		return Quote{}, fmt.Errorf("payments API: %w", err)
	}
	return q, nil
}

// Close closes idle connections.
func (p *HTTPPayments) Close() { p.client.CloseIdleConnections() }

// PaymentsStub is a stand-in for the external payments API: GET
// /quote?order=ID&delay_ms=N sleeps N milliseconds (0 to 10000) and answers
// a Quote as JSON. Serve it with httptest.NewTLSServer(PaymentsStub{}) in
// tests, or on its own listener.
type PaymentsStub struct{}

func (PaymentsStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/quote" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	q := r.URL.Query()
	id, err := parseID("order", q.Get("order"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "field": "order"})
		return
	}
	var delay time.Duration
	if s := q.Get("delay_ms"); s != "" {
		if delay, err = parseMS(s); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "delay_ms: " + err.Error(), "field": "delay_ms"})
			return
		}
	}
	if sleep(r.Context(), delay) != nil {
		return // the caller went away
	}
	writeJSON(w, http.StatusOK, Quote{OrderID: id, Currency: "EUR", FeeCents: 25 + id*37%75, DelayMS: int(delay.Milliseconds())})
}
