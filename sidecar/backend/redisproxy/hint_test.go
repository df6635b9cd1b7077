package redisproxy

import (
	"bufio"
	"strings"
	"testing"
)

// TestCommandHint: the decoder reads a command's shape (name and first
// key, digits masked) and its first arguments for attribution, and no
// argument of a command that may carry credentials.
func TestCommandHint(t *testing.T) {
	for _, tc := range []struct {
		name, wire string
		shape      string
		values     []string // each must match
		not        []string // none may match
	}{
		{"GET", "*2\r\n$3\r\nGET\r\n$13\r\nshop:order:17\r\n", "GET shop:order:#", []string{"17", "shop"}, []string{"1"}},
		{"SET with expiry", "*5\r\n$3\r\nset\r\n$11\r\nshop:item:4\r\n$5\r\nhello\r\n$2\r\nPX\r\n$4\r\n1000\r\n", "SET shop:item:#", []string{"4", "hello", "PX", "1000"}, nil},
		{"a key past the bound", "*2\r\n$3\r\nGET\r\n$70\r\n" + strings.Repeat("k", 66) + ":170\r\n", "GET", nil, []string{"170"}},
		{"AUTH", "*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\ns3cr3t\r\n", "AUTH", nil, []string{"s3cr3t", "default"}},
		{"HELLO", "*4\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$2\r\npw\r\n", "HELLO", nil, []string{"pw", "3"}},
		{"inline", "GET shop:order:17\r\n", "GET", nil, []string{"17"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := cmdDecoder{br: bufio.NewReaderSize(strings.NewReader(tc.wire), 16)}
			if _, ok, err := d.next(); !ok || err != nil {
				t.Fatalf("next: %v %v", ok, err)
			}
			if got := string(d.hint.Shape()); got != tc.shape {
				t.Errorf("shape %q, want %q", got, tc.shape)
			}
			for _, v := range tc.values {
				if !d.hint.Matches(v) {
					t.Errorf("%q not among the values", v)
				}
			}
			for _, v := range tc.not {
				if d.hint.Matches(v) {
					t.Errorf("%q among the values", v)
				}
			}
		})
	}
}
