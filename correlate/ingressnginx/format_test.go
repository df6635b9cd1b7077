package ingressnginx

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// docFormat returns the log-format-upstream string that
// docs/ingress-nginx.md tells users to configure.
func docFormat(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "ingress-nginx.md"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "log-format-upstream: '")
		if ok && strings.HasSuffix(v, "'") && !strings.Contains(v, "…") {
			found = append(found, strings.TrimSuffix(v, "'"))
		}
	}
	if len(found) != 1 {
		t.Fatalf("docs/ingress-nginx.md: %d complete log-format-upstream lines, want 1", len(found))
	}
	return found[0]
}

var (
	varRE  = regexp.MustCompile(`\$\{?([a-z0-9_]+)`)
	pairRE = regexp.MustCompile(`"([a-z0-9_]+)":"\$([a-z0-9_]+)"`)
)

// TestDocFormat fills every variable of the documented format as nginx
// would (escape=json) and checks that ParseJSON reads all of it.
func TestDocFormat(t *testing.T) {
	format := docFormat(t)

	// Every value is quoted and keyed by its variable's name, and every
	// key is one ParseJSON reads.
	vars := varRE.FindAllStringSubmatch(format, -1)
	pairs := pairRE.FindAllStringSubmatch(format, -1)
	if len(pairs) != len(vars) {
		t.Fatalf("format has %d variables but %d \"key\":\"$variable\" pairs: every value must be quoted", len(vars), len(pairs))
	}
	for _, p := range pairs {
		if p[1] != p[2] {
			t.Errorf("key %q holds $%s: keys must be the variable names", p[1], p[2])
		}
		if !slices.Contains(jsonKeys[:], p[1]) {
			t.Errorf("key %q is not one ParseJSON reads", p[1])
		}
	}

	// What nginx would write for a retried request with both trace headers.
	values := map[string]string{
		"msec":                   "1795660238.639",
		"time_iso8601":           "2026-11-26T03:30:38+01:00",
		"request_time":           "0.007",
		"status":                 "200",
		"request_method":         "GET",
		"request_uri":            `/a"b\c/orders?id=1`,
		"host":                   "shop.example",
		"proxy_upstream_name":    "shop-web-8080",
		"upstream_addr":          "10.0.0.1:8080, 10.0.0.2:8080 : 10.0.0.3:8080",
		"upstream_status":        "502, 504 : 200",
		"upstream_connect_time":  "-, 0.001 : 0.000",
		"upstream_header_time":   "-, - : 0.002",
		"upstream_response_time": "0.000, 0.003 : 0.002",
		"req_id":                 "7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01",
		"http_x_request_id":      "7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01",
		"http_traceparent":       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"http_x_amzn_trace_id":   "Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678",
	}
	line := varRE.ReplaceAllStringFunc(format, func(v string) string {
		name := strings.TrimLeft(v, "${")
		val, ok := values[name]
		if !ok {
			t.Fatalf("the test has no value for $%s: add one, and check that ParseJSON maps it", name)
		}
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(val)
	})
	got, err := ParseJSON(line)
	if err != nil {
		t.Fatalf("ParseJSON(%s): %v", line, err)
	}
	want := correlate.IngressLog{
		Keys: correlate.Keys{
			TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736",
			XRayRoot:  "1-67891233-abcdef012345678912345678",
			RequestID: "7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01",
		},
		Start:       time.Unix(1795660238, 632e6).UTC(),
		RequestTime: 7 * time.Millisecond,
		Tries: []correlate.UpstreamTry{
			{Addr: "10.0.0.1:8080", Status: 502},
			{Addr: "10.0.0.2:8080", Status: 504, Connect: time.Millisecond, Response: 3 * time.Millisecond},
			{Addr: "10.0.0.3:8080", Status: 200, Header: 2 * time.Millisecond, Response: 2 * time.Millisecond},
		},
		Resolution: time.Millisecond,
		Method:     "GET", Path: `/a"b\c/orders`, Host: "shop.example",
		Status:   200,
		Upstream: "shop-web-8080",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseJSON(%s)\n got %+v\nwant %+v", line, got, want)
	}
}

// TestDocFormatIsTheLabFormat checks that testdata/nginx-json.log was
// written with the documented format.
func TestDocFormatIsTheLabFormat(t *testing.T) {
	conf, err := os.ReadFile(filepath.Join("testdata", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := "log_format hopscope escape=json '" + docFormat(t) + "';"
	if !strings.Contains(string(conf), want) {
		t.Fatalf("testdata/nginx.conf does not hold\n%s", want)
	}
	// And the text format is ingress-nginx's default, verbatim.
	const def = `log_format upstreaminfo '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id';`
	if !strings.Contains(string(conf), def) {
		t.Fatalf("testdata/nginx.conf does not hold ingress-nginx's default format")
	}
}
