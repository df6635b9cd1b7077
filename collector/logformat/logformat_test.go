package logformat

import (
	"testing"
	"time"
)

// FuzzSniff: a forwarded log line of any content is parsed or refused,
// never a panic.
func FuzzSniff(f *testing.F) {
	for _, s := range []string{
		`{"request_time":"0.015","upstream_response_time":"0.013","req_id":"r"}`,
		`10.0.0.1 - - [26/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 2 "-" "curl" 80 0.015 [default-shop-80] [] 10.0.0.7:15080 2 0.013 200 abc`,
		`http 2018-07-02T22:23:00.186641Z app/x 1.2.3.4:1 5.6.7.8:80 0.000 0.001 0.000 200 200 34 366 "GET http://x:80/ HTTP/1.1" "c" - - arn "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "5.6.7.8:80" "200" "-" "-"`,
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
