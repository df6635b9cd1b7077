// Command readme writes charts/hopscope/README.md from the chart's
// Chart.yaml and the comments of its values.yaml (package chartdoc). Run it
// with `go generate ./charts` or, from the repository root, `go run
// ./charts/cmd/readme`; it finds the module root by walking up from the
// working directory to go.mod.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hopscope/hopscope/charts/internal/chartdoc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "charts/cmd/readme:", err)
		os.Exit(1)
	}
}

func run() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "charts", "hopscope")
	chart, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return err
	}
	readme, err := chartdoc.Generate(chart, values)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "README.md")
	if err := os.WriteFile(path, readme, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}

// moduleRoot returns the nearest directory from dir upwards holding go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod in %s or above it", dir)
		}
		d = parent
	}
}
