// Command readme writes charts/hopscope/README.md from the chart's
// Chart.yaml and the comments of its values.yaml (package chartdoc). Run it
// with `go generate ./charts` or, from the repository root, `go run
// ./charts/cmd/readme`; it finds the module root by walking up from the
// working directory to go.mod.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hopscope/hopscope/charts/internal/chartdoc"
	"github.com/hopscope/hopscope/internal/modroot"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "charts/cmd/readme:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := modroot.FromWorkingDir()
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
