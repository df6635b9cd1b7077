package beacon

import (
	"encoding/json"
	"errors"
	"github.com/hopscope/hopscope/internal/tracectx"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// Version is the wire format version this package reads and rum.js writes.
const Version = 1

// Limits bound what Parse accepts. A zero or negative field takes its
// default, so Limits{} behaves as DefaultLimits().
type Limits struct {
	// MaxBytes bounds the size of the beacon. Default 64 KiB, what
	// sendBeacon and fetch(keepalive) take at most.
	MaxBytes int
	// MaxServerTiming bounds the number of server_timing entries.
	// Default 64.
	MaxServerTiming int
	// MaxStringBytes bounds every string: page, nav.type, and each
	// server_timing name and description, and traceparent. Default 2048.
	MaxStringBytes int
	// MaxDuration bounds every nav value, and so every duration and offset
	// of the result. Default 10 minutes.
	MaxDuration time.Duration
	// EarliestTimeOrigin and LatestTimeOrigin bound time_origin (the
	// browser's wall clock when the navigation started). Defaults
	// 2010-01-01 and 2100-01-01 UTC.
	EarliestTimeOrigin, LatestTimeOrigin time.Time
	// MaxResources bounds the resources of a version 2 beacon; a beacon
	// with more is refused as a whole. Default DefaultMaxResources.
	MaxResources int
	// MaxDropped bounds the dropped count of a version 2 beacon. Default
	// DefaultMaxDropped.
	MaxDropped int
}

// Defaults of Limits.
const (
	DefaultMaxBytes        = 64 << 10
	DefaultMaxServerTiming = 64
	DefaultMaxStringBytes  = 2048
	DefaultMaxDuration     = 10 * time.Minute
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:           DefaultMaxBytes,
		MaxServerTiming:    DefaultMaxServerTiming,
		MaxStringBytes:     DefaultMaxStringBytes,
		MaxDuration:        DefaultMaxDuration,
		EarliestTimeOrigin: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC),
		LatestTimeOrigin:   time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		MaxResources:       DefaultMaxResources,
		MaxDropped:         DefaultMaxDropped,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxServerTiming <= 0 {
		l.MaxServerTiming = d.MaxServerTiming
	}
	if l.MaxStringBytes <= 0 {
		l.MaxStringBytes = d.MaxStringBytes
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = d.MaxDuration
	}
	if l.EarliestTimeOrigin.IsZero() {
		l.EarliestTimeOrigin = d.EarliestTimeOrigin
	}
	if l.MaxResources <= 0 {
		l.MaxResources = d.MaxResources
	}
	if l.MaxDropped <= 0 {
		l.MaxDropped = d.MaxDropped
	}
	if l.LatestTimeOrigin.IsZero() {
		l.LatestTimeOrigin = d.LatestTimeOrigin
	}
	return l
}

// Error is a beacon Parse refused.
type Error struct {
	// Field is the path of the member at fault, as written in the beacon
	// ("nav.responseEnd", "server_timing[2].description"), or "" when the
	// beacon as a whole is.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "beacon: " + e.Reason
	}
	return "beacon: " + e.Field + ": " + e.Reason
}

// ErrNoTraceparent is returned for a beacon that carries no trace id: no
// server_timing entry named traceparent and no top-level traceparent.
var ErrNoTraceparent = &Error{Reason: "no traceparent: the page's response carried no Server-Timing traceparent (is Timing-Allow-Origin set?)"}

func fieldErr(field, reason string) error { return &Error{Field: field, Reason: reason} }

// wire is the beacon as decoded. Numbers start as NaN, which JSON cannot
// express, so that a member that is absent (or null) is told apart from 0.
type wire struct {
	V            float64            `json:"v"`
	Page         string             `json:"page"`
	TimeOrigin   float64            `json:"time_origin"`
	Nav          wireNav            `json:"nav"`
	ServerTiming []wireServerTiming `json:"server_timing"`
	Traceparent  *string            `json:"traceparent"`
}

type wireNav struct {
	FetchStart            float64 `json:"fetchStart"`
	DomainLookupStart     float64 `json:"domainLookupStart"`
	DomainLookupEnd       float64 `json:"domainLookupEnd"`
	ConnectStart          float64 `json:"connectStart"`
	SecureConnectionStart float64 `json:"secureConnectionStart"`
	ConnectEnd            float64 `json:"connectEnd"`
	RequestStart          float64 `json:"requestStart"`
	ResponseStart         float64 `json:"responseStart"`
	ResponseEnd           float64 `json:"responseEnd"`
	Type                  string  `json:"type"`
	TransferSize          float64 `json:"transferSize"`
}

type wireServerTiming struct {
	Name        string  `json:"name"`
	Duration    float64 `json:"duration"`
	Description string  `json:"description"`
}

// The nav steps in the order their values must not decrease.
const (
	stepFetchStart = iota
	stepDomainLookupStart
	stepDomainLookupEnd
	stepConnectStart
	stepSecureConnectionStart
	stepConnectEnd
	stepRequestStart
	stepResponseStart
	stepResponseEnd
	numSteps
)

// stepName returns the W3C name of step i.
func stepName(i int) string {
	return [numSteps]string{
		"fetchStart", "domainLookupStart", "domainLookupEnd", "connectStart",
		"secureConnectionStart", "connectEnd", "requestStart", "responseStart",
		"responseEnd",
	}[i]
}

// skippable reports whether a 0 in step i means the step did not happen.
func skippable(i int) bool {
	return i >= stepDomainLookupStart && i <= stepConnectEnd
}

func (n *wireNav) steps() [numSteps]float64 {
	return [numSteps]float64{
		n.FetchStart, n.DomainLookupStart, n.DomainLookupEnd, n.ConnectStart,
		n.SecureConnectionStart, n.ConnectEnd, n.RequestStart, n.ResponseStart,
		n.ResponseEnd,
	}
}

// Parse validates one beacon and returns its timing. Limits' zero fields
// take their defaults. Every error is an [*Error] naming the member at
// fault, or [ErrNoTraceparent]; on error the returned value is zero.
func Parse(body []byte, lim Limits) (correlate.BrowserTiming, error) {
	bt, err := parse(body, lim.withDefaults())
	if err != nil {
		return correlate.BrowserTiming{}, err
	}
	return bt, nil
}

func parse(body []byte, lim Limits) (correlate.BrowserTiming, error) {
	var bt correlate.BrowserTiming
	if len(body) == 0 {
		return bt, &Error{Reason: "empty body"}
	}
	if len(body) > lim.MaxBytes {
		return bt, &Error{Reason: "larger than " + strconv.Itoa(lim.MaxBytes) + " bytes"}
	}
	nan := math.NaN()
	w := wire{
		V:          nan,
		TimeOrigin: nan,
		Nav: wireNav{
			FetchStart: nan, DomainLookupStart: nan, DomainLookupEnd: nan,
			ConnectStart: nan, SecureConnectionStart: nan, ConnectEnd: nan,
			RequestStart: nan, ResponseStart: nan, ResponseEnd: nan,
			TransferSize: nan,
		},
	}
	if err := json.Unmarshal(body, &w); err != nil {
		// The decoder goes on after a type error, so the version is known
		// and, if it is not ours, says more than the type error does.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && !math.IsNaN(w.V) && w.V != Version {
			return bt, versionErr(w.V)
		}
		return bt, decodeErr(err)
	}

	switch {
	case math.IsNaN(w.V):
		return bt, fieldErr("v", "missing (want 1)")
	case w.V != Version:
		return bt, versionErr(w.V)
	}

	page, err := cleanPage(w.Page, lim)
	if err != nil {
		return bt, err
	}
	bt.Page = page

	if err := checkNumber("time_origin", w.TimeOrigin); err != nil {
		return bt, err
	}
	// Compared as floats first: a huge value must not reach the int64
	// conversion.
	if w.TimeOrigin < float64(lim.EarliestTimeOrigin.UnixMilli()) || w.TimeOrigin >= float64(lim.LatestTimeOrigin.UnixMilli()) {
		return bt, fieldErr("time_origin", formatMS(w.TimeOrigin)+" ms since the epoch is outside "+
			lim.EarliestTimeOrigin.UTC().Format(time.DateOnly)+" to "+
			lim.LatestTimeOrigin.UTC().Format(time.DateOnly)+" (want performance.timeOrigin, in milliseconds)")
	}
	originUS := roundMicros(w.TimeOrigin)

	bt, err = timing(&w.Nav, w.ServerTiming, w.Traceparent, originUS, lim, "nav.", "")
	if err != nil {
		return correlate.BrowserTiming{}, err
	}
	bt.Page = page
	bt.Initiator = correlate.InitiatorNavigation
	return bt, nil
}

// timing validates one entry's steps and trace id and maps them to a
// BrowserTiming (Page, Initiator and URL left to the caller). prefix is
// the path of the steps ("nav." or "resources[3]."), stPrefix that of
// the entry's server_timing ("" or "resources[3].").
func timing(n *wireNav, st []wireServerTiming, top *string, originUS int64, lim Limits, prefix, stPrefix string) (correlate.BrowserTiming, error) {
	var bt correlate.BrowserTiming
	us, err := checkNav(n, lim, prefix)
	if err != nil {
		return bt, err
	}
	tid, err := traceID(st, top, lim, stPrefix)
	if err != nil {
		return bt, err
	}
	bt.TraceID = tid

	fetch, dls, dle, cs, ce := us[stepFetchStart], us[stepDomainLookupStart], us[stepDomainLookupEnd], us[stepConnectStart], us[stepConnectEnd]
	if n.FetchStart > 0 && n.DomainLookupStart == 0 {
		dls, dle = fetch, fetch // no DNS lookup
	}
	connected := !(n.FetchStart > 0 && n.ConnectStart == 0)
	if !connected {
		cs, ce = dle, dle // no connection set up
	}
	// TLS: from secureConnectionStart to connectEnd, when there was a
	// handshake (0 means plain http, or no connection set up). The order
	// check put it between connectStart and connectEnd.
	scs := ce
	if connected && n.SecureConnectionStart > 0 {
		scs = min(max(us[stepSecureConnectionStart], cs), ce)
	}
	rqs, rss, re := us[stepRequestStart], us[stepResponseStart], us[stepResponseEnd]

	bt.Start = time.UnixMicro(originUS + fetch)
	bt.Total = micros(re - fetch)
	bt.DNS = micros(dle - dls)
	bt.Connect = micros(scs - cs)
	bt.TLS = micros(ce - scs)
	bt.ServerTime = micros(rss - rqs)
	bt.Download = micros(re - rss)
	bt.DNSStart = micros(dls - fetch)
	bt.ConnectStart = micros(cs - fetch)
	bt.TLSStart = micros(scs - fetch)
	bt.RequestStart = micros(rqs - fetch)
	bt.ResponseStart = micros(rss - fetch)
	return bt, nil
}

func versionErr(v float64) error {
	return fieldErr("v", "version "+formatMS(v)+" is not supported (want 1)")
}

// decodeErr turns an encoding/json error into an *Error.
func decodeErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &Error{Reason: "not valid JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if strings.HasPrefix(te.Value, "number ") {
			return fieldErr(te.Field, te.Value+" is out of range")
		}
		return fieldErr(te.Field, "want "+kindName(te.Type)+", got "+te.Value)
	}
	return &Error{Reason: "not valid JSON: " + err.Error()}
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Struct:
		return "an object"
	case reflect.Slice:
		return "an array"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return t.String()
}

// checkNumber refuses absent, non-finite and negative numbers.
func checkNumber(field string, v float64) error {
	switch {
	case math.IsNaN(v):
		return fieldErr(field, "missing")
	case math.IsInf(v, 0):
		return fieldErr(field, "not finite")
	case v < 0:
		return fieldErr(field, "negative ("+formatMS(v)+")")
	}
	return nil
}

// checkNav validates the nav member and returns its steps in microseconds.
func checkNav(n *wireNav, lim Limits, prefix string) ([numSteps]int64, error) {
	var us [numSteps]int64
	v := n.steps()
	absent := true
	for _, x := range v {
		absent = absent && math.IsNaN(x)
	}
	if absent && math.IsNaN(n.TransferSize) && n.Type == "" {
		return us, fieldErr(strings.TrimSuffix(prefix, "."), "missing or empty")
	}
	maxMS := float64(lim.MaxDuration) / float64(time.Millisecond)
	for i, x := range v {
		if err := checkNumber(prefix+stepName(i), x); err != nil {
			return us, err
		}
		if x >= maxMS {
			return us, fieldErr(prefix+stepName(i), formatMS(x)+" ms is not below the "+lim.MaxDuration.String()+" limit")
		}
		us[i] = roundMicros(x)
	}
	// A 0 is "did not happen" only when it cannot be a time, that is when
	// fetchStart is later than 0.
	skip := func(i int) bool { return skippable(i) && v[i] == 0 && v[stepFetchStart] > 0 }
	for _, p := range [...][2]int{{stepDomainLookupStart, stepDomainLookupEnd}, {stepConnectStart, stepConnectEnd}} {
		a, b := p[0], p[1]
		if skip(a) != skip(b) {
			zero, other := a, b
			if skip(b) {
				zero, other = b, a
			}
			return us, fieldErr(prefix+stepName(zero), "0 while "+stepName(other)+" is "+formatMS(v[other])+
				" (both are 0 when the step did not happen)")
		}
	}
	prev := stepFetchStart
	for i := stepFetchStart + 1; i < numSteps; i++ {
		if skip(i) {
			continue
		}
		if v[i] < v[prev] {
			return us, fieldErr(prefix+stepName(i), "before "+stepName(prev)+" ("+formatMS(v[i])+" < "+formatMS(v[prev])+")")
		}
		prev = i
	}
	if v[stepResponseEnd] == 0 {
		return us, fieldErr(prefix+"responseEnd", "0: the response had not ended (send the beacon after the load event)")
	}
	if len(n.Type) > lim.MaxStringBytes {
		return us, fieldErr(prefix+"type", "longer than "+strconv.Itoa(lim.MaxStringBytes)+" bytes")
	}
	if !math.IsNaN(n.TransferSize) {
		if err := checkNumber(prefix+"transferSize", n.TransferSize); err != nil {
			return us, err
		}
		if n.TransferSize == 0 {
			return us, fieldErr(prefix+"transferSize", "0: the document came from the browser's cache, so its timings are not a fetch "+
				"and its Server-Timing traceparent belongs to an earlier response")
		}
	}
	return us, nil
}

// cleanPage validates page and strips its query, fragment and user
// information.
func cleanPage(page string, lim Limits) (string, error) {
	if page == "" {
		return "", fieldErr("page", "missing")
	}
	if len(page) > lim.MaxStringBytes {
		return "", fieldErr("page", "longer than "+strconv.Itoa(lim.MaxStringBytes)+" bytes")
	}
	u, err := url.Parse(page)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fieldErr("page", "not a URL: "+err.Error())
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fieldErr("page", "not an absolute http or https URL")
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// traceID returns the trace id of the server_timing traceparent entries,
// else of top (the top-level traceparent, nil for a resource). prefix
// is the path of the entry holding server_timing ("" or "resources[3].").
func traceID(st []wireServerTiming, top *string, lim Limits, prefix string) (string, error) {
	if len(st) > lim.MaxServerTiming {
		return "", fieldErr(prefix+"server_timing", strconv.Itoa(len(st))+" entries, more than "+strconv.Itoa(lim.MaxServerTiming))
	}
	stField := func(i int, member string) string {
		return prefix + "server_timing[" + strconv.Itoa(i) + "]." + member
	}
	var tid string
	first := -1
	for i := range st {
		e := &st[i]
		switch {
		case e.Name == "":
			return "", fieldErr(stField(i, "name"), "missing")
		case len(e.Name) > lim.MaxStringBytes:
			return "", fieldErr(stField(i, "name"), "longer than "+strconv.Itoa(lim.MaxStringBytes)+" bytes")
		case len(e.Description) > lim.MaxStringBytes:
			return "", fieldErr(stField(i, "description"), "longer than "+strconv.Itoa(lim.MaxStringBytes)+" bytes")
		}
		if !strings.EqualFold(e.Name, "traceparent") {
			continue
		}
		t, reason := parseTraceparent(e.Description)
		if reason != "" {
			return "", fieldErr(stField(i, "description"), reason)
		}
		if first < 0 {
			tid, first = t, i
		} else if t != tid {
			return "", fieldErr(stField(i, "description"), "trace id "+t+" differs from "+prefix+"server_timing["+strconv.Itoa(first)+"]'s "+tid)
		}
	}
	if top != nil {
		if len(*top) > lim.MaxStringBytes {
			return "", fieldErr("traceparent", "longer than "+strconv.Itoa(lim.MaxStringBytes)+" bytes")
		}
		t, reason := parseTraceparent(*top)
		if reason != "" {
			return "", fieldErr("traceparent", reason)
		}
		if tid == "" {
			tid = t
		}
	}
	if tid == "" {
		if prefix != "" {
			return "", fieldErr(strings.TrimSuffix(prefix, "."), ErrNoTraceparent.Reason)
		}
		return "", ErrNoTraceparent
	}
	return tid, nil
}

// parseTraceparent validates a W3C traceparent
// (version-traceid-parentid-flags, lowercase hex) and returns its trace
// id, or a reason it is invalid. Versions above 00 may carry more fields
// after a '-', as the W3C recommendation asks parsers to accept.
func parseTraceparent(s string) (traceID, reason string) {
	tp, err := tracectx.ParseTraceparent(strings.Trim(s, " \t"))
	if err != nil {
		return "", err.Error()
	}
	return tp.TraceIDHex, ""
}

// roundMicros converts milliseconds to microseconds, rounding half away
// from zero. Callers have bounded ms, so the result cannot overflow.
func roundMicros(ms float64) int64 {
	return int64(math.Round(ms * 1000))
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

func formatMS(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
