package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// UsageError marks a bad flag, variable or config key: exit code 2.
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// ExitCode is the exit code of a program run for the user that already
// said why it failed: the command exits with it, adding nothing.
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// ExitStatus turns a command's result into its exit code — 0 on success
// or --help, 2 on a usage error, the code of an ExitCode, 1 on any other
// failure — and writes "<name>: <error>" to stderr for 1 and 2.
func ExitStatus(name string, err error, stderr io.Writer) int {
	var ue UsageError
	var ec ExitCode
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n", name, ue.Err)
		return 2
	case errors.As(err, &ec):
		return int(ec)
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}
