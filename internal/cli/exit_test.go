package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"testing"
)

// TestExitStatus: the exit code and the line on stderr for each kind of
// result a command returns.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"success", nil, 0, ""},
		{"help", flag.ErrHelp, 0, ""},
		{"usage", UsageError{Err: errors.New("--x: bad")}, 2, "cmd: --x: bad\n"},
		{"wrapped usage", fmt.Errorf("loading: %w", UsageError{Err: errors.New("--x: bad")}), 2, "cmd: --x: bad\n"},
		{"exit code", ExitCode(3), 3, ""},
		{"failure", errors.New("boom"), 1, "cmd: boom\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := ExitStatus("cmd", tt.err, &out); code != tt.code || out.String() != tt.stderr {
				t.Errorf("ExitStatus(%v) = %d, %q; want %d, %q", tt.err, code, out.String(), tt.code, tt.stderr)
			}
		})
	}
}
