// Package cliconfig fills a flag.FlagSet from three sources with one
// precedence rule shared by every hopscope subcommand: command-line flags win
// over environment variables (HOPSCOPE_<FLAG_IN_CAPS>, dashes as
// underscores), which win over keys of the optional YAML file named by
// --config. YAML keys are the flag names (`upstream-timeout: 5s`); lists may be
// written as YAML sequences. Every error names the flag, variable or key.
package cliconfig

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix is prepended to a flag's upper-cased name to form its variable.
const EnvPrefix = "HOPSCOPE_"

// ConfigFlag is the name of the flag that names the YAML file.
const ConfigFlag = "config"

// EnvName returns the environment variable read for flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Options tunes Load. The zero value reads the process environment and files.
type Options struct {
	// LookupEnv reads one environment variable; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
	// ReadFile reads the YAML file; os.ReadFile when nil.
	ReadFile func(string) ([]byte, error)
	// Structured maps YAML keys that are not flags (lists of objects such as
	// `backends:`) to a pointer the key's node is decoded into, strictly.
	Structured map[string]any
	// Origins, when not nil, receives where each flag (and structured
	// key) set from a variable or the file got its value, so that errors
	// found later (Validate) can say so: see Origins.Annotate.
	Origins Origins
}

// Load parses args into fs and then fills every flag not given on the command
// line from its environment variable or, failing that, from the YAML file.
// fs must use flag.ContinueOnError. The file is named by the --config flag
// when fs defines one, else by HOPSCOPE_CONFIG.
func Load(fs *flag.FlagSet, args []string, opts Options) error {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	readFile := opts.ReadFile
	if readFile == nil {
		readFile = os.ReadFile
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// The config file name itself may come from the environment.
	if f := fs.Lookup(ConfigFlag); f != nil && !set[ConfigFlag] {
		if v, ok := lookup(EnvName(ConfigFlag)); ok && v != "" {
			if err := f.Value.Set(v); err != nil {
				return fmt.Errorf("%s: %w", EnvName(ConfigFlag), err)
			}
			set[ConfigFlag] = true
			opts.Origins.record(ConfigFlag, Origin{Env: EnvName(ConfigFlag)})
		}
	}

	fromEnv := map[string]bool{}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if err := setValue(f, []string{v}); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value %q: %w", name, v, explain(f, err)))
			return
		}
		fromEnv[f.Name] = true
		opts.Origins.record(f.Name, Origin{Env: name})
	})
	// A structured key may come from its variable too, as YAML (flow style
	// fits one line: HOPSCOPE_BACKENDS='[{name: db, kind: postgres, ...}]').
	for key, target := range opts.Structured {
		name := EnvName(key)
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(v), &n); err != nil || len(n.Content) == 0 {
			errs = append(errs, fmt.Errorf("%s: not YAML: %v", name, err))
			continue
		}
		if err := decodeStrict(n.Content[0], target); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		fromEnv[key] = true
		opts.Origins.record(key, Origin{Env: name})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	path := ""
	if f := fs.Lookup(ConfigFlag); f != nil {
		path = f.Value.String()
	}
	if path == "" {
		return nil
	}
	data, err := readFile(path)
	if err != nil {
		return opts.Origins.Annotate(fmt.Errorf("--%s: %w", ConfigFlag, err))
	}
	return applyYAML(fs, path, data, func(name string) bool { return set[name] || fromEnv[name] }, opts.Structured, opts.Origins)
}

func applyYAML(fs *flag.FlagSet, path string, data []byte, skip func(string) bool, structured map[string]any, origins Origins) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s: top level must be a mapping of flag names to values", path)
	}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		where := fmt.Sprintf("config file %s: key %q (line %d)", path, key, root.Content[i].Line)
		if target, ok := structured[key]; ok {
			if skip(key) {
				continue // its variable won
			}
			if err := decodeStrict(val, target); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			origins.record(key, Origin{File: path, Key: key, Line: root.Content[i].Line})
			continue
		}
		f := fs.Lookup(key)
		if f == nil || key == ConfigFlag {
			errs = append(errs, fmt.Errorf("%s: unknown key (known: %s)", where, knownKeys(fs, structured)))
			continue
		}
		if skip(key) {
			continue
		}
		var values []string
		switch val.Kind {
		case yaml.ScalarNode:
			values = []string{val.Value}
		case yaml.SequenceNode:
			for _, item := range val.Content {
				if item.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("%s: list items must be scalars", where))
					break
				}
				values = append(values, item.Value)
			}
			if len(values) > 1 {
				if _, ok := f.Value.(ListValue); !ok {
					errs = append(errs, fmt.Errorf("%s: takes a single value, not a list", where))
					continue
				}
			}
		default:
			errs = append(errs, fmt.Errorf("%s: takes a scalar or a list", where))
			continue
		}
		if err := setValue(f, values); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, explain(f, err)))
			continue
		}
		origins.record(key, Origin{File: path, Key: key, Line: root.Content[i].Line})
	}
	return errors.Join(errs...)
}

func decodeStrict(n *yaml.Node, target any) error {
	// Re-encode the node and decode it with KnownFields so typos are caught.
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(target)
}

func knownKeys(fs *flag.FlagSet, structured map[string]any) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != ConfigFlag {
			names = append(names, f.Name)
		}
	})
	for k := range structured {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func setValue(f *flag.Flag, values []string) error {
	if lv, ok := f.Value.(ListValue); ok {
		lv.Reset()
	}
	for _, v := range values {
		if err := f.Value.Set(v); err != nil {
			return err
		}
	}
	return nil
}

// ListValue is a flag.Value holding a list: Set appends (splitting on
// commas) and Reset empties it, so a source replaces rather than extends
// the default.
type ListValue interface {
	flag.Value
	Reset()
}

// StringList is a comma-separated list flag. The first Set replaces the
// default; later Sets (repeated flags) append.
type StringList struct {
	Values  *[]string
	touched bool
}

// NewStringList binds a StringList to p, whose current value is the default.
func NewStringList(p *[]string) *StringList { return &StringList{Values: p} }

// String implements flag.Value.
func (s *StringList) String() string {
	if s == nil || s.Values == nil {
		return ""
	}
	return strings.Join(*s.Values, ",")
}

// Set implements flag.Value.
func (s *StringList) Set(v string) error {
	if !s.touched {
		*s.Values = nil
		s.touched = true
	}
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*s.Values = append(*s.Values, item)
		}
	}
	return nil
}

// Reset implements ListValue.
func (s *StringList) Reset() { *s.Values = nil; s.touched = true }

// ListenAddr checks the value of a listen-address flag: [host]:port, or
// empty when the listener is optional (empty = off). The error names the
// flag.
func ListenAddr(flag, addr string, optional bool) error {
	if addr == "" && optional {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--%s: must be [host]:port: %v", flag, err)
	}
	return nil
}
