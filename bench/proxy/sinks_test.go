package main

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"
)

// pbField encodes one length-delimited protobuf field.
func pbField(num int, payload []byte) []byte {
	b := []byte{byte(num<<3 | 2)}
	l := len(payload)
	for l >= 0x80 {
		b = append(b, byte(l)|0x80)
		l >>= 7
	}
	b = append(b, byte(l))
	return append(b, payload...)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// exportRequest builds an ExportTraceServiceRequest with the given number of
// spans per scope, per resource, plus the other fields a real one carries.
func exportRequest(resources ...[]int) []byte {
	var out []byte
	for _, scopes := range resources {
		rs := pbField(1, []byte("resource")) // Resource
		for _, n := range scopes {
			ss := pbField(1, []byte("scope")) // InstrumentationScope
			for range n {
				// A span with a trace id (bytes), a kind (varint) and a start time (fixed64).
				span := cat(pbField(1, bytes.Repeat([]byte{1}, 16)), []byte{6 << 3, 2}, []byte{7<<3 | 1, 1, 2, 3, 4, 5, 6, 7, 8})
				ss = append(ss, pbField(2, span)...)
			}
			ss = append(ss, pbField(3, []byte("https://schema"))...)
			rs = append(rs, pbField(2, ss)...)
		}
		out = append(out, pbField(1, rs)...)
	}
	return out
}

func TestCountOTLPSpans(t *testing.T) {
	n, err := countOTLPSpans(exportRequest([]int{3, 2}, []int{200}))
	if err != nil || n != 205 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if n, err := countOTLPSpans(nil); err != nil || n != 0 {
		t.Fatalf("empty: n=%d err=%v", n, err)
	}
	if _, err := countOTLPSpans([]byte{1<<3 | 2, 50, 1}); err == nil {
		t.Fatal("truncated body accepted")
	}
}

func TestOTLPSink(t *testing.T) {
	s, err := startOTLPSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()

	body := exportRequest([]int{4})
	resp, err := http.Post("http://"+s.addr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" || resp.ContentLength != 0 {
		t.Fatalf("status %d, type %q, length %d", resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength)
	}

	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(exportRequest([]int{1, 1}))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/v1/traces", bytes.NewReader(zb.Bytes()))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if got := s.spans.Load(); got != 6 {
		t.Errorf("spans = %d, want 6", got)
	}
	if got := s.posts.Load(); got != 2 {
		t.Errorf("posts = %d", got)
	}
	if got := s.bytes.Load(); got != int64(len(body)+zb.Len()) {
		t.Errorf("bytes = %d", got)
	}
}
