package sidecar

import "testing"

func TestRedactQuery(t *testing.T) {
	r := newQueryRedactor([]string{"token", "api_key", "X-Amz-Signature"})
	tests := []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"token=s3cr3t", "token=REDACTED"},
		{"a=1&token=s3cr3t&b=2", "a=1&token=REDACTED&b=2"},
		{"TOKEN=s3cr3t", "TOKEN=REDACTED"},
		{"api%5Fkey=s3cr3t", "api%5Fkey=REDACTED"},
		{"x-amz-signature=abc&X-Amz-Date=1", "x-amz-signature=REDACTED&X-Amz-Date=1"},
		{"token", "token"}, // no value, nothing to hide
		{"a=1&&token=x&", "a=1&&token=REDACTED&"},
		{"tokens=x", "tokens=x"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
