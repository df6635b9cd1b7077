package h1

import (
	"testing"
)

func TestSanitizeHeaderValue(t *testing.T) {
	if got := sanitizeHeaderValue("a\r\nX-Evil: 1"); got != "a  X-Evil: 1" {
		t.Fatalf("%q", got)
	}
	if got := sanitizeHeaderValue("plain"); got != "plain" {
		t.Fatalf("%q", got)
	}
}
