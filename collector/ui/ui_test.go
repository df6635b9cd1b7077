package ui_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/collector/ui"
	"github.com/hopscope/hopscope/correlate"
)

func newHandler(opts ui.Options) http.Handler {
	if opts.HopColors == nil {
		opts.HopColors = collector.HopPalette()
		opts.DefaultColor = collector.BackendColor
	}
	return ui.Handler(opts)
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// config is the page's #hopscope-config, as the JavaScript reads it.
type config struct {
	APIBase      string            `json:"apiBase"`
	JaegerUIURL  string            `json:"jaegerUIURL"`
	Palette      map[string]string `json:"palette"`
	DefaultColor string            `json:"defaultColor"`
	HopOrder     []string          `json:"hopOrder"`
	RefreshMS    int64             `json:"refreshMs"`
}

var configRE = regexp.MustCompile(`(?s)<script type="application/json" id="hopscope-config">(.*?)</script>`)

func pageConfig(t *testing.T, page string) config {
	t.Helper()
	m := configRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no #hopscope-config in the page:\n%s", page)
	}
	var c config
	if err := json.Unmarshal([]byte(m[1]), &c); err != nil {
		t.Fatalf("#hopscope-config is not JSON: %v\n%s", err, m[1])
	}
	return c
}

func TestIndex(t *testing.T) {
	h := newHandler(ui.Options{JaegerUIURL: "http://jaeger.example:16686/"})
	res := get(t, h, "/ui/")
	page := body(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/ = %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no X-Content-Type-Options: nosniff")
	}
	for _, want := range []string{
		`<base href="/ui/">`,
		`<body data-view="list">`,
		`id="list-view"`,
		`id="requests"`,
		`id="f-service"`, `id="f-route"`, `id="pause"`,
		`No requests yet — send traffic through a sidecar.`,
		`href="http://jaeger.example:16686/search"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// No external assets: every src and href is local (or the Jaeger link).
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		u := html.UnescapeString(m[1])
		if strings.Contains(u, "//") && !strings.HasPrefix(u, "http://jaeger.example:16686/") {
			t.Errorf("external asset or link %q", u)
		}
	}

	c := pageConfig(t, page)
	if !reflect.DeepEqual(c.Palette, collector.HopPalette()) {
		t.Errorf("palette in the page = %v, want collector.HopPalette() %v", c.Palette, collector.HopPalette())
	}
	if c.DefaultColor != collector.BackendColor {
		t.Errorf("default colour = %q, want collector.BackendColor %q", c.DefaultColor, collector.BackendColor)
	}
	if !reflect.DeepEqual(c.HopOrder, correlate.HopNames()) {
		t.Errorf("hop order = %v, want correlate.HopNames()", c.HopOrder)
	}
	if c.APIBase != "/api/v1" || c.JaegerUIURL != "http://jaeger.example:16686" || c.RefreshMS != 5000 {
		t.Errorf("config = %+v", c)
	}
}

func TestTracePage(t *testing.T) {
	h := newHandler(ui.Options{})
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, p := range []string{"/ui/trace/" + id, "/ui/trace/" + id + "/"} {
		res := get(t, h, p)
		page := body(t, res)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET %s = %d %s", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
		for _, want := range []string{`<body data-view="trace">`, `id="trace-view" data-trace-id="` + id + `"`, `id="waterfall"`} {
			if !strings.Contains(page, want) {
				t.Errorf("GET %s: the page lacks %q", p, want)
			}
		}
		if strings.Contains(page, "/search") {
			t.Errorf("GET %s: a Jaeger link without JaegerUIURL", p)
		}
	}
	// Whatever the path holds is escaped; the script rejects it.
	res := get(t, h, `/ui/trace/"><script>alert(1)<`)
	if page := body(t, res); strings.Contains(page, "<script>alert") {
		t.Error("the trace id is not escaped")
	}
}

func TestStatic(t *testing.T) {
	h := newHandler(ui.Options{})
	page := body(t, get(t, h, "/ui/"))
	for path, ct := range map[string]string{
		"/ui/static/app.js":    "text/javascript; charset=utf-8",
		"/ui/static/style.css": "text/css; charset=utf-8",
	} {
		if !strings.Contains(page, strings.TrimPrefix(path, "/ui/")+"?v=") {
			t.Errorf("the page does not load %s", path)
		}
		res := get(t, h, path)
		b := body(t, res)
		if res.StatusCode != http.StatusOK || len(b) == 0 {
			t.Fatalf("GET %s = %d, %d bytes", path, res.StatusCode, len(b))
		}
		if got := res.Header.Get("Content-Type"); got != ct {
			t.Errorf("GET %s: Content-Type = %q, want %q", path, got, ct)
		}
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", path)
		}
		if res := get(t, h, path, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match = %d, want 304", path, res.StatusCode)
		}
		if strings.Contains(b, "http://") || strings.Contains(b, "https://") {
			t.Errorf("%s refers to an external URL", path)
		}
	}
	for _, p := range []string{"/ui/static/nope.js", "/ui/nope", "/ui/static/", "/ui/trace/"} {
		if res := get(t, h, p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, res.StatusCode)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/ui/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/ = %d, want 405", w.Code)
	}
}

func TestOptions(t *testing.T) {
	h := newHandler(ui.Options{APIBase: "https://collector.example:8088/api/v1/", Refresh: 1500 * time.Millisecond})
	res := get(t, h, "/ui/")
	c := pageConfig(t, body(t, res))
	if c.APIBase != "https://collector.example:8088/api/v1" || c.RefreshMS != 1500 || c.JaegerUIURL != "" {
		t.Errorf("config = %+v", c)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' https://collector.example:8088;") {
		t.Errorf("CSP %q does not allow the API's origin", csp)
	}

	mustPanic := func(name string, opts ui.Options) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: Handler did not panic", name)
			}
		}()
		ui.Handler(opts)
	}
	mustPanic("no palette", ui.Options{})
	mustPanic("bad colour", ui.Options{HopColors: map[string]string{"app": "red; background: url(x)"}})
}

// TestMount mounts the UI as collector/api.go does: under "GET /ui/" of a
// ServeMux, with "/" redirecting to it.
func TestMount(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", newHandler(ui.Options{}))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	for _, path := range []string{"/", "/ui"} {
		res := get(t, mux, path)
		if res.StatusCode < 300 || res.StatusCode > 399 || res.Header.Get("Location") != "/ui/" {
			t.Errorf("GET %s = %d to %q, want a redirect to /ui/", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if res := get(t, mux, "/ui/"); res.StatusCode != http.StatusOK {
		t.Errorf("GET /ui/ = %d", res.StatusCode)
	}
	if res := get(t, mux, "/elsewhere"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /elsewhere = %d, want 404 (only / redirects)", res.StatusCode)
	}
}
