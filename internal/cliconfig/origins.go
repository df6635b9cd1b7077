package cliconfig

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Origin says where a flag's value came from: a variable (Env) or a key of
// the --config file (File, Key, Line). The zero Origin is the command line
// or the default.
type Origin struct {
	Env  string
	File string
	Key  string
	Line int
}

// String is "from HOPSCOPE_X" or "from config file F, key \"k\", line N";
// "" for the command line or the default.
func (o Origin) String() string {
	switch {
	case o.Env != "":
		return "from " + o.Env
	case o.File != "" && o.Line > 0:
		return fmt.Sprintf("from config file %s, key %q, line %d", o.File, o.Key, o.Line)
	case o.File != "":
		return fmt.Sprintf("from config file %s, key %q", o.File, o.Key)
	}
	return ""
}

// Origins maps a flag name (or a structured key such as backends) to where
// Load found its value, for the values that came from a variable or the
// file. Pass a non-nil Origins in Options to have Load fill it.
type Origins map[string]Origin

func (o Origins) record(name string, at Origin) {
	if o != nil {
		o[name] = at
	}
}

// Annotate names the source of each error of err that names a flag set
// from a variable or the file. err is taken one error at a time as
// errors.Join makes them (a Validate with one error per bad field): an
// error whose text starts "--name: " becomes "--name (from HOPSCOPE_NAME):
// …" or "--name (from config file sidecar.yaml, key "name", line 3): …";
// for a structured key, "backends[0].kind: …" becomes "backends[0].kind
// (from HOPSCOPE_BACKENDS): …". Other errors, and errors about flags given
// on the command line, are kept as they are. The result still wraps the
// original errors (errors.Is and errors.As see them).
func (o Origins) Annotate(err error) error {
	if err == nil || len(o) == 0 {
		return err
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		out := make([]error, len(errs))
		changed := false
		for i, e := range errs {
			out[i] = o.Annotate(e)
			changed = changed || out[i] != e
		}
		if !changed {
			return err
		}
		return errors.Join(out...)
	}
	msg := err.Error()
	head, rest, ok := strings.Cut(msg, ": ")
	if !ok || strings.Contains(head, "\n") {
		return err
	}
	name := strings.TrimPrefix(head, "--")
	if name == head { // a structured key: backends[0].kind, backends.x
		name, _, _ = strings.Cut(name, "[")
		name, _, _ = strings.Cut(name, ".")
	}
	at, found := o[name]
	if !found || at.String() == "" || strings.Contains(head, " ") {
		return err
	}
	return annotated{msg: head + " (" + at.String() + "): " + rest, err: err}
}

type annotated struct {
	msg string
	err error
}

func (a annotated) Error() string { return a.msg }
func (a annotated) Unwrap() error { return a.err }

// parse runs fs.Parse without the flag package's own printing (which
// repeats the error and the whole usage, with single dashes): an error
// becomes one line naming --flag, and --help prints the usage.
func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		PrintUsage(out, fs)
		return flag.ErrHelp
	}
	return fmt.Errorf("%s (see --help)", describeParseError(fs, err))
}

var (
	reUndefined = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	reBadValue  = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:]+): (.*)$`)
	reNoValue   = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// describeParseError rewrites the flag package's messages: "invalid value
// "x" for flag -upstream-timeout: parse error" becomes "--upstream-timeout:
// invalid value "x": want a duration such as 500ms, 5s or 1m30s".
func describeParseError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := reUndefined.FindStringSubmatch(msg); m != nil {
		return "unknown flag --" + m[1]
	}
	if m := reNoValue.FindStringSubmatch(msg); m != nil {
		return "--" + m[1] + ": needs a value"
	}
	if m := reBadValue.FindStringSubmatch(msg); m != nil {
		value, name, why := m[1], m[2], m[3]
		if f := fs.Lookup(name); f != nil {
			why = explain(f, errors.New(why)).Error()
		}
		if strings.Contains(why, value) {
			return "--" + name + ": " + why // the reason quotes the value already
		}
		return "--" + name + ": invalid value " + value + ": " + why
	}
	return msg
}

// explain replaces the flag package's bare "parse error" and "value out of
// range" with what the flag takes.
func explain(f *flag.Flag, err error) error {
	if s := err.Error(); s != "parse error" && s != "value out of range" {
		return err
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return err
	}
	switch g.Get().(type) {
	case time.Duration:
		return errors.New("want a duration such as 500ms, 5s or 1m30s")
	case bool:
		return errors.New("want true or false")
	case int, int64:
		return errors.New("want a whole number")
	case uint, uint64:
		return errors.New("want a whole number, not negative")
	case float64:
		return errors.New("want a number")
	}
	return err
}

// PrintUsage writes fs's flags to w as `--name type` lines with their
// defaults, and how they may also be set.
func PrintUsage(w io.Writer, fs *flag.FlagSet) {
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(w)
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", fs.Name())
	if fs.Lookup(ConfigFlag) != nil {
		fmt.Fprintf(w, "Every flag is also a variable %s<FLAG> (dashes as underscores) and a key of the\n--%s YAML file; flags win over variables, variables over the file.\n\n", EnvPrefix, ConfigFlag)
	} else {
		fmt.Fprintf(w, "Every flag is also a variable %s<FLAG> (dashes as underscores); flags win.\n\n", EnvPrefix)
	}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if strings.HasPrefix(line, "  -") {
			line = "  --" + line[3:]
		}
		io.WriteString(w, line)
	}
}
