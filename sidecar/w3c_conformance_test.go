package sidecar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The W3C Trace Context test suite, ported: github.com/w3c/trace-context,
// test/test.py at commit acab820be9db7b3433668baa5cdd43f57f4c4be0
// ("Fix tracestate key grammar tests (#584)"), STRICT_LEVEL 2 (its
// default), SPEC_LEVEL 1 (its default; TraceContext2Test's random flag is
// level 2 and left out). The harness sends a request with traceparent and
// tracestate headers to the service, which calls the harness back at the
// URLs in the request's body; the harness checks the callbacks' headers.
// Here the service is an uninstrumented app behind the real sidecar: it
// reads the URLs and calls them through the sidecar's egress forward proxy
// (HTTP_PROXY), forwarding no header, as an app that knows nothing of
// tracing does. So what the harness checks is what the sidecar, as a W3C
// participant, sends downstream for the inbound request's context.
//
// Each case is one make_request of test.py, named after its test method
// (a suffix for the n-th request of a method) with its assertions.
type w3cCase struct {
	name      string
	headers   [][2]string // sent as written: names keep their case
	callbacks int         // the harness asks for this many callbacks (default 1)

	traceID    string   // assertEqual(traceparent.trace_id, …)
	notTraceID []string // assertNotEqual(traceparent.trace_id, …)
	notParent  string   // assertNotEqual(traceparent.parent_id, …)
	stateHas   map[string]string
	stateLacks []string // assertRaises(KeyError, tracestate[key])
	stateLen   int      // -1: not checked
	stateOrder []string // substrings of str(tracestate), in this order
	parents    int      // distinct parent ids over the callbacks (AdvancedTest)
}

const (
	w3cTrace  = "12345678901234567890123456789012"
	w3cParent = "1234567890123456"
	w3cTP01   = "00-" + w3cTrace + "-" + w3cParent + "-01"
	w3cTP00   = "00-" + w3cTrace + "-" + w3cParent + "-00"
)

func w3cCases() []w3cCase {
	tp := func(v string) [2]string { return [2]string{"traceparent", v} }
	ts := func(v string) [2]string { return [2]string{"tracestate", v} }
	newTrace := func(name, value string) w3cCase {
		return w3cCase{name: name, headers: [][2]string{tp(value)}, notTraceID: []string{w3cTrace}, stateLen: -1}
	}
	same := func(name string, h ...[2]string) w3cCase {
		return w3cCase{name: name, headers: h, traceID: w3cTrace, stateLen: -1}
	}
	has := func(c w3cCase, kv ...string) w3cCase {
		c.stateHas = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			c.stateHas[kv[i]] = kv[i+1]
		}
		return c
	}
	lacks := func(name string, lack []string, h ...[2]string) w3cCase {
		return w3cCase{name: name, headers: h, stateLacks: lack, stateLen: -1}
	}
	allowedKey := "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
	var value strings.Builder
	for c := 0x20; c <= 0x7e; c++ {
		if c != 0x2c && c != 0x3d {
			value.WriteByte(byte(c))
		}
	}
	members := func(from, to int) string {
		var m []string
		for i := from; i <= to; i++ {
			m = append(m, fmt.Sprintf("bar%02d=%02d", i, i))
		}
		return strings.Join(m, ",")
	}
	cases := []w3cCase{
		{name: "test_both_traceparent_and_tracestate_missing", stateLen: -1},
		{name: "test_traceparent_included_tracestate_missing", headers: [][2]string{tp(w3cTP01)}, traceID: w3cTrace, notParent: w3cParent, stateLen: -1},
		{name: "test_traceparent_duplicated", headers: [][2]string{
			tp("00-12345678901234567890123456789011-1234567890123456-01"), tp("00-12345678901234567890123456789012-1234567890123456-01")},
			notTraceID: []string{"12345678901234567890123456789011", w3cTrace}, stateLen: -1},
		{name: "test_traceparent_header_name/1", headers: [][2]string{{"trace-parent", w3cTP01}}, notTraceID: []string{w3cTrace}, stateLen: -1},
		{name: "test_traceparent_header_name/2", headers: [][2]string{{"trace.parent", w3cTP01}}, notTraceID: []string{w3cTrace}, stateLen: -1},
		{name: "test_traceparent_header_name_valid_casing/1", headers: [][2]string{{"TraceParent", w3cTP01}}, traceID: w3cTrace, stateLen: -1},
		{name: "test_traceparent_header_name_valid_casing/2", headers: [][2]string{{"TrAcEpArEnT", w3cTP01}}, traceID: w3cTrace, stateLen: -1},
		{name: "test_traceparent_header_name_valid_casing/3", headers: [][2]string{{"TRACEPARENT", w3cTP01}}, traceID: w3cTrace, stateLen: -1},
		newTrace("test_traceparent_version_0x00/1", w3cTP01+"."),
		newTrace("test_traceparent_version_0x00/2", w3cTP01+"-what-the-future-will-be-like"),
		same("test_traceparent_version_0xcc/1", tp("cc-"+w3cTrace+"-"+w3cParent+"-01")),
		same("test_traceparent_version_0xcc/2", tp("cc-"+w3cTrace+"-"+w3cParent+"-01-what-the-future-will-be-like")),
		newTrace("test_traceparent_version_0xcc/3", "cc-"+w3cTrace+"-"+w3cParent+"-01.what-the-future-will-be-like"),
		newTrace("test_traceparent_version_0xff", "ff-"+w3cTrace+"-"+w3cParent+"-01"),
		newTrace("test_traceparent_version_illegal_characters/1", ".0-"+w3cTrace+"-"+w3cParent+"-01"),
		newTrace("test_traceparent_version_illegal_characters/2", "0.-"+w3cTrace+"-"+w3cParent+"-01"),
		newTrace("test_traceparent_version_too_long/1", "000-"+w3cTrace+"-"+w3cParent+"-01"),
		newTrace("test_traceparent_version_too_long/2", "0000-"+w3cTrace+"-"+w3cParent+"-01"),
		newTrace("test_traceparent_version_too_short", "0-"+w3cTrace+"-"+w3cParent+"-01"),
		{name: "test_traceparent_trace_id_all_zero", headers: [][2]string{tp("00-00000000000000000000000000000000-1234567890123456-01")},
			notTraceID: []string{"00000000000000000000000000000000"}, stateLen: -1},
		newTrace("test_traceparent_trace_id_illegal_characters/1", "00-.2345678901234567890123456789012-1234567890123456-01"),
		newTrace("test_traceparent_trace_id_illegal_characters/2", "00-1234567890123456789012345678901.-1234567890123456-01"),
		{name: "test_traceparent_trace_id_too_long", headers: [][2]string{tp("00-123456789012345678901234567890123-1234567890123456-01")},
			notTraceID: []string{w3cTrace, "23456789012345678901234567890123"}, stateLen: -1},
		newTrace("test_traceparent_trace_id_too_short", "00-1234567890123456789012345678901-1234567890123456-01"),
		newTrace("test_traceparent_parent_id_all_zero", "00-"+w3cTrace+"-0000000000000000-01"),
		newTrace("test_traceparent_parent_id_illegal_characters/1", "00-"+w3cTrace+"-.234567890123456-01"),
		newTrace("test_traceparent_parent_id_illegal_characters/2", "00-"+w3cTrace+"-123456789012345.-01"),
		newTrace("test_traceparent_parent_id_too_long", "00-"+w3cTrace+"-12345678901234567-01"),
		newTrace("test_traceparent_parent_id_too_short", "00-"+w3cTrace+"-123456789012345-01"),
		newTrace("test_traceparent_trace_flags_illegal_characters/1", "00-"+w3cTrace+"-"+w3cParent+"-.0"),
		newTrace("test_traceparent_trace_flags_illegal_characters/2", "00-"+w3cTrace+"-"+w3cParent+"-0."),
		newTrace("test_traceparent_trace_flags_too_long", "00-"+w3cTrace+"-"+w3cParent+"-001"),
		newTrace("test_traceparent_trace_flags_too_short", "00-"+w3cTrace+"-"+w3cParent+"-1"),
		same("test_traceparent_ows_handling/1", tp(" "+w3cTP01)),
		same("test_traceparent_ows_handling/2", tp("\t"+w3cTP01)),
		same("test_traceparent_ows_handling/3", tp(w3cTP01+" ")),
		same("test_traceparent_ows_handling/4", tp(w3cTP01+"\t")),
		same("test_traceparent_ows_handling/5", tp("\t "+w3cTP01+" \t")),
		// test.py compares the two lengths; the tracestate is discarded, so both are 0.
		{name: "test_tracestate_included_traceparent_missing/1", headers: [][2]string{ts("foo=1")}, stateLen: 0},
		{name: "test_tracestate_included_traceparent_missing/2", headers: [][2]string{ts("foo=1,bar=2")}, stateLen: 0},
		has(same("test_tracestate_included_traceparent_included", tp(w3cTP00), ts("foo=1,bar=2")), "foo", "1", "bar", "2"),
		lacks("test_tracestate_header_name/1", []string{"foo"}, tp(w3cTP00), [2]string{"trace-state", "foo=1"}),
		lacks("test_tracestate_header_name/2", []string{"foo"}, tp(w3cTP00), [2]string{"trace.state", "foo=1"}),
		has(same("test_tracestate_header_name_valid_casing/1", tp(w3cTP00), [2]string{"TraceState", "foo=1"}), "foo", "1"),
		has(same("test_tracestate_header_name_valid_casing/2", tp(w3cTP00), [2]string{"TrAcEsTaTe", "foo=1"}), "foo", "1"),
		has(same("test_tracestate_header_name_valid_casing/3", tp(w3cTP00), [2]string{"TRACESTATE", "foo=1"}), "foo", "1"),
		same("test_tracestate_empty_header/1", tp(w3cTP00), ts("")),
		has(same("test_tracestate_empty_header/2", tp(w3cTP00), ts("foo=1"), ts("")), "foo", "1"),
		has(same("test_tracestate_empty_header/3", tp(w3cTP00), ts(""), ts("foo=1")), "foo", "1"),
		{name: "test_tracestate_multiple_headers_different_keys", headers: [][2]string{tp(w3cTP00), ts("foo=1,bar=2"), ts("rojo=1,congo=2"), ts("baz=3")},
			traceID: w3cTrace, stateLen: -1, stateOrder: []string{"foo=1", "bar=2", "rojo=1", "congo=2", "baz=3"}},
		{name: "test_tracestate_duplicated_keys/1", headers: [][2]string{tp(w3cTP00), ts("foo=1,foo=1")}, traceID: w3cTrace, stateLen: -1, stateOrder: []string{"foo=1"}},
		{name: "test_tracestate_duplicated_keys/2", headers: [][2]string{tp(w3cTP00), ts("foo=1,foo=2")}, traceID: w3cTrace, stateLen: -1, stateHas: map[string]string{"foo": ""}},
		{name: "test_tracestate_duplicated_keys/3", headers: [][2]string{tp(w3cTP00), ts("foo=1"), ts("foo=1")}, traceID: w3cTrace, stateLen: -1, stateOrder: []string{"foo=1"}},
		{name: "test_tracestate_duplicated_keys/4", headers: [][2]string{tp(w3cTP00), ts("foo=1"), ts("foo=2")}, traceID: w3cTrace, stateLen: -1, stateHas: map[string]string{"foo": ""}},
		has(same("test_tracestate_all_allowed_characters/1", tp(w3cTP00), ts(allowedKey+"="+value.String())), allowedKey, value.String()),
		has(same("test_tracestate_all_allowed_characters/2", tp(w3cTP00), ts(allowedKey+"@a-z0-9_-*/="+value.String())), allowedKey+"@a-z0-9_-*/", value.String()),
		has(same("test_tracestate_ows_handling/1", tp(w3cTP00), ts("foo=1 \t , \t bar=2, \t baz=3")), "foo", "1", "bar", "2", "baz", "3"),
		has(same("test_tracestate_ows_handling/2", tp(w3cTP00), ts("foo=1\t \t,\t \tbar=2,\t \tbaz=3")), "foo", "1", "bar", "2", "baz", "3"),
		has(same("test_tracestate_ows_handling/3", tp(w3cTP00), ts(" foo=1")), "foo", "1"),
		has(same("test_tracestate_ows_handling/4", tp(w3cTP00), ts("\tfoo=1")), "foo", "1"),
		has(same("test_tracestate_ows_handling/5", tp(w3cTP00), ts("foo=1 ")), "foo", "1"),
		has(same("test_tracestate_ows_handling/6", tp(w3cTP00), ts("foo=1\t")), "foo", "1"),
		has(same("test_tracestate_ows_handling/7", tp(w3cTP00), ts("\t foo=1 \t")), "foo", "1"),
		lacks("test_tracestate_key_illegal_characters/1", []string{"foo "}, tp(w3cTP00), ts("foo =1")),
		lacks("test_tracestate_key_illegal_characters/2", []string{"FOO"}, tp(w3cTP00), ts("FOO=1")),
		lacks("test_tracestate_key_illegal_characters/3", []string{"foo.bar"}, tp(w3cTP00), ts("foo.bar=1")),
		has(same("test_tracestate_key_illegal_vendor_format/1", tp(w3cTP00), ts("foo@=1,bar=2")), "foo@", "1", "bar", "2"),
		lacks("test_tracestate_key_illegal_vendor_format/2", []string{"bar"}, tp(w3cTP00), ts("@foo=1,bar=2")),
		has(same("test_tracestate_key_illegal_vendor_format/3", tp(w3cTP00), ts("foo@@bar=1,bar=2")), "foo@@bar", "1", "bar", "2"),
		has(same("test_tracestate_key_illegal_vendor_format/4", tp(w3cTP00), ts("foo@bar@baz=1,bar=2")), "foo@bar@baz", "1", "bar", "2"),
		{name: "test_tracestate_member_count_limit/1", headers: [][2]string{tp(w3cTP00), ts(members(1, 10)), ts(members(11, 20)), ts(members(21, 30)), ts(members(31, 32))},
			stateHas: map[string]string{"bar01": "01"}, stateLen: 32},
		lacks("test_tracestate_member_count_limit/2", []string{"bar01"}, tp(w3cTP00), ts(members(1, 10)), ts(members(11, 20)), ts(members(21, 30)), ts(members(31, 33))),
		has(same("test_tracestate_key_length_limit/1", tp(w3cTP00), ts("foo=1"), ts(strings.Repeat("z", 256)+"=1")), "foo", "1", strings.Repeat("z", 256), "1"),
		lacks("test_tracestate_key_length_limit/2", []string{"foo"}, tp(w3cTP00), ts("foo=1"), ts(strings.Repeat("z", 257)+"=1")),
		has(same("test_tracestate_key_length_limit/3", tp(w3cTP00), ts("foo=1"), ts(strings.Repeat("t", 241)+"@"+strings.Repeat("v", 14)+"=1")),
			"foo", "1", strings.Repeat("t", 241)+"@"+strings.Repeat("v", 14), "1"),
		has(same("test_tracestate_key_length_limit/4", tp(w3cTP00), ts("foo=1"), ts(strings.Repeat("t", 242)+"@v=1")), "foo", "1", strings.Repeat("t", 242)+"@v", "1"),
		has(same("test_tracestate_key_length_limit/5", tp(w3cTP00), ts("foo=1"), ts("t@"+strings.Repeat("v", 15)+"=1")), "foo", "1", "t@"+strings.Repeat("v", 15), "1"),
		lacks("test_tracestate_value_illegal_characters/1", []string{"foo"}, tp(w3cTP00), ts("foo=bar=baz")),
		lacks("test_tracestate_value_illegal_characters/2", []string{"foo", "bar"}, tp(w3cTP00), ts("foo=,bar=3")),
		{name: "test_multiple_requests_with_valid_traceparent", headers: [][2]string{tp(w3cTP01)}, callbacks: 3, traceID: w3cTrace, parents: 3, stateLen: -1},
		{name: "test_multiple_requests_without_traceparent", callbacks: 3, parents: 3, stateLen: -1},
		{name: "test_multiple_requests_with_illegal_traceparent", headers: [][2]string{tp("00-00000000000000000000000000000000-1234567890123456-01")},
			callbacks: 3, notTraceID: []string{"00000000000000000000000000000000"}, parents: 3, stateLen: -1},
	}
	return cases
}

// w3cTraceparent is test.py's traceparent_format.
var w3cTraceparent = regexp.MustCompile(`^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

// w3cMember and w3cDelimiter are test/tracecontext/tracestate.py's
// _MEMBER_FORMAT_RE and _DELIMITER_FORMAT_RE at the same commit.
var (
	w3cMember    = regexp.MustCompile(`^([0-9a-z][_0-9a-z\-\*\/@]{0,255})(=)([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])$`)
	w3cDelimiter = regexp.MustCompile(`[ \t]*,[ \t]*`)
)

// w3cTracestate is Tracestate.from_string over every tracestate header of
// a callback, in order: an illegal member is an error (the harness raises),
// a repeated key keeps its first value. It returns the members in order.
func w3cTracestate(values []string) ([][2]string, error) {
	var out [][2]string
	seen := map[string]bool{}
	for _, v := range values {
		for _, m := range w3cDelimiter.Split(v, -1) {
			if m == "" {
				continue
			}
			g := w3cMember.FindStringSubmatch(m)
			if g == nil {
				return nil, fmt.Errorf("illegal key-value format %q", m)
			}
			if !seen[g[1]] {
				seen[g[1]] = true
				out = append(out, [2]string{g[1], g[3]})
			}
		}
	}
	return out, nil
}

// TestW3CTraceContextConformance runs the ported W3C test suite against
// the sidecar, with an uninstrumented app behind it calling out through
// the egress forward proxy.
func TestW3CTraceContextConformance(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]http.Header{} // case id → callbacks' headers
	harness, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		mu.Lock()
		got[id] = append(got[id], r.Header.Clone())
		mu.Unlock()
		io.WriteString(w, "{}")
	}))
	proxyAddr := make(chan string, 1)
	var proxyURL *url.URL
	var once sync.Once
	// The app: test.py's service, knowing nothing of tracing. It calls
	// each url of the JSON body through HTTP_PROXY, with no header of the
	// request it serves.
	app, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { proxyURL, _ = url.Parse("http://" + <-proxyAddr) })
		var args []struct {
			URL       string `json:"url"`
			Arguments []any  `json:"arguments"`
		}
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), DisableKeepAlives: true}}
		for _, a := range args {
			body, _ := json.Marshal(a.Arguments)
			res, err := client.Post(a.URL, "application/json", bytes.NewReader(body))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		io.WriteString(w, "{}")
	}))
	h := startSidecar(t, app, func(c *Config) { c.EgressListen = "127.0.0.1:0" })
	proxyAddr <- h.sc.BackendAddrs()[EgressBackend].String()

	client := &http.Client{Timeout: 10 * time.Second}
	for i, tc := range w3cCases() {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("c%d", i)
			n := max(tc.callbacks, 1)
			var args []map[string]any
			for k := 0; k < n; k++ {
				args = append(args, map[string]any{"url": fmt.Sprintf("%s/%s/%d", harness, id, k), "arguments": []any{}})
			}
			body, _ := json.Marshal(args)
			req, err := http.NewRequest(http.MethodPost, h.url+"/test", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range tc.headers {
				req.Header[kv[0]] = append(req.Header[kv[0]], kv[1]) // the name as written
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			mu.Lock()
			callbacks := got[id]
			mu.Unlock()
			if res.StatusCode != 200 || len(callbacks) != n {
				t.Fatalf("status %d, %d callbacks to the harness, want 200 and %d", res.StatusCode, len(callbacks), n)
			}
			parents := map[string]bool{}
			for _, cb := range callbacks {
				tps := cb.Values("Traceparent")
				if len(tps) != 1 {
					t.Fatalf("expect one traceparent header, got %q", tps)
				}
				m := w3cTraceparent.FindStringSubmatch(tps[0])
				if m == nil {
					t.Fatalf("traceparent %q is not a traceparent", tps[0])
				}
				traceID, parentID := m[2], m[3]
				parents[parentID] = true
				state, err := w3cTracestate(cb.Values("Tracestate"))
				if err != nil {
					t.Fatalf("tracestate %q: %v", cb.Values("Tracestate"), err)
				}
				str := ""
				lookup := map[string]string{}
				for j, kv := range state {
					if j > 0 {
						str += ","
					}
					str += kv[0] + "=" + kv[1]
					lookup[kv[0]] = kv[1]
				}
				if tc.traceID != "" && traceID != tc.traceID {
					t.Errorf("trace id %s, want %s (traceparent %s)", traceID, tc.traceID, tps[0])
				}
				for _, not := range tc.notTraceID {
					if traceID == not {
						t.Errorf("trace id %s, want a new one", traceID)
					}
				}
				if tc.notParent != "" && parentID == tc.notParent {
					t.Errorf("parent id %s, want a new one", parentID)
				}
				for k, v := range tc.stateHas {
					if gv, ok := lookup[k]; !ok || (v != "" && gv != v) {
						t.Errorf("tracestate %q: want %s=%s", str, k, v)
					}
				}
				for _, k := range tc.stateLacks {
					if _, ok := lookup[k]; ok {
						t.Errorf("tracestate %q: want no %s", str, k)
					}
				}
				if tc.stateLen >= 0 && len(state) != tc.stateLen {
					t.Errorf("tracestate %q: %d members, want %d", str, len(state), tc.stateLen)
				}
				at := -1
				for _, s := range tc.stateOrder {
					k := strings.Index(str, s)
					if k < 0 || k < at {
						t.Errorf("tracestate %q: want %q in this order", str, tc.stateOrder)
						break
					}
					at = k
				}
			}
			if tc.parents > 0 && len(parents) != tc.parents {
				t.Errorf("%d distinct parent ids over %d callbacks, want %d", len(parents), n, tc.parents)
			}
		})
	}
}
