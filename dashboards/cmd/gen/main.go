// Command gen writes hopscope's Grafana dashboards as JSON files.
//
// Run it from anywhere inside the module, by `go generate ./dashboards` or
// `go run ./dashboards/cmd/gen`. By default it writes into both
// directories the repository commits (dashboards.OutputDirs); -out names
// others, comma-separated, relative to the module root unless absolute.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hopscope/hopscope/dashboards"
	"github.com/hopscope/hopscope/internal/modroot"
)

func main() {
	out := flag.String("out", strings.Join(dashboards.OutputDirs, ","),
		"comma-separated directories to write the dashboards into, relative to the module root unless absolute")
	flag.Parse()
	if err := run(strings.Split(*out, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dirs []string) error {
	ds, err := dashboards.All()
	if err != nil {
		return err
	}
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		dir = strings.TrimSpace(dir)
		if dir == "" {
			continue
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		if err := dashboards.Write(dir, ds); err != nil {
			return err
		}
		fmt.Printf("wrote %d dashboards to %s\n", len(ds), dir)
	}
	return nil
}
