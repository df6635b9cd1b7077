package rum

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/correlate/beacon"
)

//go:embed rum.js
var script []byte

// Script returns the browser script served at ScriptPath.
func Script() []byte { return bytes.Clone(script) }

// Handler serves ScriptPath and BeaconPath; every other path is 404. It
// is safe for concurrent use.
type Handler struct {
	cfg          Config
	limits       beacon.Limits
	allowAll     bool
	origins      map[string]struct{}
	limiter      *limiter
	global       *limiter // one bucket for all clients
	etag         string
	cacheControl string
}

// Source is the source label of what the RUM endpoint takes in.
const Source = "rum"

// New returns a Handler for cfg, or cfg.Validate's error.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnResult == nil {
		cfg.OnResult = func(string) {}
	}
	if cfg.OnEntries == nil {
		cfg.OnEntries = func(string, int, error) {}
	}
	h := &Handler{
		cfg:     cfg,
		limits:  cfg.Limits,
		origins: make(map[string]struct{}, len(cfg.AllowedOrigins)),
		limiter: newLimiter(cfg.RatePerSecond, cfg.Burst, cfg.MaxClients, cfg.Now),
		global:  newLimiter(cfg.GlobalRatePerSecond, int(math.Ceil(cfg.GlobalRatePerSecond)), 1, cfg.Now),
	}
	h.limits.MaxBytes = int(cfg.MaxBodyBytes)
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			h.allowAll = true
		}
		h.origins[o] = struct{}{}
	}
	sum := sha256.Sum256(script)
	h.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	h.cacheControl = "public, max-age=" + strconv.FormatInt(int64(cfg.ScriptMaxAge/time.Second), 10)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case ScriptPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "rum: "+r.Method+" "+ScriptPath+": want GET", "")
			return
		}
		h.serveScript(w, r)
	case BeaconPath:
		switch r.Method {
		case http.MethodPost:
			h.receive(w, r)
		case http.MethodOptions:
			h.preflight(w, r)
		default:
			w.Header().Set("Allow", "POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "rum: "+r.Method+" "+BeaconPath+": want POST", "")
		}
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) serveScript(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/javascript; charset=utf-8")
	hd.Set("Cache-Control", h.cacheControl)
	hd.Set("ETag", h.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	// Pages that require CORP of their subresources (COEP) may load it.
	hd.Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeContent(w, r, "rum.js", time.Time{}, bytes.NewReader(script))
}

// originAllowed reports whether a request with this Origin may send
// beacons. present is false when the request had no Origin header.
func (h *Handler) originAllowed(origin string, present bool) bool {
	if !present || h.allowAll {
		return true
	}
	_, ok := h.origins[origin]
	return ok
}

func (h *Handler) forbidden(w http.ResponseWriter, origin string) {
	h.cfg.OnResult(ResultForbiddenOrigin)
	writeError(w, http.StatusForbidden,
		fmt.Sprintf("rum: origin %q may not send beacons: it is not in the collector's allowed origins", origin), "")
}

func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Add("Vary", "Origin")
	hd.Add("Vary", "Access-Control-Request-Method")
	hd.Add("Vary", "Access-Control-Request-Headers")
	origin, present := r.Header.Get("Origin"), len(r.Header.Values("Origin")) > 0
	if !h.originAllowed(origin, present) {
		h.forbidden(w, origin)
		return
	}
	hd.Set("Allow", "POST, OPTIONS")
	if present {
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Methods", "POST")
		hd.Set("Access-Control-Allow-Headers", "Content-Type")
		hd.Set("Access-Control-Max-Age", "86400")
		if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
			hd.Set("Access-Control-Allow-Private-Network", "true")
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Add("Vary", "Origin")
	origin, present := r.Header.Get("Origin"), len(r.Header.Values("Origin")) > 0
	if !h.originAllowed(origin, present) {
		h.forbidden(w, origin)
		return
	}
	if present {
		hd.Set("Access-Control-Allow-Origin", origin)
	}

	if h.cfg.Refuse != nil && h.cfg.Refuse() {
		h.cfg.OnResult(ResultMemoryLimit)
		hd.Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "rum: the collector is over its memory limit; retry after 1s", "")
		return
	}

	if msg := checkContentType(r.Header.Values("Content-Type")); msg != "" {
		h.cfg.OnResult(ResultBadContentType)
		writeError(w, http.StatusUnsupportedMediaType, msg, "")
		return
	}

	if ok, wait := h.limiter.allow(clientKey(h.clientAddr(r))); !ok {
		h.cfg.OnResult(ResultRateLimited)
		secs := max(1, int64(math.Ceil(wait.Seconds())))
		hd.Set("Retry-After", strconv.FormatInt(secs, 10))
		writeError(w, http.StatusTooManyRequests,
			"rum: too many beacons from this client; retry after "+strconv.FormatInt(secs, 10)+"s", "")
		return
	}
	if ok, wait := h.global.allow(netip.Addr{}); !ok {
		h.cfg.OnResult(ResultGlobalRateLimited)
		secs := max(1, int64(math.Ceil(wait.Seconds())))
		hd.Set("Retry-After", strconv.FormatInt(secs, 10))
		writeError(w, http.StatusTooManyRequests,
			"rum: too many beacons; retry after "+strconv.FormatInt(secs, 10)+"s", "")
		return
	}

	limit := h.cfg.MaxBodyBytes
	tooLarge := func() {
		h.cfg.OnResult(ResultTooLarge)
		writeError(w, http.StatusRequestEntityTooLarge,
			"rum: body larger than "+strconv.FormatInt(limit, 10)+" bytes", "")
	}
	if r.ContentLength > limit {
		tooLarge()
		return
	}
	n := r.ContentLength
	if n < 0 {
		n = 512
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+1))
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			tooLarge()
			return
		}
		h.cfg.OnResult(ResultInvalid)
		writeError(w, http.StatusBadRequest, "rum: reading the body: "+err.Error(), "")
		return
	}

	b, err := beacon.ParseBatch(buf.Bytes(), h.limits)
	if err == nil && len(b.Records) == 0 {
		err = b.Rejected[0] // every entry refused: the beacon is
	}
	if err != nil {
		h.cfg.OnResult(ResultInvalid)
		var field string
		if be, ok := errors.AsType[*beacon.Error](err); ok {
			field = be.Field
		}
		writeError(w, http.StatusBadRequest, err.Error(), field)
		return
	}
	for i := range b.Records {
		_ = h.cfg.Consume.Consume(r.Context(), consumer.Input{Source: Source, Where: "beacon", Record: &b.Records[i]})
	}
	if n := len(b.Rejected); n > 0 {
		h.cfg.OnEntries(ResultInvalidEntry, n, b.Rejected[0])
	}
	if b.Dropped > 0 {
		h.cfg.OnEntries(ResultPageCap, b.Dropped, nil)
	}
	h.cfg.OnResult(ResultAccepted)
	w.WriteHeader(http.StatusNoContent)
}

// checkContentType accepts one Content-Type, text/plain or
// application/json, in UTF-8. It returns why it refuses, or "".
func checkContentType(values []string) string {
	const want = "want text/plain or application/json"
	switch len(values) {
	case 0:
		return "rum: no Content-Type: " + want
	case 1:
	default:
		return "rum: more than one Content-Type: " + want
	}
	mt, params, err := mime.ParseMediaType(values[0])
	if err != nil {
		return fmt.Sprintf("rum: Content-Type %q: %v: %s", values[0], err, want)
	}
	if mt != "text/plain" && mt != "application/json" {
		return fmt.Sprintf("rum: Content-Type %q: %s", values[0], want)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return fmt.Sprintf("rum: Content-Type %q: want charset utf-8", values[0])
	}
	return ""
}

// clientAddr is the address the rate limit applies to: when
// X-Forwarded-For is trusted, its TrustedHops-th address from the right
// (all the header's lines taken as one list), the one the outermost
// trusted proxy wrote; else, or when that address cannot be read, the
// connection's peer. An address that cannot be read is the zero Addr, one
// shared bucket.
func (h *Handler) clientAddr(r *http.Request) netip.Addr {
	if h.cfg.TrustForwardedFor {
		if a, ok := forwardedClient(r.Header.Values("X-Forwarded-For"), h.cfg.TrustedHops); ok {
			return a
		}
	}
	a, _ := parseAddr(r.RemoteAddr)
	return a
}

// forwardedClient returns the hops-th address from the right of the
// X-Forwarded-For lines (the left-most when there are fewer).
func forwardedClient(lines []string, hops int) (netip.Addr, bool) {
	var entries []string
	for _, l := range lines {
		for e := range strings.SplitSeq(l, ",") {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) == 0 {
		return netip.Addr{}, false
	}
	return parseAddr(entries[max(0, len(entries)-hops)])
}

// errorBody is the JSON body of every refusal.
type errorBody struct {
	Error string `json:"error"`
	// Field is the beacon member at fault, for a 400.
	Field string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	b, err := json.Marshal(errorBody{Error: msg, Field: field})
	if err != nil { // cannot happen: two strings
		b = []byte(`{"error":"rum: internal error"}`)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
