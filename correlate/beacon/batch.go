package beacon

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// Wire format versions. VersionBatch is what rum.js writes; Version (1,
// one navigation) is still read.
const (
	VersionNavigation = Version
	VersionBatch      = 2
)

// Defaults of the batch limits.
const (
	// DefaultMaxResources bounds the resources of one beacon.
	DefaultMaxResources = 64
	// DefaultMaxDropped bounds the dropped count a beacon may report.
	DefaultMaxDropped = 1 << 20
)

// Batch is what one beacon carried: the records of its entries that
// were valid, a refusal for each that was not, and the count of entries
// the page dropped over its cap.
type Batch struct {
	// Records are the accepted entries: the navigation first, when the
	// beacon had a valid one, then the resources in the beacon's order.
	Records []correlate.BrowserTiming
	// Rejected holds one *Error per refused entry; its Field starts with
	// "nav" or "resources[i]".
	Rejected []*Error
	// Dropped is the beacon's dropped member: fetch/XHR entries rum.js did
	// not send because the page reached its cap.
	Dropped int
}

// wireBatch is a version 2 beacon as decoded; numbers start as NaN as in
// wire. Nav is raw so that a bad navigation costs only itself.
type wireBatch struct {
	V            float64           `json:"v"`
	Page         string            `json:"page"`
	TimeOrigin   float64           `json:"time_origin"`
	Nav          json.RawMessage   `json:"nav"`
	ServerTiming json.RawMessage   `json:"server_timing"`
	Traceparent  *string           `json:"traceparent"`
	Resources    []json.RawMessage `json:"resources"`
	Dropped      float64           `json:"dropped"`
}

// wireResource is one resources element: a PerformanceResourceTiming's
// members (as toJSON writes them) with serverTiming mapped to
// server_timing.
type wireResource struct {
	Name          string `json:"name"`
	InitiatorType string `json:"initiatorType"`
	wireNav
	ServerTiming []wireServerTiming `json:"server_timing"`
}

// ParseBatch validates a beacon of either version and returns its
// records. A version 1 beacon is one navigation: any fault refuses it,
// as [Parse] does. In a version 2 beacon, faults of the beacon as a whole
// (JSON, v, page, time_origin, resources not an array or over
// MaxResources, dropped) refuse it with an error; a fault of one entry
// (the navigation or one resource) refuses only that entry, listed in
// Batch.Rejected. Every error is an [*Error] or [ErrNoTraceparent].
func ParseBatch(body []byte, lim Limits) (Batch, error) {
	lim = lim.withDefaults()
	if len(body) == 0 {
		return Batch{}, &Error{Reason: "empty body"}
	}
	if len(body) > lim.MaxBytes {
		return Batch{}, &Error{Reason: "larger than " + strconv.Itoa(lim.MaxBytes) + " bytes"}
	}
	var probe struct {
		V any `json:"v"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return Batch{}, decodeErr(err)
	}
	if v, ok := probe.V.(float64); ok && v == VersionBatch {
		return parseBatch(body, lim)
	}
	bt, err := parse(body, lim)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Field == "v" {
			return Batch{}, fieldErr("v", strings.Replace(e.Reason, "(want 1)", "(want 1 or 2)", 1))
		}
		return Batch{}, err
	}
	return Batch{Records: []correlate.BrowserTiming{bt}}, nil
}

func parseBatch(body []byte, lim Limits) (Batch, error) {
	nan := math.NaN()
	w := wireBatch{V: nan, TimeOrigin: nan, Dropped: nan}
	if err := json.Unmarshal(body, &w); err != nil {
		return Batch{}, decodeErr(err)
	}
	page, err := cleanPage(w.Page, lim)
	if err != nil {
		return Batch{}, err
	}
	if err := checkNumber("time_origin", w.TimeOrigin); err != nil {
		return Batch{}, err
	}
	if w.TimeOrigin < float64(lim.EarliestTimeOrigin.UnixMilli()) || w.TimeOrigin >= float64(lim.LatestTimeOrigin.UnixMilli()) {
		return Batch{}, fieldErr("time_origin", formatMS(w.TimeOrigin)+" ms since the epoch is outside "+
			lim.EarliestTimeOrigin.UTC().Format(time.DateOnly)+" to "+
			lim.LatestTimeOrigin.UTC().Format(time.DateOnly)+" (want performance.timeOrigin, in milliseconds)")
	}
	originUS := roundMicros(w.TimeOrigin)
	var b Batch
	if !math.IsNaN(w.Dropped) {
		if err := checkNumber("dropped", w.Dropped); err != nil {
			return Batch{}, err
		}
		if w.Dropped != math.Trunc(w.Dropped) || w.Dropped > float64(lim.MaxDropped) {
			return Batch{}, fieldErr("dropped", formatMS(w.Dropped)+" is not a count up to "+strconv.Itoa(lim.MaxDropped))
		}
		b.Dropped = int(w.Dropped)
	}
	if len(w.Resources) > lim.MaxResources {
		return Batch{}, fieldErr("resources", strconv.Itoa(len(w.Resources))+" entries, more than "+strconv.Itoa(lim.MaxResources))
	}
	if isAbsent(w.Nav) && len(w.Resources) == 0 {
		return Batch{}, &Error{Reason: "no entries: neither nav nor resources"}
	}
	if isAbsent(w.Nav) && (!isAbsent(w.ServerTiming) || w.Traceparent != nil) {
		return Batch{}, fieldErr("nav", "missing while server_timing or traceparent, which belong to it, are present")
	}

	reject := func(err error) {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Reason: err.Error()}
		}
		b.Rejected = append(b.Rejected, e)
	}
	if !isAbsent(w.Nav) {
		bt, err := parseNavEntry(w.Nav, w.ServerTiming, w.Traceparent, originUS, lim)
		if err != nil {
			reject(err)
		} else {
			bt.Page, bt.Initiator = page, correlate.InitiatorNavigation
			b.Records = append(b.Records, bt)
		}
	}
	for i, raw := range w.Resources {
		bt, err := parseResource(raw, i, originUS, lim)
		if err != nil {
			reject(err)
			continue
		}
		bt.Page = page
		b.Records = append(b.Records, bt)
	}
	return b, nil
}

func isAbsent(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func newNav() wireNav {
	nan := math.NaN()
	return wireNav{
		FetchStart: nan, DomainLookupStart: nan, DomainLookupEnd: nan,
		ConnectStart: nan, SecureConnectionStart: nan, ConnectEnd: nan,
		RequestStart: nan, ResponseStart: nan, ResponseEnd: nan,
		TransferSize: nan,
	}
}

// entryErr prefixes a decoding error's field with the entry's path.
func entryErr(err error, path string) error {
	e := decodeErr(err).(*Error)
	e.Field = strings.ReplaceAll(e.Field, "wireNav.", "") // the embedded struct's name
	if e.Field == "" {
		return fieldErr(path, e.Reason)
	}
	return fieldErr(path+"."+e.Field, e.Reason)
}

func parseNavEntry(navRaw, stRaw json.RawMessage, top *string, originUS int64, lim Limits) (correlate.BrowserTiming, error) {
	n := newNav()
	if err := json.Unmarshal(navRaw, &n); err != nil {
		return correlate.BrowserTiming{}, entryErr(err, "nav")
	}
	var st []wireServerTiming
	if !isAbsent(stRaw) {
		if err := json.Unmarshal(stRaw, &st); err != nil {
			return correlate.BrowserTiming{}, entryErr(err, "server_timing")
		}
	}
	return timing(&n, st, top, originUS, lim, "nav.", "")
}

func parseResource(raw json.RawMessage, i int, originUS int64, lim Limits) (correlate.BrowserTiming, error) {
	path := "resources[" + strconv.Itoa(i) + "]"
	r := wireResource{wireNav: newNav()}
	if err := json.Unmarshal(raw, &r); err != nil {
		return correlate.BrowserTiming{}, entryErr(err, path)
	}
	switch r.InitiatorType {
	case correlate.InitiatorFetch, correlate.InitiatorXHR:
	case "":
		return correlate.BrowserTiming{}, fieldErr(path+".initiatorType", "missing (want fetch or xmlhttprequest)")
	default:
		if len(r.InitiatorType) > 64 {
			r.InitiatorType = r.InitiatorType[:64] + "…"
		}
		return correlate.BrowserTiming{}, fieldErr(path+".initiatorType", strconv.Quote(r.InitiatorType)+": want fetch or xmlhttprequest")
	}
	u, err := cleanPage(r.Name, lim)
	if err != nil {
		e := err.(*Error)
		return correlate.BrowserTiming{}, fieldErr(path+".name", e.Reason)
	}
	bt, err := timing(&r.wireNav, r.ServerTiming, nil, originUS, lim, path+".", path+".")
	if err != nil {
		return correlate.BrowserTiming{}, err
	}
	bt.Initiator, bt.URL = r.InitiatorType, u
	return bt, nil
}
