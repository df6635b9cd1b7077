package ui_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/collector/ui"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/testkit"
)

const (
	chromium = "/usr/bin/chromium"
	jaeger   = "http://jaeger.test:16686"
	// pxTolerance is how far a measured width or offset may be from the
	// one its milliseconds give (layout rounds to 1/64 px; borders none).
	pxTolerance = 0.6
)

// browser starts a headless Chromium for t, bounded by a timeout.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("headless browser test skipped with -short")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no Chromium at %s (apt-get install chromium): %v", chromium, err)
	}
	dir, err := os.MkdirTemp("", "hopscope-ui-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's children may still write to the profile for a moment
		// after the browser exits.
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 800),
		chromedp.Env("TZ=UTC"),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}

	// Uncaught exceptions in the page fail the test.
	var mu sync.Mutex
	var exceptions []string
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				mu.Lock()
				exceptions = append(exceptions, m.String())
				mu.Unlock()
			}
		}
	}()
	return bctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(exceptions)
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page; on timeout it fails
// with what the page shows.
func waitFor(t *testing.T, ctx context.Context, cond, what string) {
	t.Helper()
	var lastErr error
	testkit.Eventually(t, what+" ("+cond+")", 20*time.Second, func() bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		lastErr = err
		return err == nil && v
	}, func() string {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		return fmt.Sprintf("last evaluation error: %v\npage:\n%s", lastErr, text)
	})
}

// navigateBy clicks or presses a key and waits for the new page's load.
func navigateBy(t *testing.T, ctx context.Context, trigger chromedp.Action[chromedp.Void]) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, trigger)); err != nil {
		t.Fatal(err)
	}
}

const listReady = `document.getElementById('list-view')?.dataset.state === 'ready'`
const traceReady = `document.getElementById('trace-view')?.dataset.state === 'ready'`
const traceFailed = `document.getElementById('trace-view')?.dataset.state === 'error'`

type segInfo struct {
	Hop   string  `json:"hop"`
	MS    float64 `json:"ms"`
	Title string  `json:"title"`
	Width float64 `json:"width"`
	Color string  `json:"color"`
}

type rowInfo struct {
	ID       string    `json:"id"`
	Href     string    `json:"href"`
	Text     string    `json:"text"`
	Service  string    `json:"service"`
	TabIndex int       `json:"tabIndex"`
	Bars     int       `json:"bars"`
	BarWidth float64   `json:"barWidth"`
	Label    string    `json:"label"`
	Segs     []segInfo `json:"segs"`
}

const rowsJS = `Array.from(document.querySelectorAll('#requests .row')).map(r => {
  const bar = r.querySelector('.bar');
  return {
    id: r.dataset.traceId, href: r.getAttribute('href'), text: r.innerText, service: r.dataset.service,
    tabIndex: r.tabIndex, bars: r.querySelectorAll('.bar').length,
    barWidth: bar ? bar.getBoundingClientRect().width : 0,
    label: bar ? bar.getAttribute('aria-label') : '',
    segs: bar ? Array.from(bar.querySelectorAll('.seg')).map(s => ({
      hop: s.dataset.hop, ms: Number(s.dataset.ms), title: s.title,
      width: s.getBoundingClientRect().width, color: getComputedStyle(s).backgroundColor,
    })) : [],
  };
})`

type legendItem struct {
	Hop   string `json:"hop"`
	Color string `json:"color"`
}

const legendJS = `Array.from(document.querySelectorAll('#legend li')).map(li => ({
  hop: li.dataset.hop, color: getComputedStyle(li.querySelector('.swatch')).backgroundColor }))`

func ids(bs []collector.BreakdownResponse) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.TraceID.String())
	}
	return out
}

func rowIDs(rows []rowInfo) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// fmtMS is app.js's number format.
func fmtMS(v float64) string {
	d := 3
	if a := math.Abs(v); a >= 10 {
		d = 1
	} else if a >= 1 {
		d = 2
	}
	return strconv.FormatFloat(v, 'f', d, 64)
}

// cssColor is a palette colour as getComputedStyle reports it.
func cssColor(hex string) string {
	v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil || len(hex) != 7 {
		return "bad colour " + hex
	}
	return fmt.Sprintf("rgb(%d, %d, %d)", v>>16&0xff, v>>8&0xff, v&0xff)
}

func positiveSum(hops []correlate.Hop) float64 {
	var s float64
	for _, h := range hops {
		s += max(h.MS, 0)
	}
	return s
}

// checkRows asserts the list shows want, one stacked bar per request whose
// segments are the positive hops, proportional and in the palette's colours.
func checkRows(t *testing.T, rows []rowInfo, want []collector.BreakdownResponse) {
	t.Helper()
	if !slices.Equal(rowIDs(rows), ids(want)) {
		t.Fatalf("rows = %v, want %v", rowIDs(rows), ids(want))
	}
	var scale float64 // the longest total on the page
	for _, b := range want {
		scale = max(scale, b.TotalMS, positiveSum(b.Hops))
	}
	for i, r := range rows {
		b := want[i]
		if r.Bars != 1 {
			t.Errorf("row %s has %d bars, want 1", r.ID, r.Bars)
		}
		if r.Href != "trace/"+b.TraceID.String() || r.TabIndex != 0 {
			t.Errorf("row %s: href %q, tabIndex %d: want a focusable link to trace/%s", r.ID, r.Href, r.TabIndex, b.TraceID)
		}
		for _, s := range []string{b.Method, b.Route, strconv.Itoa(b.Status), fmtMS(b.TotalMS) + " ms"} {
			if !strings.Contains(r.Text, s) {
				t.Errorf("row %s %q lacks %q", r.ID, r.Text, s)
			}
		}
		if math.Abs(r.BarWidth-rows[0].BarWidth) > 0.01 || r.BarWidth < 100 {
			t.Errorf("row %s: bar track %.2f px wide, row 0's %.2f px", r.ID, r.BarWidth, rows[0].BarWidth)
		}
		pxPerMS := r.BarWidth / scale
		var wantSegs []correlate.Hop
		for _, h := range b.Hops {
			if !strings.Contains(r.Label, h.Hop+" "+fmtMS(h.MS)+" ms") {
				t.Errorf("row %s: bar label %q lacks hop %s", r.ID, r.Label, h.Hop)
			}
			if h.MS > 0 {
				wantSegs = append(wantSegs, h)
			}
		}
		if len(r.Segs) != len(wantSegs) {
			t.Errorf("row %s: %d segments, want %d (the hops with ms > 0)", r.ID, len(r.Segs), len(wantSegs))
			continue
		}
		for j, s := range r.Segs {
			h := wantSegs[j]
			if s.Hop != h.Hop || s.MS != h.MS {
				t.Errorf("row %s segment %d = %s %.3f ms, want %s %.3f ms", r.ID, j, s.Hop, s.MS, h.Hop, h.MS)
			}
			if s.Width <= 0 {
				t.Errorf("row %s segment %s: width %.3f px", r.ID, s.Hop, s.Width)
			}
			if w := h.MS * pxPerMS; math.Abs(s.Width-w) > pxTolerance {
				t.Errorf("row %s segment %s: %.3f px wide, want %.3f px (%.3f ms of %.3f ms on %.1f px)", r.ID, s.Hop, s.Width, w, h.MS, scale, r.BarWidth)
			}
			if want := cssColor(collector.HopColor(h.Hop)); s.Color != want {
				t.Errorf("row %s segment %s: colour %s, want %s (collector.HopColor)", r.ID, s.Hop, s.Color, want)
			}
			if !strings.Contains(s.Title, h.Hop) || !strings.Contains(s.Title, fmtMS(h.MS)+" ms") {
				t.Errorf("row %s segment %s: title %q lacks the hop or its ms", r.ID, s.Hop, s.Title)
			}
		}
	}
}

func checkLegend(t *testing.T, legend []legendItem, shown []collector.BreakdownResponse) {
	t.Helper()
	want := map[string]bool{}
	for _, b := range shown {
		for _, h := range b.Hops {
			want[h.Hop] = true
		}
	}
	got := map[string]bool{}
	for _, l := range legend {
		got[l.Hop] = true
		if c := cssColor(collector.HopColor(l.Hop)); l.Color != c {
			t.Errorf("legend %s: colour %s, want %s", l.Hop, l.Color, c)
		}
	}
	if len(got) != len(want) || len(legend) != len(want) {
		t.Errorf("legend = %v, want one entry for each of %v", legend, want)
	}
	for h := range want {
		if !got[h] {
			t.Errorf("legend lacks %s", h)
		}
	}
}

type traceRow struct {
	Class  string  `json:"cls"`
	Hop    string  `json:"hop"`
	Kind   string  `json:"kind"`
	Text   string  `json:"text"`
	Left   float64 `json:"left"`
	Width  float64 `json:"width"`
	Track  float64 `json:"track"`
	Hidden bool    `json:"hidden"`
	Color  string  `json:"color"`
}

type traceInfo struct {
	Path        string     `json:"path"`
	Title       string     `json:"title"`
	Summary     string     `json:"summary"`
	Rows        []traceRow `json:"rows"`
	Jaeger      string     `json:"jaeger"`
	Missing     string     `json:"missing"`
	TriesHidden bool       `json:"triesHidden"`
	Tries       []string   `json:"tries"`
	Error       string     `json:"error"`
}

const traceJS = `(() => {
  const rows = Array.from(document.querySelectorAll('#waterfall-rows tr')).map(tr => {
    const bar = tr.querySelector('.wbar'), track = tr.querySelector('.track');
    const tb = track ? track.getBoundingClientRect() : null, bb = bar ? bar.getBoundingClientRect() : null;
    return { cls: tr.className, hop: tr.dataset.hop || '', kind: tr.dataset.kind || '', text: tr.innerText,
      left: bar ? bb.left - tb.left : 0, width: bar ? bb.width : 0, track: tb ? tb.width : 0,
      hidden: bar ? bar.hidden : false, color: bar ? getComputedStyle(bar).backgroundColor : '' };
  });
  const j = document.getElementById('jaeger-link'), err = document.getElementById('trace-error');
  return { path: location.pathname, title: document.getElementById('trace-title').innerText,
    summary: document.getElementById('trace-summary').innerText, rows, jaeger: j ? j.href : '',
    missing: document.getElementById('missing').innerText, triesHidden: document.getElementById('tries').hidden,
    tries: Array.from(document.querySelectorAll('#tries-rows tr')).map(tr => tr.innerText),
    error: err.hidden ? '' : err.innerText };
})()`

// checkTrace asserts the waterfall of b: the hops end to end on one axis,
// the backend calls under the app at their offsets, the Jaeger link.
func checkTrace(t *testing.T, got traceInfo, b collector.BreakdownResponse) {
	t.Helper()
	if got.Path != "/ui/trace/"+b.TraceID.String() {
		t.Errorf("path = %s, want /ui/trace/%s", got.Path, b.TraceID)
	}
	if got.Error != "" {
		t.Errorf("error shown: %s", got.Error)
	}
	for _, s := range []string{b.Method, b.Route} {
		if !strings.Contains(got.Title, s) {
			t.Errorf("title %q lacks %q", got.Title, s)
		}
	}
	for _, s := range []string{b.TraceID.String(), fmtMS(b.TotalMS) + " ms", b.TotalSource} {
		if !strings.Contains(got.Summary, s) {
			t.Errorf("summary %q lacks %q", got.Summary, s)
		}
	}
	if b.JaegerURL != "" {
		if want := jaeger + "/trace/" + b.TraceID.String(); got.Jaeger != want {
			t.Errorf("Jaeger link = %q, want %q", got.Jaeger, want)
		}
	} else if got.Jaeger != "" {
		t.Errorf("Jaeger link %q without jaeger_url", got.Jaeger)
	}

	scale := max(b.TotalMS, positiveSum(b.Hops))
	for _, c := range b.Backends {
		scale = max(scale, c.StartOffsetMS+c.MS)
	}
	var hops, backends []traceRow
	appAt := -1
	for i, r := range got.Rows {
		switch {
		case strings.Contains(r.Class, "hop"):
			hops = append(hops, r)
			if r.Hop == correlate.HopApp {
				appAt = i
			}
		case strings.Contains(r.Class, "backend"):
			if len(backends) == 0 && appAt >= 0 && i != appAt+1 {
				t.Errorf("the first backend call is row %d, not right under the app (row %d)", i, appAt)
			}
			backends = append(backends, r)
		}
	}
	if len(hops) != len(b.Hops) {
		t.Fatalf("%d hop rows, want %d", len(hops), len(b.Hops))
	}
	var at float64
	for i, h := range b.Hops {
		r := hops[i]
		px := r.Track / scale
		if r.Hop != h.Hop || !strings.Contains(r.Text, fmtMS(h.MS)) {
			t.Errorf("hop row %d = %s %q, want %s %s ms", i, r.Hop, r.Text, h.Hop, fmtMS(h.MS))
		}
		if h.MS <= 0 {
			if !r.Hidden {
				t.Errorf("hop %s (%.3f ms) has a visible bar", h.Hop, h.MS)
			}
			continue
		}
		if math.Abs(r.Left-at*px) > pxTolerance || math.Abs(r.Width-h.MS*px) > pxTolerance {
			t.Errorf("hop %s bar at %.2f px, %.2f px wide; want %.2f px, %.2f px (end to end)", h.Hop, r.Left, r.Width, at*px, h.MS*px)
		}
		if want := cssColor(collector.HopColor(h.Hop)); r.Color != want {
			t.Errorf("hop %s bar colour %s, want %s", h.Hop, r.Color, want)
		}
		at += h.MS
	}
	if len(backends) != len(b.Backends) {
		t.Fatalf("%d backend rows, want %d", len(backends), len(b.Backends))
	}
	for i, c := range b.Backends {
		r := backends[i]
		px := r.Track / scale
		for _, s := range []string{c.Kind, c.Operation, c.Target, string(c.Attribution), fmtMS(c.MS)} {
			if !strings.Contains(r.Text, s) {
				t.Errorf("backend row %d %q lacks %q", i, r.Text, s)
			}
		}
		if math.Abs(r.Left-c.StartOffsetMS*px) > pxTolerance || math.Abs(r.Width-c.MS*px) > pxTolerance {
			t.Errorf("backend %s %s at %.2f px, %.2f px wide; want %.2f px, %.2f px", c.Kind, c.Operation, r.Left, r.Width, c.StartOffsetMS*px, c.MS*px)
		}
		if want := cssColor(collector.HopColor(c.Kind)); r.Color != want {
			t.Errorf("backend %s colour %s, want %s", c.Kind, r.Color, want)
		}
	}
	if len(b.Missing) == 0 {
		if !strings.Contains(got.Missing, "Every hop was measured") {
			t.Errorf("coverage = %q for a complete breakdown", got.Missing)
		}
	} else {
		for _, m := range b.Missing {
			if !strings.Contains(got.Missing, m) {
				t.Errorf("coverage %q lacks missing hop %s", got.Missing, m)
			}
		}
	}
	if len(b.Tries) > 1 {
		if got.TriesHidden || len(got.Tries) != len(b.Tries) {
			t.Errorf("tries hidden=%v %v, want %d", got.TriesHidden, got.Tries, len(b.Tries))
		}
		for i, tr := range b.Tries {
			if i < len(got.Tries) && (!strings.Contains(got.Tries[i], tr.Addr) || !strings.Contains(got.Tries[i], strconv.Itoa(tr.Status))) {
				t.Errorf("try %d = %q, want %s %d", i, got.Tries[i], tr.Addr, tr.Status)
			}
		}
	} else if !got.TriesHidden {
		t.Errorf("tries shown for %d try", len(b.Tries))
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 300 {
		t.Errorf("screenshot %s is %v", name, b)
	}
	// Kept after the test: $HOPSCOPE_ARTIFACTS (CI sets it) or
	// $TMPDIR/hopscope-artifacts.
	dir := os.Getenv("HOPSCOPE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hopscope-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	if testkit.Update() && name == "screenshot.png" {
		if err := os.WriteFile(filepath.Join("testdata", name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBrowser(t *testing.T) {
	ctx, exceptions := browser(t)

	api := newFakeAPI(jaeger, groups()...)
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", ui.Handler(ui.Options{JaegerUIURL: jaeger, HopColors: collector.HopPalette(), DefaultColor: collector.BackendColor, Refresh: 300 * time.Millisecond}))
	api.register(mux, "/api/v1")
	srv := httptest.NewServer(mux) // 127.0.0.1:0
	defer srv.Close()
	base := srv.URL + "/ui/"
	fixtures := api.all()

	t.Run("list", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base))
		waitFor(t, ctx, listReady+` && document.querySelectorAll('#requests .row').length === 5`, "five rows")
		checkRows(t, eval[[]rowInfo](t, ctx, rowsJS), fixtures)
		checkLegend(t, eval[[]legendItem](t, ctx, legendJS), fixtures)
		if eval[bool](t, ctx, `!document.getElementById('empty').hidden || !document.getElementById('list-error').hidden`) {
			t.Error("empty state or error shown with data")
		}
		screenshot(t, ctx, "screenshot.png")
	})

	t.Run("filter", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base))
		waitFor(t, ctx, listReady, "the list")
		opts := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#f-service option'), o => o.value)`)
		if want := []string{"", "billing", "search", "shop"}; !slices.Equal(opts, want) {
			t.Errorf("service options = %q, want %q", opts, want)
		}
		choose := func(id, v string) {
			eval[string](t, ctx, fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q;
				s.dispatchEvent(new Event('change', { bubbles: true })); return s.value; })()`, id, v))
		}
		choose("f-service", "shop")
		waitFor(t, ctx, `location.search === '?service=shop' && document.querySelectorAll('#requests .row').length === 2`, "the shop rows")
		rows := eval[[]rowInfo](t, ctx, rowsJS)
		checkRows(t, rows, []collector.BreakdownResponse{fixtures[0], fixtures[1]})
		for _, r := range rows {
			if r.Service != "shop" {
				t.Errorf("row %s of service %q with service=shop", r.ID, r.Service)
			}
		}
		routes := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#f-route option'), o => o.value)`)
		if want := []string{"", "/api/cart", "/api/orders/{id}"}; !slices.Equal(routes, want) {
			t.Errorf("route options for shop = %q, want %q", routes, want)
		}
		choose("f-route", "/api/cart")
		waitFor(t, ctx, `location.search === '?service=shop&route=%2Fapi%2Fcart' && document.querySelectorAll('#requests .row').length === 1`, "the /api/cart row")

		// The URL is the state: loading it again shows the same.
		do(t, ctx, chromedp.Navigate(base+"?service=shop&route=%2Fapi%2Fcart"))
		waitFor(t, ctx, listReady+` && document.querySelectorAll('#requests .row').length === 1`, "the filtered list after a reload")
		sel := eval[[]string](t, ctx, `[document.getElementById('f-service').value, document.getElementById('f-route').value]`)
		if !slices.Equal(sel, []string{"shop", "/api/cart"}) {
			t.Errorf("filters after reload = %q", sel)
		}
		// A filter nothing matches says so.
		do(t, ctx, chromedp.Navigate(base+"?service=nobody"))
		waitFor(t, ctx, listReady+` && !document.getElementById('empty').hidden`, "the empty filter message")
		if txt := eval[string](t, ctx, `document.getElementById('empty').innerText`); !strings.Contains(txt, "nobody") {
			t.Errorf("empty filter message = %q", txt)
		}
	})

	t.Run("refresh", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base))
		waitFor(t, ctx, listReady+` && document.querySelectorAll('#requests .row').length === 5`, "five rows")
		// Mark the rows and focus one: a refresh must update in place.
		eval[int](t, ctx, `(() => { document.querySelectorAll('#requests li').forEach(li => li.dataset.probe = '1');
			document.querySelector('#requests .row[data-trace-id="`+idInvoice+`"]').focus(); return 0; })()`)
		api.add(lateGroup(idLate, 10*time.Second), true)
		waitFor(t, ctx, `document.querySelectorAll('#requests .row').length === 6 && document.querySelector('#requests .row').dataset.traceId === '`+idLate+`'`, "the new request at the top")
		checkRows(t, eval[[]rowInfo](t, ctx, rowsJS), api.all())
		if n := eval[int](t, ctx, `document.querySelectorAll('#requests li[data-probe]').length`); n != 5 {
			t.Errorf("%d of 5 rows kept their element across a refresh", n)
		}
		if id := eval[string](t, ctx, `document.activeElement.dataset.traceId || ''`); id != idInvoice {
			t.Errorf("focus moved to %q across a refresh", id)
		}

		do(t, ctx, chromedp.Click(chromedp.ID("pause")))
		waitFor(t, ctx, `document.getElementById('pause').getAttribute('aria-pressed') === 'true'`, "paused")
		api.add(lateGroup(idLater, 11*time.Second), true)
		do(t, ctx, chromedp.Sleep(1500*time.Millisecond))
		if n := eval[int](t, ctx, `document.querySelectorAll('#requests .row').length`); n != 6 {
			t.Errorf("%d rows while paused, want 6", n)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("pause")))
		waitFor(t, ctx, `document.querySelectorAll('#requests .row').length === 7`, "the request added while paused, after resuming")
	})

	t.Run("waterfall by click", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base))
		waitFor(t, ctx, listReady, "the list")
		navigateBy(t, ctx, chromedp.Click(chromedp.CSS(`#requests .row[data-trace-id="`+idFull+`"]`)))
		waitFor(t, ctx, traceReady, "the waterfall")
		b, _ := api.get(idFull)
		if len(b.Backends) != 3 || b.JaegerURL == "" {
			t.Fatalf("fixture: %d backends, jaeger_url %q", len(b.Backends), b.JaegerURL)
		}
		checkTrace(t, eval[traceInfo](t, ctx, traceJS), b)
		screenshot(t, ctx, "screenshot-trace.png")
	})

	t.Run("waterfall by keyboard", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base))
		waitFor(t, ctx, listReady, "the list")
		do(t, ctx, chromedp.Focus(chromedp.CSS(`#requests .row[data-trace-id="`+idFull+`"]`)), chromedp.KeyEvent(kb.ArrowDown))
		if id := eval[string](t, ctx, `document.activeElement.dataset.traceId || ''`); id != idRetries {
			t.Fatalf("ArrowDown focused %q, want the next row %s", id, idRetries)
		}
		navigateBy(t, ctx, chromedp.KeyEvent(kb.Enter))
		waitFor(t, ctx, traceReady, "the waterfall")
		b, _ := api.get(idRetries)
		checkTrace(t, eval[traceInfo](t, ctx, traceJS), b)
	})

	t.Run("waterfall variants", func(t *testing.T) {
		for _, id := range []string{idInvoice, idError, idSearch} {
			do(t, ctx, chromedp.Navigate(base+"trace/"+id))
			waitFor(t, ctx, traceReady, "the waterfall of "+id)
			b, _ := api.get(id)
			checkTrace(t, eval[traceInfo](t, ctx, traceJS), b)
		}
	})

	t.Run("unknown trace", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(base+"trace/"+idUnknown))
		waitFor(t, ctx, traceFailed, "the error")
		if got := eval[traceInfo](t, ctx, traceJS); !strings.Contains(got.Error, "404") || !strings.Contains(got.Error, "not found") {
			t.Errorf("error = %q", got.Error)
		}
		do(t, ctx, chromedp.Navigate(base+"trace/not-a-trace"))
		waitFor(t, ctx, traceFailed, "the error")
		if got := eval[traceInfo](t, ctx, traceJS); !strings.Contains(got.Error, "not a trace id") {
			t.Errorf("error = %q", got.Error)
		}
	})

	t.Run("API error", func(t *testing.T) {
		api.mu.Lock()
		api.fail = "store exploded"
		api.mu.Unlock()
		do(t, ctx, chromedp.Navigate(base))
		waitFor(t, ctx, `!document.getElementById('list-error').hidden`, "the error")
		if txt := eval[string](t, ctx, `document.getElementById('list-error').innerText`); !strings.Contains(txt, "500") || !strings.Contains(txt, "store exploded") {
			t.Errorf("error = %q", txt)
		}
		if eval[bool](t, ctx, `!document.getElementById('empty').hidden`) {
			t.Error("an API error shows the empty state")
		}
		api.mu.Lock()
		api.fail = ""
		api.mu.Unlock()
		waitFor(t, ctx, listReady+` && document.getElementById('list-error').hidden && document.querySelectorAll('#requests .row').length > 0`, "recovery on the next refresh")
	})

	t.Run("empty", func(t *testing.T) {
		empty := newFakeAPI(jaeger)
		mux := http.NewServeMux()
		mux.Handle("GET /ui/", ui.Handler(ui.Options{HopColors: collector.HopPalette(), DefaultColor: collector.BackendColor}))
		empty.register(mux, "/api/v1")
		srv := httptest.NewServer(mux)
		defer srv.Close()
		do(t, ctx, chromedp.Navigate(srv.URL+"/ui/"))
		waitFor(t, ctx, listReady+` && !document.getElementById('empty').hidden`, "the empty state")
		if txt := eval[string](t, ctx, `document.getElementById('empty').innerText`); txt != "No requests yet — send traffic through a sidecar." {
			t.Errorf("empty state = %q", txt)
		}
	})

	// An API behind --auth-token-file: the page asks for the token on
	// the first 401, sends it from then on, and asks again when refused.
	t.Run("token", func(t *testing.T) {
		const token = "ui-0123456789abcdef"
		tokens, err := bearer.Load(testkit.TokenFile(t, token))
		if err != nil {
			t.Fatal(err)
		}
		inner := http.NewServeMux()
		api.register(inner, "/api/v1")
		mux := http.NewServeMux()
		mux.Handle("GET /ui/", ui.Handler(ui.Options{HopColors: collector.HopPalette(), DefaultColor: collector.BackendColor}))
		mux.Handle("/api/", bearer.Handler(tokens, inner, nil))
		srv := httptest.NewServer(mux)
		defer srv.Close()
		do(t, ctx, chromedp.Navigate(srv.URL+"/ui/"))
		waitFor(t, ctx, `!document.getElementById('token-form').hidden && !document.getElementById('list-error').hidden`, "the token form")
		if txt := eval[string](t, ctx, `document.getElementById('list-error').innerText`); !strings.Contains(txt, "asks for a token") {
			t.Errorf("error = %q", txt)
		}
		for _, try := range []struct{ token, want string }{{"not-the-token-0000", "refused this token"}, {token, ""}} {
			do(t, ctx, chromedp.SetValue(chromedp.ID("token"), try.token))
			navigateBy(t, ctx, chromedp.Click(chromedp.CSS(`#token-form button[type=submit]`)))
			if try.want != "" {
				waitFor(t, ctx, `!document.getElementById('list-error').hidden && !document.getElementById('token-form').hidden`, "the refusal")
				if txt := eval[string](t, ctx, `document.getElementById('list-error').innerText`); !strings.Contains(txt, try.want) {
					t.Errorf("error = %q, want %q", txt, try.want)
				}
				continue
			}
			waitFor(t, ctx, listReady+` && document.querySelectorAll('#requests .row').length > 0 && document.getElementById('token-form').hidden`, "the list with the token")
		}
	})

	if ex := exceptions(); len(ex) > 0 {
		t.Errorf("uncaught exceptions in the page:\n%s", strings.Join(ex, "\n"))
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Error("the browser test ran out of time")
	}
}
