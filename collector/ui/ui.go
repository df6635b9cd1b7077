// Package ui is the collector's web UI: recent requests as stacked per-hop
// bars, and one request's waterfall. It is plain HTML, CSS and JavaScript
// embedded in the binary, with no build step and no external assets; the
// page reads the collector API (GET {APIBase}/breakdowns and
// GET {APIBase}/traces/{id}/breakdown) from the browser.
//
// The hop colours are rendered into every page from Go (Options.HopColors,
// which the collector sets to collector.HopPalette()), so the UI and the
// terminal waterfall cannot drift apart.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// Prefix is the path the UI is served under. Handler expects the full
// request path (mount it with mux.Handle("GET /ui/", ui.Handler(…)), no
// http.StripPrefix).
const Prefix = "/ui/"

// DefaultAPIBase is Options.APIBase when empty.
const DefaultAPIBase = "/api/v1"

// DefaultRefresh is Options.Refresh when zero.
const DefaultRefresh = 5 * time.Second

// Options configures Handler.
type Options struct {
	// JaegerUIURL, when set, adds a link to Jaeger's search page in the
	// header. Per-trace links come from the API's jaeger_url.
	JaegerUIURL string
	// APIBase is the collector API the page calls, a path ("/api/v1",
	// the default) or an absolute URL.
	APIBase string
	// HopColors maps hop names, backend kinds included, to CSS colours;
	// DefaultColor colours hops without an entry. The collector passes
	// collector.HopPalette() and collector.BackendColor (this package cannot
	// import the collector, which mounts it). Required: Handler panics
	// when HopColors is empty.
	HopColors    map[string]string
	DefaultColor string
	// Refresh is the list's auto-refresh interval (default 5 s).
	Refresh time.Duration
}

//go:embed index.html static
var files embed.FS

// pageConfig is the JSON the page reads from #hopscope-config.
type pageConfig struct {
	APIBase      string            `json:"apiBase"`
	JaegerUIURL  string            `json:"jaegerUIURL,omitempty"`
	Palette      map[string]string `json:"palette"`
	DefaultColor string            `json:"defaultColor"`
	// HopOrder is the waterfall order of the hops, for the legend;
	// backend kinds go after "app".
	HopOrder  []string `json:"hopOrder"`
	RefreshMS int64    `json:"refreshMs"`
}

type pageData struct {
	Base     string
	View     string // "list" or "trace"
	TraceID  string
	Config   pageConfig
	AssetTag string // cache-busting query for the static assets
}

var traceIDPath = regexp.MustCompile(`^` + regexp.QuoteMeta(Prefix) + `trace/([^/]+)/?$`)

// colorRE accepts the colours the palette is made of (#rgb, #rrggbb,
// #rrggbbaa) and plain CSS colour names; anything else would be injected
// into style properties.
var colorRE = regexp.MustCompile(`^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,30})$`)

// Handler serves the UI under Prefix: the list at /ui/, one request's
// waterfall at /ui/trace/{trace_id}, and the assets under /ui/static/.
func Handler(opts Options) http.Handler {
	if len(opts.HopColors) == 0 {
		panic("ui: Options.HopColors is required (pass collector.HopPalette())")
	}
	cfg := pageConfig{
		APIBase:      strings.TrimRight(opts.APIBase, "/"),
		JaegerUIURL:  strings.TrimRight(opts.JaegerUIURL, "/"),
		Palette:      maps.Clone(opts.HopColors),
		DefaultColor: opts.DefaultColor,
		HopOrder:     correlate.HopNames(),
		RefreshMS:    opts.Refresh.Milliseconds(),
	}
	if cfg.APIBase == "" {
		cfg.APIBase = DefaultAPIBase
	}
	if cfg.DefaultColor == "" {
		cfg.DefaultColor = "#888888"
	}
	if opts.Refresh <= 0 {
		cfg.RefreshMS = DefaultRefresh.Milliseconds()
	}
	for hop, c := range cfg.Palette {
		if !colorRE.MatchString(c) {
			panic(fmt.Sprintf("ui: colour %q of hop %q is not #rrggbb or a colour name", c, hop))
		}
	}
	if !colorRE.MatchString(cfg.DefaultColor) {
		panic(fmt.Sprintf("ui: DefaultColor %q is not #rrggbb or a colour name", cfg.DefaultColor))
	}

	static, err := loadStatic()
	if err != nil {
		panic(err) // the embedded files are part of the binary
	}
	h := &handler{
		cfg:    cfg,
		static: static,
		page:   template.Must(template.ParseFS(files, "index.html")),
		csp:    contentSecurityPolicy(cfg.APIBase),
	}
	h.assetTag = assetTag(static)
	return h
}

type handler struct {
	cfg      pageConfig
	static   map[string]asset
	page     *template.Template
	csp      string
	assetTag string
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// contentTypes are set explicitly: mime.TypeByExtension reads the
// system's tables, which differ between hosts.
var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

func loadStatic() (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("ui: no content type for embedded %s", p)
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[Prefix+p] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out, err
}

func assetTag(static map[string]asset) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(static)) {
		fmt.Fprintf(h, "%s %s\n", k, static[k].etag)
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// contentSecurityPolicy allows the page's own script and style, and API
// calls to the collector (and to APIBase's origin when it is another).
func contentSecurityPolicy(apiBase string) string {
	connect := "'self'"
	if u, err := url.Parse(apiBase); err == nil && u.Scheme != "" && u.Host != "" {
		connect += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + connect +
		"; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if a, ok := h.static[p]; ok {
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("ETag", a.etag)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
		return
	}
	switch {
	case p == Prefix || p == Prefix+"index.html":
		h.servePage(w, r, pageData{View: "list"})
	case traceIDPath.MatchString(p):
		id := traceIDPath.FindStringSubmatch(p)[1]
		h.servePage(w, r, pageData{View: "trace", TraceID: id})
	default:
		http.NotFound(w, r)
	}
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request, d pageData) {
	d.Base = Prefix
	d.Config = h.cfg
	d.AssetTag = h.assetTag
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, d); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", h.csp)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
		return
	}
	_, _ = w.Write(buf.Bytes())
}
