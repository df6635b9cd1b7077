package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"134217728", 128 << 20, false},
		{"128Mi", 128 << 20, false},
		{"64Ki", 64 << 10, false},
		{"1Gi", 1 << 30, false},
		{"0", 0, false},
		{"128MB", 0, true},
		{"-1", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		rest     string
	}{
		{name: "ok then next", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1", ok: true, rest: "HTTP/1.1"},
		{name: "no body", in: "HTTP/1.1 200 OK\r\n\r\nX", ok: true, rest: "X"},
		{name: "502", in: "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"},
		{name: "cut", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"},
	}
	for _, tt := range tests {
		br := bufio.NewReader(strings.NewReader(tt.in))
		err := readResponse(br)
		if (err == nil) != tt.ok {
			t.Errorf("%s: readResponse = %v", tt.name, err)
			continue
		}
		if tt.ok {
			rest, _ := br.Peek(br.Buffered())
			if string(rest) != tt.rest {
				t.Errorf("%s: left %q, want %q", tt.name, rest, tt.rest)
			}
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--protocols", "grpc,udp"},
		{"--rate", "0"},
		{"--duration", "1s"},
		{"--limit", "0"},
		{"--proxy-cpu", "0", "--load-cpu", "0"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
	o, err := parseFlags(nil)
	if err != nil || o.rate != 8000 || o.limit != 128<<20 || !o.passLimit || len(o.protocols) != 2 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}
