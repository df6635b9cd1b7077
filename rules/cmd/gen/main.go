// Command gen writes the files under rules/generated/ and the Helm
// chart's templates/prometheusrule.yaml (rules.HelmTemplate) from the rules
// package. Run it with `go generate ./rules` or, from the repository root,
// `go run ./rules/cmd/gen`; it finds the module root by walking up from the
// working directory to go.mod.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hopscope/hopscope/internal/modroot"
	"github.com/hopscope/hopscope/rules"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rules/cmd/gen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return err
	}
	outs, err := rules.Outputs()
	if err != nil {
		return err
	}
	for _, o := range outs {
		path := filepath.Join(root, "rules", filepath.FromSlash(o.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, o.Data, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	// The chart's PrometheusRule template, outside rules/.
	tmpl, err := rules.HelmTemplate()
	if err != nil {
		return err
	}
	path := filepath.Join(root, filepath.FromSlash(rules.HelmTemplatePath))
	if err := os.WriteFile(path, tmpl, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}
