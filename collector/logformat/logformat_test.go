package logformat

import (
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// One documented line of each gateway format (correlate/envoy and
// correlate/traefik testdata name the sources).
const (
	envoyLine     = `[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"`
	envoyJSONLine = `{"start_time":"2026-11-26T10:00:00.105Z","method":"GET","x-envoy-origin-path":"/orders/42","response_code":"200","duration":"37","x-envoy-upstream-service-time":"30","x-request-id":"rid","upstream_host":"10.1.2.3:8080","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`
	traefikLine   = `{"Duration":37125000,"OriginDuration":30250000,"OriginStatus":200,"DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/orders/42","ServiceAddr":"10.1.2.3:8080","StartUTC":"2026-11-26T10:00:00.105Z","request_X-Request-Id":"rid","level":"info","msg":""}`
)

// TestGatewayFormats: the Envoy and Traefik formats are dispatched by
// name (as --tail gives it) and found by Sniff (as a forwarded line
// comes), with or without a tag hint, as ingress records; a line of one
// is refused by the others.
func TestGatewayFormats(t *testing.T) {
	p := Parser{}
	for _, tt := range []struct {
		format, line, hint string
		wantTime           time.Duration
	}{
		{Envoy, envoyLine, "", 226 * time.Millisecond},
		{Envoy, envoyLine, "kube.var.log.containers.envoy-gateway", 226 * time.Millisecond},
		{EnvoyJSON, envoyJSONLine, "", 37 * time.Millisecond},
		{EnvoyJSON, envoyJSONLine, "envoy", 37 * time.Millisecond},
		{TraefikJSON, traefikLine, "", 37125 * time.Microsecond},
		{TraefikJSON, traefikLine, "kube.traefik", 37125 * time.Microsecond},
	} {
		t.Run(tt.format+"/"+tt.hint, func(t *testing.T) {
			if Source(tt.format) != SourceIngress {
				t.Fatalf("Source(%s) = %s", tt.format, Source(tt.format))
			}
			rec, err := p.Parse(tt.format, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if in, ok := rec.(*correlate.IngressLog); !ok || in.RequestTime != tt.wantTime || len(in.Tries) != 1 {
				t.Fatalf("Parse = %+v", rec)
			}
			rec, format, err := p.Sniff(tt.line, tt.hint)
			if err != nil || format != tt.format {
				t.Fatalf("Sniff = %s, %v", format, err)
			}
			if in := rec.(*correlate.IngressLog); in.RequestTime != tt.wantTime {
				t.Fatalf("Sniff record %+v", in)
			}
			for _, other := range []string{Envoy, EnvoyJSON, TraefikJSON, IngressNginx, IngressNginxJSON} {
				if other == tt.format {
					continue
				}
				if _, err := p.Parse(other, tt.line); err == nil {
					t.Errorf("%s accepted a %s line", other, tt.format)
				}
			}
		})
	}
	if _, err := p.Parse(Envoy, strings.Replace(envoyLine, " 226 ", " x ", 1)); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("malformed envoy line: %v", err)
	}
}

// FuzzSniff: a forwarded log line of any content is parsed or refused,
// never a panic.
func FuzzSniff(f *testing.F) {
	for _, s := range []string{
		`{"request_time":"0.015","upstream_response_time":"0.013","req_id":"r"}`,
		`10.0.0.1 - - [26/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 2 "-" "curl" 80 0.015 [default-shop-80] [] 10.0.0.7:15080 2 0.013 200 abc`,
		`http 2018-07-02T22:23:00.186641Z app/x 1.2.3.4:1 5.6.7.8:80 0.000 0.001 0.000 200 200 34 366 "GET http://x:80/ HTTP/1.1" "c" - - arn "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "5.6.7.8:80" "200" "-" "-"`,
		envoyLine, envoyJSONLine, traefikLine,
		"", "{", "\x00",
	} {
		f.Add(s, "kube.ingress")
	}
	p := Parser{HAProxyLoc: time.UTC}
	f.Fuzz(func(t *testing.T, line, hint string) {
		rec, _, err := p.Sniff(line, hint)
		if err == nil && rec == nil {
			t.Fatal("no error and no record")
		}
	})
}
